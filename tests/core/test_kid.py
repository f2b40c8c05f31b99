"""kid_of: the MD5 fingerprint of the DER SubjectPublicKeyInfo (jose.md section 3)."""

from __future__ import annotations

import base64
import hashlib
import re

from launchkey.transports.jose_auth import JOSETransport

from lk_core import (
    PrivateKey,
    kid_of,
    load_private_key,
    load_public_key,
    private_key_pem,
)

from .support import fixture_bytes

KID_SHAPE = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){15}$")


def _independent_kid(spki_pem: bytes) -> str:
    """MD5 over the base64 body of a PUBLIC KEY PEM, with no crypto library involved."""
    lines = spki_pem.decode().strip().splitlines()
    assert lines[0] == "-----BEGIN PUBLIC KEY-----"
    der = base64.b64decode("".join(lines[1:-1]))
    hexed = hashlib.md5(der).hexdigest()
    return ":".join(hexed[i : i + 2] for i in range(0, 32, 2))


class TestKidOf:
    def test_matches_openssl_computation(self) -> None:
        """The kid equals the one OpenSSL + md5sum computed for the fixture."""
        expected = fixture_bytes("client-key", "kid.txt").decode().strip()
        key = load_private_key(fixture_bytes("client-key", "private-pkcs1.pem"))
        assert kid_of(key.key.public_key()) == expected

    def test_matches_independent_md5_of_spki(self) -> None:
        """The kid equals MD5 over the SPKI DER taken straight from the PEM text."""
        for folder in ("client-key", "platform-key"):
            spki = fixture_bytes(folder, "public-spki.pem")
            assert load_public_key(spki).kid == _independent_kid(spki)

    def test_spki_not_pkcs1(self) -> None:
        """The kid is over SPKI DER, not the PKCS#1 RSAPublicKey DER (a common slip)."""
        pkcs1 = fixture_bytes("client-key", "public-pkcs1.pem").decode().splitlines()
        der = base64.b64decode("".join(pkcs1[1:-1]))
        wrong = hashlib.md5(der).hexdigest()
        kid = load_public_key(fixture_bytes("client-key", "public-pkcs1.pem")).kid
        assert kid.replace(":", "") != wrong

    def test_shape(self, client_key: PrivateKey) -> None:
        """A kid is 16 lower-case hex octets joined by colons: 47 characters."""
        assert KID_SHAPE.match(client_key.kid)
        assert len(client_key.kid) == 47

    def test_matches_vendor_sdk_kid(self, client_key: PrivateKey) -> None:
        """The vendor SDK derives the same kid for the same key."""
        vendor_kid = JOSETransport._JOSETransport__generate_key_id(
            private_key_pem(client_key)
        )
        assert vendor_kid == client_key.kid

    def test_private_and_public_agree(self, client_key: PrivateKey) -> None:
        """A private key and its public half carry the same kid."""
        assert (
            client_key.public.kid
            == client_key.kid
            == kid_of(client_key.key.public_key())
        )
