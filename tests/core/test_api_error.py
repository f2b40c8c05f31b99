"""api_error: mapping a platform error to its exception (errors.md sections 1-3)."""

from __future__ import annotations

import datetime as dt
import pickle

import pytest

import lk_core
from lk_core import (
    AuthorizationInProgress,
    LaunchKeyAPIException,
    LaunchKeyError,
    ServerError,
    api_error,
)

# errors.md section 2, transcribed by hand: code -> exception name.
CODES = {
    "ARG-001": "InvalidParameters",
    "ARG-002": "InvalidRoute",
    "SVC-001": "ServiceNameTaken",
    "SVC-002": "InvalidPolicyInput",
    "SVC-003": "PolicyFailure",
    "SVC-004": "ServiceNotFound",
    "SVC-005": "AuthorizationInProgress",
    "SVC-006": "AuthorizationResponseExists",
    "SVC-007": "AuthorizationRequestCanceled",
    "DIR-001": "InvalidDirectoryIdentifier",
    "KEY-001": "InvalidPublicKey",
    "KEY-002": "PublicKeyAlreadyInUse",
    "KEY-003": "PublicKeyDoesNotExist",
    "KEY-004": "LastRemainingKey",
    "ORG-003": "DirectoryNameInUse",
    "ORG-005": "LastRemainingSDKKey",
    "ORG-006": "InvalidSDKKey",
}
# errors.md section 3.
STATUSES = {
    401: "Unauthorized",
    403: "Forbidden",
    404: "EntityNotFound",
    408: "RequestTimedOut",
    409: "Conflict",
    429: "RateLimited",
}


class TestApiErrorCodes:
    @pytest.mark.parametrize(("code", "name"), sorted(CODES.items()))
    @pytest.mark.parametrize("status", [400, 404, 409])
    def test_code_wins_over_status(self, code: str, name: str, status: int) -> None:
        """Each documented code maps to its exception whatever the HTTP status."""
        detail = {"username": "This field is required"}
        err = api_error(
            status, "Bad Request", {"error_code": code, "error_detail": detail}
        )
        assert type(err).__name__ == name
        assert type(err) is getattr(lk_core, name)
        assert (err.error_code, err.detail, err.status_code) == (code, detail, status)
        assert err.data == {}
        assert isinstance(err, LaunchKeyAPIException)
        assert isinstance(err, LaunchKeyError)

    def test_unknown_code_keeps_code_and_detail(self) -> None:
        """An unmapped code (e.g. KEY-005) keeps code and detail on the base class."""
        err = api_error(
            400, "Bad Request", {"error_code": "KEY-005", "error_detail": "no"}
        )
        assert type(err) is LaunchKeyAPIException
        assert (err.error_code, err.detail, err.message) == ("KEY-005", "no", "no")
        assert "KEY-005" in str(err)
        assert "no" in str(err)

    def test_unknown_code_on_mapped_status(self) -> None:
        """An unmapped code on a 404 takes the status class but keeps its code."""
        err = api_error(
            404, "Not Found", {"error_code": "ORG-001", "error_detail": "x"}
        )
        assert type(err).__name__ == "EntityNotFound"
        assert err.error_code == "ORG-001"

    def test_error_data_carried(self) -> None:
        """error_data is exposed as data."""
        body = {"error_code": "ARG-001", "error_detail": "d", "error_data": {"k": 1}}
        assert api_error(400, "", body).data == {"k": 1}


class TestApiErrorFallbacks:
    @pytest.mark.parametrize(("status", "name"), sorted(STATUSES.items()))
    @pytest.mark.parametrize(
        "payload",
        [
            None,
            {},
            {"error_code": "ARG-001"},
            {"error_detail": "x"},
            [1],
            "text",
            {"error_code": 5, "error_detail": "x"},
        ],
    )
    def test_status_table(self, status: int, name: str, payload: object) -> None:
        """Without code and detail the status picks the class; code is HTTP-<status>."""
        err = api_error(status, "Reason Phrase", payload)
        assert type(err).__name__ == name
        assert err.error_code == f"HTTP-{status}"
        assert err.status_code == status
        assert err.reason == "Reason Phrase"
        assert err.message == "Reason Phrase"

    @pytest.mark.parametrize("status", [500, 502, 503, 599])
    def test_server_errors(self, status: int) -> None:
        """Any 5xx maps to ServerError."""
        err = api_error(status, "Bad Gateway", None)
        assert type(err) is ServerError
        assert err.error_code == f"HTTP-{status}"

    @pytest.mark.parametrize("status", [400, 402, 410, 418, 422])
    def test_unmapped_status(self, status: int) -> None:
        """A status with no table entry falls to the base exception."""
        assert type(api_error(status, "", None)) is LaunchKeyAPIException

    def test_long_code_is_capped(self) -> None:
        """A hostile multi-kilobyte code is cut to 64 characters."""
        err = api_error(400, "", {"error_code": "X" * 5000, "error_detail": "d"})
        assert err.error_code == "X" * 64


class TestAuthorizationInProgress:
    def _err(self, data: object) -> AuthorizationInProgress:
        body = {"error_code": "SVC-005", "error_detail": "pending", "error_data": data}
        err = api_error(400, "Bad Request", body)
        assert isinstance(err, AuthorizationInProgress)
        return err

    def test_fields(self) -> None:
        """auth_request, expires (aware UTC) and from_same_service are parsed."""
        err = self._err(
            {
                "auth_request": "abc",
                "expires": "2027-01-15T08:00:00Z",
                "from_same_service": True,
            }
        )
        assert err.authorization_request_id == "abc"
        assert err.from_same_service is True
        assert err.expires == dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC)
        assert err.expires is not None
        assert err.expires.utcoffset() == dt.timedelta(0)

    def test_offset_converted_to_utc(self) -> None:
        """An expires with an offset is converted to UTC; a naive one is UTC."""
        err = self._err({"expires": "2027-01-15T10:00:00+02:00"})
        assert err.expires == dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC)
        assert err.expires is not None
        assert err.expires.tzinfo is dt.UTC
        naive = self._err({"expires": "2027-01-15T08:00:00"})
        assert naive.expires == dt.datetime(2027, 1, 15, 8, 0, tzinfo=dt.UTC)

    @pytest.mark.parametrize(
        "data",
        [
            {},
            {"auth_request": 5, "expires": "soon", "from_same_service": "yes"},
            {"expires": "x" * 100},
            {"expires": 1800000000},
        ],
    )
    def test_garbled_fields_are_none(self, data: dict[str, object]) -> None:
        """Missing or garbled fields come out as None, not an exception."""
        err = self._err(data)
        assert (err.authorization_request_id, err.expires, err.from_same_service) == (
            None,
            None,
            None,
        )

    def test_pickles(self) -> None:
        """API errors survive pickling with their fields (multiprocessing, logging)."""
        err = self._err({"auth_request": "abc", "expires": "2027-01-15T08:00:00Z"})
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is AuthorizationInProgress
        assert back.authorization_request_id == "abc"
        assert (back.error_code, back.status_code, back.detail) == (
            "SVC-005",
            400,
            "pending",
        )
