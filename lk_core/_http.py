"""HTTP values: what the core hands an adapter to send, and what it gets back.

Header names are case-insensitive everywhere. :class:`Headers` accepts whatever web
frameworks hand out: a mapping, a list of pairs, values as strings or lists of strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import msgspec

__all__ = ["Headers", "HeadersInput", "HttpRequest", "HttpResponse"]

HeadersInput = Mapping[str, Any] | Iterable[tuple[str, Any]]

# More header values than any real request carries; beyond this the input is hostile.
MAX_HEADERS = 256


def _text(value: object) -> str:
    # ASGI servers hand out raw (bytes, bytes) pairs; HTTP header bytes are latin-1.
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("latin-1")
    return str(value)


class Headers:
    """An immutable, case-insensitive, multi-valued header collection."""

    __slots__ = ("_items", "_lower")

    def __init__(self, headers: HeadersInput | Headers | None = None) -> None:
        items: list[tuple[str, str]] = []
        if isinstance(headers, Headers):
            items = list(headers)
        elif headers is not None:
            pairs: Iterable[Any]
            # dict first: the Mapping test is an ABC check, far slower than this one.
            if isinstance(headers, dict | Mapping):
                pairs = headers.items()
            elif hasattr(headers, "items") and callable(headers.items):
                # Framework header objects (werkzeug, starlette) quack like mappings.
                pairs = headers.items()
            else:
                pairs = headers
            for pair in pairs:
                name, value = pair
                if type(name) is not str:
                    name = _text(name)
                if type(value) is str:
                    items.append((name, value))
                elif isinstance(value, list | tuple):
                    items.extend((name, _text(v)) for v in value)
                else:
                    items.append((name, _text(value)))
                if len(items) > MAX_HEADERS:
                    raise ValueError(f"more than {MAX_HEADERS} header values")
        self._items: tuple[tuple[str, str], ...] = tuple(items)
        lower: dict[str, list[str]] = {}
        for name, value in self._items:
            lower.setdefault(name.lower(), []).append(value)
        self._lower = lower

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name`` (any case), or ``default``."""
        values = self._lower.get(name.lower())
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        return list(self._lower.get(name.lower(), ()))

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lower

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and other._lower == self._lower

    def __hash__(self) -> int:
        # Must agree with __eq__, which ignores the case of names.
        return hash(frozenset((k, tuple(v)) for k, v in self._lower.items()))

    def __repr__(self) -> str:
        # Header values carry tokens; show names only.
        return f"Headers({[n for n, _ in self._items]!r})"


class HttpRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A request ready to send: the adapter transmits it and nothing else."""

    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""

    def __repr__(self) -> str:
        return f"HttpRequest({self.method} {self.path}, {len(self.body)} body bytes)"


class HttpResponse(msgspec.Struct, frozen=True, kw_only=True):
    """Exactly what came off the wire: status, headers, body."""

    status: int
    headers: Headers
    body: bytes = b""
    reason: str = ""

    def __repr__(self) -> str:
        return f"HttpResponse({self.status}, {len(self.body)} body bytes)"
