"""Tamper laws: changing any single byte or character of a JWT, a JWE or a signed body
is refused with a documented error (a ProtocolError subclass), never another exception,
and never accepted.

Keys come from the fixture files under tests/core/fixtures.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lk_core import (
    Headers,
    HttpResponse,
    KeyRing,
    ProtocolError,
    jwe_decrypt,
    jwe_encrypt,
    sign_request,
    sign_response,
    sign_webhook,
)
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

# Cheap examples (at most one RSA operation before the failure); 100 per law.
SETTINGS = property_settings(100)

# Where to change: a fraction of the length, so every position is reachable whatever
# the token's size.
POSITIONS = st.floats(min_value=0.0, max_value=1.0, exclude_max=True)
# What to put there: any character - base64url ones (the likeliest to slip through), the
# separator, whitespace, and any other code point.
CHARACTERS = (
    st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    | st.sampled_from(" \t=+/")
    | st.characters()
)
# Any replacement byte 0..255.
BYTES = st.integers(0, 255)


def _changed_text(text: str, where: float, char: str) -> str:
    i = int(where * len(text))
    if text[i] == char:
        char = "A" if char != "A" else "B"
    return text[:i] + char + text[i + 1 :]


def _changed_bytes(data: bytes, where: float, byte: int) -> bytes:
    i = int(where * len(data))
    if data[i] == byte:
        byte ^= 0x01
    return data[:i] + bytes((byte,)) + data[i + 1 :]


REQUEST = sign_request(
    "POST",
    "/service/v3/auths",
    issuer=SVC,
    subject=SVC,
    keyring=KeyRing(CLIENT),
    platform_key=PLATFORM.public,
    payload=b'{"username": "u"}',
    now=T0,
    jti="4e154de4-3977-4cd4-a755-1aa85d76bac9",
)
VERIFIED = platform_verify(
    "POST",
    "/service/v3/auths",
    REQUEST.http.headers,
    REQUEST.http.body,
    client=CLIENT,
    platform=PLATFORM,
)
RESPONSE = sign_response(
    200,
    b'{"auth_request": "r"}',
    request=VERIFIED,
    platform_key=PLATFORM,
    encrypt_to=CLIENT.public,
    now=T0,
)
TOKEN = RESPONSE.headers.get("X-IOV-JWT") or ""
AUTH = dict(REQUEST.http.headers)["Authorization"]
JWE = jwe_encrypt(b'{"device_id": "d"}', CLIENT.public)
WEBHOOK = sign_webhook(
    b'{"auth_jwe": "x"}',
    path="/hook",
    audience=SVC,
    subject=SVC,
    platform_key=PLATFORM,
    encrypt_to=CLIENT.public,
    now=T0,
    jti="w",
)


def _verify_response(headers: Headers, body: bytes) -> Any:
    response = HttpResponse(status=200, headers=headers, body=body)
    return client_verify(response, REQUEST, client=CLIENT, platform=PLATFORM)


def _verify_request(auth: str, body: bytes) -> Any:
    headers = [
        (k, auth if k == "Authorization" else v) for k, v in REQUEST.http.headers
    ]
    return platform_verify(
        "POST", "/service/v3/auths", headers, body, client=CLIENT, platform=PLATFORM
    )


def _verify_webhook(headers: Any, body: bytes) -> Any:
    return webhook_verify(headers, body, client=CLIENT, platform=PLATFORM)


def test_genuine_messages_pass() -> None:
    """The untouched messages verify, so every refusal below is due to the change."""
    assert _verify_response(RESPONSE.headers, RESPONSE.body) == b'{"auth_request": "r"}'
    assert _verify_request(AUTH, REQUEST.http.body).payload == b'{"username": "u"}'
    assert jwe_decrypt(JWE, KeyRing(CLIENT)) == b'{"device_id": "d"}'
    assert _verify_webhook(WEBHOOK.headers, WEBHOOK.body).body == b'{"auth_jwe": "x"}'


@SETTINGS
@given(where=POSITIONS, char=CHARACTERS)
def test_response_jwt_character(where: float, char: str) -> None:
    """Any one character changed in a response's X-IOV-JWT is refused."""
    headers = Headers({"X-IOV-JWT": _changed_text(TOKEN, where, char)})
    with pytest.raises(ProtocolError):
        _verify_response(headers, RESPONSE.body)


@SETTINGS
@given(where=POSITIONS, byte=BYTES)
def test_response_body_byte(where: float, byte: int) -> None:
    """Any one byte changed in a response body is refused."""
    with pytest.raises(ProtocolError):
        _verify_response(RESPONSE.headers, _changed_bytes(RESPONSE.body, where, byte))


@SETTINGS
@given(where=POSITIONS, char=CHARACTERS)
def test_request_jwt_character(where: float, char: str) -> None:
    """Any one character changed in a request's Authorization header is refused."""
    with pytest.raises(ProtocolError):
        _verify_request(_changed_text(AUTH, where, char), REQUEST.http.body)


@SETTINGS
@given(where=POSITIONS, byte=BYTES)
def test_request_body_byte(where: float, byte: int) -> None:
    """Any one byte changed in a signed request body is refused."""
    with pytest.raises(ProtocolError):
        _verify_request(AUTH, _changed_bytes(REQUEST.http.body, where, byte))


@SETTINGS
@given(where=POSITIONS, char=CHARACTERS)
def test_jwe_character(where: float, char: str) -> None:
    """Any one character changed in a JWE fails to decrypt with a ProtocolError."""
    with pytest.raises(ProtocolError):
        jwe_decrypt(_changed_text(JWE, where, char), KeyRing(CLIENT))


@SETTINGS
@given(where=POSITIONS, byte=BYTES)
def test_jwe_byte(where: float, byte: int) -> None:
    """Any one byte changed in a JWE given as bytes fails with a ProtocolError."""
    with pytest.raises(ProtocolError):
        jwe_decrypt(_changed_bytes(JWE.encode(), where, byte), KeyRing(CLIENT))


@SETTINGS
@given(where=POSITIONS, char=CHARACTERS, header=st.sampled_from(["X-IOV-JWT"]))
def test_webhook_jwt_character(where: float, char: str, header: str) -> None:
    """Any one character changed in a webhook's JWT is refused."""
    token = dict(WEBHOOK.headers)[header]
    headers = {header: _changed_text(token, where, char)}
    with pytest.raises(ProtocolError):
        _verify_webhook(headers, WEBHOOK.body)


@SETTINGS
@given(where=POSITIONS, byte=BYTES)
def test_webhook_body_byte(where: float, byte: int) -> None:
    """Any one byte changed in a webhook body is refused."""
    with pytest.raises(ProtocolError):
        _verify_webhook(WEBHOOK.headers, _changed_bytes(WEBHOOK.body, where, byte))
