"""verify_webhook / sign_webhook / webhook_kid: requests the platform sends us."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from lk_core import (
    EntityKeyNotFound,
    KeyRing,
    PrivateKey,
    ProtocolError,
    UnableToDecryptWebhookRequest,
    UnexpectedWebhookRequest,
    WebhookAuthorizationError,
    WebhookError,
    WebhookRequest,
    jwe_encrypt,
    sign_webhook,
    verify_webhook,
)
from lk_core._protocol import webhook_kid

from .support import DIR, SVC, SVC2, T0, b64d, b64e, sign_claims, webhook_claims

AUTH_BODY = b'{"auth": null, "auth_jwe": "x", "service_user_hash": "h"}'
SESSION_END = b'{"service_user_hash": "h", "api_time": "2027-01-15T08:00:00Z"}'


class _Hook:
    """Sends and checks webhooks between a platform key and a client ring."""

    def __init__(self, client: PrivateKey, platform: PrivateKey) -> None:
        self.client, self.platform = client, platform

    def encrypted(self, payload: bytes = AUTH_BODY) -> tuple[dict[str, str], bytes]:
        req = sign_webhook(
            payload,
            path="/webhook",
            audience=SVC,
            subject=SVC,
            platform_key=self.platform,
            encrypt_to=self.client.public,
            now=T0,
            jti="j1",
        )
        return dict(req.headers), req.body

    def forged(
        self, body: bytes, *, sign_with: PrivateKey | None = None, **changes: Any
    ) -> dict[str, str]:
        claims = webhook_claims(body)
        request = dict(claims["request"])
        for name in ("meth", "path", "hash", "func"):
            if name in changes:
                value = changes.pop(name)
                if value is None:
                    request.pop(name, None)
                else:
                    request[name] = value
        claims.update(changes)
        claims["request"] = changes.get("request", request)
        return {"X-IOV-JWT": sign_claims(claims, sign_with or self.platform)}

    def verify(
        self,
        headers: Any,
        body: bytes,
        *,
        method: str | None = "POST",
        path: str | None = "/webhook",
        subject: Any = SVC,
        now: int = T0,
        ring: KeyRing | None = None,
    ) -> WebhookRequest:
        return verify_webhook(
            headers,
            body,
            method,
            path,
            audience=SVC,
            subject=subject,
            platform_keys={self.platform.kid: self.platform.public},
            keyring=ring or KeyRing(self.client),
            now=now,
        )


@pytest.fixture
def hook(client_key: PrivateKey, platform_key: PrivateKey) -> _Hook:
    return _Hook(client_key, platform_key)


def _refused(hook: _Hook, headers: Any, body: bytes, words: str, **kw: Any) -> None:
    with pytest.raises(UnexpectedWebhookRequest, match=words) as info:
        hook.verify(headers, body, **kw)
    assert isinstance(info.value, WebhookError)


class TestSignWebhook:
    def test_shape(self, hook: _Hook, platform_key: PrivateKey) -> None:
        """A signed webhook is a POST with the JWT in both headers and a JWE body."""
        headers, body = hook.encrypted()
        assert headers["Content-Type"] == "application/jose"
        assert headers["Authorization"] == "IOV-JWT " + headers["X-IOV-JWT"]
        assert body.count(b".") == 4
        assert webhook_kid(headers) == platform_key.kid

    def test_plain_json_when_not_encrypted(self, platform_key: PrivateKey) -> None:
        """Without a key to encrypt to, the body is the JSON itself (session end)."""
        req = sign_webhook(
            SESSION_END,
            path="/w",
            audience=SVC,
            subject=SVC,
            platform_key=platform_key,
            encrypt_to=None,
            now=T0,
            jti="j",
        )
        assert req.body == SESSION_END
        assert dict(req.headers)["Content-Type"] == "application/json"


class TestVerifyWebhook:
    def test_encrypted_body_is_decrypted(self, hook: _Hook) -> None:
        """A JWE webhook verifies and comes back decrypted, flagged encrypted."""
        headers, body = hook.encrypted()
        got = hook.verify(headers, body)
        assert (got.body, got.encrypted) == (AUTH_BODY, True)
        assert got.claims["aud"] == str(SVC)
        assert "auth_jwe" not in repr(got)

    def test_plain_json_body(self, hook: _Hook) -> None:
        """A plain JSON body (session end) verifies and is returned as is."""
        got = hook.verify(hook.forged(SESSION_END), SESSION_END)
        assert (got.body, got.encrypted) == (SESSION_END, False)

    def test_missing_jwt(self, hook: _Hook) -> None:
        """Without X-IOV-JWT or IOV-JWT Authorization: WebhookAuthorizationError."""
        for headers in ({}, {"Authorization": "Bearer abc"}, {"Content-Type": "x"}):
            with pytest.raises(WebhookAuthorizationError):
                hook.verify(headers, SESSION_END)

    def test_authorization_fallback(self, hook: _Hook) -> None:
        """The docs' Authorization: IOV-JWT form is accepted without X-IOV-JWT."""
        token = hook.forged(SESSION_END)["X-IOV-JWT"]
        got = hook.verify({"authorization": "IOV-JWT " + token}, SESSION_END)
        assert got.encrypted is False

    @pytest.mark.parametrize("name", ["x-iov-jwt", "X-Iov-Jwt", b"X-IOV-JWT"])
    def test_header_name_any_case_and_bytes(
        self, hook: _Hook, name: str | bytes
    ) -> None:
        """The JWT header is found under any case, also as raw bytes pairs."""
        token = hook.forged(SESSION_END)["X-IOV-JWT"]
        value: str | bytes = token.encode() if isinstance(name, bytes) else token
        assert hook.verify([(name, value)], SESSION_END).body == SESSION_END

    def test_method_binding(self, hook: _Hook) -> None:
        """The received method must equal request.meth (any case); None skips it."""
        headers = hook.forged(SESSION_END)
        assert hook.verify(headers, SESSION_END, method="post").encrypted is False
        assert hook.verify(headers, SESSION_END, method=None).encrypted is False
        _refused(
            hook, headers, SESSION_END, "request.meth: expected 'PUT'", method="PUT"
        )

    def test_path_binding(self, hook: _Hook) -> None:
        """The received path must equal request.path; None skips it."""
        headers = hook.forged(SESSION_END)
        assert hook.verify(headers, SESSION_END, path=None).encrypted is False
        _refused(
            hook, headers, SESSION_END, "request.path: expected '/other'", path="/other"
        )

    @pytest.mark.parametrize("missing", ["meth", "path"])
    def test_meth_and_path_required(self, hook: _Hook, missing: str) -> None:
        """request.meth and request.path are required even when not compared."""
        headers = hook.forged(SESSION_END, **{missing: None})
        _refused(hook, headers, SESSION_END, "meth and path", method=None, path=None)

    @pytest.mark.parametrize("request_claim", [None, "POST", ["POST"]])
    def test_request_claim_must_be_object(
        self, hook: _Hook, request_claim: object
    ) -> None:
        """A missing or non-object request claim is refused."""
        headers = hook.forged(SESSION_END, request=request_claim)
        _refused(hook, headers, SESSION_END, "request: expected 'an object'")

    def test_body_binding(self, hook: _Hook) -> None:
        """A body other than the one hashed in the JWT is refused."""
        headers = hook.forged(SESSION_END)
        _refused(hook, headers, SESSION_END.replace(b'"h"', b'"g"'), "request.hash")

    def test_hash_required_with_body(self, hook: _Hook) -> None:
        """A body with no hash/func claims is refused."""
        headers = hook.forged(SESSION_END, hash=None, func=None)
        _refused(hook, headers, SESSION_END, "request.func")
        _refused(hook, hook.forged(SESSION_END, hash=None), SESSION_END, "request.hash")

    def test_hash_refused_without_body(self, hook: _Hook) -> None:
        """A hash claim on an empty body is refused."""
        headers = hook.forged(SESSION_END)
        _refused(hook, headers, b"", "absent for an empty body")

    @pytest.mark.parametrize("func", ["S384", "S512"])
    def test_other_hash_functions(self, hook: _Hook, func: str) -> None:
        """S384 and S512 body hashes verify too."""
        digest = getattr(hashlib, "sha" + func[1:])(SESSION_END).hexdigest()
        headers = hook.forged(SESSION_END, hash=digest, func=func)
        assert hook.verify(headers, SESSION_END).body == SESSION_END

    @pytest.mark.parametrize(
        ("claim", "value"),
        [("iss", "svc:x"), ("aud", str(DIR)), ("aud", "lka"), ("sub", str(SVC2))],
    )
    def test_identity_claims(self, hook: _Hook, claim: str, value: str) -> None:
        """iss must be lka, aud our entity, sub the expected subject."""
        changes: dict[str, Any] = {claim: value}
        headers = hook.forged(SESSION_END, **changes)
        _refused(hook, headers, SESSION_END, f"{claim}: expected")

    def test_subject_none_skips_sub(self, hook: _Hook) -> None:
        """With subject=None any sub is accepted (a parent entity's receiver)."""
        headers = hook.forged(SESSION_END, sub=str(SVC2))
        assert hook.verify(headers, SESSION_END, subject=None).claims["sub"] == str(
            SVC2
        )

    def test_times_with_leeway(self, hook: _Hook) -> None:
        """Webhook times get the same 30 s leeway as responses."""
        headers = hook.forged(SESSION_END)
        assert hook.verify(headers, SESSION_END, now=T0 + 35).encrypted is False
        assert hook.verify(headers, SESSION_END, now=T0 - 30).encrypted is False
        _refused(hook, headers, SESSION_END, "exp", now=T0 + 36)
        _refused(hook, headers, SESSION_END, "nbf", now=T0 - 31)

    def test_lifetime_capped(self, hook: _Hook) -> None:
        """A webhook token valid more than ten minutes ahead is refused."""
        assert hook.verify(hook.forged(SESSION_END, exp=T0 + 600), SESSION_END).claims
        _refused(hook, hook.forged(SESSION_END, exp=T0 + 601), SESSION_END, "exp")

    def test_unknown_platform_key(self, hook: _Hook, platform_key2: PrivateKey) -> None:
        """A JWT from a platform key we do not know is refused."""
        headers = hook.forged(SESSION_END, sign_with=platform_key2)
        _refused(hook, headers, SESSION_END, "unknown platform key")

    def test_bad_signature(self, hook: _Hook) -> None:
        """A JWT whose claims were edited after signing is refused."""
        token = hook.forged(SESSION_END)["X-IOV-JWT"]
        head, body, sig = token.split(".")
        claims = b64d(body).replace(b'"lka"', b'"lkb"')
        _refused(
            hook, {"X-IOV-JWT": f"{head}.{b64e(claims)}.{sig}"}, SESSION_END, "verify"
        )

    def test_garbage_jwt(self, hook: _Hook) -> None:
        """A JWT header that is not a JWS is an UnexpectedWebhookRequest."""
        _refused(hook, {"X-IOV-JWT": "not a jwt"}, SESSION_END, "parts")

    def test_malformed_headers(self, hook: _Hook) -> None:
        """Headers that are not name/value pairs are an UnexpectedWebhookRequest."""
        _refused(hook, [("only-a-name",)], SESSION_END, "name/value")

    def test_undecryptable_body(self, hook: _Hook, client_key: PrivateKey) -> None:
        """A signed JWE body that fails to decrypt: UnableToDecryptWebhookRequest."""
        parts = jwe_encrypt(AUTH_BODY, client_key.public).split(".")
        parts[3] = parts[3][:-2] + ("AA" if parts[3][-2:] != "AA" else "BA")
        body = ".".join(parts).encode()
        with pytest.raises(UnableToDecryptWebhookRequest) as info:
            hook.verify(hook.forged(body), body)
        assert isinstance(info.value, ProtocolError)

    def test_not_a_jwe_nor_json(self, hook: _Hook) -> None:
        """A signed body that is neither JSON nor a JWE cannot be decrypted."""
        body = b"hello"
        with pytest.raises(UnableToDecryptWebhookRequest, match="parts"):
            hook.verify(hook.forged(body), body)

    def test_body_to_unknown_key(self, hook: _Hook, client_key2: PrivateKey) -> None:
        """A JWE body to a key we lack raises EntityKeyNotFound naming it."""
        body = jwe_encrypt(AUTH_BODY, client_key2.public).encode()
        with pytest.raises(EntityKeyNotFound) as info:
            hook.verify(hook.forged(body), body)
        assert info.value.kid == client_key2.kid

    def test_rotated_key_still_decrypts(
        self, hook: _Hook, client_key: PrivateKey, client_key2: PrivateKey
    ) -> None:
        """A late webhook to an old key decrypts when the ring keeps that key."""
        body = jwe_encrypt(AUTH_BODY, client_key.public).encode()
        ring = KeyRing(client_key2, [client_key])
        assert hook.verify(hook.forged(body), body, ring=ring).body == AUTH_BODY


class TestWebhookKid:
    def test_missing(self) -> None:
        """webhook_kid without a JWT raises WebhookAuthorizationError."""
        with pytest.raises(WebhookAuthorizationError):
            webhook_kid({})

    def test_malformed(self) -> None:
        """webhook_kid of a broken JWT raises UnexpectedWebhookRequest."""
        with pytest.raises(UnexpectedWebhookRequest):
            webhook_kid({"X-IOV-JWT": "a.b"})
