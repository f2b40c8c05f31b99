"""Strict JSON for bytes that came off the network.

We refuse what a lax parser would accept silently: duplicate keys (which key wins
differs between parsers, a classic way to smuggle a claim past one of them), NaN and
Infinity, invalid UTF-8, and nesting deep enough to exhaust the stack. Encoding uses
msgspec.

Decoding runs on every token we verify, so it has a fast path: msgspec parses (it
already refuses NaN, Infinity, overflowing numbers and bad UTF-8), then an exact count
proves there was no duplicate key. Outside strings a colon only ever separates a key
from its value, so the text's colons are its keys plus the colons in its strings. The
decoded value, written out again, has the same count exactly when nothing was dropped:
a repeated key loses an entry and at least one colon.
Text with a backslash-u escape (which can spell a colon) and anything the fast path
refuses go to the stdlib parser with hooks: slower, and it says precisely what is wrong.
"""

from __future__ import annotations

import json
import math
from typing import Any

import msgspec

__all__ = ["JSONError", "dumps", "loads"]

_encoder = msgspec.json.Encoder()


class JSONError(ValueError):
    """The bytes are not acceptable JSON; the message says why."""


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise JSONError(f"duplicate key {key[:40]!r}")
            seen.add(key)
    return out


def _constant(name: str) -> Any:
    raise JSONError(f"{name} is not JSON")


def _float(text: str) -> float:
    # A literal like 1e400 overflows to infinity, which would slip NaN/Infinity back in.
    value = float(text)
    if not math.isfinite(value):
        raise JSONError(f"number {text[:40]} is out of range")
    return value


_decoder = json.JSONDecoder(
    object_pairs_hook=_pairs, parse_constant=_constant, parse_float=_float
)
_fast = msgspec.json.Decoder()


def _loads_fast(data: bytes) -> Any:
    """The value, or None when only the careful parser can decide (or say why not)."""
    # A \u escape can spell a colon, which would upset the count below. The one-byte
    # search runs at memory speed; the two-byte one only when a backslash is there.
    if b"\\" in data and b"\\u" in data:
        return None
    try:
        # msgspec honours the interpreter's recursion limit, so hostile nesting ends
        # in RecursionError here and the careful parser names it.
        value = _fast.decode(data)
        # msgspec writes every colon literally: one per key, plus those in strings.
        again = _encoder.encode(value)
    except (msgspec.DecodeError, msgspec.EncodeError, RecursionError, OverflowError):
        return None
    if data.count(b":") != again.count(b":"):
        return None
    # A JSON null decodes to None as well; the careful parser gives the same answer.
    return value


def loads(data: bytes | str, *, max_bytes: int = 1 << 20) -> Any:
    """Parse one JSON value; raise :class:`JSONError` for anything we refuse."""
    if len(data) > max_bytes:
        raise JSONError(f"JSON is {len(data)} bytes; at most {max_bytes} accepted")
    if type(data) is bytes:
        value = _loads_fast(data)
        if value is not None:
            return value
    if isinstance(data, bytes | bytearray | memoryview):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError:
            raise JSONError("JSON is not valid UTF-8") from None
    else:
        text = data
    try:
        return _decoder.decode(text)
    except JSONError:
        raise
    except RecursionError:
        raise JSONError("JSON is nested too deeply") from None
    except ValueError as exc:
        raise JSONError(f"not JSON: {str(exc)[:80]}") from None


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    return _encoder.encode(value)
