"""verify_response: every check on a platform answer (jose.md 5.2, 5.3)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from lk_core import (
    EntityKeyNotFound,
    Headers,
    HttpResponse,
    InvalidJWTResponse,
    JOSEDecryptError,
    JWTValidationFailure,
    KeyRing,
    PrivateKey,
    SignedRequest,
    UnexpectedAPIResponse,
    jwe_encrypt,
    verify_response,
)

from .support import (
    ORG,
    SVC,
    T0,
    forged_response,
    response_claims,
    sign_raw,
    signed,
)

BODY = b'{"auth_request": "abc", "push_package": "p"}'


class _Answer:
    """Builds one answer to ``sent`` with a single thing changed, then verifies it."""

    def __init__(
        self, client: PrivateKey, platform: PrivateKey, sent: SignedRequest
    ) -> None:
        self.client, self.platform, self.sent = client, platform, sent

    def build(
        self,
        *,
        body: bytes | None = BODY,
        status: int = 200,
        headers: tuple[tuple[str, str], ...] = (),
        claims: dict[str, Any] | None = None,
        bound: dict[str, Any] | None = None,
        sign_with: PrivateKey | None = None,
        encrypt_to: PrivateKey | None = None,
    ) -> HttpResponse:
        raw = b""
        full_bound: dict[str, Any] = {"status": status}
        if body is not None:
            raw = jwe_encrypt(body, (encrypt_to or self.client).public).encode()
            full_bound["hash"] = hashlib.sha256(raw).hexdigest()
            full_bound["func"] = "S256"
        for name, value in headers:
            if name.lower() == "location":
                full_bound["location"] = value
            if name.lower() == "cache-control":
                full_bound["cache"] = value
        full_bound.update(bound or {})
        full = response_claims(self.sent, status=status, bound=_kept(full_bound))
        full.update(claims or {})
        return forged_response(
            _kept(full),
            sign_with or self.platform,
            status=status,
            body=raw,
            headers=headers,
        )

    def verify(
        self, response: HttpResponse, *, now: int = T0, ring: KeyRing | None = None
    ) -> bytes | None:
        return verify_response(
            response,
            self.sent,
            platform_keys={self.platform.kid: self.platform.public},
            keyring=ring or KeyRing(self.client),
            now=now,
        )


_DROP = object()  # a claim value meaning "leave this claim out"


def _kept(claims: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in claims.items() if v is not _DROP}


@pytest.fixture
def answer(client_key: PrivateKey, platform_key: PrivateKey) -> _Answer:
    return _Answer(client_key, platform_key, signed(client_key, platform_key))


def _fails(
    answer: _Answer, response: HttpResponse, check: str, **kw: Any
) -> JWTValidationFailure:
    with pytest.raises(JWTValidationFailure) as info:
        answer.verify(response, **kw)
    assert info.value.check == check, str(info.value)
    assert str(info.value).startswith(f"{check}: expected ")
    return info.value


class TestHappyPath:
    def test_body_is_decrypted(self, answer: _Answer) -> None:
        """A correct answer verifies and its JWE body comes back decrypted."""
        assert answer.verify(answer.build()) == BODY

    def test_empty_body_gives_none(self, answer: _Answer) -> None:
        """A correct bodiless answer (e.g. 204) verifies to None."""
        assert answer.verify(answer.build(body=None, status=204)) is None

    def test_header_name_any_case(self, answer: _Answer) -> None:
        """The X-IOV-JWT header is found under any case."""
        good = answer.build()
        lowered = HttpResponse(
            status=200,
            headers=Headers([(k.lower(), v) for k, v in good.headers]),
            body=good.body,
        )
        assert answer.verify(lowered) == BODY


class TestSignatureAndKid:
    def test_missing_jwt_header(self, answer: _Answer) -> None:
        """No X-IOV-JWT header raises UnexpectedAPIResponse, not AttributeError."""
        with pytest.raises(UnexpectedAPIResponse, match="X-IOV-JWT"):
            answer.verify(HttpResponse(status=200, headers=Headers(), body=b""))

    def test_unknown_platform_kid(
        self, answer: _Answer, platform_key2: PrivateKey
    ) -> None:
        """A token from a key not in platform_keys is refused, naming the kid."""
        with pytest.raises(InvalidJWTResponse, match=platform_key2.kid):
            answer.verify(answer.build(sign_with=platform_key2))

    def test_no_kid(self, answer: _Answer, platform_key: PrivateKey) -> None:
        """A token without a kid header is refused."""
        token = sign_raw(
            {"alg": "RS256"}, response_claims(answer.sent, status=204), platform_key
        )
        response = HttpResponse(status=204, headers=Headers({"X-IOV-JWT": token}))
        with pytest.raises(InvalidJWTResponse, match="no kid"):
            answer.verify(response)

    def test_forged_signature_under_known_kid(
        self, answer: _Answer, platform_key: PrivateKey, platform_key2: PrivateKey
    ) -> None:
        """A token naming the platform kid but signed by another key is refused."""
        token = sign_raw(
            {"alg": "RS256", "kid": platform_key.kid},
            response_claims(answer.sent, status=204),
            platform_key2,
        )
        response = HttpResponse(status=204, headers=Headers({"X-IOV-JWT": token}))
        with pytest.raises(InvalidJWTResponse, match="does not verify"):
            answer.verify(response)

    def test_garbage_token(self, answer: _Answer) -> None:
        """An X-IOV-JWT that is not a JWS raises InvalidJWTResponse."""
        with pytest.raises(InvalidJWTResponse):
            answer.verify(
                HttpResponse(status=200, headers=Headers({"X-IOV-JWT": "x.y"}))
            )


class TestIdentityClaims:
    @pytest.mark.parametrize(
        ("claim", "value"),
        [
            ("iss", "svc:11111111-2222-4333-8444-555555555555"),
            ("iss", None),
            ("aud", "lka"),
            ("aud", "public"),
            ("sub", "svc:22222222-3333-4444-8555-666666666666"),
            ("jti", "another-jti"),
            ("jti", None),
        ],
    )
    def test_mismatch(self, answer: _Answer, claim: str, value: object) -> None:
        """iss, aud, sub and jti must equal what we expect; the message says which."""
        err = _fails(answer, answer.build(claims={claim: value}), claim)
        assert err.found == value

    def test_aud_is_issuer_sub_is_subject(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """When a parent acts for a child, aud must be the issuer, sub the subject."""
        sent = signed(client_key, platform_key, issuer=ORG, subject=SVC)
        ans = _Answer(client_key, platform_key, sent)
        assert ans.verify(ans.build()) == BODY
        swapped = ans.build(claims={"aud": str(SVC), "sub": str(ORG)})
        err = _fails(ans, swapped, "aud")
        assert (err.expected, err.found) == (str(ORG), str(SVC))

    def test_jti_must_be_same_type(self, answer: _Answer) -> None:
        """A jti of another JSON type never matches."""
        _fails(answer, answer.build(claims={"jti": ["4e154de4"]}), "jti")


class TestTimes:
    @pytest.mark.parametrize("claim", ["nbf", "iat"])
    def test_future_within_leeway(self, answer: _Answer, claim: str) -> None:
        """nbf or iat up to 30 s in the future is accepted."""
        future = answer.build(claims={claim: T0 + 30, "exp": T0 + 35})
        assert answer.verify(future) == BODY

    @pytest.mark.parametrize("claim", ["nbf", "iat"])
    def test_future_beyond_leeway(self, answer: _Answer, claim: str) -> None:
        """nbf or iat 31 s in the future is refused."""
        err = _fails(
            answer, answer.build(claims={claim: T0 + 31, "exp": T0 + 40}), claim
        )
        assert err.expected == f"<= {T0 + 30}"

    def test_exp_within_leeway(self, answer: _Answer) -> None:
        """A token that expired 30 s ago is still accepted."""
        old = {"iat": T0 - 35, "nbf": T0 - 35, "exp": T0 - 30}
        assert answer.verify(answer.build(claims=old)) == BODY

    def test_exp_beyond_leeway(self, answer: _Answer) -> None:
        """A token that expired 31 s ago is refused."""
        old = {"iat": T0 - 36, "nbf": T0 - 36, "exp": T0 - 31}
        err = _fails(answer, answer.build(claims=old), "exp")
        assert err.found == T0 - 31

    def test_clock_is_the_now_argument(self, answer: _Answer) -> None:
        """The same token passes or fails only by the now passed in."""
        response = answer.build()
        assert answer.verify(response, now=T0 + 35) == BODY
        _fails(answer, response, "exp", now=T0 + 36)
        _fails(answer, response, "nbf", now=T0 - 31)

    def test_lifetime_capped_at_ten_minutes(self, answer: _Answer) -> None:
        """A token valid more than 600 s ahead is refused (it could be replayed)."""
        assert answer.verify(answer.build(claims={"exp": T0 + 600})) == BODY
        err = _fails(answer, answer.build(claims={"exp": T0 + 601}), "exp")
        assert err.expected == f"<= {T0 + 600}"

    def test_exp_before_nbf(self, answer: _Answer) -> None:
        """A token whose exp precedes its nbf is refused."""
        _fails(answer, answer.build(claims={"exp": T0 - 1}), "exp")

    @pytest.mark.parametrize("claim", ["nbf", "iat", "exp"])
    @pytest.mark.parametrize("value", [_DROP, None, "1800000000", 1.8e9, True])
    def test_must_be_integer(self, answer: _Answer, claim: str, value: object) -> None:
        """A missing or non-integer time claim is refused (bool included)."""
        _fails(answer, answer.build(claims={claim: value}), claim)


class TestResponseClaim:
    @pytest.mark.parametrize("value", [_DROP, None, [], "200"])
    def test_response_object_required(self, answer: _Answer, value: object) -> None:
        """The response claim must be an object."""
        _fails(answer, answer.build(claims={"response": value}), "response")

    @pytest.mark.parametrize("value", [_DROP, 201, "200", 200.0, True])
    def test_status_equals_http_status(self, answer: _Answer, value: object) -> None:
        """response.status must be the integer HTTP status."""
        err = _fails(answer, answer.build(bound={"status": value}), "response.status")
        assert err.expected == 200

    @pytest.mark.parametrize(
        ("claim", "name"), [("location", "Location"), ("cache", "Cache-Control")]
    )
    def test_header_mirrored_both_ways(
        self, answer: _Answer, claim: str, name: str
    ) -> None:
        """Location/Cache-Control and their claims must both be absent or equal."""
        good = answer.build(headers=((name, "v1"),))
        assert answer.verify(good) == BODY
        lower = answer.build(headers=((name.lower(), "v1"),))
        assert answer.verify(lower) == BODY
        _fails(answer, answer.build(bound={claim: "v1"}), f"response.{claim}")
        _fails(
            answer,
            answer.build(headers=((name, "v1"),), bound={claim: _DROP}),
            f"response.{claim}",
        )
        err = _fails(
            answer,
            answer.build(headers=((name, "v1"),), bound={claim: "v2"}),
            f"response.{claim}",
        )
        assert (err.expected, err.found) == ("v1", "v2")


class TestBodyHash:
    def test_hash_mismatch(self, answer: _Answer) -> None:
        """A body whose digest differs from response.hash is refused."""
        err = _fails(answer, answer.build(bound={"hash": "0" * 64}), "response.hash")
        assert err.found == "0" * 64

    def test_body_without_hash(self, answer: _Answer) -> None:
        """A body with no hash in the token is refused."""
        _fails(answer, answer.build(bound={"hash": _DROP}), "response.hash")

    def test_body_without_func(self, answer: _Answer) -> None:
        """A body with no func in the token is refused."""
        _fails(answer, answer.build(bound={"func": _DROP}), "response.func")

    @pytest.mark.parametrize("func", ["MD5", "SHA256", "s256", 256])
    def test_unknown_func(self, answer: _Answer, func: object) -> None:
        """A func outside S256/S384/S512 is refused."""
        _fails(answer, answer.build(bound={"func": func}), "response.func")

    @pytest.mark.parametrize(("name", "value"), [("hash", "ab"), ("func", "S256")])
    def test_hash_or_func_without_body(
        self, answer: _Answer, name: str, value: str
    ) -> None:
        """A hash or func claim on an empty body is refused."""
        response = answer.build(body=None, status=204, bound={name: value})
        err = _fails(answer, response, f"response.{name}")
        assert (err.expected, err.found) == ("absent for an empty body", value)

    @pytest.mark.parametrize("digest", ["\u00e9" * 64, 123, None])
    def test_odd_hash_values(self, answer: _Answer, digest: object) -> None:
        """A non-ASCII or non-string hash is a claim failure, never a crash."""
        _fails(
            answer,
            answer.build(bound={"hash": digest if digest is not None else _DROP}),
            "response.hash",
        )

    def test_body_is_bound(self, answer: _Answer) -> None:
        """Swapping the body for another valid JWE breaks the hash check."""
        good = answer.build()
        other = jwe_encrypt(b"{}", answer.client.public).encode()
        swapped = HttpResponse(status=200, headers=good.headers, body=other)
        _fails(answer, swapped, "response.hash")


class TestDecryption:
    def test_kid_named_key_decrypts(
        self, answer: _Answer, client_key: PrivateKey, client_key2: PrivateKey
    ) -> None:
        """The body is decrypted with the ring key its JWE kid names."""
        response = answer.build(encrypt_to=client_key2)
        assert answer.verify(response, ring=KeyRing(client_key, [client_key2])) == BODY

    def test_unknown_kid(self, answer: _Answer, client_key2: PrivateKey) -> None:
        """A body encrypted to a key we do not hold raises EntityKeyNotFound."""
        with pytest.raises(EntityKeyNotFound) as info:
            answer.verify(answer.build(encrypt_to=client_key2))
        assert info.value.kid == client_key2.kid

    def test_hashed_but_not_jwe(
        self, answer: _Answer, platform_key: PrivateKey
    ) -> None:
        """A correctly hashed body that is not a JWE raises JOSEDecryptError."""
        body = b'{"plain": "json"}'
        bound = {
            "status": 200,
            "hash": hashlib.sha256(body).hexdigest(),
            "func": "S256",
        }
        response = forged_response(
            response_claims(answer.sent, bound=bound), platform_key, body=body
        )
        with pytest.raises(JOSEDecryptError):
            answer.verify(response)
