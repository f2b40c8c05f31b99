"""Webhook delivery: a bounded queue, one worker, retries with back-off until sent."""

from __future__ import annotations

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
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lk_core._http import HttpRequest
from lk_core.platform import Event

log = logging.getLogger(__name__)

# Seconds before retry n (n = 1, 2, ...): 0.1, 0.2, 0.4 ... capped at 30.
FIRST_DELAY, MAX_DELAY = 0.1, 30.0
QUEUE_SIZE = 10_000

# (event, jti) -> the signed request. One jti per event, kept across retries: a
# receiver that acted on a delivery whose answer was lost recognises the retry by it.
Render = Callable[[Event, str], HttpRequest | None]


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


class WebhookSender:
    """Delivers events in a worker thread; a failing receiver is retried, never skipped.

    `submit` blocks when the queue is full rather than dropping an event. An event is
    rendered (signed) afresh for each attempt through `render`, with fresh times but
    the same jti, so a receiver's replay guard can tell a retry from a new event.
    """

    def __init__(self, render: Render, *, allow_remote: bool = False) -> None:
        self._render = render
        self._allow_remote = allow_remote
        self._queue: queue.Queue[tuple[Event, str] | None] = queue.Queue(QUEUE_SIZE)
        self._retry: list[tuple[float, int, int, Event, str]] = []
        self._order = itertools.count()
        self._stats = DeliveryStats()
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._busy = 0
        self._thread = threading.Thread(
            target=self._run, name="lk-emulator-webhooks", daemon=True
        )
        self._thread.start()

    def submit(self, event: Event) -> None:
        with self._lock:
            self._stats.queued += 1
            self._busy += 1
        self._queue.put((event, str(uuid.uuid4())))

    def stats(self) -> dict[str, object]:
        with self._lock:
            return self._stats.as_json(self._busy)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every submitted event is delivered or dropped."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while True:
            timeout = None
            if self._retry:
                timeout = max(0.0, self._retry[0][0] - time.monotonic())
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                _, _, attempt, event, jti = heapq.heappop(self._retry)
                self._attempt(event, jti, attempt)
                continue
            if item is None:
                return
            self._attempt(*item, 1)

    def _attempt(self, event: Event, jti: str, attempt: int) -> None:
        if not self._allow_remote and not is_loopback(event.url):
            log.warning("webhook to non-loopback %s not sent", event.url)
            self._finish(dropped=True)
            return
        request = self._render(event, jti)
        if request is None:
            self._finish(dropped=True)
            return
        status = post(event.url, request)
        with self._lock:
            self._stats.attempts += 1
            self._stats.last_status[event.url] = status
        if 200 <= status < 300:
            self._finish(dropped=False)
            return
        with self._lock:
            self._stats.failures += 1
        delay = min(MAX_DELAY, FIRST_DELAY * 2 ** (attempt - 1))
        log.info("webhook to %s: status %s, retry in %.1fs", event.url, status, delay)
        heapq.heappush(
            self._retry,
            (time.monotonic() + delay, next(self._order), attempt + 1, event, jti),
        )

    def _finish(self, *, dropped: bool) -> None:
        with self._idle:
            if dropped:
                self._stats.dropped += 1
            else:
                self._stats.delivered += 1
            self._busy -= 1
            self._idle.notify_all()
