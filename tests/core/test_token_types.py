"""What the JOSE parsers do with inputs that are not text or bytes at all."""

from __future__ import annotations

import tracemalloc

import pytest

from lk_core import InvalidJWTResponse, JOSEDecryptError, KeyRing, PrivateKey
from lk_core._jose import (
    MAX_TOKEN_BYTES,
    b64url_decode,
    jwe_decrypt,
    jwe_encrypt,
    jwe_kid,
    jws_kid,
    jws_parse,
    jws_sign,
)

NOT_TOKENS: list[object] = [None, 7, 2.5, [81, 81], (81,), {"a": 1}, object()]


@pytest.mark.parametrize("value", NOT_TOKENS)
def test_jws_parsers_refuse_non_tokens(value: object) -> None:
    """Neither a TypeError from inside nor a token made of list items."""
    for parse in (jws_parse, jws_kid):
        with pytest.raises(InvalidJWTResponse, match="not text or bytes"):
            parse(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", NOT_TOKENS)
def test_jwe_parsers_refuse_non_tokens(value: object, client_key: PrivateKey) -> None:
    ring = KeyRing(client_key)
    with pytest.raises(JOSEDecryptError, match="not text or bytes"):
        jwe_decrypt(value, ring)  # type: ignore[arg-type]
    with pytest.raises(JOSEDecryptError, match="not text or bytes"):
        jwe_kid(value)  # type: ignore[arg-type]


@pytest.mark.parametrize("value", NOT_TOKENS)
def test_b64url_decode_refuses_non_text(value: object) -> None:
    with pytest.raises(ValueError, match="not base64url"):
        b64url_decode(value)  # type: ignore[arg-type]


def test_a_huge_number_is_refused_without_allocating_it() -> None:
    """bytes(200_000_000) would allocate 190 MiB before the size cap said no."""
    tracemalloc.start()
    try:
        with pytest.raises(InvalidJWTResponse):
            jws_parse(200_000_000)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


def test_oversized_buffers_are_refused_before_copying(client_key: PrivateKey) -> None:
    """A bytearray or memoryview over the cap is measured, not copied."""
    big = bytearray(MAX_TOKEN_BYTES + 1)
    for value in (big, memoryview(big)):
        with pytest.raises(InvalidJWTResponse, match="at most"):
            jws_parse(value)  # type: ignore[arg-type]


def test_buffers_are_parsed_like_bytes(client_key: PrivateKey) -> None:
    """bytearray and memoryview tokens give what the same bytes give."""
    token = jws_sign(b'{"a":1}', client_key).encode()
    for value in (bytearray(token), memoryview(token)):
        assert jws_parse(value).claims == {"a": 1}  # type: ignore[arg-type]
    sealed = jwe_encrypt(b"payload", client_key.public).encode()
    ring = KeyRing(client_key)
    for value in (bytearray(sealed), memoryview(sealed)):
        assert jwe_decrypt(value, ring) == b"payload"  # type: ignore[arg-type]
