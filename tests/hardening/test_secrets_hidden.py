"""Secrets stay out of reprs, exception text and logs, across the public API.

Secrets here: private key material (PEM text and its base64 lines), decrypted package
contents (device package JSON, service PINs), OTP codes and TOTP secrets, and the
signed tokens that authorize a call. The log test runs a whole flow over real sockets
against the emulator with every logger at DEBUG.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import pytest

from lk_core import (
    Credentials,
    Entity,
    InvalidArgument,
    InvalidPrivateKey,
    KeyRing,
    LaunchKeyError,
    UnexpectedDeviceResponse,
    load_private_key,
    private_key_pem,
    verify_response,
)
from lk_core.platform import _totp
from lk_core.service import decode_auth_response, totp_body
from lk_io import ServiceClient, ServiceFactory
from lk_io.emulator import DirectoryCalls, WebhookReceiver
from lk_io.testing import running_emulator

from . import peer
from .peer import PIN_SECRET, REQUEST_ID


def pem_fragments(pem: str) -> list[str]:
    """Every base64 line of a PEM: any one of them in text is a leak."""
    return [line for line in pem.splitlines() if line and not line.startswith("-----")]


def assert_hidden(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text, f"secret of {len(secret)} chars leaked"


class TestReprs:
    def test_keys_rings_and_credentials(self) -> None:
        """Key, ring, credentials, client and factory reprs show key ids only."""
        key = peer.service()
        pem = private_key_pem(key)
        client = ServiceClient(peer.SERVICE.id, pem, url="http://127.0.0.1:9")
        factory = ServiceFactory(peer.SERVICE.id, pem, url="http://127.0.0.1:9")
        creds = Credentials(
            issuer=peer.SERVICE, subject=peer.SERVICE, keyring=KeyRing(key)
        )
        shown = " ".join(
            repr(value)
            for value in (key, KeyRing(key), creds, client, factory, vars(factory))
        )
        assert key.kid in repr(key)
        assert_hidden(shown, pem_fragments(pem))
        client.close()

    def test_private_key_refuses_pickling(self) -> None:
        """Pickling would write the key out in clear."""
        import pickle

        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(peer.service())

    def test_http_values_hide_tokens_and_bodies(self) -> None:
        """Requests and responses show sizes, never the JWT or the JWE body."""
        sent = peer.request()
        resp = peer.response(sent)
        token = resp.headers.get("X-IOV-JWT") or ""
        auth = dict(sent.http.headers)["Authorization"]
        shown = " ".join([repr(sent), repr(sent.http), repr(resp), repr(resp.headers)])
        assert_hidden(shown, [token, auth[8:], resp.body.decode()[:40]])

    def test_decrypted_values_hide_their_plaintext(self) -> None:
        """A verified response body and a verified webhook show only their size."""
        headers, body = peer.webhook(peer.outer_package())
        verified = peer.check_webhook(headers, body)
        assert_hidden(repr(verified), [verified.body.decode()[:30], "auth_jwe"])

    def test_authorization_response_hides_service_pins(self) -> None:
        """The parsed answer's repr does not print the rolling service PINs."""
        answer = decode_auth_response(
            peer.outer_package(), peer.ring(), expected_id=REQUEST_ID
        )
        assert PIN_SECRET in answer.service_pins
        assert_hidden(repr(answer) + str(answer), [PIN_SECRET])


class TestExceptionText:
    def test_bad_device_package_error_does_not_echo_it(self) -> None:
        """A malformed decrypted package is refused without quoting its content."""
        inner = json.loads(peer.device_package())
        inner["type"] = 5
        with pytest.raises(UnexpectedDeviceResponse) as err:
            decode_auth_response(
                peer.outer_package(peer.dumps(inner)), peer.ring(), expected_id=None
            )
        assert_hidden(str(err.value) + repr(err.value), [PIN_SECRET, "device-1"])

    def test_package_for_another_request_does_not_echo_it(self) -> None:
        """The mismatch error names the check, not the foreign package."""
        outer = peer.outer_package(peer.device_package(peer.OTHER_REQUEST_ID))
        with pytest.raises(UnexpectedDeviceResponse) as err:
            decode_auth_response(outer, peer.ring(), expected_id=REQUEST_ID)
        assert_hidden(str(err.value), [PIN_SECRET])

    def test_bad_key_error_does_not_echo_the_key(self) -> None:
        """A damaged PEM is refused without quoting any of its lines."""
        pem = private_key_pem(peer.service())
        lines = pem.splitlines()
        lines[5] = lines[5][::-1]
        with pytest.raises(InvalidPrivateKey) as err:
            load_private_key("\n".join(lines))
        assert_hidden(str(err.value) + repr(err.value), pem_fragments(pem))

    @pytest.mark.parametrize("otp", ["12345x", "1234567890", 123456, "12 456"])
    def test_bad_otp_is_not_echoed(self, otp: object) -> None:
        """TOTP validation names the field, never the code."""
        with pytest.raises(InvalidArgument) as err:
            totp_body("user", otp)
        assert err.value.field == "otp"
        assert_hidden(str(err.value) + repr(err.value), [str(otp)])

    def test_decrypt_failure_does_not_echo_plaintext(self) -> None:
        """A response whose plaintext we refuse is not quoted in the error."""
        sent = peer.request()
        other_ring = KeyRing(peer.key("other-service"))
        with pytest.raises(LaunchKeyError) as err:
            verify_response(
                peer.response(sent),
                sent,
                platform_keys=peer.platform_keys(),
                keyring=other_ring,
                now=peer.NOW,
            )
        assert_hidden(str(err.value), [REQUEST_ID])


def _totp_code(directory: DirectoryCalls, user: str) -> str:
    totp = directory.generate_totp(user)
    return str(_totp.code_at(str(totp["secret"]), int(time.time())))


def test_no_secret_in_debug_logs_of_a_full_flow(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Create, approve, poll, webhook, session start/end, TOTP: logs hold no secret."""
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    with (
        WebhookReceiver() as receiver,
        running_emulator(callback_url=receiver.url) as lk,
    ):
        creds = lk.credentials
        request = lk.client.authorization_request(lk.user, context="Log in")
        lk.device.approve(request.auth_request)
        polled: Any = None
        for _ in range(100):
            polled = lk.client.get_advanced_authorization_response(request.auth_request)
            if polled is not None:
                break
            time.sleep(0.02)
        assert polled is not None
        assert polled.authorized
        hook = receiver.wait_for(1)[0]
        event = lk.client.handle_webhook(hook.body, hook.headers, "POST", hook.path)
        assert event == polled
        lk.client.session_start(lk.user, request.auth_request)
        lk.client.session_end(lk.user)
        directory = DirectoryCalls(
            creds.directory_id, creds.directory_key, creds.base_url
        )
        try:
            code = _totp_code(directory, lk.user)
            assert lk.client.verify_totp(lk.user, code)
        finally:
            directory.close()
        seen = [
            *pem_fragments(creds.service_key),
            *pem_fragments(creds.directory_key),
            *pem_fragments(creds.organization_key),
            *polled.service_pins,
            code,
            hook.body.decode()[:60],
            dict(hook.headers).get("X-IOV-JWT", "")[:60],
            "IOV-JWT ey",
        ]
    text = caplog.text + " ".join(r.getMessage() for r in caplog.records)
    assert caplog.records, "the flow logged nothing at DEBUG; the test proves nothing"
    assert_hidden(text, [s for s in seen if s])


def test_entity_repr_is_not_secret() -> None:
    """Entities are identifiers, shown as such (a control for the checks above)."""
    assert "svc:" in str(Entity.service(peer.SERVICE.id))
