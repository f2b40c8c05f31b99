"""The emulator over HTTP: public endpoints, request checks, webhooks, state, clock."""

from __future__ import annotations

import base64
import hashlib
import http.client
import json
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from lk_core import (
    Entity,
    EntityNotFound,
    Forbidden,
    KeyRing,
    RateLimited,
    RequestTimedOut,
    Unauthorized,
    generate_private_key,
    jwe_decrypt,
    jwe_encrypt,
    load_private_key,
    private_key_pem,
    sign_request,
    verify_webhook,
)
from lk_core._jose import jws_sign, legacy_decrypt
from lk_core.platform import RateLimit, iso
from lk_core.service import AdvancedAuthorizationResponse
from lk_io import ServiceClient, ServiceFactory
from lk_io.emulator import (
    Clock,
    ControlError,
    DirectoryCalls,
    Emulator,
    VirtualDevice,
    WebhookReceiver,
)


def _raw(
    base_url: str,
    method: str,
    path: str,
    *,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        conn.request(method, path, body=body or None, headers=headers or {})
        response = conn.getresponse()
        data = response.read()
        return response.status, dict(response.getheaders()), data
    finally:
        conn.close()


def _signed(
    emulator: Emulator,
    *,
    key_pem: str | None = None,
    subject: Entity | None = None,
    now: int | None = None,
    jti: str | None = None,
) -> tuple[str, str, dict[str, str], bytes]:
    creds = emulator.credentials
    service = Entity.service(creds.service_id)
    signed = sign_request(
        "GET",
        f"/service/v3/auths/{uuid.uuid4()}",
        issuer=service,
        subject=subject or service,
        keyring=KeyRing(load_private_key(key_pem or creds.service_key)),
        platform_key=emulator.server.current_key.public,
        payload=None,
        now=emulator.clock.seconds() if now is None else now,
        jti=jti or str(uuid.uuid4()),
    )
    http_req = signed.http
    return http_req.method, http_req.path, dict(http_req.headers), http_req.body


class TestPublic:
    def test_ping(self, emulator: Emulator) -> None:
        """Ping answers plain JSON api_time without fractions."""
        status, _headers, body = _raw(emulator.base_url, "GET", "/public/v3/ping")
        assert status == 200
        api_time = json.loads(body)["api_time"]
        assert api_time.endswith("Z")
        assert len(api_time) == len("2017-11-30T00:41:29Z")

    def test_public_key_and_rotation(self, emulator: Emulator) -> None:
        """The newest key is current; older ones stay addressable by kid."""
        old = emulator.server.current_key.kid
        status, headers, body = _raw(emulator.base_url, "GET", "/public/v3/public-key")
        assert status == 200
        assert headers["Content-Type"] == "text/plain"
        assert headers["X-IOV-KEY-ID"] == old
        assert body.startswith(b"-----BEGIN PUBLIC KEY-----")
        new = emulator.control.rotate_key()
        assert new != old
        _, headers, _ = _raw(emulator.base_url, "GET", "/public/v3/public-key")
        assert headers["X-IOV-KEY-ID"] == new
        status, headers, _ = _raw(
            emulator.base_url, "GET", f"/public/v3/public-key/{old}"
        )
        assert status == 200
        assert headers["X-IOV-KEY-ID"] == old

    def test_unknown_kid(self, emulator: Emulator) -> None:
        """An unknown platform kid is 404."""
        status, _, _ = _raw(emulator.base_url, "GET", "/public/v3/public-key/00:11:22")
        assert status == 404


class TestRequestChecks:
    def test_good_token_reaches_the_route(self, emulator: Emulator) -> None:
        """A correctly signed poll of an unknown id is a signed 404."""
        method, path, headers, _body = _signed(emulator)
        status, got, _ = _raw(emulator.base_url, method, path, headers=headers)
        assert status == 404
        assert "X-IOV-JWT" in got

    def test_missing_authorization(self, emulator: Emulator) -> None:
        """No Authorization header is 401."""
        status, headers, _ = _raw(emulator.base_url, "GET", "/service/v3/auths/x")
        assert status == 401
        assert "X-IOV-JWT" in headers

    def test_unknown_key(self, emulator: Emulator) -> None:
        """A token signed with a key the service does not have is 401."""
        stranger = private_key_pem(generate_private_key())
        method, path, headers, _ = _signed(emulator, key_pem=stranger)
        status, _, _ = _raw(emulator.base_url, method, path, headers=headers)
        assert status == 401

    def test_replay(self, emulator: Emulator) -> None:
        """The same token twice: the second is 401."""
        method, path, headers, _ = _signed(emulator)
        first, _, _ = _raw(emulator.base_url, method, path, headers=headers)
        second, _, _ = _raw(emulator.base_url, method, path, headers=headers)
        assert (first, second) == (404, 401)

    def test_stale_token(self, emulator: Emulator) -> None:
        """A token from a minute ago is 401."""
        method, path, headers, _ = _signed(emulator, now=emulator.clock.seconds() - 60)
        status, _, _ = _raw(emulator.base_url, method, path, headers=headers)
        assert status == 401

    def test_wrong_subject(self, emulator: Emulator) -> None:
        """A service acting for another service is 403."""
        other, _ = emulator.control.add_service()
        method, path, headers, _ = _signed(emulator, subject=Entity.service(other))
        status, _, _ = _raw(emulator.base_url, method, path, headers=headers)
        assert status == 403

    def test_client_sees_forbidden_and_unauthorized(self, emulator: Emulator) -> None:
        """Our client maps 401 and 403 to Unauthorized and Forbidden."""
        creds = emulator.credentials
        other, _ = emulator.control.add_service()
        with (
            ServiceClient(
                other,
                creds.service_key,
                url=creds.base_url,
                issuer=Entity.service(creds.service_id),
            ) as client,
            pytest.raises(Forbidden),
        ):
            client.verify_totp("someone", "123456")
        with (
            ServiceClient(
                creds.service_id, generate_private_key(), url=creds.base_url
            ) as client,
            pytest.raises(Unauthorized),
        ):
            client.verify_totp("someone", "123456")


def test_parent_directory_acts_for_service(
    emulator: Emulator, receiver: WebhookReceiver, device: VirtualDevice
) -> None:
    """A Directory key may act for its service; answers are sealed to that key."""
    creds = emulator.credentials
    directory = Entity.directory(creds.directory_id)
    with ServiceClient(
        creds.service_id, creds.directory_key, url=creds.base_url, issuer=directory
    ) as client:
        emulator.wait_webhooks()
        before = len(receiver.received)
        request = client.authorization_request(device.identifier)
        device.approve()
        polled = client.get_advanced_authorization_response(request.auth_request)
        assert polled is not None
        assert polled.authorized is True
        [hook] = receiver.wait_for(before + 1)[before:]
        event = client.handle_webhook(hook.body, hook.headers, hook.method, hook.path)
        assert event == polled


def test_webhook_retried_until_delivered() -> None:
    """A receiver failing three times still gets the webhook, verifiable."""
    with (
        WebhookReceiver(fail_first=3) as receiver,
        Emulator(callback_url=receiver.url) as emulator,
    ):
        creds = emulator.credentials
        user = emulator.add_user("retry-user")
        with ServiceFactory(
            creds.service_id, creds.service_key, url=creds.base_url
        ).make_service_client() as client:
            client.authorization_request(user.identifier)
            user.approve()
            assert emulator.wait_webhooks()
            [hook] = receiver.wait_for(1)
            event = client.handle_webhook(
                hook.body, hook.headers, hook.method, hook.path
            )
        stats = emulator.control.webhook_stats()
    assert isinstance(event, AdvancedAuthorizationResponse)
    assert receiver.refused == 3
    assert stats["attempts"] == 4
    assert stats["failures"] == 3
    assert stats["delivered"] == 1
    assert stats["pending"] == 0


def test_webhook_headers_and_claims(
    emulator: Emulator, receiver: WebhookReceiver, device: VirtualDevice
) -> None:
    """Webhooks carry X-IOV-JWT and Authorization; claims bind method, path, body."""
    creds = emulator.credentials
    emulator.wait_webhooks()
    before = len(receiver.received)
    with ServiceFactory(
        creds.service_id, creds.service_key, url=creds.base_url
    ).make_service_client() as client:
        client.authorization_request(device.identifier)
    device.approve()
    [hook] = receiver.wait_for(before + 1)[before:]
    headers = dict(hook.headers)
    assert headers["Authorization"] == "IOV-JWT " + headers["X-IOV-JWT"]
    assert headers["Content-Type"] == "application/jose"
    verified = verify_webhook(
        hook.headers,
        hook.body,
        "POST",
        "/webhook",
        audience=Entity.service(creds.service_id),
        subject=Entity.service(creds.service_id),
        platform_keys={k.kid: k.public for k in emulator.server.keys},
        keyring=KeyRing(load_private_key(creds.service_key)),
        now=emulator.clock.seconds(),
    )
    package = json.loads(verified.body)
    assert set(package) == {
        "auth",
        "auth_jwe",
        "service_user_hash",
        "org_user_hash",
        "user_push_id",
        "public_key_id",
    }
    service_key = load_private_key(creds.service_key)
    assert package["public_key_id"] == service_key.kid
    # The legacy package (service-api.md 2.2) agrees with the auth_jwe.
    legacy = json.loads(legacy_decrypt(base64.b64decode(package["auth"]), service_key))
    inner = json.loads(jwe_decrypt(package["auth_jwe"], KeyRing(service_key)))
    assert legacy == {
        "auth_request": inner["auth_request"],
        "response": True,
        "device_id": device.id,
        "service_pins": inner["service_pins"],
    }
    assert (inner["type"], inner["reason"]) == ("AUTHORIZED", "APPROVED")


def test_clock_advance_expires() -> None:
    """A client following the emulator clock sees a request expire as time moves."""
    clock = Clock(frozen=True)
    with Emulator(clock=clock) as emulator:
        creds = emulator.credentials
        device = emulator.add_user("clocked")
        with ServiceClient(
            creds.service_id, creds.service_key, url=creds.base_url, clock=clock.now
        ) as client:
            request = client.authorization_request(device.identifier, ttl=30)
            assert (
                client.get_advanced_authorization_response(request.auth_request) is None
            )
            emulator.control.advance(31)
            with pytest.raises(RequestTimedOut):
                client.get_advanced_authorization_response(request.auth_request)
            emulator.control.advance(600)
            with pytest.raises(EntityNotFound):
                client.get_advanced_authorization_response(request.auth_request)


def test_auto_answer_after_seconds() -> None:
    """An auto rule answers when platform time reaches its delay."""
    clock = Clock(frozen=True)
    with Emulator(clock=clock) as emulator:
        creds = emulator.credentials
        device = emulator.add_user("auto")
        device.auto("deny", after=5, fraud=True)
        with ServiceClient(
            creds.service_id, creds.service_key, url=creds.base_url, clock=clock.now
        ) as client:
            request = client.authorization_request(device.identifier)
            emulator.control.advance(4)
            assert (
                client.get_advanced_authorization_response(request.auth_request) is None
            )
            emulator.control.advance(1)
            response = client.get_advanced_authorization_response(request.auth_request)
            assert response is not None
            assert response.fraud is True


def test_state_file_survives_restart(tmp_path: Path) -> None:
    """Ids, keys, users, devices and hashes are the same after a restart."""
    state = tmp_path / "state.sqlite"

    def run() -> tuple[str, str, str]:
        with Emulator(state_file=state) as emulator:
            creds = emulator.credentials
            devices = DirectoryCalls(
                creds.directory_id, creds.directory_key, creds.base_url
            )
            if not devices.devices("persisted"):
                emulator.add_user("persisted")
            [listed] = devices.devices("persisted")
            devices.close()
            device = VirtualDevice(emulator.base_url, listed["id"], "persisted")
            with ServiceFactory(
                creds.service_id, creds.service_key, url=creds.base_url
            ).make_service_client() as client:
                request = client.authorization_request("persisted")
                device.approve()
                answer = client.get_advanced_authorization_response(
                    request.auth_request
                )
            assert answer is not None
            return creds.service_id, listed["id"], answer.service_user_hash

    first = run()
    assert run() == first
    assert state.stat().st_mode & 0o777 == 0o600


class TestDirectory:
    @pytest.fixture
    def directory(self, emulator: Emulator) -> Iterator[DirectoryCalls]:
        creds = emulator.credentials
        calls = DirectoryCalls(creds.directory_id, creds.directory_key, creds.base_url)
        yield calls
        calls.close()

    def test_link_list_unlink(
        self, directory: DirectoryCalls, emulator: Emulator
    ) -> None:
        """A link is pending until the device enters the code, then linked."""
        link = directory.link_device("dir-user", ttl=120)
        [pending] = directory.devices("dir-user")
        assert (pending["id"], pending["status"]) == (link["device_id"], 0)
        emulator.control.link(link["code"])
        [linked] = directory.devices("dir-user")
        assert linked["status"] == 1
        directory.unlink_device("dir-user", linked["id"])
        assert directory.devices("dir-user") == []
        with pytest.raises(EntityNotFound):
            directory.unlink_device("dir-user", linked["id"])

    def test_unlink_pending_over_http(
        self, directory: DirectoryCalls, emulator: Emulator
    ) -> None:
        """A device that acknowledges later lists as status 2 until it does."""
        device = emulator.add_user("slow-unlink", ack_unlink=False)
        directory.unlink_device("slow-unlink", device.id)
        [listed] = directory.devices("slow-unlink")
        assert (listed["id"], listed["status"]) == (device.id, 2)
        device.acknowledge_unlink()
        assert directory.devices("slow-unlink") == []

    def test_unknown_user_sessions(self, directory: DirectoryCalls) -> None:
        """Sessions of an unknown user are EntityNotFound."""
        with pytest.raises(EntityNotFound):
            directory.sessions("nobody-at-all")

    def test_totp_lifecycle(
        self, directory: DirectoryCalls, device: VirtualDevice
    ) -> None:
        """TOTP data has the documented shape; removal is idempotent."""
        config = directory.generate_totp(device.identifier)
        assert (config["algorithm"], config["digits"], config["period"]) == (
            "SHA1",
            6,
            30,
        )
        assert len(config["secret"]) == 32
        directory.remove_totp(device.identifier)
        directory.remove_totp(device.identifier)

    def test_end_all_sessions_sends_webhooks(
        self,
        directory: DirectoryCalls,
        emulator: Emulator,
        receiver: WebhookReceiver,
        device: VirtualDevice,
    ) -> None:
        """Ending all sessions from the Directory notifies the service."""
        creds = emulator.credentials
        with ServiceFactory(
            creds.service_id, creds.service_key, url=creds.base_url
        ).make_service_client() as client:
            client.session_start(device.identifier)
            emulator.wait_webhooks()
            before = len(receiver.received)
            directory.end_sessions(device.identifier)
            [hook] = receiver.wait_for(before + 1)[before:]
            assert b"service_user_hash" in hook.body
        assert directory.sessions(device.identifier) == []


class TestControl:
    def test_errors(self, emulator: Emulator, device: VirtualDevice) -> None:
        """Unknown routes are 404, bad input 400, nothing to answer 409."""
        status, _, _ = _raw(emulator.base_url, "GET", "/_emulator/nope")
        assert status == 404
        status, _, _ = _raw(
            emulator.base_url, "POST", "/_emulator/users", body=b"{not json"
        )
        assert status == 400
        with pytest.raises(ControlError) as err:
            device.approve()
        assert err.value.status == 409
        with pytest.raises(ControlError) as bad:
            device.auto("approve", after=-1)
        assert bad.value.status == 400

    def test_pending_view(self, emulator: Emulator, device: VirtualDevice) -> None:
        """The device sees the context, expiry and policy of a waiting request."""
        creds = emulator.credentials
        with ServiceFactory(
            creds.service_id, creds.service_key, url=creds.base_url
        ).make_service_client() as client:
            request = client.authorization_request(
                device.identifier, context="Pay 10 EUR", ttl=60
            )
        [pending] = device.pending()
        assert pending["auth_request"] == request.auth_request
        assert pending["context"] == "Pay 10 EUR"
        assert pending["state"] == "PENDING"
        assert pending["expires"] <= iso(emulator.clock.seconds() + 60)
        device.fail()


def test_rate_limit() -> None:
    """Creates beyond the per-user limit within the window are RateLimited."""
    with Emulator(rate_limit=RateLimit(creates=2, window=60)) as emulator:
        creds = emulator.credentials
        device = emulator.add_user("busy")
        with ServiceFactory(
            creds.service_id, creds.service_key, url=creds.base_url
        ).make_service_client() as client:
            for _ in range(2):
                client.cancel_authorization_request(
                    client.authorization_request(device.identifier).auth_request
                )
            with pytest.raises(RateLimited):
                client.authorization_request(device.identifier)


def test_java_style_request(emulator: Emulator, device: VirtualDevice) -> None:
    """RS256, an RSA-OAEP-256 body with cty, and application/jose are accepted."""
    creds = emulator.credentials
    key = load_private_key(creds.service_key)
    payload = json.dumps({"username": device.identifier}).encode()
    platform_key = emulator.server.current_key.public
    body = jwe_encrypt(payload, platform_key, "RSA-OAEP-256", cty=True).encode()
    now = emulator.clock.seconds()
    service = f"svc:{creds.service_id}"
    claims = {
        "iss": service,
        "sub": service,
        "aud": "lka",
        "iat": now,
        "nbf": now,
        "exp": now + 5,
        "jti": str(uuid.uuid4()),
        "request": {
            "meth": "POST",
            "path": "/service/v3/auths",
            "hash": hashlib.sha256(body).hexdigest(),
            "func": "S256",
        },
    }
    token = jws_sign(json.dumps(claims).encode(), key, "RS256")
    headers = {"Authorization": f"IOV-JWT {token}", "Content-Type": "application/jose"}
    status, got, reply = _raw(
        emulator.base_url, "POST", "/service/v3/auths", body=body, headers=headers
    )
    assert status == 201
    assert got["Content-Type"] == "application/jose"
    created = json.loads(jwe_decrypt(reply, KeyRing(key)))
    assert created["device_ids"] == [device.id]
    device.fail()


def test_bad_content_length(emulator: Emulator) -> None:
    """A request with a malformed Content-Length gets a 400, not a dropped socket."""
    parts = urlsplit(emulator.base_url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as sock:
        sock.sendall(
            b"POST /service/v3/auths HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
        )
        reply = sock.recv(1024)
    assert reply.startswith(b"HTTP/1.1 400")


def _approved_with_webhook(emulator: Emulator, identifier: str) -> str:
    """An approved request whose auth-response webhook is queued; its id."""
    creds = emulator.credentials
    device = emulator.add_user(identifier)
    with ServiceFactory(
        creds.service_id, creds.service_key, url=creds.base_url
    ).make_service_client() as client:
        request = client.authorization_request(identifier)
        device.approve()
    return request.auth_request


class TestUndeliveredWebhooksAtStop:
    def test_state_file_resumes_delivery(self, tmp_path: Path) -> None:
        """A webhook still failing at stop is kept in the state file and delivered
        by the next run, with the same event id; the service can verify it."""
        state = tmp_path / "state.sqlite"
        with WebhookReceiver(fail_first=10**9) as receiver:
            first = Emulator(state_file=state, callback_url=receiver.url).start()
            auth_id = _approved_with_webhook(first, "kept-hook")
            assert first.stop() is False
            assert receiver.received == []
            receiver.fail_first = 0  # the receiver is back
            with Emulator(state_file=state) as second:
                assert second.wait_webhooks()
                [hook] = receiver.wait_for(1)
                creds = second.credentials
                with ServiceFactory(
                    creds.service_id, creds.service_key, url=creds.base_url
                ).make_service_client() as client:
                    event = client.handle_webhook(
                        hook.body, hook.headers, hook.method, hook.path
                    )
                assert isinstance(event, AdvancedAuthorizationResponse)
                assert (event.authorization_request_id, event.authorized) == (
                    auth_id,
                    True,
                )
                assert second.sender.stats()["delivered"] == 1
            # Delivered: a third run has nothing left to send.
            with Emulator(state_file=state) as third:
                assert third.sender.pending() == []

    def test_drain_delivers_before_stopping(self) -> None:
        """stop(drain=...) waits for retries to succeed; True when none is left."""
        with WebhookReceiver(fail_first=2) as receiver:
            emulator = Emulator(callback_url=receiver.url).start()
            _approved_with_webhook(emulator, "drained")
            assert emulator.stop(drain=30) is True
            assert len(receiver.received) == 1

    def test_without_state_file_stop_drops_and_says_so(self) -> None:
        """Without a state file a webhook that cannot be delivered in the drain
        time is dropped; stop reports it."""
        with WebhookReceiver(fail_first=10**9) as receiver:
            emulator = Emulator(callback_url=receiver.url).start()
            _approved_with_webhook(emulator, "dropped")
            assert emulator.stop(drain=0.3) is False
            assert len(emulator.sender.pending()) == 1
