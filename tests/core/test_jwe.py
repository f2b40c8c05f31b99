"""jwe_encrypt / jwe_decrypt / jwe_kid: compact JWE, RSA-OAEP(-256) + A256CBC-HS512."""

from __future__ import annotations

import hmac
import json
import os
from collections.abc import Mapping

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lk_core import (
    EntityKeyNotFound,
    InvalidAlgorithm,
    JOSEDecryptError,
    KeyRing,
    PrivateKey,
    ProtocolError,
    jwe_decrypt,
    jwe_encrypt,
)
from lk_core._jose import MAX_JWE_BYTES, jwe_kid

from .support import b64d, b64e

OAEP = {
    "RSA-OAEP": padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None),
    "RSA-OAEP-256": padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None),
}


def _handmade_jwe(
    padded: bytes, key: PrivateKey, header: Mapping[str, object], alg: str = "RSA-OAEP"
) -> str:
    """RFC 7516/7518 5.2 built step by step, so padding and headers can be anything."""
    cek, iv = os.urandom(64), os.urandom(16)
    aad = b64e(json.dumps(header).encode()).encode()
    enc = Cipher(algorithms.AES(cek[32:]), modes.CBC(iv)).encryptor()
    ct = enc.update(padded) + enc.finalize()
    al = (len(aad) * 8).to_bytes(8, "big")
    tag = hmac.digest(cek[:32], aad + iv + ct + al, "sha512")[:32]
    wrapped = key.public.key.encrypt(cek, OAEP[alg])
    return ".".join([aad.decode(), b64e(wrapped), b64e(iv), b64e(ct), b64e(tag)])


def _header(key: PrivateKey, **extra: object) -> dict[str, object]:
    return {"alg": "RSA-OAEP", "enc": "A256CBC-HS512", "kid": key.kid, **extra}


class TestJweEncrypt:
    @pytest.mark.parametrize("alg", ["RSA-OAEP", "RSA-OAEP-256"])
    @pytest.mark.parametrize("size", [0, 1, 15, 16, 17, 1000])
    def test_round_trip(self, client_key: PrivateKey, alg: str, size: int) -> None:
        """Any plaintext decrypts back with the ring key the header names."""
        plaintext = os.urandom(size)
        token = jwe_encrypt(plaintext, client_key.public, alg)
        assert jwe_decrypt(token, KeyRing(client_key)) == plaintext

    def test_header_and_part_lengths(self, client_key: PrivateKey) -> None:
        """The header is exactly alg/enc/kid; parts have the spec's lengths."""
        token = jwe_encrypt(b"x" * 100, client_key.public)
        parts = token.split(".")
        assert json.loads(b64d(parts[0])) == _header(client_key)
        assert [len(p) for p in parts[1:3]] == [342, 22]
        assert len(parts[4]) == 43
        assert jwe_kid(token) == client_key.kid

    def test_cty_header(self, client_key: PrivateKey) -> None:
        """With cty=True the header carries cty application/json (the Java form)."""
        token = jwe_encrypt(b"{}", client_key.public, "RSA-OAEP-256", cty=True)
        header = json.loads(b64d(token.split(".")[0]))
        assert header["cty"] == "application/json"
        assert header["alg"] == "RSA-OAEP-256"

    def test_fresh_randomness_per_call(self, client_key: PrivateKey) -> None:
        """Two encryptions of one plaintext differ (fresh CEK and IV)."""
        a = jwe_encrypt(b"same", client_key.public).split(".")
        b = jwe_encrypt(b"same", client_key.public).split(".")
        assert a[0] == b[0]
        assert a[1] != b[1]
        assert a[2] != b[2]

    @pytest.mark.parametrize("alg", ["RSA1_5", "dir", "A256KW", "rsa-oaep"])
    def test_unsupported_alg(self, client_key: PrivateKey, alg: str) -> None:
        """Encrypting with an alg outside the pinned set raises InvalidAlgorithm."""
        with pytest.raises(InvalidAlgorithm):
            jwe_encrypt(b"x", client_key.public, alg)


class TestJweDecrypt:
    def test_handmade_jwe_decrypts(self, client_key: PrivateKey) -> None:
        """A JWE built step by step from the RFC decrypts (independent construction)."""
        token = _handmade_jwe(
            b"hello" + bytes([11]) * 11, client_key, _header(client_key)
        )
        assert jwe_decrypt(token, KeyRing(client_key)) == b"hello"

    def test_unknown_kid(self, client_key: PrivateKey, client_key2: PrivateKey) -> None:
        """A kid the ring lacks raises EntityKeyNotFound, not a decrypt error."""
        token = jwe_encrypt(b"x", client_key2.public)
        with pytest.raises(EntityKeyNotFound) as info:
            jwe_decrypt(token, KeyRing(client_key))
        assert info.value.kid == client_key2.kid

    def test_no_kid_tries_every_key(
        self, client_key: PrivateKey, client_key2: PrivateKey
    ) -> None:
        """Without a kid, each ring key is tried until one unwraps the content key."""
        header = {"alg": "RSA-OAEP", "enc": "A256CBC-HS512"}
        token = _handmade_jwe(b"abc" + bytes([13]) * 13, client_key2, header)
        assert jwe_decrypt(token, KeyRing(client_key, [client_key2])) == b"abc"
        with pytest.raises(JOSEDecryptError, match="could not be unwrapped"):
            jwe_decrypt(token, KeyRing(client_key))

    def test_no_kid_empty_ring(self, client_key: PrivateKey) -> None:
        """Without a kid and without keys, EntityKeyNotFound(None) is raised."""
        header = {"alg": "RSA-OAEP", "enc": "A256CBC-HS512"}
        token = _handmade_jwe(bytes([16]) * 16, client_key, header)
        with pytest.raises(EntityKeyNotFound) as info:
            jwe_decrypt(token, KeyRing(None))
        assert info.value.kid is None

    def test_kid_names_wrong_key(
        self, client_key: PrivateKey, client_key2: PrivateKey
    ) -> None:
        """A kid naming key A on a content key wrapped to key B fails to unwrap."""
        token = _handmade_jwe(bytes([16]) * 16, client_key2, _header(client_key))
        with pytest.raises(JOSEDecryptError, match="could not be unwrapped"):
            jwe_decrypt(token, KeyRing(client_key, [client_key2]))

    @pytest.mark.parametrize("alg", ["RSA-OAEP", "RSA-OAEP-256"])
    def test_oaep_variant_must_match_header(
        self, client_key: PrivateKey, alg: str
    ) -> None:
        """A key wrapped with one OAEP hash but labelled the other does not unwrap."""
        other = "RSA-OAEP-256" if alg == "RSA-OAEP" else "RSA-OAEP"
        token = _handmade_jwe(
            bytes([16]) * 16, client_key, _header(client_key, alg=alg), other
        )
        with pytest.raises(JOSEDecryptError, match="could not be unwrapped"):
            jwe_decrypt(token, KeyRing(client_key))

    @pytest.mark.parametrize(
        ("change", "words"),
        [
            ({"alg": "RSA1_5"}, "JWE alg"),
            ({"alg": "dir"}, "JWE alg"),
            ({"alg": ["RSA-OAEP"]}, "JWE alg"),
            ({"enc": "A128GCM"}, "JWE enc"),
            ({"enc": None}, "JWE enc"),
            ({"zip": "DEF"}, "compressed"),
            ({"crit": ["exp"]}, "crit"),
            ({"kid": 7}, "kid is not a string"),
        ],
    )
    def test_header_checks(
        self, client_key: PrivateKey, change: dict[str, object], words: str
    ) -> None:
        """Each header the platform never sends is refused, naming the header field."""
        token = _handmade_jwe(
            bytes([16]) * 16, client_key, _header(client_key, **change)
        )
        with pytest.raises(JOSEDecryptError, match=words):
            jwe_decrypt(token, KeyRing(client_key))

    @pytest.mark.parametrize("pad", [b"\x00", b"\x11", b"\x02\x03"])
    def test_bad_padding(self, client_key: PrivateKey, pad: bytes) -> None:
        """Authentic ciphertext with invalid PKCS#7 padding is refused."""
        padded = b"x" * (16 - len(pad)) + pad
        token = _handmade_jwe(padded, client_key, _header(client_key))
        with pytest.raises(JOSEDecryptError, match="padding"):
            jwe_decrypt(token, KeyRing(client_key))

    @pytest.mark.parametrize("part", [2, 3, 4])
    def test_tag_covers_iv_ciphertext_and_tag(
        self, client_key: PrivateKey, part: int
    ) -> None:
        """Changing the IV, ciphertext or tag breaks the authentication tag."""
        parts = jwe_encrypt(b"y" * 40, client_key.public).split(".")
        raw = bytearray(b64d(parts[part]))
        raw[0] ^= 1
        parts[part] = b64e(bytes(raw))
        with pytest.raises(JOSEDecryptError, match="tag does not match"):
            jwe_decrypt(".".join(parts), KeyRing(client_key))

    def test_tag_covers_header(self, client_key: PrivateKey) -> None:
        """A header re-encoded with an extra field fails the tag (header is the AAD)."""
        parts = jwe_encrypt(b"y", client_key.public).split(".")
        parts[0] = b64e(json.dumps(_header(client_key, x=1)).encode())
        with pytest.raises(JOSEDecryptError, match="tag does not match"):
            jwe_decrypt(".".join(parts), KeyRing(client_key))

    @pytest.mark.parametrize(
        ("part", "raw", "words"),
        [
            (2, b"\0" * 15, "impossible length"),
            (4, b"\0" * 31, "impossible length"),
            (3, b"", "impossible length"),
            (3, b"\0" * 17, "impossible length"),
        ],
    )
    def test_length_checks(
        self, client_key: PrivateKey, part: int, raw: bytes, words: str
    ) -> None:
        """IV, tag and ciphertext of impossible lengths are refused up front."""
        parts = jwe_encrypt(b"y", client_key.public).split(".")
        parts[part] = b64e(raw)
        with pytest.raises(JOSEDecryptError, match=words):
            jwe_decrypt(".".join(parts), KeyRing(client_key))

    @pytest.mark.parametrize(
        ("token", "words"),
        [
            ("a.b.c.d", "4 parts"),
            ("a.b.c.d.e.f", "6 parts"),
            ("é.b.c.d.e", "not ASCII"),
            ("!.b.c.d.e", "JWE header is not base64url JSON"),
        ],
    )
    def test_malformed(self, client_key: PrivateKey, token: str, words: str) -> None:
        """Structurally broken input is a JOSEDecryptError naming the problem."""
        with pytest.raises(JOSEDecryptError, match=words) as info:
            jwe_decrypt(token, KeyRing(client_key))
        assert isinstance(info.value, ProtocolError)

    def test_non_canonical_part(self, client_key: PrivateKey) -> None:
        """A part with padding characters is refused as a JOSEDecryptError."""
        parts = jwe_encrypt(b"y", client_key.public).split(".")
        parts[2] += "=="
        with pytest.raises(JOSEDecryptError, match="JWE part"):
            jwe_decrypt(".".join(parts), KeyRing(client_key))

    def test_size_cap(self, client_key: PrivateKey) -> None:
        """A JWE over the size cap is refused before any work."""
        with pytest.raises(JOSEDecryptError, match="at most"):
            jwe_decrypt(b"a" * (MAX_JWE_BYTES + 1), KeyRing(client_key))


class TestJweKid:
    def test_absent_kid(self, client_key: PrivateKey) -> None:
        """jwe_kid is None when the header has no kid."""
        token = _handmade_jwe(bytes([16]) * 16, client_key, {"alg": "RSA-OAEP"})
        assert jwe_kid(token) is None

    def test_bad_kid(self, client_key: PrivateKey) -> None:
        """jwe_kid refuses a non-string kid."""
        token = _handmade_jwe(bytes([16]) * 16, client_key, {"kid": []})
        with pytest.raises(JOSEDecryptError, match="kid"):
            jwe_kid(token)
