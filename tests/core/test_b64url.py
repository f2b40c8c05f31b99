"""b64url_encode / b64url_decode: unpadded, URL-safe, one spelling per byte string."""

from __future__ import annotations

import base64

import pytest

from lk_core._jose import b64url_decode, b64url_encode


class TestB64url:
    @pytest.mark.parametrize(
        "data", [b"", b"f", b"fo", b"foo", b"\xfb\xff\xfe", bytes(range(256))]
    )
    def test_round_trip_matches_stdlib(self, data: bytes) -> None:
        """Encoding equals stdlib urlsafe base64 without padding, and decodes back."""
        text = b64url_encode(data)
        assert text == base64.urlsafe_b64encode(data).decode().rstrip("=")
        assert b64url_decode(text) == data
        assert b64url_decode(text.encode()) == data

    @pytest.mark.parametrize("text", ["Zg==", "Zm8=", "Zg=", "=", "Zm9v===="])
    def test_padding_refused(self, text: str) -> None:
        """Padded input is refused: the JOSE form has no padding."""
        with pytest.raises(ValueError, match="not base64url"):
            b64url_decode(text)

    @pytest.mark.parametrize("text", ["Zh", "Zm9", "Zm_", "_-_"])
    def test_non_canonical_trailing_bits_refused(self, text: str) -> None:
        """Non-zero unused bits in the last character are refused."""
        assert base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))  # stdlib accepts
        with pytest.raises(ValueError, match="non-canonical"):
            b64url_decode(text)

    @pytest.mark.parametrize(
        "text",
        [
            "Zm+v",
            "Zm/v",
            "Zm v",
            "Zm\nv",
            "Zm.v",
            "é",
            "\\u005A",
            'Zm"v',
            "Zm\\/v",
            "\\u0041" * 4,
        ],
    )
    def test_bad_alphabet_refused(self, text: str) -> None:
        """Standard-alphabet, whitespace and non-ASCII characters are refused."""
        with pytest.raises(ValueError, match="not base64url"):
            b64url_decode(text)

    @pytest.mark.parametrize("text", ["A", "AAAAA", "Zm9vY"])
    def test_impossible_length_refused(self, text: str) -> None:
        """A length of 1 mod 4 cannot encode whole bytes and is refused."""
        with pytest.raises(ValueError, match="impossible"):
            b64url_decode(text)
