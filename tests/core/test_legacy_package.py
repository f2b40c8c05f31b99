"""legacy_encrypt / legacy_decrypt: the RSA-OAEP (SHA-1) ``auth`` package."""

from __future__ import annotations

import base64
import os

import pytest
from launchkey.transports.jose_auth import JOSETransport

from lk_core import JOSEDecryptError, PrivateKey, private_key_pem
from lk_core._jose import legacy_decrypt, legacy_encrypt


class TestLegacyPackage:
    @pytest.mark.parametrize("size", [0, 1, 100, 214])
    def test_round_trip(self, client_key: PrivateKey, size: int) -> None:
        """Any plaintext up to the OAEP limit (214 bytes for 2048 bits) round-trips."""
        data = os.urandom(size)
        assert (
            legacy_decrypt(legacy_encrypt(data, client_key.public), client_key) == data
        )

    def test_vendor_decrypts_ours(self, client_key: PrivateKey) -> None:
        """The vendor SDK decrypts our package (base64 on the wire) itself."""
        package = b'{"auth_request": "r", "response": true}'
        wire = base64.b64encode(legacy_encrypt(package, client_key.public)).decode()
        vendor = JOSETransport()
        vendor.add_encryption_private_key(private_key_pem(client_key))
        assert vendor.decrypt_rsa_response(wire, client_key.kid) == package

    def test_wrong_key(self, client_key: PrivateKey, client_key2: PrivateKey) -> None:
        """A package for another key fails with JOSEDecryptError."""
        package = legacy_encrypt(b"x", client_key2.public)
        with pytest.raises(JOSEDecryptError, match="could not be decrypted"):
            legacy_decrypt(package, client_key)

    @pytest.mark.parametrize("size", [0, 255, 257])
    def test_wrong_length(self, client_key: PrivateKey, size: int) -> None:
        """A package whose length is not the key size is refused before decrypting."""
        with pytest.raises(JOSEDecryptError, match="wrong length"):
            legacy_decrypt(b"\x01" * size, client_key)

    def test_tampered(self, client_key: PrivateKey) -> None:
        """A package with one flipped bit fails OAEP decoding."""
        package = bytearray(legacy_encrypt(b"x", client_key.public))
        package[100] ^= 0x10
        with pytest.raises(JOSEDecryptError):
            legacy_decrypt(bytes(package), client_key)
