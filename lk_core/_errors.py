"""One error hierarchy for the whole library.

Three families sit under :class:`LaunchKeyError`, so callers can tell whose fault a
failure is:

* :class:`UsageError` - the caller asked for something impossible (bad key, bad
argument).
  Raised before anything is sent.
* :class:`ProtocolError` - the far side sent bytes we refuse (bad signature, wrong
audience,
  undecryptable body, malformed package). Never retried blindly: it may be an attack.
* :class:`LaunchKeyAPIException` - the platform answered with a coded error.

:class:`TransportError` covers the network itself (refused, reset, timed out). Every
error has a stable short ``code`` and a ``hint`` saying what the caller can do about it.
No error message ever contains key material, tokens, OTPs or decrypted payloads.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any, ClassVar

__all__ = [
    "AuthorizationInProgress",
    "AuthorizationRequestCanceled",
    "AuthorizationResponseExists",
    "Conflict",
    "DirectoryNameInUse",
    "DuplicateGeoFenceName",
    "DuplicateTimeFenceName",
    "EntityKeyNotFound",
    "EntityNotFound",
    "Forbidden",
    "InvalidAlgorithm",
    "InvalidArgument",
    "InvalidDeviceStatus",
    "InvalidDirectoryIdentifier",
    "InvalidEntityID",
    "InvalidFenceType",
    "InvalidGeoFenceName",
    "InvalidIssuer",
    "InvalidJWTResponse",
    "InvalidParameters",
    "InvalidPolicyAttributes",
    "InvalidPolicyFormat",
    "InvalidPolicyInput",
    "InvalidPrivateKey",
    "InvalidPublicKey",
    "InvalidPublicKeyFormat",
    "InvalidRoute",
    "InvalidSDKKey",
    "InvalidTimeFenceEndTime",
    "InvalidTimeFenceName",
    "InvalidTimeFenceStartTime",
    "JWTValidationFailure",
    "KeyFormatError",
    "LastRemainingKey",
    "LastRemainingSDKKey",
    "LaunchKeyAPIException",
    "LaunchKeyError",
    "MismatchedTimeFenceTimezones",
    "NoIssuerKey",
    "PolicyError",
    "PolicyFailure",
    "ProtocolError",
    "PublicKeyAlreadyInUse",
    "PublicKeyDoesNotExist",
    "RateLimited",
    "RequestTimedOut",
    "ServerError",
    "ServiceNameTaken",
    "ServiceNotFound",
    "TransportError",
    "UnableToDecryptWebhookRequest",
    "Unauthorized",
    "UnexpectedAPIResponse",
    "UnexpectedAuthorizationResponse",
    "UnexpectedDeviceResponse",
    "UnexpectedKeyID",
    "UnexpectedWebhookRequest",
    "UnknownPolicyException",
    "UsageError",
    "WebhookAuthorizationError",
    "WebhookError",
    "api_error",
]


class LaunchKeyError(Exception):
    """Root of every error this library raises."""

    code: ClassVar[str] = "LK"
    hint: ClassVar[str] = ""

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.code)
        self.message = message


# --- caller mistakes -----------------------------------------------------------------


class UsageError(LaunchKeyError):
    """The caller asked for something that cannot be done; nothing was sent."""

    code = "USAGE"
    hint = "fix the call; retrying the same call will fail the same way"


class InvalidArgument(UsageError, ValueError):
    """An argument failed validation before the request was built."""

    code = "ARGUMENT"

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem


class InvalidEntityID(UsageError, ValueError):
    """An entity id is not a UUID."""

    code = "ENTITY-ID"


class InvalidIssuer(UsageError, ValueError):
    """An entity type is not one of svc, dir, org."""

    code = "ISSUER"


class InvalidAlgorithm(UsageError, ValueError):
    """A JOSE or hash algorithm outside the pinned set was requested."""

    code = "ALGORITHM"


class NoIssuerKey(UsageError):
    """Signing was attempted without a signing key."""

    code = "NO-KEY"


class KeyFormatError(UsageError, ValueError):
    """Key bytes could not be loaded as the expected kind of RSA key."""

    code = "KEY-FORMAT"
    hint = "pass an unencrypted RSA key in PEM form (private: PKCS#1 or PKCS#8)"


class InvalidPrivateKey(KeyFormatError):
    """The bytes are not an unencrypted RSA private key in PEM form."""


class InvalidPublicKeyFormat(KeyFormatError):
    """The bytes are not an RSA public key in PEM form."""


class PolicyError(UsageError, ValueError):
    """A policy value or policy JSON is not valid."""

    code = "POLICY"


class UnknownPolicyException(PolicyError):
    """A policy type is not one this library knows."""


class InvalidFenceType(PolicyError):
    """A fence type is not GEO_CIRCLE or TERRITORY."""


class InvalidPolicyAttributes(PolicyError):
    """Policy attributes have the wrong type or combination."""


class InvalidPolicyFormat(PolicyError):
    """Policy JSON does not have the legacy or typed shape."""


class DuplicateGeoFenceName(PolicyError):
    """A geofence with that name already exists in the policy."""


class InvalidGeoFenceName(PolicyError):
    """No geofence with that name exists in the policy."""


class DuplicateTimeFenceName(PolicyError):
    """A time fence with that name already exists in the policy."""


class InvalidTimeFenceName(PolicyError):
    """No time fence with that name exists in the policy."""


class InvalidTimeFenceStartTime(PolicyError):
    """A time fence start is not a time of day."""


class InvalidTimeFenceEndTime(PolicyError):
    """A time fence end is not a time of day."""


class MismatchedTimeFenceTimezones(PolicyError):
    """A time fence's start and end are in different time zones."""


# --- the far side sent something we refuse -------------------------------------------


class ProtocolError(LaunchKeyError):
    """The far side sent data that failed verification or parsing."""

    code = "PROTOCOL"
    hint = "do not trust this message: it may be forged, corrupted or misdirected"


class UnexpectedAPIResponse(ProtocolError):
    """A response was malformed (missing header, bad body, bad shape)."""

    code = "UNEXPECTED-RESPONSE"


class InvalidJWTResponse(ProtocolError):
    """A JWT could not be parsed, or its signature did not verify."""

    code = "JWT-INVALID"


class JWTValidationFailure(ProtocolError):
    """A verified JWT's claims do not match what was expected."""

    code = "JWT-CLAIM"

    def __init__(self, check: str, expected: object, found: object) -> None:
        super().__init__(f"{check}: expected {expected!r}, found {found!r}")
        self.check = check
        self.expected = expected
        self.found = found


class EntityKeyNotFound(ProtocolError):
    """An encrypted message names a key id that is not among our private keys."""

    code = "KEY-UNKNOWN"
    hint = "add the private key with that id; keep rotated keys for late messages"

    def __init__(self, kid: str | None) -> None:
        super().__init__(f"no private key with key id {kid!r}")
        self.kid = kid


class UnexpectedKeyID(ProtocolError):
    """A legacy auth package names a public key id that is not ours."""

    code = "KEY-ID"


class UnexpectedDeviceResponse(ProtocolError):
    """The device's auth package cannot be decrypted or is not valid."""

    code = "DEVICE-RESPONSE"


class InvalidDeviceStatus(ProtocolError):
    """A device status is not 0, 1 or 2."""

    code = "DEVICE-STATUS"


class WebhookError(ProtocolError):
    """A webhook request failed verification."""

    code = "WEBHOOK"
    hint = "answer the webhook with an error status; a genuine platform retries"


class WebhookAuthorizationError(WebhookError):
    """A webhook request carries no X-IOV-JWT header."""

    code = "WEBHOOK-NO-JWT"


class UnexpectedWebhookRequest(WebhookError):
    """A webhook request's JWT or body is not valid."""

    code = "WEBHOOK-INVALID"


class UnableToDecryptWebhookRequest(WebhookError):
    """A webhook body could not be decrypted."""

    code = "WEBHOOK-DECRYPT"


class UnexpectedAuthorizationResponse(WebhookError):
    """An authorization-response webhook lacks required fields."""

    code = "WEBHOOK-AUTH"


# --- network -------------------------------------------------------------------------


class TransportError(LaunchKeyError):
    """The request could not be completed on the network (refused, reset, timed out)."""

    code = "TRANSPORT"
    hint = "check connectivity and the base URL; safe calls were already retried"

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


# --- coded API errors ----------------------------------------------------------------


class LaunchKeyAPIException(LaunchKeyError):
    """The platform answered with an error.

    ``error_code`` is the platform code (``ARG-001``...) or ``HTTP-<status>`` when the
    body had none; ``detail`` is ``error_detail`` (a string or an object keyed by
    field); ``data`` is ``error_data`` or ``{}``.
    """

    code = "API"
    hint = "the platform refused the request as sent; error_code and detail say why"
    error_code_for: ClassVar[str | None] = None
    status_for: ClassVar[int | None] = None

    def __init__(
        self,
        detail: object = None,
        status_code: int | None = None,
        *,
        error_code: str | None = None,
        reason: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> None:
        self.error_code = error_code or self.error_code_for or f"HTTP-{status_code}"
        self.detail = detail
        self.status_code = status_code
        self.reason = reason
        self.data: Mapping[str, Any] = dict(data) if data else {}
        text = detail if isinstance(detail, str) else repr(detail) if detail else reason
        super().__init__(f"{self.error_code} (HTTP {status_code}): {text}")
        # The vendor SDK exposes the detail as ``message``; keep that name working.
        self.message = text

    def __reduce__(self) -> tuple[Any, ...]:
        return (
            _rebuild_api_error,
            (
                type(self),
                self.detail,
                self.status_code,
                self.error_code,
                self.reason,
                dict(self.data),
            ),
        )


def _rebuild_api_error(
    cls: type[LaunchKeyAPIException],
    detail: object,
    status: int | None,
    error_code: str,
    reason: str,
    data: dict[str, Any],
) -> LaunchKeyAPIException:
    return cls(detail, status, error_code=error_code, reason=reason, data=data)


# Written out rather than generated from a table so that type checkers see real classes.
class InvalidParameters(LaunchKeyAPIException):
    """ARG-001: the request data failed validation (detail is keyed by field)."""

    error_code_for = "ARG-001"


class InvalidRoute(LaunchKeyAPIException):
    """ARG-002: the route or method is not valid."""

    error_code_for = "ARG-002"


class ServiceNameTaken(LaunchKeyAPIException):
    """SVC-001: the service name is already used."""

    error_code_for = "SVC-001"


class InvalidPolicyInput(LaunchKeyAPIException):
    """SVC-002: the policy was not valid."""

    error_code_for = "SVC-002"


class PolicyFailure(LaunchKeyAPIException):
    """SVC-003: the user cannot satisfy the policy."""

    error_code_for = "SVC-003"


class ServiceNotFound(LaunchKeyAPIException):
    """SVC-004: the service id is unknown."""

    error_code_for = "SVC-004"


class AuthorizationInProgress(LaunchKeyAPIException):
    """SVC-005: another authorization request is pending for this user.

    ``authorization_request_id`` names it, ``expires`` (aware UTC datetime) says when it
    ends, ``from_same_service`` says whether this service made it. Each is ``None`` when
    the platform's ``error_data`` lacked or garbled it.
    """

    error_code_for = "SVC-005"

    def __init__(
        self,
        detail: object = None,
        status_code: int | None = None,
        *,
        error_code: str | None = None,
        reason: str = "",
        data: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(
            detail, status_code, error_code=error_code, reason=reason, data=data
        )
        d = self.data
        auth = d.get("auth_request")
        self.authorization_request_id: str | None = (
            auth if isinstance(auth, str) else None
        )
        same = d.get("from_same_service")
        self.from_same_service: bool | None = same if isinstance(same, bool) else None
        self.expires: _dt.datetime | None = _parse_utc(d.get("expires"))


def _parse_utc(value: object) -> _dt.datetime | None:
    if not isinstance(value, str) or len(value) > 64:
        return None
    try:
        parsed = _dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=_dt.UTC)
    return parsed.astimezone(_dt.UTC)


class AuthorizationResponseExists(LaunchKeyAPIException):
    """SVC-006: the request was already answered and cannot be canceled."""

    error_code_for = "SVC-006"


class AuthorizationRequestCanceled(LaunchKeyAPIException):
    """SVC-007: the authorization request was canceled."""

    error_code_for = "SVC-007"


class InvalidDirectoryIdentifier(LaunchKeyAPIException):
    """DIR-001: the directory user identifier is not valid."""

    error_code_for = "DIR-001"


class InvalidPublicKey(LaunchKeyAPIException):
    """KEY-001: the public key is not valid."""

    error_code_for = "KEY-001"


class PublicKeyAlreadyInUse(LaunchKeyAPIException):
    """KEY-002: the key is already on the entity."""

    error_code_for = "KEY-002"


class PublicKeyDoesNotExist(LaunchKeyAPIException):
    """KEY-003: no key with that id."""

    error_code_for = "KEY-003"


class LastRemainingKey(LaunchKeyAPIException):
    """KEY-004: the last key of an entity cannot be removed."""

    error_code_for = "KEY-004"


class DirectoryNameInUse(LaunchKeyAPIException):
    """ORG-003: the directory name is taken."""

    error_code_for = "ORG-003"


class LastRemainingSDKKey(LaunchKeyAPIException):
    """ORG-005: the last SDK key of a directory cannot be removed."""

    error_code_for = "ORG-005"


class InvalidSDKKey(LaunchKeyAPIException):
    """ORG-006: the SDK key is not in the directory."""

    error_code_for = "ORG-006"


class Unauthorized(LaunchKeyAPIException):
    """HTTP 401: bad signature, unknown key, clock skew or wrong audience."""

    status_for = 401
    hint = "check the service id and private key; check the machine clock"


class Forbidden(LaunchKeyAPIException):
    """HTTP 403: the entity may not act on this resource."""

    status_for = 403


class EntityNotFound(LaunchKeyAPIException):
    """HTTP 404: unknown user, request, device or key."""

    status_for = 404


class RequestTimedOut(LaunchKeyAPIException):
    """HTTP 408: the authorization request expired before the user answered."""

    status_for = 408


class Conflict(LaunchKeyAPIException):
    """HTTP 409: the request conflicts with the current state."""

    status_for = 409


class RateLimited(LaunchKeyAPIException):
    """HTTP 429: too many requests."""

    status_for = 429
    hint = "wait before asking again"


class ServerError(LaunchKeyAPIException):
    """HTTP 5xx: the platform failed."""

    status_for = 500
    hint = "retry later"


_BY_CODE: dict[str, type[LaunchKeyAPIException]] = {
    c.error_code_for: c
    for c in LaunchKeyAPIException.__subclasses__()
    if c.error_code_for is not None
}
_BY_STATUS: dict[int, type[LaunchKeyAPIException]] = {
    c.status_for: c for c in LaunchKeyAPIException.__subclasses__() if c.status_for
}


def api_error(status: int, reason: str, payload: object) -> LaunchKeyAPIException:
    """Map an error response to its exception: error code first, then HTTP status.

    ``payload`` is the decoded body (any JSON value, or ``None``). A body without both
    ``error_code`` and ``error_detail`` falls back to the status table, with code
    ``HTTP-<status>``. An unknown code keeps its code and detail on the base class.
    """
    code: str | None = None
    detail: object = reason
    data: Mapping[str, Any] | None = None
    if isinstance(payload, dict):
        raw_code = payload.get("error_code")
        if isinstance(raw_code, str) and "error_detail" in payload:
            code = raw_code[:64]
            detail = payload.get("error_detail")
        raw_data = payload.get("error_data")
        if isinstance(raw_data, dict):
            data = raw_data
    cls = _BY_CODE.get(code) if code else None
    if cls is None:
        cls = _BY_STATUS.get(500 if status >= 500 else status, LaunchKeyAPIException)
    return cls(detail, status, error_code=code, reason=reason, data=data)
