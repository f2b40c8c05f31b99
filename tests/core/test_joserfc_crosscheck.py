"""Cross-checks of our JOSE code with joserfc, an independent implementation."""

from __future__ import annotations

import functools
import os

import pytest
from joserfc import jwe, jws
from joserfc.jwk import RSAKey

from lk_core import KeyRing, PrivateKey, jwe_decrypt, jwe_encrypt, private_key_pem
from lk_core._jose import jws_parse, jws_sign, jws_verify

JWE_ALGS = ["RSA-OAEP", "RSA-OAEP-256"]
ENC = "A256CBC-HS512"
# joserfc deliberately leaves RSA-OAEP and RS384/RS512 out of its defaults; name them.
JWE_ALLOWED = [*JWE_ALGS, ENC]
JWS_ALLOWED = ["RS256", "RS384", "RS512"]
PLAINTEXTS = [b"", b"{}", b'{"service_user_hash": "x"}', os.urandom(333)]


@functools.cache
def _jwk(key: PrivateKey) -> RSAKey:
    return RSAKey.import_key(private_key_pem(key))


class TestJweWithJoserfc:
    @pytest.mark.parametrize("alg", JWE_ALGS)
    @pytest.mark.parametrize("plaintext", PLAINTEXTS)
    def test_ours_decrypts_with_joserfc(
        self, client_key: PrivateKey, alg: str, plaintext: bytes
    ) -> None:
        """A JWE we encrypt decrypts with joserfc to the same bytes and header."""
        token = jwe_encrypt(plaintext, client_key.public, alg)
        got = jwe.decrypt_compact(token, _jwk(client_key), algorithms=JWE_ALLOWED)
        assert got.plaintext == plaintext
        assert got.protected == {"alg": alg, "enc": ENC, "kid": client_key.kid}

    @pytest.mark.parametrize("alg", JWE_ALGS)
    @pytest.mark.parametrize("plaintext", PLAINTEXTS)
    def test_joserfc_decrypts_with_ours(
        self, client_key: PrivateKey, alg: str, plaintext: bytes
    ) -> None:
        """A JWE joserfc encrypts (with our kid) decrypts with our core."""
        header = {"alg": alg, "enc": ENC, "kid": client_key.kid}
        token = jwe.encrypt_compact(
            header, plaintext, _jwk(client_key), algorithms=JWE_ALLOWED
        )
        assert jwe_decrypt(token, KeyRing(client_key)) == plaintext

    def test_joserfc_without_kid(
        self, client_key: PrivateKey, client_key2: PrivateKey
    ) -> None:
        """A joserfc JWE with cty and no kid decrypts by trying each key."""
        header = {"alg": "RSA-OAEP-256", "enc": ENC, "cty": "application/json"}
        token = jwe.encrypt_compact(
            header, b"[1]", _jwk(client_key2), algorithms=JWE_ALLOWED
        )
        assert jwe_decrypt(token, KeyRing(client_key, [client_key2])) == b"[1]"


class TestJwsWithJoserfc:
    @pytest.mark.parametrize("alg", JWS_ALLOWED)
    def test_ours_verifies_with_joserfc(self, client_key: PrivateKey, alg: str) -> None:
        """A JWS we sign verifies with joserfc."""
        token = jws_sign(b'{"a":1}', client_key, alg)
        got = jws.deserialize_compact(token, _jwk(client_key), algorithms=JWS_ALLOWED)
        assert got.payload == b'{"a":1}'
        assert got.protected == {"alg": alg, "kid": client_key.kid}

    @pytest.mark.parametrize("alg", JWS_ALLOWED)
    def test_joserfc_verifies_with_ours(self, client_key: PrivateKey, alg: str) -> None:
        """A JWS joserfc signs parses and verifies with our core."""
        header = {"alg": alg, "kid": client_key.kid}
        token = jws.serialize_compact(
            header, b'{"b":2}', _jwk(client_key), algorithms=JWS_ALLOWED
        )
        parsed = jws_parse(token)
        jws_verify(parsed, client_key.public)
        assert parsed.claims == {"b": 2}
