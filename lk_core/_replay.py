"""Webhook replay guard, pure half: the set of token ids already accepted.

A webhook's JWT is only checked for signature, audience and a 30 s time window, so a
captured webhook can be sent again, unchanged, until its ``exp`` plus the leeway has
passed. Remembering each accepted ``jti`` for exactly that long closes the gap: once a
token's window is over, :func:`lk_core.verify_webhook` refuses it anyway, so the id can
be forgotten and memory stays bounded by the rate of genuine webhooks.

:class:`SeenTokens` is an immutable value; adding an id returns a new value. The time
is an argument. ``lk_io`` wraps it in a thread-safe store; a shared store (Redis and the
like) implements the same rule with ``SET jti 1 NX EXAT expires_at``.

Check a token only after it verified: otherwise anyone could spend ids that the
platform has not issued yet.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import msgspec

from ._errors import (
    InvalidJWTResponse,
    LaunchKeyError,
    UnexpectedWebhookRequest,
    WebhookError,
)
from ._http import Headers, HeadersInput
from ._jose import jws_parse
from ._protocol import LEEWAY, _headers, _webhook_token

__all__ = [
    "DEFAULT_CAPACITY",
    "MAX_JTI_CHARS",
    "ReplayCapacityExceeded",
    "SeenTokens",
    "WebhookReplayed",
    "replay_key",
    "webhook_replay_key",
]

# Ids held at once. At the platform's 5 s token lifetime plus 30 s leeway, this covers a
# steady 2,800 webhooks a second; beyond it new webhooks are refused, never let through.
DEFAULT_CAPACITY: Final = 100_000
# The platform's ids are UUIDs (36 characters); anything much longer is not its.
MAX_JTI_CHARS: Final = 128


class WebhookReplayed(WebhookError):
    """A webhook whose token id was already accepted: a replay or a repeat."""

    code = "WEBHOOK-REPLAY"
    hint = (
        "answer 2xx without acting again: the first delivery was handled; "
        "a genuine platform stops retrying"
    )

    def __init__(self, jti: str) -> None:
        # The id is not secret (it is a public nonce), but cap what we echo.
        super().__init__(f"webhook token id {jti[:MAX_JTI_CHARS]!r} was already used")
        self.jti = jti


class ReplayCapacityExceeded(LaunchKeyError):
    """The replay guard is full of unexpired ids; the webhook was not accepted."""

    code = "REPLAY-FULL"
    hint = "answer 503 so the platform retries later, and raise the guard's capacity"


def replay_key(claims: Mapping[str, Any]) -> tuple[str, int]:
    """``(jti, forget_after)`` of verified webhook claims.

    ``forget_after`` is ``exp`` plus the leeway the verifier allows: until then the
    token would still verify, so its id must be remembered. A token without a usable
    ``jti`` cannot be deduplicated and is refused (:class:`UnexpectedWebhookRequest`).
    """
    jti, exp = claims.get("jti"), claims.get("exp")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI_CHARS:
        raise UnexpectedWebhookRequest(
            f"webhook jti must be a string of 1 to {MAX_JTI_CHARS} characters"
        )
    if type(exp) is not int:
        raise UnexpectedWebhookRequest("webhook exp is not an integer")
    return jti, exp + LEEWAY


def webhook_replay_key(headers: Headers | HeadersInput) -> tuple[str, int]:
    """:func:`replay_key` read from a webhook's headers.

    For use right after the same headers passed ``handle_webhook`` / ``verify_webhook``
    (which verified this very token); on its own it proves nothing.
    """
    try:
        jws = jws_parse(_webhook_token(_headers(headers)))
    except InvalidJWTResponse as exc:
        raise UnexpectedWebhookRequest(str(exc)) from None
    return replay_key(jws.claims)


class SeenTokens(msgspec.Struct, frozen=True, kw_only=True):
    """Token ids accepted so far, each kept until its ``forget_after`` time.

    Ids are grouped by ``forget_after`` second, so adding one copies only its own
    group, and pruning drops whole groups. Immutable: :meth:`add` returns a new value.
    """

    capacity: int = DEFAULT_CAPACITY
    # (forget_after, ids) pairs in increasing time order.
    groups: tuple[tuple[int, frozenset[str]], ...] = ()
    size: int = 0

    def __post_init__(self) -> None:
        if type(self.capacity) is not int or self.capacity < 1:
            raise ValueError("capacity must be a positive integer")

    def __contains__(self, jti: object) -> bool:
        return any(jti in ids for _, ids in self.groups)

    def __len__(self) -> int:
        return self.size

    def prune(self, now: int) -> SeenTokens:
        """Forget every id whose ``forget_after`` is before ``now``."""
        keep = tuple(g for g in self.groups if g[0] >= now)
        if len(keep) == len(self.groups):
            return self
        size = sum(len(ids) for _, ids in keep)
        return msgspec.structs.replace(self, groups=keep, size=size)

    def add(self, jti: str, forget_after: int, now: int) -> tuple[SeenTokens, bool]:
        """Record ``jti``; return the new value and whether the id was new.

        An id already present gives ``(self-or-pruned, False)``: the caller must not
        act on the message again. Raises :class:`ReplayCapacityExceeded` when
        ``capacity`` unexpired ids are held: refusing is safe (the platform retries),
        forgetting early would let a replay through.
        """
        pruned = self.prune(now)
        if forget_after < now:
            # Already outside the verifier's window; it cannot be replayed either.
            return pruned, jti not in pruned
        if jti in pruned:
            return pruned, False
        if pruned.size >= pruned.capacity:
            raise ReplayCapacityExceeded(
                f"{pruned.size} unexpired webhook ids held; capacity {pruned.capacity}"
            )
        groups = list(pruned.groups)
        for i, (when, ids) in enumerate(groups):
            if when == forget_after:
                groups[i] = (when, ids | {jti})
                break
            if when > forget_after:
                groups.insert(i, (forget_after, frozenset((jti,))))
                break
        else:
            groups.append((forget_after, frozenset((jti,))))
        new = msgspec.structs.replace(
            pruned, groups=tuple(groups), size=pruned.size + 1
        )
        return new, True

    def discard(self, jti: str) -> SeenTokens:
        """Forget ``jti`` (the handler failed, so a retry must be let through)."""
        if jti not in self:
            return self
        groups = tuple((when, ids - {jti}) for when, ids in self.groups if ids != {jti})
        return msgspec.structs.replace(self, groups=groups, size=self.size - 1)
