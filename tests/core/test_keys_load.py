"""load_private_key / load_public_key: every PEM layout we accept, and every refusal."""

from __future__ import annotations

import pytest

from lk_core import (
    InvalidPrivateKey,
    InvalidPublicKeyFormat,
    KeyFormatError,
    UsageError,
    load_private_key,
    load_public_key,
)

from .support import fixture_bytes

CLIENT_KID = fixture_bytes("client-key", "kid.txt").decode().strip()


class TestLoadPrivateKey:
    @pytest.mark.parametrize("name", ["private-pkcs1.pem", "private-pkcs8.pem"])
    def test_accepts_pkcs1_and_pkcs8(self, name: str) -> None:
        """Both unencrypted private-key layouts load to the same key."""
        key = load_private_key(fixture_bytes("client-key", name))
        assert key.kid == CLIENT_KID
        assert key.bits == 2048

    def test_accepts_str_and_surrounding_whitespace(self) -> None:
        """A PEM given as text with blank lines around it loads."""
        text = (
            "\n\n" + fixture_bytes("client-key", "private-pkcs1.pem").decode() + "  \n"
        )
        assert load_private_key(text).kid == CLIENT_KID

    @pytest.mark.parametrize(
        ("name", "words"),
        [
            ("encrypted-pkcs8.pem", "encrypted"),
            ("encrypted-pkcs1.pem", "encrypted"),
            ("certificate.pem", "certificate"),
            ("ec-private-sec1.pem", "RSA"),
            ("ec-private-pkcs8.pem", "RSA"),
            ("ed25519-private.pem", "RSA"),
            ("rsa1024-private-pkcs1.pem", "1024 bits"),
            ("truncated-pkcs1.pem", "not a PEM RSA private key"),
            ("garbage.txt", "not a PEM RSA private key"),
            ("ec-public-spki.pem", "public key"),
        ],
    )
    def test_refusals_are_typed_and_say_why(self, name: str, words: str) -> None:
        """Each rejected input raises InvalidPrivateKey naming the failed check."""
        with pytest.raises(InvalidPrivateKey) as info:
            load_private_key(fixture_bytes("rejected-keys", name))
        assert words in str(info.value)
        assert isinstance(info.value, KeyFormatError)
        assert isinstance(info.value, UsageError)

    @pytest.mark.parametrize("name", ["public-spki.pem", "public-pkcs1.pem"])
    def test_public_key_where_private_expected(self, name: str) -> None:
        """An RSA public key is refused with a message saying it is a public key."""
        with pytest.raises(InvalidPrivateKey, match="public key"):
            load_private_key(fixture_bytes("client-key", name))

    def test_non_ascii_text(self) -> None:
        """Key text outside ASCII is refused before parsing."""
        with pytest.raises(InvalidPrivateKey, match="ASCII"):
            load_private_key("-----BEGIN RSA PRIVATE KEY-----\né\n")

    def test_wrong_type(self) -> None:
        """Something that is neither str nor bytes is refused with its type named."""
        with pytest.raises(InvalidPrivateKey, match="int"):
            load_private_key(42)  # type: ignore[arg-type]

    def test_oversized_pem(self) -> None:
        """A PEM over the size cap is refused without parsing."""
        with pytest.raises(InvalidPrivateKey, match="at most"):
            load_private_key(b"A" * (33 * 1024))

    def test_error_never_echoes_the_key(self) -> None:
        """Refusing a key never copies any of its text into the message."""
        pem = fixture_bytes("rejected-keys", "rsa1024-private-pkcs1.pem").decode()
        body_line = pem.splitlines()[1]
        with pytest.raises(InvalidPrivateKey) as info:
            load_private_key(pem)
        assert body_line[:16] not in str(info.value)
        assert body_line[:16] not in repr(info.value)


class TestLoadPublicKey:
    @pytest.mark.parametrize("name", ["public-spki.pem", "public-pkcs1.pem"])
    def test_accepts_spki_and_pkcs1(self, name: str) -> None:
        """Both public-key layouts load, with the same key id as the private key."""
        key = load_public_key(fixture_bytes("client-key", name))
        assert key.kid == CLIENT_KID

    def test_pem_output_is_spki(self) -> None:
        """The PEM a public key carries is SubjectPublicKeyInfo (what Java needs)."""
        key = load_public_key(fixture_bytes("client-key", "public-pkcs1.pem"))
        assert key.pem.startswith("-----BEGIN PUBLIC KEY-----")

    @pytest.mark.parametrize(
        ("name", "words"),
        [
            ("certificate.pem", "certificate"),
            ("ec-public-spki.pem", "RSA"),
            ("rsa1024-public-spki.pem", "1024 bits"),
            ("garbage.txt", "not a PEM RSA public key"),
            ("encrypted-pkcs8.pem", "not a PEM RSA public key"),
        ],
    )
    def test_refusals_are_typed_and_say_why(self, name: str, words: str) -> None:
        """Each rejected input raises InvalidPublicKeyFormat naming the failed check."""
        with pytest.raises(InvalidPublicKeyFormat) as info:
            load_public_key(fixture_bytes("rejected-keys", name))
        assert words in str(info.value)

    def test_private_key_where_public_expected(self) -> None:
        """A private key PEM is not silently accepted as a public key."""
        with pytest.raises(InvalidPublicKeyFormat):
            load_public_key(fixture_bytes("client-key", "private-pkcs1.pem"))
