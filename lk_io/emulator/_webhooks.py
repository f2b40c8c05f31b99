"""Webhook delivery: a bounded queue, a few workers, retries with back-off."""

from __future__ import annotations

import contextlib
import heapq
import http.client
import ipaddress
import itertools
import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import msgspec

from lk_core._http import HttpRequest
from lk_core.platform import Event

log = logging.getLogger(__name__)

# Seconds before retry n (n = 1, 2, ...): 0.1, 0.2, 0.4 ... capped at 30.
FIRST_DELAY, MAX_DELAY = 0.1, 30.0
QUEUE_SIZE = 10_000
# Deliveries in flight at once. One slow or failing receiver must not hold up every
# other event behind it; a handful of threads is enough for loopback receivers.
WORKERS = 8

# (event, jti) -> the signed request. One jti per event, kept across retries: a
# receiver that acted on a delivery whose answer was lost recognises the retry by it.
Render = Callable[[Event, str], HttpRequest | None]


class _Wake:
    """Queue marker: a retry was scheduled; recompute the next deadline."""


_WAKE = _Wake()


@dataclass
class DeliveryStats:
    """Counters for tests and the control API."""

    queued: int = 0
    delivered: int = 0
    attempts: int = 0
    failures: int = 0
    dropped: int = 0  # events that can no longer be built (request purged, key gone)
    last_status: dict[str, int] = field(default_factory=dict)

    def as_json(self, pending: int) -> dict[str, object]:
        return {
            "queued": self.queued,
            "delivered": self.delivered,
            "attempts": self.attempts,
            "failures": self.failures,
            "dropped": self.dropped,
            "pending": pending,
        }


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def post(url: str, request: HttpRequest, timeout: float = 5.0) -> int:
    """POST once; the status, or 0 when the receiver could not be reached."""
    parts = urlsplit(url)
    conn_type = (
        http.client.HTTPSConnection
        if parts.scheme == "https"
        else http.client.HTTPConnection
    )
    target = parts.path or "/"
    if parts.query:
        target += "?" + parts.query
    conn = conn_type(parts.hostname or "", parts.port, timeout=timeout)
    try:
        conn.request("POST", target, body=request.body, headers=dict(request.headers))
        response = conn.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        log.info("webhook to %s failed: %s", url, type(exc).__name__)
        return 0
    finally:
        conn.close()


class Pending(msgspec.Struct, frozen=True, kw_only=True):
    """A webhook not yet delivered: what the state file keeps across restarts."""

    event: Event
    jti: str
    attempt: int = 1  # the number of the next attempt (its back-off continues)


class WebhookSender:
    """Delivers events from a few worker threads; a failing receiver is retried, never
    skipped.

    `submit` blocks when the queue is full rather than dropping an event. An event is
    rendered (signed) afresh for each attempt through `render`, with fresh times but
    the same jti, so a receiver's replay guard can tell a retry from a new event.
    Every event not yet delivered is listed by `pending()` until it is, so the
    emulator can keep them in its state file when it stops.
    """

    def __init__(self, render: Render, *, allow_remote: bool = False) -> None:
        self._render = render
        self._allow_remote = allow_remote
        self._queue: queue.Queue[Pending | _Wake | None] = queue.Queue(QUEUE_SIZE)
        self._retry: list[tuple[float, int, Pending]] = []
        self._order = itertools.count()
        self._stats = DeliveryStats()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._pending: dict[str, Pending] = {}
        self._closing = threading.Event()
        # Bumped whenever the pending set changes, so the state file is rewritten.
        self.version = 0
        # One scheduler thread owns the queue and the retry heap; it hands each due
        # event to a worker, at most WORKERS at a time, so `submit` still blocks when
        # the queue is full instead of piling events up inside the pool.
        self._slots = threading.BoundedSemaphore(WORKERS)
        self._workers = ThreadPoolExecutor(
            max_workers=WORKERS, thread_name_prefix="lk-emulator-webhook"
        )
        self._thread = threading.Thread(
            target=self._run, name="lk-emulator-webhooks", daemon=True
        )
        self._thread.start()

    def submit(self, event: Event) -> None:
        self.resume(Pending(event=event, jti=str(uuid.uuid4())))

    def resume(self, item: Pending) -> None:
        """Queue an event, new or left pending by an earlier run (same jti)."""
        with self._lock:
            self._stats.queued += 1
            self._pending[item.jti] = item
            self.version += 1
        self._queue.put(item)

    def pending(self) -> list[Pending]:
        """Events not yet delivered (queued, waiting to retry or being sent)."""
        with self._lock:
            return list(self._pending.values())

    def stats(self) -> dict[str, object]:
        with self._lock:
            return self._stats.as_json(len(self._pending))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every submitted event is delivered or dropped."""
        with self._idle:
            return self._idle.wait_for(lambda: not self._pending, timeout)

    def close(self) -> None:
        """Stop the worker after the attempt in progress; undelivered events stay
        in `pending()`."""
        self._closing.set()
        with contextlib.suppress(queue.Full):
            # A full queue wakes the worker anyway; the flag then stops it.
            self._queue.put_nowait(None)
        self._thread.join(timeout=10)
        self._workers.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while not self._closing.is_set():
            due: Pending | None = None
            timeout: float | None = None
            with self._lock:
                if self._retry:
                    wait = self._retry[0][0] - time.monotonic()
                    if wait <= 0:
                        # Due retries go first, so a steady stream of new events
                        # cannot starve them.
                        due = heapq.heappop(self._retry)[2]
                    else:
                        timeout = wait
            if due is None:
                try:
                    got = self._queue.get(timeout=timeout)
                except queue.Empty:
                    continue
                if got is None or self._closing.is_set():
                    return
                if isinstance(got, _Wake):
                    continue
                due = got
            self._slots.acquire()
            try:
                self._workers.submit(self._attempt_in_slot, due)
            except RuntimeError:  # the pool is shutting down: it stays pending
                self._slots.release()
                return

    def _attempt_in_slot(self, item: Pending) -> None:
        try:
            self._attempt(item)
        except Exception:
            # A bug in rendering must not lose the event: log it and retry later.
            log.exception("webhook delivery failed unexpectedly; will retry")
            self._schedule_retry(item)
        finally:
            self._slots.release()

    def _attempt(self, item: Pending) -> None:
        event = item.event
        if not self._allow_remote and not is_loopback(event.url):
            log.warning("webhook to non-loopback %s not sent", event.url)
            self._finish(item, dropped=True)
            return
        request = self._render(event, item.jti)
        if request is None:
            self._finish(item, dropped=True)
            return
        status = post(event.url, request)
        with self._lock:
            self._stats.attempts += 1
            self._stats.last_status[event.url] = status
        if 200 <= status < 300:
            self._finish(item, dropped=False)
            return
        log.info("webhook to %s: status %s, will retry", event.url, status)
        self._schedule_retry(item)

    def _schedule_retry(self, item: Pending) -> None:
        delay = min(MAX_DELAY, FIRST_DELAY * 2 ** (item.attempt - 1))
        retry = msgspec.structs.replace(item, attempt=item.attempt + 1)
        with self._lock:
            self._stats.failures += 1
            self._pending[item.jti] = retry
            self.version += 1
            heapq.heappush(
                self._retry, (time.monotonic() + delay, next(self._order), retry)
            )
        # Wake the scheduler: it may be waiting with no deadline, or a later one.
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(_WAKE)

    def _finish(self, item: Pending, *, dropped: bool) -> None:
        with self._idle:
            if dropped:
                self._stats.dropped += 1
            else:
                self._stats.delivered += 1
            self._pending.pop(item.jti, None)
            self.version += 1
            self._idle.notify_all()
