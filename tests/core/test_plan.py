"""The plans of _plan.py, driven by a tiny runner against a fake platform.

The fake platform is built from the core's own platform side (verify_request,
sign_response), so every answer the plans see is a genuinely signed one.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Generator
from typing import Any

import msgspec
import pytest

from lk_core import (
    AuthorizationInProgress,
    Credentials,
    EntityNotFound,
    Headers,
    HttpRequest,
    HttpResponse,
    InvalidJWTResponse,
    InvalidParameters,
    KeyRing,
    PlatformView,
    PrivateKey,
    PublicKey,
    Received,
    Send,
    ServerError,
    Store,
    Unauthorized,
    UnexpectedAPIResponse,
    VerifiedRequest,
    sign_response,
    signed_call,
    verify_request,
)
from lk_core._plan import (
    CACHE_TIME,
    MISSING_TIME,
    ensure_platform,
    fetch_platform_key,
)
from lk_core._plan import platform_key as platform_key_plan

from .support import SVC

LOCAL0 = 1_800_000_000.25  # local clock at the start of each test
App = Callable[[VerifiedRequest], tuple[int, bytes | None, tuple[tuple[str, str], ...]]]


def _ok(
    verified: VerifiedRequest,
) -> tuple[int, bytes | None, tuple[tuple[str, str], ...]]:
    return 201, b'{"echo": ' + (verified.payload or b"null") + b"}", ()


class FakePlatform:
    """Serves ping, public keys and signed API answers; its clock may run ahead."""

    def __init__(self, key: PrivateKey, client: PrivateKey, ahead: float = 0.0) -> None:
        self.current = key
        self.signer = key
        self.keys: dict[str, PrivateKey] = {key.kid: key}
        self.client = client
        self.ahead = ahead
        self.app: App = _ok
        self.paths: list[str] = []
        self.override: Callable[[HttpRequest], HttpResponse | None] = lambda r: None

    def handle(self, req: HttpRequest, local_now: float) -> HttpResponse:
        self.paths.append(req.path)
        now = local_now + self.ahead
        forced = self.override(req)
        if forced is not None:
            return forced
        if req.path == "/public/v3/ping":
            api_time = dt.datetime.fromtimestamp(int(now), dt.UTC).strftime(
                "%Y-%m-%dT%H:%M:%SZ"
            )
            return HttpResponse(
                status=200,
                headers=Headers(),
                body=json.dumps({"api_time": api_time}).encode(),
            )
        if req.path.startswith("/public/v3/public-key"):
            kid = (
                req.path.rpartition("/")[2]
                if req.path.count("/") == 4
                else self.current.kid
            )
            key = self.keys.get(kid)
            if key is None:
                return HttpResponse(status=404, headers=Headers())
            return HttpResponse(
                status=200,
                headers=Headers({"X-IOV-KEY-ID": key.kid}),
                body=key.public.pem.encode(),
            )
        verified = verify_request(
            req.method,
            req.path,
            req.headers,
            req.body,
            key_lookup=lambda issuer, kid: (
                self.client.public if kid == self.client.kid else None
            ),
            platform_keys=KeyRing(self.current, self.keys.values()),
            now=int(now),
        )
        status, payload, headers = self.app(verified)
        return sign_response(
            status,
            payload,
            request=verified,
            platform_key=self.signer,
            encrypt_to=self.client.public,
            now=int(now),
            extra_headers=headers,
        )


class Runner:
    """Moves plan steps: Send goes to the fake platform, Store is recorded."""

    def __init__(self, platform: FakePlatform) -> None:
        self.platform = platform
        self.now = LOCAL0
        self.stored: list[PlatformView] = []

    def run(self, plan: Generator[Any, Any, Any]) -> Any:
        try:
            step = next(plan)
            while True:
                if isinstance(step, Send):
                    self.now += 0.5  # each round trip takes half a second
                    answer = self.platform.handle(step.request, self.now)
                    step = plan.send(Received(answer, self.now))
                else:
                    assert isinstance(step, Store)
                    self.stored.append(step.view)
                    step = plan.send(None)
        except StopIteration as stop:
            return stop.value

    @property
    def view(self) -> PlatformView:
        return self.stored[-1] if self.stored else PlatformView()

    def call(
        self,
        view: PlatformView | None = None,
        payload: bytes | None = b'{"a": 1}',
        **kw: Any,
    ) -> Any:
        creds = Credentials(
            issuer=SVC, subject=SVC, keyring=KeyRing(self.platform.client)
        )
        plan = signed_call(
            self.view if view is None else view,
            creds,
            kw.pop("method", "POST"),
            kw.pop("path", "/service/v3/auths"),
            payload,
            now=self.now,
            new_jti=lambda: f"jti-{self.now}",
        )
        return self.run(plan)


@pytest.fixture
def fake(platform_key: PrivateKey, client_key: PrivateKey) -> FakePlatform:
    return FakePlatform(platform_key, client_key)


@pytest.fixture
def run(fake: FakePlatform) -> Runner:
    return Runner(fake)


class TestSignedCall:
    def test_first_call_syncs_clock_and_key(
        self, run: Runner, fake: FakePlatform
    ) -> None:
        """A fresh view pings, fetches the current key, then makes the call."""
        assert run.call() == (201, b'{"echo": {"a": 1}}')
        assert fake.paths == [
            "/public/v3/ping",
            "/public/v3/public-key",
            "/service/v3/auths",
        ]
        assert run.view.current_kid == fake.current.kid
        assert set(run.view.keys) == {fake.current.kid}

    def test_bodiless_call(self, run: Runner) -> None:
        """A GET without payload is signed without a body and still verified."""
        assert (
            run.call(payload=None, method="GET", path="/service/v3/auths/x")[0] == 201
        )

    @pytest.mark.parametrize("ahead", [-3600.0, 1000.0, 29.0])
    def test_clock_offset_applied(
        self, platform_key: PrivateKey, client_key: PrivateKey, ahead: float
    ) -> None:
        """Tokens carry platform time even when the local clock is far off."""
        fake = FakePlatform(platform_key, client_key, ahead=ahead)
        run = Runner(fake)
        assert run.call()[0] == 201
        assert abs(run.view.offset + ahead) <= 1

    def test_cache_300_seconds(self, run: Runner, fake: FakePlatform) -> None:
        """Clock offset and current key are reused under 300 s and refreshed after."""
        run.call()
        view = run.view
        fake.paths.clear()
        run.now = view.offset_at + CACHE_TIME - 2
        run.call(view)
        assert fake.paths == ["/service/v3/auths"]
        fake.paths.clear()
        run.now = view.offset_at + CACHE_TIME
        run.call(view)
        assert fake.paths == [
            "/public/v3/ping",
            "/public/v3/public-key",
            "/service/v3/auths",
        ]

    def test_unknown_response_kid_is_fetched_once(
        self, run: Runner, fake: FakePlatform, platform_key2: PrivateKey
    ) -> None:
        """A response signed by a key we have not seen makes the plan fetch that key."""
        run.call()
        fake.keys[platform_key2.kid] = platform_key2
        fake.signer = platform_key2
        fake.paths.clear()
        assert run.call()[0] == 201
        assert fake.paths == [
            "/service/v3/auths",
            f"/public/v3/public-key/{platform_key2.kid}",
        ]
        assert platform_key2.kid in run.view.keys
        fake.paths.clear()
        run.call()
        assert fake.paths == ["/service/v3/auths"]

    def test_rotated_current_key(
        self, run: Runner, fake: FakePlatform, platform_key2: PrivateKey
    ) -> None:
        """After the cache expires, requests are encrypted to the new current key."""
        run.call()
        fake.keys[platform_key2.kid] = platform_key2
        fake.current = platform_key2
        run.now += CACHE_TIME
        assert run.call()[0] == 201
        assert run.view.current_kid == platform_key2.kid

    def test_key_fetch_404(
        self, run: Runner, fake: FakePlatform, platform_key2: PrivateKey
    ) -> None:
        """A response naming a key the platform then denies is UnexpectedAPIResponse."""
        run.call()
        fake.signer = platform_key2
        with pytest.raises(UnexpectedAPIResponse, match="does not know key"):
            run.call()

    def test_unknown_kid_is_not_asked_again_for_a_minute(
        self, run: Runner, fake: FakePlatform, platform_key2: PrivateKey
    ) -> None:
        """After a 404 for a kid, the same kid is refused without a request for 60 s."""
        run.call()
        fake.signer = platform_key2
        with pytest.raises(UnexpectedAPIResponse):
            run.call()
        fake.paths.clear()
        with pytest.raises(UnexpectedAPIResponse, match="does not know key"):
            run.call()
        assert fake.paths == ["/service/v3/auths"]
        run.now += MISSING_TIME
        fake.keys[platform_key2.kid] = platform_key2  # the platform learned it since
        fake.paths.clear()
        assert run.call()[0] == 201
        assert f"/public/v3/public-key/{platform_key2.kid}" in fake.paths

    def test_fetched_key_must_match_kid(
        self,
        run: Runner,
        fake: FakePlatform,
        platform_key: PrivateKey,
        platform_key2: PrivateKey,
    ) -> None:
        """A key served under another key's id is refused."""
        run.call()
        fake.keys[platform_key2.kid] = platform_key
        fake.signer = platform_key2
        with pytest.raises(UnexpectedAPIResponse, match="does not match"):
            run.call()

    def test_401_is_unauthorized_unverified(
        self, run: Runner, fake: FakePlatform
    ) -> None:
        """A 401 raises Unauthorized even without any signature."""
        run.call()
        fake.override = lambda r: HttpResponse(
            status=401, headers=Headers(), reason="Unauthorized"
        )
        with pytest.raises(Unauthorized) as info:
            run.call()
        assert (info.value.status_code, info.value.error_code) == (401, "HTTP-401")

    @pytest.mark.parametrize("status", [500, 503])
    def test_5xx_is_server_error(
        self, run: Runner, fake: FakePlatform, status: int
    ) -> None:
        """A 5xx raises ServerError without verification and is never success."""
        run.call()
        fake.override = lambda r: HttpResponse(
            status=status, headers=Headers(), body=b"oops"
        )
        with pytest.raises(ServerError) as info:
            run.call()
        assert info.value.status_code == status

    def test_coded_4xx_mapped(self, run: Runner, fake: FakePlatform) -> None:
        """A verified 400 with an ARG-001 body raises InvalidParameters."""
        detail = {"username": "This field is required"}
        body = json.dumps({"error_code": "ARG-001", "error_detail": detail}).encode()
        fake.app = lambda v: (400, body, ())
        with pytest.raises(InvalidParameters) as info:
            run.call()
        assert info.value.detail == detail

    def test_svc005_mapped(self, run: Runner, fake: FakePlatform) -> None:
        """SVC-005 with error_data raises AuthorizationInProgress with its fields."""
        data = {
            "auth_request": "r1",
            "expires": "2027-01-15T08:00:00Z",
            "from_same_service": False,
        }
        body = json.dumps(
            {"error_code": "SVC-005", "error_detail": "pending", "error_data": data}
        )
        fake.app = lambda v: (400, body.encode(), ())
        with pytest.raises(AuthorizationInProgress) as info:
            run.call()
        assert info.value.authorization_request_id == "r1"

    def test_bodiless_404_mapped(self, run: Runner, fake: FakePlatform) -> None:
        """A verified 404 without body raises EntityNotFound."""
        fake.app = lambda v: (404, None, ())
        with pytest.raises(EntityNotFound):
            run.call()

    def test_unsigned_4xx_refused(self, run: Runner, fake: FakePlatform) -> None:
        """A 4xx is verified before it is mapped: a missing JWT is refused."""
        run.call()
        fake.override = lambda r: (
            None
            if r.path.startswith("/public")
            else HttpResponse(status=404, headers=Headers())
        )
        with pytest.raises(UnexpectedAPIResponse, match="X-IOV-JWT"):
            run.call()

    def test_forged_4xx_refused(
        self,
        run: Runner,
        fake: FakePlatform,
        platform_key: PrivateKey,
        client_key2: PrivateKey,
    ) -> None:
        """A 4xx whose token does not verify is refused, not mapped."""
        run.call()
        real = fake.handle

        def tamper(req: HttpRequest) -> HttpResponse | None:
            if req.path.startswith("/public"):
                return None
            fake.override = lambda r: None
            good = real(req, run.now)
            token = good.headers.get("X-IOV-JWT") or ""
            head, body, sig = token.split(".")
            bad = f"{head}.{body}.{sig[:-4]}AAAA"
            return HttpResponse(
                status=good.status, headers=Headers({"X-IOV-JWT": bad}), body=good.body
            )

        fake.override = tamper
        with pytest.raises(InvalidJWTResponse):
            run.call()

    def test_location_header_verified(self, run: Runner, fake: FakePlatform) -> None:
        """Headers the platform mirrors in its token pass through a real call."""
        fake.app = lambda v: (
            201,
            b"{}",
            (("Location", "/x/1"), ("Cache-Control", "no-store")),
        )
        assert run.call() == (201, b"{}")

    def test_lower_case_header_names(self, run: Runner, fake: FakePlatform) -> None:
        """Every answer with lower-case header names (as HTTP/2 sends) still works."""
        real = fake.handle

        def lowered(req: HttpRequest, local_now: float) -> HttpResponse:
            answer = real(req, local_now)
            headers = Headers([(k.lower(), v) for k, v in answer.headers])
            return msgspec.structs.replace(answer, headers=headers)

        fake.handle = lowered  # type: ignore[method-assign]
        fake.app = lambda v: (201, b"{}", (("Location", "/x/1"),))
        assert run.call() == (201, b"{}")

    def test_answer_must_be_received(self, platform_key: PrivateKey) -> None:
        """Answering a Send with anything but Received is a TypeError."""
        plan = ensure_platform(PlatformView(), LOCAL0)
        assert isinstance(next(plan), Send)
        with pytest.raises(TypeError, match="Received"):
            plan.send("not a response")


class TestPublicEndpoints:
    def _ensure(
        self, run: Runner, fake: FakePlatform, answer: HttpResponse, path: str
    ) -> None:
        fake.override = lambda r: answer if r.path == path else None
        run.run(ensure_platform(PlatformView(), LOCAL0))

    @pytest.mark.parametrize(
        ("status", "body", "words"),
        [
            (500, b"", "ping answered HTTP 500"),
            (200, b"not json", "ping body"),
            (200, b'["api_time"]', "no api_time"),
            (200, b'{"api_time": 5}', "no api_time"),
            (200, b'{"api_time": "yesterday"}', "not ISO 8601"),
        ],
    )
    def test_bad_ping(
        self, run: Runner, fake: FakePlatform, status: int, body: bytes, words: str
    ) -> None:
        """A ping that fails or lacks a parseable api_time is UnexpectedAPIResponse."""
        answer = HttpResponse(status=status, headers=Headers(), body=body)
        with pytest.raises(UnexpectedAPIResponse, match=words):
            self._ensure(run, fake, answer, "/public/v3/ping")

    def test_public_key_needs_key_id_header(
        self, run: Runner, fake: FakePlatform
    ) -> None:
        """A public-key answer without X-IOV-KEY-ID is refused."""
        answer = HttpResponse(
            status=200, headers=Headers(), body=fake.current.public.pem.encode()
        )
        with pytest.raises(UnexpectedAPIResponse, match="X-IOV-KEY-ID"):
            self._ensure(run, fake, answer, "/public/v3/public-key")

    def test_public_key_id_must_match(
        self, run: Runner, fake: FakePlatform, client_key: PrivateKey
    ) -> None:
        """An X-IOV-KEY-ID that is not the served key's kid is refused."""
        answer = HttpResponse(
            status=200,
            headers=Headers({"X-IOV-KEY-ID": client_key.kid}),
            body=fake.current.public.pem.encode(),
        )
        with pytest.raises(UnexpectedAPIResponse, match="does not match"):
            self._ensure(run, fake, answer, "/public/v3/public-key")

    def test_public_key_body_must_be_key(self, run: Runner, fake: FakePlatform) -> None:
        """A public-key answer whose body is not an RSA key is refused."""
        answer = HttpResponse(
            status=200, headers=Headers({"X-IOV-KEY-ID": "x"}), body=b'"json"'
        )
        with pytest.raises(UnexpectedAPIResponse, match="public-key body"):
            self._ensure(run, fake, answer, "/public/v3/public-key")

    @pytest.mark.parametrize("kid", ["", "a/b", "x" * 129])
    def test_malformed_kid_not_fetched(self, kid: str) -> None:
        """A kid that is empty, too long or has a slash is never requested."""
        with pytest.raises(UnexpectedAPIResponse, match="malformed"):
            next(fetch_platform_key(PlatformView(), kid))

    def test_known_kid_needs_no_fetch(self, platform_key: PrivateKey) -> None:
        """platform_key returns at once when the view already holds the key."""
        view = PlatformView().with_key(platform_key.public)
        with pytest.raises(StopIteration) as stop:
            next(platform_key_plan(view, platform_key.kid, 0.0))
        assert stop.value.value is view


class TestPlatformView:
    def test_current_key_expires(self, platform_key: PrivateKey) -> None:
        """The current key is fresh for just under 300 s after it was learned."""
        view = PlatformView().with_key(platform_key.public, current_at=100.0)
        assert view.current_key(100.0 + CACHE_TIME - 0.001) == platform_key.public
        assert view.current_key(100.0 + CACHE_TIME) is None
        assert PlatformView().current_key(0.0) is None

    def test_with_key_keeps_current(
        self, platform_key: PrivateKey, platform_key2: PrivateKey
    ) -> None:
        """Learning an extra key by id does not change the current key."""
        view = PlatformView().with_key(platform_key.public, current_at=1.0)
        more = view.with_key(platform_key2.public)
        assert more.current_kid == platform_key.kid
        assert set(more.keys) == {platform_key.kid, platform_key2.kid}
        assert set(view.keys) == {platform_key.kid}

    def test_key_type_is_public(self, platform_key: PrivateKey) -> None:
        """The view holds public keys only."""
        view = PlatformView().with_key(platform_key.public)
        assert all(isinstance(k, PublicKey) for k in view.keys.values())
