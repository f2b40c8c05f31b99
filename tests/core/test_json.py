"""_json.loads / dumps: strict JSON for network bytes."""

from __future__ import annotations

import pytest

from lk_core._json import JSONError, dumps, loads


class TestLoads:
    def test_plain_object(self) -> None:
        """Ordinary JSON parses to Python values."""
        assert loads(b'{"a": [1, 2.5, "x", null, true]}') == {
            "a": [1, 2.5, "x", None, True]
        }
        assert loads('"text"') == "text"

    @pytest.mark.parametrize(
        "text", [b'{"a": 1, "a": 2}', b'{"x": {"b": 1, "b": 1}}', b'[{"k": 1, "k": 1}]']
    )
    def test_duplicate_keys_refused(self, text: bytes) -> None:
        """A repeated key anywhere is refused, naming the key."""
        with pytest.raises(JSONError, match="duplicate key"):
            loads(text)

    @pytest.mark.parametrize("text", [b"NaN", b"[Infinity]", b'{"a": -Infinity}'])
    def test_nan_and_infinity_literals_refused(self, text: bytes) -> None:
        """The non-standard NaN and Infinity literals are refused."""
        with pytest.raises(JSONError, match="is not JSON"):
            loads(text)

    @pytest.mark.parametrize("text", [b"1e400", b"[-1e999]"])
    def test_overflowing_numbers_refused(self, text: bytes) -> None:
        """A number too large for a float would become infinity; it is refused."""
        with pytest.raises(JSONError):
            loads(text)

    @pytest.mark.parametrize("data", [b'"\xff"', b'{"a": "\xc3"}', b"\xfe\xff[]"])
    def test_invalid_utf8_refused(self, data: bytes) -> None:
        """Bytes that are not UTF-8 are refused before parsing."""
        with pytest.raises(JSONError, match="UTF-8"):
            loads(data)

    @pytest.mark.parametrize("depth", [5_000, 100_000])
    def test_deep_nesting_refused(self, depth: int) -> None:
        """Nesting deep enough to exhaust the stack is refused, not a crash."""
        with pytest.raises(JSONError, match="nested too deeply"):
            loads(b"[" * depth + b"]" * depth)

    def test_size_cap(self) -> None:
        """Input over max_bytes is refused without parsing."""
        with pytest.raises(JSONError, match="at most 10"):
            loads(b'"' + b"x" * 20 + b'"', max_bytes=10)

    @pytest.mark.parametrize("text", [b"", b"{", b"[1,]", b"{'a': 1}", b"1 2"])
    def test_malformed_refused(self, text: bytes) -> None:
        """Malformed JSON raises JSONError (a ValueError), never another error."""
        with pytest.raises(JSONError, match="not JSON") as info:
            loads(text)
        assert isinstance(info.value, ValueError)


class TestDumps:
    def test_compact_bytes_round_trip(self) -> None:
        """dumps writes compact JSON bytes that loads reads back."""
        value = {"a": [1, "é", None], "b": {"c": False}}
        data = dumps(value)
        assert data == '{"a":[1,"é",null],"b":{"c":false}}'.encode()
        assert loads(data) == value
