"""Webhook replay guard: a thread-safe memory store, and the protocol of a shared one.

The platform signs each webhook with a fresh ``jti``. A receiver that remembers the ids
it accepted refuses a captured webhook sent again (a replay) and a delivery the platform
repeated after a lost answer (a duplicate) alike, and so acts on each event once.

Use it after the webhook verified, around the work it triggers::

    guard = ReplayGuard()                      # or ReplayGuard(MyRedisStore(...))

    event = client.handle_webhook(body, headers, method, path)   # verifies
    try:
        with guard.once(headers):              # raises WebhookReplayed if seen
            act_on(event)                      # an exception here forgets the id
    except WebhookReplayed:
        pass                                   # already handled: answer 2xx anyway

One process: :class:`MemoryReplayStore`. Several processes behind a load balancer need a
shared store; anything with an atomic "set if absent, with expiry" fits
:class:`ReplayStore`, e.g. Redis ``SET <jti> 1 NX EXAT <expires_at>``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

from lk_core._http import Headers, HeadersInput
from lk_core._replay import (
    DEFAULT_CAPACITY,
    SeenTokens,
    WebhookReplayed,
    webhook_replay_key,
)

__all__ = ["MemoryReplayStore", "ReplayGuard", "ReplayStore"]

log = logging.getLogger(__name__)

# Extra seconds an id is kept past the verifier's window, so a local clock up to this
# far ahead of the platform's still covers every moment the token would verify.
CLOCK_SLACK = 60


@runtime_checkable
class ReplayStore(Protocol):
    """Where accepted webhook token ids are remembered.

    ``add_if_absent`` must be atomic across every process sharing the store: record
    ``jti`` until the unix time ``expires_at`` and return True, or return False if it
    is already recorded. ``discard`` forgets an id so that a retry of a webhook whose
    handling failed is accepted. Either may raise; the webhook is then not acted on.
    """

    def add_if_absent(self, jti: str, expires_at: int) -> bool: ...

    def discard(self, jti: str) -> None: ...


class MemoryReplayStore:
    """A :class:`ReplayStore` in this process's memory, safe to share between threads.

    Holds at most ``capacity`` unexpired ids; when full, new webhooks are refused with
    :class:`~lk_core.ReplayCapacityExceeded` (answer 503; the platform retries) rather
    than letting an old id be forgotten early. ``clock`` returns unix seconds.
    """

    def __init__(
        self,
        capacity: int = DEFAULT_CAPACITY,
        *,
        clock: Callable[[], float] = time.time,
        slack: int = CLOCK_SLACK,
    ) -> None:
        self._seen = SeenTokens(capacity=capacity)
        self._clock = clock
        self._slack = slack
        self._lock = threading.Lock()

    def add_if_absent(self, jti: str, expires_at: int) -> bool:
        now = int(self._clock())
        with self._lock:
            self._seen, added = self._seen.add(jti, expires_at + self._slack, now)
        return added

    def discard(self, jti: str) -> None:
        with self._lock:
            self._seen = self._seen.discard(jti)

    def __len__(self) -> int:
        return len(self._seen)

    def __repr__(self) -> str:
        return f"MemoryReplayStore({len(self._seen)} ids)"


class ReplayGuard:
    """Accept each verified webhook token id once.

    Raises :class:`~lk_core.WebhookReplayed` for an id already accepted,
    :class:`~lk_core.UnexpectedWebhookRequest` for a token without a usable ``jti``.
    """

    def __init__(self, store: ReplayStore | None = None) -> None:
        self.store: ReplayStore = store if store is not None else MemoryReplayStore()

    def admit(self, headers: Headers | HeadersInput) -> str:
        """Record the token id of a webhook that already verified; return the id."""
        jti, expires_at = webhook_replay_key(headers)
        if not self.store.add_if_absent(jti, expires_at):
            log.info("refused a repeated webhook token id")
            raise WebhookReplayed(jti)
        return jti

    def release(self, jti: str) -> None:
        """Forget an admitted id, so that a retry of the same webhook is accepted."""
        self.store.discard(jti)

    @contextmanager
    def once(self, headers: Headers | HeadersInput) -> Iterator[str]:
        """Admit the webhook for the block; release it if the block raises."""
        jti = self.admit(headers)
        try:
            yield jti
        except BaseException:
            self.release(jti)
            raise
