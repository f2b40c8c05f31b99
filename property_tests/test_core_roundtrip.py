"""Round-trip laws of the protocol core.

* Any JSON body survives sign_request -> verify_request, and sign_response ->
  verify_response, byte for byte.
* Any bytes survive jwe_encrypt -> jwe_decrypt, with either key-wrapping algorithm.
* A clock skew inside the leeway passes; one outside fails with JWTValidationFailure.

Keys come from the fixture files under tests/core/fixtures (no key generation here).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lk_core import (
    Headers,
    HttpResponse,
    JWTValidationFailure,
    KeyRing,
    UnexpectedWebhookRequest,
    jwe_decrypt,
    jwe_encrypt,
    sign_request,
    sign_response,
    sign_webhook,
)
from lk_core._jose import jws_sign
from lk_core._json import loads
from tests.core.support import (
    SVC,
    T0,
    client_verify,
    fixture_key,
    platform_verify,
    property_settings,
    webhook_verify,
)

CLIENT = fixture_key("client-key")
PLATFORM = fixture_key("platform-key")

# Each example costs a few RSA operations (~1 ms each); 60 examples keep a law at a
# second or two. Failures print a blob that replays the example (@reproduce_failure).
SETTINGS = property_settings(60)

# JSON leaves: integers inside the exactly representable float range (+-2**53), finite
# floats, short Unicode text (any code point except lone surrogates, which JSON text
# cannot carry as UTF-8).
JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(exclude_categories=["Cs"]), max_size=24)
)
# Any JSON value up to ~16 leaves, nested lists and objects of up to 5 members.
JSON_VALUES = st.recursive(
    JSON_LEAVES,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=16,
)
# HTTP methods the API uses, in any case the caller might write them.
METHODS = st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE", "post", "Delete"])
# Request paths: a slash and up to 60 URL-safe characters.
PATHS = st.text(
    st.sampled_from("abcdefghijklmnopqrstuvwxyz0123456789-_/.%"), max_size=60
).map(lambda p: "/" + p)
# Header values as the platform might mirror them: printable ASCII, 1 to 40 chars,
# no surrounding spaces (HTTP strips those).
HEADER_VALUES = st.text(
    st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=40
)
# Any bytes up to 2 kB (several AES blocks, and the empty plaintext).
PLAINTEXTS = st.binary(max_size=2048)
# Clock skews: inside the 30 s leeway, and anywhere up to a day outside it.
INSIDE_LEEWAY = st.integers(-30, 30)
OUTSIDE_LEEWAY = st.integers(31 + 5, 86_400) | st.integers(-86_400, -31)


def _request(method: str, path: str, payload: bytes | None, now: int = T0) -> Any:
    return sign_request(
        method,
        path,
        issuer=SVC,
        subject=SVC,
        keyring=KeyRing(CLIENT),
        platform_key=PLATFORM.public,
        payload=payload,
        now=now,
        jti="0d1b6b0c-5a43-4a6b-9b1a-3c5d7e9f1a2b",
    )


def _platform(sent: Any) -> Any:
    http = sent.http
    return platform_verify(
        http.method,
        http.path,
        http.headers,
        http.body,
        client=CLIENT,
        platform=PLATFORM,
    )


@SETTINGS
@given(value=JSON_VALUES, method=METHODS, path=PATHS)
def test_request_round_trip(value: Any, method: str, path: str) -> None:
    """Any JSON body, method and path come through the platform side unchanged."""
    body = json.dumps(value).encode()
    sent = _request(method, path, body)
    got = platform_verify(
        method,
        path,
        sent.http.headers,
        sent.http.body,
        client=CLIENT,
        platform=PLATFORM,
    )
    assert got.payload == body
    assert loads(got.payload) == value
    assert (got.issuer, got.subject, got.jti) == (SVC, SVC, sent.jti)


@SETTINGS
@given(
    value=st.none() | JSON_VALUES,
    status=st.sampled_from([200, 201, 204, 400, 404, 409]),
    location=st.none() | HEADER_VALUES,
    cache=st.none() | HEADER_VALUES,
)
def test_response_round_trip(
    value: Any, status: int, location: str | None, cache: str | None
) -> None:
    """Any JSON answer, status and mirrored headers verify back to the same bytes."""
    sent = _request("GET", "/service/v3/auths/x", None)
    verified = _platform(sent)
    payload = None if value is None else json.dumps(value).encode()
    extra = []
    if location is not None:
        extra.append(("Location", location))
    if cache is not None:
        extra.append(("Cache-Control", cache))
    response = sign_response(
        status,
        payload,
        request=verified,
        platform_key=PLATFORM,
        encrypt_to=CLIENT.public,
        now=T0,
        extra_headers=tuple(extra),
    )
    assert client_verify(response, sent, client=CLIENT, platform=PLATFORM) == payload


@SETTINGS
@given(plaintext=PLAINTEXTS, alg=st.sampled_from(["RSA-OAEP", "RSA-OAEP-256"]))
def test_jwe_round_trip(plaintext: bytes, alg: str) -> None:
    """Any bytes decrypt back to themselves."""
    token = jwe_encrypt(plaintext, CLIENT.public, alg)
    assert jwe_decrypt(token, KeyRing(CLIENT)) == plaintext
    assert jwe_decrypt(token.encode(), KeyRing(PLATFORM, [CLIENT])) == plaintext


def _answer(now: int) -> Any:
    sent = _request("GET", "/x", None)
    verified = _platform(sent)
    response = sign_response(
        204, None, request=verified, platform_key=PLATFORM, encrypt_to=None, now=now
    )
    return sent, response


def _verify_at(sent: Any, response: Any, now: int) -> None:
    client_verify(response, sent, client=CLIENT, platform=PLATFORM, now=now)


# Built once: the laws below only move the verifier's clock.
SENT, ANSWER = _answer(T0)
WEBHOOK = sign_webhook(
    b'{"service_user_hash": "h", "api_time": "2027-01-15T08:00:00Z"}',
    path="/hook",
    audience=SVC,
    subject=SVC,
    platform_key=PLATFORM,
    encrypt_to=None,
    now=T0,
    jti="w",
)


def _webhook_at(now: int) -> None:
    webhook_verify(
        WEBHOOK.headers, WEBHOOK.body, client=CLIENT, platform=PLATFORM, now=now
    )


@SETTINGS
@given(skew=INSIDE_LEEWAY)
def test_skew_inside_leeway_passes(skew: int) -> None:
    """A verifier clock up to 30 s off either way accepts a fresh answer and webhook."""
    _verify_at(SENT, ANSWER, T0 + skew)
    _webhook_at(T0 + skew)


@SETTINGS
@given(skew=OUTSIDE_LEEWAY)
def test_skew_outside_leeway_fails(skew: int) -> None:
    """Beyond the leeway (past nbf - 30 or exp + 30) a verifier refuses the token."""
    with pytest.raises(JWTValidationFailure) as info:
        _verify_at(SENT, ANSWER, T0 + skew)
    assert info.value.check in ("nbf", "iat", "exp")
    with pytest.raises(UnexpectedWebhookRequest):
        _webhook_at(T0 + skew)


# The platform side allows only 5 s either way around [nbf, exp] = [T0, T0 + 5].
PLATFORM_INSIDE = st.integers(-5, 10)
PLATFORM_OUTSIDE = st.integers(11, 86_400) | st.integers(-86_400, -6)
GET_X = _request("GET", "/x", None)


def _platform_at(now: int) -> None:
    headers = Headers(GET_X.http.headers)
    platform_verify(
        "GET", "/x", headers, b"", client=CLIENT, platform=PLATFORM, now=now
    )


@SETTINGS
@given(skew=PLATFORM_INSIDE)
def test_platform_skew_inside_passes(skew: int) -> None:
    """The platform accepts a request within 5 s of its validity window."""
    _platform_at(T0 + skew)


@SETTINGS
@given(skew=PLATFORM_OUTSIDE)
def test_platform_skew_outside_fails(skew: int) -> None:
    """The platform refuses a request more than 5 s outside its validity window."""
    with pytest.raises(JWTValidationFailure):
        _platform_at(T0 + skew)


# Claims near every boundary of the platform-token checks: the right or a wrong
# identity, and times within a few seconds of each limit (nbf/iat at now + 30, exp at
# now - 30 and now + 600, exp against nbf).
NEAR = st.integers(-3, 3)
BOUNDARY_CLAIMS = st.fixed_dictionaries(
    {
        "iss": st.sampled_from(["lka", "lkb", ""]),
        "aud": st.sampled_from([str(SVC), "lka"]),
        "sub": st.sampled_from([str(SVC), "svc:other"]),
        "nbf": NEAR.map(lambda d: T0 + 30 + d) | NEAR.map(lambda d: T0 + d),
        "iat": NEAR.map(lambda d: T0 + 30 + d) | NEAR.map(lambda d: T0 + d),
        "exp": NEAR.map(lambda d: T0 - 30 + d)
        | NEAR.map(lambda d: T0 + 600 + d)
        | NEAR.map(lambda d: T0 + 30 + d),
        "jti": st.just(SENT.jti),
        "response": st.just({"status": 204}),
    }
)


def _careful(claims: dict[str, Any]) -> str | None:
    """The first check a by-the-spec reading fails, or None (jose.md 5.2, 30 s)."""
    for name, expected in (("iss", "lka"), ("aud", str(SVC)), ("sub", str(SVC))):
        if claims[name] != expected:
            return name
    if claims["nbf"] > T0 + 30:
        return "nbf"
    if claims["iat"] > T0 + 30:
        return "iat"
    if claims["exp"] < T0 - 30 or claims["exp"] < claims["nbf"]:
        return "exp"
    if claims["exp"] > T0 + 600:  # tokens valid for more than ten minutes are refused
        return "exp"
    return None


@SETTINGS
@given(claims=BOUNDARY_CLAIMS)
def test_claim_checks_match_the_spec(claims: dict[str, Any]) -> None:
    """At every boundary, a response passes exactly when the spec's checks pass, and a
    refusal names the first failing claim."""
    token = jws_sign(json.dumps(claims).encode(), PLATFORM, "RS256")
    response = HttpResponse(status=204, headers=Headers({"X-IOV-JWT": token}))
    expected = _careful(claims)
    if expected is None:
        assert client_verify(response, SENT, client=CLIENT, platform=PLATFORM) is None
        return
    with pytest.raises(JWTValidationFailure) as info:
        client_verify(response, SENT, client=CLIENT, platform=PLATFORM)
    assert info.value.check == expected
