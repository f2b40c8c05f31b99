"""Every Service call through ServiceClient against the in-memory fake platform."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from service_fake import T0, FakePlatform, key

from lk_core import (
    AuthorizationInProgress,
    AuthorizationRequestCanceled,
    AuthorizationResponseExists,
    EntityKeyNotFound,
    EntityNotFound,
    HttpRequest,
    HttpResponse,
    InvalidArgument,
    LaunchKeyAPIException,
    RequestTimedOut,
    TransportError,
    UnexpectedAPIResponse,
    UnexpectedDeviceResponse,
    UnexpectedKeyID,
)
from lk_core.service import (
    AuthMethodType,
    AuthPolicy,
    AuthResponseReason,
    AuthResponseType,
    DenialReason,
    Requirement,
    TerritoryFence,
)
from lk_io import ServiceClient

AUTHS = "/service/v3/auths"


class TestAuthorizationRequest:
    def test_returns_request_and_sends_only_set_fields(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """The reply's fields come back; unset optional fields are not sent."""
        fake.route("POST", AUTHS, 201, {"auth_request": "r1", "device_ids": ["d"]})
        result = client.authorization_request("myuser", context="Rear door", ttl=60)
        assert result.auth_request == "r1"
        assert result.device_ids == ("d",)
        assert result.push_package is None
        assert fake.last_payload() == {
            "username": "myuser",
            "context": "Rear door",
            "ttl": 60,
        }

    def test_fetches_time_and_key_once(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """Ping and public key are fetched on the first call and cached after."""
        fake.route("POST", AUTHS, 201, {"auth_request": "r1"})
        client.authorization_request("u")
        client.authorization_request("u")
        paths = [r.path for r in fake.seen]
        assert paths.count("/public/v3/ping") == 1
        assert paths.count("/public/v3/public-key") == 1

    def test_refreshes_after_cache_time(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """After 300 s the clock offset and current key are fetched again."""
        fake.route("POST", AUTHS, 201, {"auth_request": "r1"})
        client.authorization_request("u")
        fake.now += 301
        client.authorization_request("u")
        assert [r.path for r in fake.seen].count("/public/v3/ping") == 2

    def test_policy_and_denial_reasons_on_the_wire(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """An AuthPolicy and DenialReasons are sent in their wire shapes."""
        fake.route("POST", AUTHS, 201, {"auth_request": "r1"})
        policy = AuthPolicy(any=2)
        reasons = [DenialReason("a", "Fraud", True), DenialReason("b", "Oops", False)]
        client.authorization_request("u", policy=policy, denial_reasons=reasons)
        sent = fake.last_payload()
        assert sent["policy"]["minimum_requirements"][0]["any"] == 2
        assert sent["denial_reasons"][0] == {
            "id": "a",
            "reason": "Fraud",
            "fraud": True,
        }

    def test_invalid_argument_sends_nothing(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """A bad ttl raises InvalidArgument naming it, before any request."""
        with pytest.raises(InvalidArgument) as info:
            client.authorization_request("u", ttl=601)
        assert info.value.field == "ttl"
        assert fake.seen == []

    def test_in_progress_carries_its_data(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """SVC-005 raises AuthorizationInProgress with id, same-service flag, expiry."""
        data = {
            "auth_request": "other",
            "expires": "2027-01-01T00:00:00Z",
            "from_same_service": True,
        }
        error = {"error_code": "SVC-005", "error_detail": "busy", "error_data": data}
        fake.route("POST", AUTHS, 400, error)
        with pytest.raises(AuthorizationInProgress) as info:
            client.authorization_request("u")
        assert info.value.authorization_request_id == "other"
        assert info.value.from_same_service is True
        assert info.value.expires == dt.datetime(2027, 1, 1, tzinfo=dt.UTC)

    def test_unknown_code_keeps_code_and_detail(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """An error code no table knows still raises a typed error with its code."""
        fake.route("POST", AUTHS, 400, {"error_code": "XYZ-9", "error_detail": "new"})
        with pytest.raises(LaunchKeyAPIException) as info:
            client.authorization_request("u")
        assert (info.value.error_code, info.value.detail) == ("XYZ-9", "new")

    def test_empty_push_package_refused(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """An empty push_package is a malformed reply."""
        fake.route("POST", AUTHS, 201, {"auth_request": "r1", "push_package": ""})
        with pytest.raises(UnexpectedAPIResponse):
            client.authorization_request("u")


class TestGetResponse:
    def test_pending_is_none(self, fake: FakePlatform, client: ServiceClient) -> None:
        """204 means the user has not answered yet."""
        fake.route("GET", f"{AUTHS}/req-1", 204)
        assert client.get_advanced_authorization_response("req-1") is None

    def test_jwe_response_fields(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """Every attribute of the seed comes from the JWE and the outer package."""
        inner = fake.device_jwe(
            type="DENIED",
            reason="FRAUDULENT",
            denial_reason="a",
            auth_policy={
                "requirement": "types",
                "types": ["Possession", "knowledge"],
                "geofences": [{"type": "TERRITORY", "country": "US", "name": "us"}],
            },
            auth_methods=[{"method": "pin_code", "set": True, "passed": None}],
        )
        fake.route("GET", f"{AUTHS}/req-1", 200, fake.package(auth_jwe=inner))
        response = client.get_advanced_authorization_response("req-1")
        assert response is not None
        assert response.type is AuthResponseType.DENIED
        assert response.reason is AuthResponseReason.FRAUDULENT
        assert (response.authorized, response.fraud) == (False, True)
        assert response.denial_reason == "a"
        assert response.authorization_request_id == "req-1"
        assert (response.service_user_hash, response.organization_user_hash) == (
            "suh",
            "ouh",
        )
        assert response.user_push_id == "upi"
        assert response.device_id == "dev-1"
        assert response.service_pins == ("1234", "5678")
        assert response.policy is not None
        assert response.policy.requirement is Requirement.TYPES
        assert response.policy.possession_required
        assert response.policy.knowledge_required
        assert not response.policy.inherence_required
        assert response.policy.fences == (TerritoryFence(country="US", name="us"),)
        method = response.auth_methods[0]
        assert (method.method, method.set, method.passed) == (
            AuthMethodType.PIN_CODE,
            True,
            None,
        )

    def test_approved_is_authorized(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """AUTHORIZED with APPROVED gives authorized True."""
        fake.route("GET", f"{AUTHS}/req-1", 200, fake.package())
        response = client.get_authorization_response("req-1")
        assert response is not None
        assert response.authorized is True

    def test_legacy_package(self, fake: FakePlatform, client: ServiceClient) -> None:
        """Without auth_jwe the RSA-OAEP-SHA1 ``auth`` package is used."""
        package = fake.package(auth=fake.legacy_auth(response=False), auth_jwe=None)
        fake.route("GET", f"{AUTHS}/req-1", 200, package)
        response = client.get_advanced_authorization_response("req-1")
        assert response is not None
        assert (response.authorized, response.type, response.device_id) == (
            False,
            None,
            "dev-1",
        )

    def test_legacy_unknown_key_id(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """A legacy package for a key we do not hold raises UnexpectedKeyID."""
        package = fake.package(
            auth=fake.legacy_auth(), auth_jwe="", public_key_id="00:11"
        )
        fake.route("GET", f"{AUTHS}/req-1", 200, package)
        with pytest.raises(UnexpectedKeyID):
            client.get_advanced_authorization_response("req-1")

    def test_other_request_id_refused(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """A device package for another request raises UnexpectedDeviceResponse."""
        package = fake.package(auth_jwe=fake.device_jwe(auth_request="req-2"))
        fake.route("GET", f"{AUTHS}/req-1", 200, package)
        with pytest.raises(UnexpectedDeviceResponse):
            client.get_advanced_authorization_response("req-1")

    def test_jwe_for_unknown_key(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """A device JWE encrypted to a key we lack raises EntityKeyNotFound."""
        other = FakePlatform(service_key=key("other"))
        fake.route(
            "GET", f"{AUTHS}/req-1", 200, fake.package(auth_jwe=other.device_jwe())
        )
        with pytest.raises(EntityKeyNotFound):
            client.get_advanced_authorization_response("req-1")

    def test_outer_package_missing_hash(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """Polling needs the user hashes; without them the reply is malformed."""
        package = fake.package()
        del package["org_user_hash"]
        fake.route("GET", f"{AUTHS}/req-1", 200, package)
        with pytest.raises(UnexpectedAPIResponse):
            client.get_advanced_authorization_response("req-1")

    @pytest.mark.parametrize(
        ("status", "payload", "error"),
        [
            (408, None, RequestTimedOut),
            (
                400,
                {"error_code": "SVC-007", "error_detail": "x"},
                AuthorizationRequestCanceled,
            ),
            (404, None, EntityNotFound),
        ],
    )
    def test_errors(
        self,
        fake: FakePlatform,
        client: ServiceClient,
        status: int,
        payload: object,
        error: type[Exception],
    ) -> None:
        """Expired, canceled and unknown requests raise the seed's errors."""
        fake.route("GET", f"{AUTHS}/req-1", status, payload)
        with pytest.raises(error):
            client.get_advanced_authorization_response("req-1")

    def test_path_injection_refused(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """An id that would change the URL path is refused before sending."""
        with pytest.raises(InvalidArgument):
            client.get_advanced_authorization_response("../sessions")
        assert fake.seen == []


class TestOtherCalls:
    def test_cancel(self, fake: FakePlatform, client: ServiceClient) -> None:
        """Cancel sends a bodiless DELETE; SVC-006 is AuthorizationResponseExists."""
        fake.route("DELETE", f"{AUTHS}/req-1", 204)
        client.cancel_authorization_request("req-1")
        assert fake.requests[-1].payload is None
        fake.route(
            "DELETE",
            f"{AUTHS}/req-1",
            400,
            {"error_code": "SVC-006", "error_detail": "x"},
        )
        with pytest.raises(AuthorizationResponseExists):
            client.cancel_authorization_request("req-1")

    def test_sessions(self, fake: FakePlatform, client: ServiceClient) -> None:
        """Session start and end send the user (and request id) in an encrypted body."""
        fake.route("POST", "/service/v3/sessions", 204)
        fake.route("DELETE", "/service/v3/sessions", 204)
        client.session_start("myuser", "req-1")
        assert fake.last_payload() == {"username": "myuser", "auth_request": "req-1"}
        client.session_end("myuser")
        assert fake.last_payload() == {"username": "myuser"}

    def test_totp(self, fake: FakePlatform, client: ServiceClient) -> None:
        """verify_totp returns the platform's verdict."""
        fake.route("POST", "/service/v3/totp", 200, {"valid": True})
        assert client.verify_totp("myuser", "569874") is True
        assert fake.last_payload() == {"identifier": "myuser", "otp": "569874"}

    def test_totp_rejects_bad_code(
        self, fake: FakePlatform, client: ServiceClient
    ) -> None:
        """A non-digit code is refused before sending."""
        with pytest.raises(InvalidArgument) as info:
            client.verify_totp("myuser", "12ab56")
        assert info.value.field == "otp"


class _Flaky:
    """Fails the first ``failures`` signed requests, then forwards to the fake."""

    def __init__(self, fake: FakePlatform, failures: int) -> None:
        self.fake = fake
        self.failures = failures

    def send(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/service/") and self.failures:
            self.failures -= 1
            raise TransportError("connection reset")
        return self.fake.send(request)


class TestRetries:
    def test_get_is_retried_with_a_fresh_request(self, fake: FakePlatform) -> None:
        """A failed GET runs again, with a new jti so the platform accepts it."""
        client = ServiceClient(
            fake.service.id,
            fake.service_key,
            transport=_Flaky(fake, 2),
            clock=fake.clock,
        )
        client.backoff = 0
        fake.route("GET", f"{AUTHS}/req-1", 204)
        assert client.get_advanced_authorization_response("req-1") is None
        assert len(fake.requests) == 1

    def test_create_is_never_retried(self, fake: FakePlatform) -> None:
        """A failed create raises at once: a second one could ask the user twice."""
        flaky = _Flaky(fake, 1)
        client = ServiceClient(
            fake.service.id, fake.service_key, transport=flaky, clock=fake.clock
        )
        fake.route("POST", AUTHS, 201, {"auth_request": "r1"})
        with pytest.raises(TransportError):
            client.authorization_request("u")
        assert fake.requests == []

    def test_gives_up_after_retries(self, fake: FakePlatform) -> None:
        """After ``retries`` re-runs the network error reaches the caller."""
        client = ServiceClient(
            fake.service.id,
            fake.service_key,
            transport=_Flaky(fake, 5),
            clock=fake.clock,
            retries=2,
            backoff=0,
        )
        with pytest.raises(TransportError):
            client.get_advanced_authorization_response("req-1")


def test_platform_key_rotation_fetches_the_named_key(fake: FakePlatform) -> None:
    """A response signed with a key we have not seen makes the client fetch it by id."""
    client = ServiceClient(
        fake.service.id, fake.service_key, transport=fake, clock=fake.clock
    )
    fake.route("POST", "/service/v3/totp", 200, {"valid": False})
    client.verify_totp("u", "123456")
    rotated = key("rotated")
    fake.extra_keys[rotated.kid] = rotated
    fake.signer = rotated
    fake.route("POST", "/service/v3/totp", 200, {"valid": True})
    assert client.verify_totp("u", "123456") is True
    assert fake.seen[-1].path == f"/public/v3/public-key/{rotated.kid}"
    assert rotated.kid in client.platform_view.keys


def test_unknown_signing_key_is_refused(fake: FakePlatform) -> None:
    """A response signed by a key the platform does not publish is refused."""
    client = ServiceClient(
        fake.service.id, fake.service_key, transport=fake, clock=fake.clock
    )
    fake.signer = key("forger")
    fake.route("POST", "/service/v3/totp", 200, {"valid": True})
    with pytest.raises(UnexpectedAPIResponse):
        client.verify_totp("u", "123456")
    assert fake.now == T0


def test_logs_hold_no_secrets(
    fake: FakePlatform, caplog: pytest.LogCaptureFixture
) -> None:
    """At DEBUG, the client logs requests and retries but no OTP, token or payload."""
    client = ServiceClient(
        fake.service.id,
        fake.service_key,
        transport=_Flaky(fake, 1),
        clock=fake.clock,
        backoff=0,
    )
    fake.route("POST", "/service/v3/totp", 200, {"valid": True})
    fake.route("GET", f"{AUTHS}/req-1", 200, fake.package())
    with caplog.at_level(logging.DEBUG):
        client.get_advanced_authorization_response("req-1")
        client.verify_totp("secret-user", "569874")
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "retry 1" in text
    for secret in ("569874", "secret-user", "IOV-JWT", "suh", "BEGIN", "eyJ"):
        assert secret not in text


CODES = [
    ("ARG-001", "InvalidParameters"),
    ("ARG-002", "InvalidRoute"),
    ("SVC-001", "ServiceNameTaken"),
    ("SVC-002", "InvalidPolicyInput"),
    ("SVC-003", "PolicyFailure"),
    ("SVC-004", "ServiceNotFound"),
    ("SVC-005", "AuthorizationInProgress"),
    ("SVC-006", "AuthorizationResponseExists"),
    ("SVC-007", "AuthorizationRequestCanceled"),
    ("DIR-001", "InvalidDirectoryIdentifier"),
    ("KEY-001", "InvalidPublicKey"),
    ("KEY-002", "PublicKeyAlreadyInUse"),
    ("KEY-003", "PublicKeyDoesNotExist"),
    ("KEY-004", "LastRemainingKey"),
    ("ORG-003", "DirectoryNameInUse"),
    ("ORG-005", "LastRemainingSDKKey"),
    ("ORG-006", "InvalidSDKKey"),
]


@pytest.mark.parametrize(("code", "name"), CODES)
def test_every_error_code_maps(
    fake: FakePlatform, client: ServiceClient, code: str, name: str
) -> None:
    """Each documented error code reaches the caller as its own exception."""
    import lk_core

    fake.route("POST", AUTHS, 400, {"error_code": code, "error_detail": {"f": "bad"}})
    with pytest.raises(getattr(lk_core, name)) as info:
        client.authorization_request("u")
    assert (info.value.error_code, info.value.detail) == (code, {"f": "bad"})
