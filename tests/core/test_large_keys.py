"""Keys larger than 2048 bits work on both sides (signature and wrapped-key lengths)."""

from __future__ import annotations

import pytest

from lk_core import KeyRing, PrivateKey, jwe_decrypt, jwe_encrypt, sign_response

from .support import (
    T0,
    client_verify,
    fixture_bytes,
    fixture_key,
    platform_verify,
    signed,
)


@pytest.fixture(scope="module")
def big() -> PrivateKey:
    return fixture_key("rsa4096-key")


class TestRsa4096:
    def test_kid_matches_openssl(self, big: PrivateKey) -> None:
        """The kid of a 4096-bit key matches the one OpenSSL computed."""
        assert big.kid == fixture_bytes("rsa4096-key", "kid.txt").decode().strip()
        assert big.bits == 4096

    def test_client_key(self, big: PrivateKey, platform_key: PrivateKey) -> None:
        """A 4096-bit client key signs requests and decrypts answers."""
        req = signed(big, platform_key)
        http = req.http
        got = platform_verify(
            http.method,
            http.path,
            http.headers,
            http.body,
            client=big,
            platform=platform_key,
        )
        resp = sign_response(
            200,
            b"{}",
            request=got,
            platform_key=platform_key,
            encrypt_to=big.public,
            now=T0,
        )
        assert client_verify(resp, req, client=big, platform=platform_key) == b"{}"

    def test_platform_key(self, big: PrivateKey, client_key: PrivateKey) -> None:
        """A 4096-bit platform key decrypts requests and signs answers."""
        req = signed(client_key, big)
        http = req.http
        got = platform_verify(
            http.method,
            http.path,
            http.headers,
            http.body,
            client=client_key,
            platform=big,
        )
        resp = sign_response(
            201,
            b"[]",
            request=got,
            platform_key=big,
            encrypt_to=client_key.public,
            now=T0,
        )
        assert client_verify(resp, req, client=client_key, platform=big) == b"[]"

    def test_mixed_ring(self, big: PrivateKey, client_key: PrivateKey) -> None:
        """A ring mixing key sizes decrypts messages to either, with or without kid."""
        ring = KeyRing(client_key, [big])
        assert jwe_decrypt(jwe_encrypt(b"a", big.public), ring) == b"a"
        assert jwe_decrypt(jwe_encrypt(b"b", client_key.public), ring) == b"b"
