"""Strict JSON for bytes that came off the network.

The platform's JSON is small; we trade a little speed for refusing what a lax parser
would accept silently: duplicate keys (which key wins differs between parsers, a classic
way to smuggle a claim past one of them), NaN and Infinity, invalid UTF-8, and nesting
deep enough to exhaust the stack. Encoding uses msgspec.
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


def loads(data: bytes | str, *, max_bytes: int = 1 << 20) -> Any:
    """Parse one JSON value; raise :class:`JSONError` for anything we refuse."""
    if len(data) > max_bytes:
        raise JSONError(f"JSON is {len(data)} bytes; at most {max_bytes} accepted")
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
