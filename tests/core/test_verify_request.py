"""verify_request / sign_response: the platform side, used by the emulator."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from lk_core import (
    Entity,
    EntityKeyNotFound,
    InvalidAlgorithm,
    InvalidJWTResponse,
    JWTValidationFailure,
    KeyRing,
    PrivateKey,
    ProtocolError,
    PublicKey,
    SignedRequest,
    VerifiedRequest,
    jwe_encrypt,
    sign_response,
    verify_request,
    verify_response,
)

from .support import (
    JTI,
    ORG,
    PAYLOAD,
    SVC,
    T0,
    b64d,
    b64e,
    bearer,
    segments,
    sign_claims,
    signed,
)


class _Platform:
    """The platform's view: which client key is active for which issuer."""

    def __init__(self, client: PrivateKey, platform: PrivateKey) -> None:
        self.client, self.platform = client, platform
        self.lookups: list[tuple[Entity, str]] = []

    def lookup(self, issuer: Entity, kid: str) -> PublicKey | None:
        self.lookups.append((issuer, kid))
        known = {(SVC, self.client.kid), (ORG, self.client.kid)}
        return self.client.public if (issuer, kid) in known else None

    def verify(
        self,
        req: SignedRequest,
        *,
        method: str | None = None,
        path: str | None = None,
        headers: Any = None,
        body: bytes | None = None,
        now: int = T0,
    ) -> VerifiedRequest:
        return verify_request(
            method or req.http.method,
            path or req.http.path,
            req.http.headers if headers is None else headers,
            req.http.body if body is None else body,
            key_lookup=self.lookup,
            platform_keys=KeyRing(self.platform),
            now=now,
        )

    def with_claims(self, req: SignedRequest, **changes: Any) -> dict[str, str]:
        """req's headers with its JWT re-signed after changing some claims."""
        _, claims = segments(bearer(req.http.headers))
        for name, value in changes.items():
            if name.startswith("request_"):
                claims["request"][name[8:]] = value
            else:
                claims[name] = value
        return {"Authorization": "IOV-JWT " + sign_claims(claims, self.client)}


@pytest.fixture
def plat(client_key: PrivateKey, platform_key: PrivateKey) -> _Platform:
    return _Platform(client_key, platform_key)


@pytest.fixture
def req(client_key: PrivateKey, platform_key: PrivateKey) -> SignedRequest:
    return signed(client_key, platform_key)


class TestVerifyRequest:
    def test_accepts_and_decrypts(self, plat: _Platform, req: SignedRequest) -> None:
        """A request our client built verifies and its payload decrypts."""
        got = plat.verify(req)
        assert (got.issuer, got.subject, got.jti) == (SVC, SVC, JTI)
        assert got.payload == PAYLOAD
        assert got.kid == plat.client.kid
        assert got.exp == T0 + 5
        assert plat.lookups == [(SVC, plat.client.kid)]
        assert "username" not in repr(got)

    def test_bodiless(
        self, plat: _Platform, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A GET without body verifies with payload None."""
        get = signed(client_key, platform_key, "GET", "/service/v3/auths/x", None)
        assert plat.verify(get).payload is None

    @pytest.mark.parametrize(
        "auth",
        [None, "", "Bearer abc", "IOV-JWTabc", "iov-jwt abc", "Basic dXNlcg=="],
    )
    def test_authorization_scheme(
        self, plat: _Platform, req: SignedRequest, auth: str | None
    ) -> None:
        """Anything but 'IOV-JWT <token>' in Authorization is refused."""
        headers = {} if auth is None else {"Authorization": auth}
        with pytest.raises(InvalidJWTResponse, match="IOV-JWT"):
            plat.verify(req, headers=headers)

    def test_authorization_header_any_case(
        self, plat: _Platform, req: SignedRequest
    ) -> None:
        """The Authorization header name is matched case-insensitively."""
        headers = [(k.upper(), v) for k, v in req.http.headers]
        assert plat.verify(req, headers=headers).payload == PAYLOAD

    def test_unknown_key(
        self, plat: _Platform, client_key2: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A token signed with a key the issuer does not have is refused, naming it."""
        other = signed(client_key2, platform_key)
        with pytest.raises(InvalidJWTResponse, match=client_key2.kid):
            plat.verify(other)

    def test_key_of_another_issuer(
        self, plat: _Platform, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """The kid is looked up for the token's own issuer."""
        from .support import SVC2

        other = signed(client_key, platform_key, issuer=SVC2, subject=SVC2)
        with pytest.raises(InvalidJWTResponse, match="no active key"):
            plat.verify(other)
        assert plat.lookups[-1] == (SVC2, client_key.kid)

    def test_bad_signature(self, plat: _Platform, req: SignedRequest) -> None:
        """A token whose claims were altered after signing is refused."""
        head, body, sig = bearer(req.http.headers).split(".")
        claims = b64d(body).replace(b'"POST"', b'"PUT"')
        headers = {"Authorization": f"IOV-JWT {head}.{b64e(claims)}.{sig}"}
        with pytest.raises(InvalidJWTResponse, match="does not verify"):
            plat.verify(req, method="PUT", headers=headers)

    @pytest.mark.parametrize("aud", ["public", "svc:x", None, ["lka"]])
    def test_audience(self, plat: _Platform, req: SignedRequest, aud: object) -> None:
        """aud must be exactly 'lka'."""
        with pytest.raises(JWTValidationFailure, match="aud: expected 'lka'"):
            plat.verify(req, headers=plat.with_claims(req, aud=aud))

    def test_time_window_skew_five(self, plat: _Platform, req: SignedRequest) -> None:
        """now must lie in [nbf - 5, exp + 5]: the platform's own skew, not 30 s."""
        assert plat.verify(req, now=T0 - 5).payload == PAYLOAD
        assert plat.verify(req, now=T0 + 10).payload == PAYLOAD
        with pytest.raises(JWTValidationFailure, match="nbf"):
            plat.verify(req, now=T0 - 6)
        with pytest.raises(JWTValidationFailure, match="exp"):
            plat.verify(req, now=T0 + 11)

    def test_skew_argument(
        self, plat: _Platform, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """The skew is an argument; 0 allows no slack at all."""
        get = signed(client_key, platform_key, "GET", "/x", None)
        ring = KeyRing(platform_key)
        args: dict[str, Any] = {
            "key_lookup": plat.lookup,
            "platform_keys": ring,
            "skew": 0,
        }
        verify_request("GET", "/x", get.http.headers, b"", now=T0, **args)
        with pytest.raises(JWTValidationFailure, match="nbf"):
            verify_request("GET", "/x", get.http.headers, b"", now=T0 - 1, **args)

    def test_long_lived_token_refused(
        self, plat: _Platform, req: SignedRequest
    ) -> None:
        """A client token valid for more than ten minutes is refused."""
        with pytest.raises(JWTValidationFailure, match="exp"):
            plat.verify(req, headers=plat.with_claims(req, exp=T0 + 601))

    @pytest.mark.parametrize("jti", [None, "", 5, "x" * 129])
    def test_jti_shape(self, plat: _Platform, req: SignedRequest, jti: object) -> None:
        """jti must be a string of 1 to 128 characters."""
        with pytest.raises(JWTValidationFailure, match="jti"):
            plat.verify(req, headers=plat.with_claims(req, jti=jti))

    def test_method_mismatch(self, plat: _Platform, req: SignedRequest) -> None:
        """request.meth must equal the method actually used."""
        with pytest.raises(
            JWTValidationFailure, match=r"request\.meth: expected 'PUT', found 'POST'"
        ):
            plat.verify(req, method="put")

    def test_path_mismatch(self, plat: _Platform, req: SignedRequest) -> None:
        """request.path must equal the path actually requested."""
        with pytest.raises(
            JWTValidationFailure, match=r"request\.path: expected '/service/v3/auths/'"
        ):
            plat.verify(req, path="/service/v3/auths/")

    def test_body_hash(
        self, plat: _Platform, req: SignedRequest, platform_key: PrivateKey
    ) -> None:
        """A body other than the one hashed in the token is refused."""
        other = jwe_encrypt(PAYLOAD, platform_key.public).encode()
        with pytest.raises(JWTValidationFailure, match=r"request\.hash"):
            plat.verify(req, body=other)

    def test_hash_func_from_token(
        self, plat: _Platform, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """The digest named by request.func is the one checked."""
        req = signed(client_key, platform_key, func="S512")
        assert plat.verify(req).payload == PAYLOAD
        digest = hashlib.sha256(req.http.body).hexdigest()
        headers = plat.with_claims(req, request_hash=digest)
        with pytest.raises(JWTValidationFailure, match=r"request\.hash"):
            plat.verify(req, headers=headers)

    def test_body_without_hash(
        self, plat: _Platform, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A body arriving on a token signed without hash/func is refused."""
        get = signed(client_key, platform_key, "POST", "/x", None)
        body = jwe_encrypt(b"{}", platform_key.public).encode()
        with pytest.raises(JWTValidationFailure, match=r"request\.func"):
            plat.verify(get, body=body)

    def test_hash_without_body(self, plat: _Platform, req: SignedRequest) -> None:
        """A token with a body hash arriving without the body is refused."""
        with pytest.raises(JWTValidationFailure, match="empty body"):
            plat.verify(req, body=b"")

    def test_body_to_unknown_platform_key(
        self, plat: _Platform, client_key: PrivateKey, platform_key2: PrivateKey
    ) -> None:
        """A body encrypted to a platform key the server lacks is EntityKeyNotFound."""
        req = signed(client_key, platform_key2)
        with pytest.raises(EntityKeyNotFound):
            plat.verify(req)

    @pytest.mark.parametrize(
        ("claim", "value"),
        [
            ("iss", "foo:11111111-2222-4333-8444-555555555555"),
            ("iss", "svc:not-a-uuid"),
            ("iss", None),
            ("sub", "svc"),
            ("sub", 12),
        ],
    )
    def test_malformed_entities_are_protocol_errors(
        self, plat: _Platform, req: SignedRequest, claim: str, value: object
    ) -> None:
        """A malformed iss or sub from the far side is a ProtocolError, not a crash."""
        with pytest.raises(ProtocolError, match=claim):
            plat.verify(req, headers=plat.with_claims(req, **{claim: value}))


class TestSignResponse:
    def test_answer_verifies_for_client(
        self,
        plat: _Platform,
        req: SignedRequest,
        client_key: PrivateKey,
        platform_key: PrivateKey,
    ) -> None:
        """What sign_response writes for a verified request, verify_response reads."""
        got = plat.verify(req)
        resp = sign_response(
            201,
            b'{"id": "x"}',
            request=got,
            platform_key=platform_key,
            encrypt_to=client_key.public,
            now=T0,
            extra_headers=(("Location", "/x/1"), ("Cache-Control", "no-store")),
        )
        head, claims = segments(resp.headers.get("x-iov-jwt") or "")
        assert head == {"alg": "RS256", "kid": platform_key.kid}
        assert claims["response"]["location"] == "/x/1"
        assert claims["response"]["cache"] == "no-store"
        assert resp.headers.get("content-type") == "application/jose"
        body = verify_response(
            resp,
            req,
            platform_keys={platform_key.kid: platform_key.public},
            keyring=KeyRing(client_key),
            now=T0,
        )
        assert body == b'{"id": "x"}'

    def test_answer_echoes_claims_as_sent(
        self, plat: _Platform, req: SignedRequest, platform_key: PrivateKey
    ) -> None:
        """aud and sub echo the request's iss and sub text, even in upper case."""
        upper = str(SVC).upper().replace("SVC:", "svc:")
        got = plat.verify(req, headers=plat.with_claims(req, iss=upper, sub=upper))
        assert got.issuer == SVC
        assert (got.iss_claim, got.sub_claim) == (upper, upper)
        resp = sign_response(
            204, None, request=got, platform_key=platform_key, encrypt_to=None, now=T0
        )
        _, claims = segments(resp.headers.get("X-IOV-JWT") or "")
        assert (claims["aud"], claims["sub"]) == (upper, upper)

    def test_unauthenticated_answer(self, platform_key: PrivateKey) -> None:
        """Without a verified request, aud and sub are 'public' and jti is passed in."""
        resp = sign_response(
            401,
            None,
            request=None,
            platform_key=platform_key,
            encrypt_to=None,
            now=T0,
            jti="raw",
        )
        _, claims = segments(resp.headers.get("X-IOV-JWT") or "")
        assert (claims["aud"], claims["sub"], claims["jti"]) == (
            "public",
            "public",
            "raw",
        )
        assert claims["response"] == {"status": 401}
        assert resp.body == b""

    def test_body_needs_a_key(self, platform_key: PrivateKey) -> None:
        """A response body without a key to encrypt to is refused."""
        with pytest.raises(InvalidAlgorithm):
            sign_response(
                200,
                b"{}",
                request=None,
                platform_key=platform_key,
                encrypt_to=None,
                now=T0,
            )
