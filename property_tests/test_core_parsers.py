"""Hostile-input laws: every parser of the core, given arbitrary input, either returns
or raises its documented error - never another exception.

Also a differential law for the strict JSON parser: on any JSON-like text it agrees
with the standard library plus a duplicate-key check.
"""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lk_core import (
    EntityKeyNotFound,
    Headers,
    HttpResponse,
    InvalidJWTResponse,
    InvalidPrivateKey,
    InvalidPublicKeyFormat,
    JOSEDecryptError,
    KeyRing,
    ProtocolError,
    jwe_decrypt,
    load_private_key,
    load_public_key,
    sign_request,
)
from lk_core._jose import b64url_decode, jws_parse, jws_sign
from lk_core._json import JSONError, loads
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
SENT = sign_request(
    "GET",
    "/x",
    issuer=SVC,
    subject=SVC,
    keyring=KeyRing(CLIENT),
    platform_key=None,
    payload=None,
    now=T0,
    jti="j",
)

# Parsers are cheap; 200 examples per law.
SETTINGS = property_settings(200)

# Laws that sign a token per example (an RSA operation each) take fewer examples.
SIGNING_SETTINGS = property_settings(80)

# Arbitrary bytes up to 600, plus near-misses built from the characters tokens are
# made of (so the parsers get past their first checks).
RAW = st.binary(max_size=600)
TOKENISH = st.text(
    st.sampled_from(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.="
    ),
    max_size=400,
)
INPUTS = RAW | TOKENISH.map(str.encode)
TEXTS = st.text(max_size=400) | TOKENISH
# base64url of JSON objects with arbitrary keys and values: tokens whose parts decode,
# so the structural and claim checks behind the decoding get exercised.
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=10,
)
CLAIM_NAMES = st.sampled_from(
    ["iss", "aud", "sub", "iat", "nbf", "exp", "jti", "response", "request", "x"]
)
BOUND_NAMES = st.sampled_from(
    ["status", "hash", "func", "location", "cache", "meth", "path"]
)
# Claims: the expected ones, each possibly replaced by any JSON value, and the
# response/request objects likewise.
CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.just("lka") | JSON_VALUES,
        "aud": st.just(str(SVC)) | JSON_VALUES,
        "sub": st.just(str(SVC)) | JSON_VALUES,
        "iat": st.just(T0) | JSON_VALUES,
        "nbf": st.just(T0) | JSON_VALUES,
        "exp": st.just(T0 + 5) | JSON_VALUES,
        "jti": st.just("j") | JSON_VALUES,
        "response": st.dictionaries(BOUND_NAMES, JSON_VALUES, max_size=5) | JSON_VALUES,
        "request": st.dictionaries(BOUND_NAMES, JSON_VALUES, max_size=5) | JSON_VALUES,
    },
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@SETTINGS
@given(data=INPUTS | TEXTS)
def test_b64url_decode(data: bytes | str) -> None:
    """b64url_decode returns bytes or raises ValueError."""
    try:
        out = b64url_decode(data)
    except ValueError:
        return
    assert isinstance(out, bytes)
    raw = data.encode() if isinstance(data, str) else data
    assert _b64(out).encode() == raw  # what it accepts is canonical


# Text near base64url: its alphabet plus what JSON and the standard alphabet give
# meaning to (escapes, quotes, padding), to find any second spelling it would accept.
NEAR_B64 = st.text(
    alphabet=st.sampled_from('AQgwZm9v-_+/=\\"u0Ab5 \n'),
    max_size=24,
)


@SETTINGS
@given(text=NEAR_B64)
def test_b64url_decode_near_misses(text: str) -> None:
    """Only the canonical spelling decodes; it agrees with the stdlib decoder."""
    try:
        out = b64url_decode(text)
    except ValueError:
        return
    assert _b64(out) == text
    assert base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)) == out


@SETTINGS
@given(data=INPUTS | TEXTS)
def test_json_loads(data: bytes | str) -> None:
    """_json.loads returns a value or raises JSONError."""
    with contextlib.suppress(JSONError):
        loads(data)


def _strict_reference(text: str) -> Any:
    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        keys = [k for k, _ in items]
        if len(set(keys)) != len(keys):
            raise ValueError("duplicate")
        return dict(items)

    def constant(name: str) -> Any:
        raise ValueError(name)

    def number(text: str) -> float:
        value = float(text)
        if value in (float("inf"), float("-inf")):
            raise ValueError(text)
        return value

    return json.loads(
        text, object_pairs_hook=pairs, parse_constant=constant, parse_float=number
    )


# JSON text that may repeat keys: objects rendered by hand from lists of pairs, with
# keys from a tiny alphabet (so repeats are common) that may contain colons, quotes
# and escapes.
KEYS = st.sampled_from(["a", "b", "a:b", ":", 'q"', "\\", "é", "\u2028", ""])
LEAVES = st.sampled_from(
    ["1", "-0", "1.5e3", "1e400", "true", "null", '"x:y"', '"\\u003a"', '"::"', "NaN"]
)


def _render(node: Any) -> str:
    if isinstance(node, str):
        return node
    if isinstance(node, list) and node and node[0] == "obj":
        inner = ",".join(f"{json.dumps(k)}:{_render(v)}" for k, v in node[1])
        return "{" + inner + "}"
    return "[" + ",".join(_render(v) for v in node) + "]"


JSON_TEXTS = st.recursive(
    LEAVES,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.lists(st.tuples(KEYS, inner), max_size=4).map(lambda p: ["obj", p])
    ),
    max_leaves=12,
).map(_render)


@SETTINGS
@given(text=JSON_TEXTS, as_bytes=st.booleans())
def test_json_agrees_with_strict_stdlib(text: str, as_bytes: bool) -> None:
    """Our parser accepts exactly what strict stdlib parsing does, with equal values."""
    try:
        expected = _strict_reference(text)
    except ValueError:
        expected = JSONError
    data: bytes | str = text.encode() if as_bytes else text
    try:
        got = loads(data)
    except JSONError:
        got = JSONError
    assert got == expected or (got is not JSONError and repr(got) == repr(expected))


@SETTINGS
@given(data=INPUTS | TEXTS)
def test_jws_parse(data: bytes | str) -> None:
    """jws_parse returns or raises InvalidJWTResponse."""
    with contextlib.suppress(InvalidJWTResponse):
        jws_parse(data)


@SETTINGS
@given(
    header=st.dictionaries(st.sampled_from(["alg", "kid", "crit", "x"]), JSON_VALUES),
    claims=JSON_VALUES,
)
def test_jws_parse_structured(header: dict[str, Any], claims: Any) -> None:
    """Well-encoded but arbitrary headers and claims raise only InvalidJWTResponse."""
    token = (
        f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}.AA"
    )
    with contextlib.suppress(InvalidJWTResponse):
        jws_parse(token)


@SETTINGS
@given(data=INPUTS | TEXTS)
def test_jwe_decrypt(data: bytes | str) -> None:
    """jwe_decrypt raises JOSEDecryptError or EntityKeyNotFound on junk."""
    try:
        plaintext = jwe_decrypt(data, KeyRing(CLIENT))
    except (JOSEDecryptError, EntityKeyNotFound):
        return
    assert isinstance(plaintext, bytes)


@SETTINGS
@given(
    header=st.dictionaries(
        st.sampled_from(["alg", "enc", "kid", "zip", "crit"]),
        st.sampled_from(["RSA-OAEP", "A256CBC-HS512", CLIENT.kid]) | JSON_VALUES,
    ),
    parts=st.lists(st.binary(max_size=300), min_size=4, max_size=4),
)
def test_jwe_decrypt_structured(header: dict[str, Any], parts: list[bytes]) -> None:
    """JWEs with arbitrary headers and parts raise only the documented errors."""
    token = ".".join([_b64(json.dumps(header).encode()), *(_b64(p) for p in parts)])
    with contextlib.suppress(JOSEDecryptError, EntityKeyNotFound):
        jwe_decrypt(token, KeyRing(CLIENT))


def _response(token: str, body: bytes, status: int = 200) -> Any:
    headers = Headers({"X-IOV-JWT": token})
    response = HttpResponse(status=status, headers=headers, body=body)
    return client_verify(response, SENT, client=CLIENT, platform=PLATFORM)


@SETTINGS
@given(token=TEXTS, body=INPUTS, status=st.integers(100, 599))
def test_verify_response_junk(token: str, body: bytes, status: int) -> None:
    """verify_response on junk raises a ProtocolError."""
    with contextlib.suppress(ProtocolError):
        _response(token, body, status)


@SIGNING_SETTINGS
@given(claims=CLAIMS, body=st.sampled_from([b"", b"{}", b"a.b.c.d.e"]) | RAW)
def test_verify_response_signed_junk(claims: dict[str, Any], body: bytes) -> None:
    """Genuinely signed tokens with arbitrary claims raise only ProtocolErrors."""
    token = jws_sign(json.dumps(claims).encode(), PLATFORM, "RS256")
    with contextlib.suppress(ProtocolError):
        _response(token, body)


def _webhook(headers: Any, body: bytes) -> Any:
    return webhook_verify(headers, body, client=CLIENT, platform=PLATFORM)


HEADER_NAMES = st.sampled_from(["X-IOV-JWT", "x-iov-jwt", "Authorization", "X"])
HEADER_ITEMS = st.lists(
    st.tuples(HEADER_NAMES | st.text(max_size=10), TEXTS | RAW), max_size=4
)


@SETTINGS
@given(headers=HEADER_ITEMS, body=INPUTS)
def test_verify_webhook_junk(headers: list[tuple[Any, Any]], body: bytes) -> None:
    """verify_webhook on junk headers and bodies raises a ProtocolError."""
    with contextlib.suppress(ProtocolError):
        _webhook(headers, body)


@SIGNING_SETTINGS
@given(claims=CLAIMS, body=st.sampled_from([b"", b"{}", b"a.b.c.d.e"]) | RAW)
def test_verify_webhook_signed_junk(claims: dict[str, Any], body: bytes) -> None:
    """Signed webhook tokens with arbitrary claims raise only ProtocolErrors."""
    token = jws_sign(json.dumps(claims).encode(), PLATFORM, "RS256")
    with contextlib.suppress(ProtocolError):
        _webhook({"X-IOV-JWT": token}, body)


@SETTINGS
@given(data=INPUTS | TEXTS)
def test_load_keys(data: bytes | str) -> None:
    """The key loaders raise only their typed errors on junk."""
    with contextlib.suppress(InvalidPrivateKey):
        load_private_key(data)
    with contextlib.suppress(InvalidPublicKeyFormat):
        load_public_key(data)


PEM_BODIES = st.binary(min_size=0, max_size=300).map(base64.encodebytes)


@SETTINGS
@given(
    label=st.sampled_from(
        [
            "RSA PRIVATE KEY",
            "PRIVATE KEY",
            "PUBLIC KEY",
            "RSA PUBLIC KEY",
            "EC PRIVATE KEY",
        ]
    ),
    body=PEM_BODIES,
)
def test_load_keys_pem_shaped(label: str, body: bytes) -> None:
    """PEM armour around random DER raises only the typed key errors."""
    pem = b"-----BEGIN " + label.encode() + b"-----\n" + body
    pem += b"-----END " + label.encode() + b"-----\n"
    with contextlib.suppress(InvalidPrivateKey):
        load_private_key(pem)
    with contextlib.suppress(InvalidPublicKeyFormat):
        load_public_key(pem)


@SETTINGS
@given(
    items=st.lists(
        st.tuples(
            st.text(max_size=8) | st.binary(max_size=8),
            st.text(max_size=8)
            | st.binary(max_size=8)
            | st.lists(st.text(max_size=4) | st.binary(max_size=4), max_size=3)
            | st.integers(),
        ),
        max_size=20,
    )
)
def test_headers(items: list[tuple[Any, Any]]) -> None:
    """Headers take any name/value pairs of text, bytes or lists and stay consistent."""
    h = Headers(items)
    for name, value in items:
        if value == []:
            continue  # a name with no values is no header at all
        text = name.decode("latin-1") if isinstance(name, bytes) else name
        assert text in h
        if text.upper().lower() == text.lower():
            assert h.get_all(text.upper()) == h.get_all(text)
    assert Headers(h) == h
    assert hash(Headers(list(h))) == hash(h)


@SETTINGS
@given(value=st.integers() | st.none() | st.lists(st.integers(), max_size=3) | RAW)
def test_headers_non_pairs(value: Any) -> None:
    """Input that is not name/value pairs raises TypeError or ValueError."""
    with contextlib.suppress(TypeError, ValueError):
        Headers(value)


# Claims a client might sign: the expected ones, each possibly replaced by any JSON
# value, with a request object of any shape.
REQUEST_CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        "iss": st.just(str(SVC)) | st.just("svc:x") | JSON_VALUES,
        "sub": st.just(str(SVC)) | JSON_VALUES,
        "aud": st.just("lka") | JSON_VALUES,
        "iat": st.just(T0) | JSON_VALUES,
        "nbf": st.just(T0) | JSON_VALUES,
        "exp": st.just(T0 + 5) | JSON_VALUES,
        "jti": st.just("j") | JSON_VALUES,
        "request": st.dictionaries(BOUND_NAMES, JSON_VALUES, max_size=5) | JSON_VALUES,
    },
)


def _platform(auth: str, body: bytes) -> Any:
    return platform_verify(
        "POST", "/x", [("Authorization", auth)], body, client=CLIENT, platform=PLATFORM
    )


@SETTINGS
@given(auth=TEXTS, body=INPUTS)
def test_verify_request_junk(auth: str, body: bytes) -> None:
    """verify_request on junk Authorization headers and bodies raises ProtocolErrors."""
    with contextlib.suppress(ProtocolError):
        _platform(auth, body)
    with contextlib.suppress(ProtocolError):
        _platform("IOV-JWT " + auth, body)


@SIGNING_SETTINGS
@given(claims=REQUEST_CLAIMS, body=st.sampled_from([b"", b"a.b.c.d.e"]) | RAW)
def test_verify_request_signed_junk(claims: dict[str, Any], body: bytes) -> None:
    """Client-signed tokens with arbitrary claims raise only ProtocolErrors."""
    token = jws_sign(json.dumps(claims).encode(), CLIENT, "RS256")
    with contextlib.suppress(ProtocolError):
        _platform("IOV-JWT " + token, body)
