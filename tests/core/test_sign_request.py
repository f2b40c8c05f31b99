"""sign_request: headers, JWT claims (jose.md 4.3) and JWE body of a client request."""

from __future__ import annotations

import hashlib
import json
from typing import ClassVar

import pytest

from lk_core import (
    InvalidAlgorithm,
    KeyRing,
    NoIssuerKey,
    PrivateKey,
    jwe_decrypt,
    sign_request,
)

from .support import JTI, ORG, PAYLOAD, SVC, T0, b64d, bearer, header, segments, signed

DIGESTS = {"S256": hashlib.sha256, "S384": hashlib.sha384, "S512": hashlib.sha512}


class TestSignRequestClaims:
    def test_every_claim_of_a_request_with_body(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """The JWT carries exactly iss, sub, aud, iat, nbf, exp, jti and request."""
        req = signed(client_key, platform_key, "POST", "/service/v3/auths")
        head, claims = segments(bearer(req.http.headers))
        assert head == {"alg": "RS512", "kid": client_key.kid}
        body_hash = hashlib.sha256(req.http.body).hexdigest()
        assert claims == {
            "iss": str(SVC),
            "sub": str(SVC),
            "aud": "lka",
            "iat": T0,
            "nbf": T0,
            "exp": T0 + 5,
            "jti": JTI,
            "request": {
                "meth": "POST",
                "path": "/service/v3/auths",
                "hash": body_hash,
                "func": "S256",
            },
        }

    def test_no_hash_without_body(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A bodiless call has request meth and path only, and an empty body."""
        req = signed(client_key, platform_key, "GET", "/service/v3/auths/abc", None)
        _, claims = segments(bearer(req.http.headers))
        assert claims["request"] == {"meth": "GET", "path": "/service/v3/auths/abc"}
        assert req.http.body == b""

    @pytest.mark.parametrize("func", ["S256", "S384", "S512"])
    def test_hash_function(
        self, client_key: PrivateKey, platform_key: PrivateKey, func: str
    ) -> None:
        """hash is the lower-case hex digest named by func over the exact body bytes."""
        req = signed(client_key, platform_key, func=func)
        _, claims = segments(bearer(req.http.headers))
        assert claims["request"]["func"] == func
        assert claims["request"]["hash"] == DIGESTS[func](req.http.body).hexdigest()

    @pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
    def test_signing_alg(
        self, client_key: PrivateKey, platform_key: PrivateKey, alg: str
    ) -> None:
        """The chosen JWS alg appears in the token header."""
        req = signed(client_key, platform_key, alg=alg)
        assert segments(bearer(req.http.headers))[0]["alg"] == alg

    def test_method_upper_cased_everywhere(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A lower-case method is sent and signed upper-case."""
        req = signed(client_key, platform_key, "patch", "/x")
        assert req.http.method == "PATCH"
        assert req.method == "PATCH"
        assert segments(bearer(req.http.headers))[1]["request"]["meth"] == "PATCH"

    def test_path_signed_exactly(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """The path is signed and sent exactly as given."""
        path = "/directory/v3/users/devices/Ab%20c"
        req = signed(client_key, platform_key, "DELETE", path)
        assert req.http.path == req.path == path
        assert segments(bearer(req.http.headers))[1]["request"]["path"] == path

    def test_parent_acts_for_child(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """An organization key acting for a service: iss is the org, sub the service."""
        req = signed(client_key, platform_key, issuer=ORG, subject=SVC)
        claims = segments(bearer(req.http.headers))[1]
        assert (claims["iss"], claims["sub"]) == (str(ORG), str(SVC))
        assert (req.issuer, req.subject, req.jti) == (ORG, SVC, JTI)


class TestSignRequestHttp:
    def test_headers_with_body(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """With a body: Content-Type application/jwe, IOV-JWT auth, a User-Agent."""
        req = signed(client_key, platform_key)
        assert header(req.http.headers, "Content-Type") == "application/jwe"
        auth = header(req.http.headers, "Authorization")
        assert auth is not None
        assert auth.startswith("IOV-JWT ")
        assert "  " not in auth
        assert header(req.http.headers, "User-Agent")

    def test_headers_without_body(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """Without a body: Content-Type application/jwt."""
        req = signed(client_key, platform_key, "GET", "/x", None)
        assert header(req.http.headers, "Content-Type") == "application/jwt"

    def test_body_is_jwe_to_platform_key(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """The body is a compact JWE to the platform key, decrypting to the payload."""
        req = signed(client_key, platform_key)
        jwe_header = json.loads(b64d(req.http.body.split(b".")[0]))
        assert jwe_header == {
            "alg": "RSA-OAEP",
            "enc": "A256CBC-HS512",
            "kid": platform_key.kid,
        }
        assert req.http.body.count(b".") == 4
        assert jwe_decrypt(req.http.body, KeyRing(platform_key)) == PAYLOAD

    def test_empty_json_body_still_encrypted(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """An empty payload (b"") is a body, so it is encrypted and hashed."""
        req = signed(client_key, platform_key, payload=b"")
        assert req.http.body
        assert "hash" in segments(bearer(req.http.headers))[1]["request"]


class TestSignRequestRefusals:
    def _call(
        self, client: PrivateKey | None, platform: PrivateKey | None, **kw: object
    ) -> None:
        args: dict[str, object] = {
            "issuer": SVC,
            "subject": SVC,
            "keyring": KeyRing(client),
            "platform_key": platform.public if platform else None,
            "payload": b"{}",
            "now": T0,
            "jti": JTI,
        }
        args.update(kw)
        sign_request("POST", "/x", **args)  # type: ignore[arg-type]

    def test_unknown_hash_func(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A hash func outside S256/S384/S512 raises InvalidAlgorithm naming the set."""
        with pytest.raises(InvalidAlgorithm, match="S256"):
            self._call(client_key, platform_key, func="MD5")

    def test_unknown_jws_alg(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A JWS alg outside RS256/384/512 raises InvalidAlgorithm."""
        with pytest.raises(InvalidAlgorithm):
            self._call(client_key, platform_key, alg="HS256")

    def test_no_signing_key(self, platform_key: PrivateKey) -> None:
        """A ring without a signing key raises NoIssuerKey."""
        with pytest.raises(NoIssuerKey):
            self._call(None, platform_key)

    def test_body_without_platform_key(self, client_key: PrivateKey) -> None:
        """A body cannot be sent before the platform key is known."""
        with pytest.raises(InvalidAlgorithm, match="platform public key"):
            self._call(client_key, None)


class TestWorkedExample:
    """jose.md section 9, reproduced with our code."""

    BODY: ClassVar[dict[str, object]] = {
        "username": "my-unique-user",
        "context": "Log in to Example",
        "ttl": 300,
        "title": "Login",
        "denial_reasons": [
            {"id": "1", "reason": "Not me", "fraud": True},
            {"id": "2", "reason": "Mistake", "fraud": False},
        ],
    }

    def test_part_lengths(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """The body JWE has the documented part lengths 128, 342, 22, 299, 43."""
        payload = json.dumps(self.BODY).encode()
        req = signed(client_key, platform_key, payload=payload)
        parts = req.http.body.split(b".")
        assert [len(p) for p in parts] == [128, 342, 22, 299, 43]

    def test_bodiless_get(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """The documented GET has Content-Type application/jwt and meth/path only."""
        req = signed(client_key, platform_key, "GET", "/service/v3/auths/abc", None)
        assert header(req.http.headers, "content-type") == "application/jwt"
        claims = segments(bearer(req.http.headers))[1]
        assert claims["request"] == {"meth": "GET", "path": "/service/v3/auths/abc"}
