"""The webhook replay guard: the pure value, the thread-safe store, and the guard."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from lk_core import UnexpectedWebhookRequest
from lk_core._protocol import LEEWAY
from lk_core._replay import (
    ReplayCapacityExceeded,
    SeenTokens,
    WebhookReplayed,
    replay_key,
    webhook_replay_key,
)
from lk_io._replay import CLOCK_SLACK, MemoryReplayStore, ReplayGuard, ReplayStore
from lk_io.testing import running_emulator

from . import peer
from .peer import NOW


class TestSeenTokens:
    def test_first_sight_then_repeat(self) -> None:
        """An id is new once; the same id again is refused."""
        seen = SeenTokens()
        seen, new = seen.add("a", NOW + 35, NOW)
        assert new
        again, new = seen.add("a", NOW + 35, NOW + 1)
        assert not new
        assert "a" in again
        assert len(again) == 1

    def test_immutable(self) -> None:
        """Adding returns a new value; the old one is unchanged."""
        empty = SeenTokens()
        one, _ = empty.add("a", NOW + 35, NOW)
        assert "a" not in empty
        assert len(empty) == 0
        assert "a" in one

    def test_forgotten_after_its_window(self) -> None:
        """An id is kept until forget_after, and dropped after it."""
        seen, _ = SeenTokens().add("a", NOW + 35, NOW)
        seen, _ = seen.add("b", NOW + 100, NOW)
        assert "a" in seen.prune(NOW + 35)
        later = seen.prune(NOW + 36)
        assert "a" not in later
        assert "b" in later
        assert len(later) == 1

    def test_same_id_with_a_later_expiry_is_still_a_repeat(self) -> None:
        """Ids are matched whatever expiry the repeat claims."""
        seen, _ = SeenTokens().add("a", NOW + 35, NOW)
        _, new = seen.add("a", NOW + 500, NOW)
        assert not new

    def test_capacity_refuses_rather_than_forgets(self) -> None:
        """When full of live ids, a new id raises; the old ids stay remembered."""
        seen = SeenTokens(capacity=2)
        seen, _ = seen.add("a", NOW + 35, NOW)
        seen, _ = seen.add("b", NOW + 35, NOW)
        with pytest.raises(ReplayCapacityExceeded):
            seen.add("c", NOW + 35, NOW)
        assert "a" in seen
        assert "b" in seen
        # Once the window passes, room comes back.
        seen, new = seen.add("c", NOW + 100, NOW + 36)
        assert new
        assert len(seen) == 1

    def test_discard_lets_a_retry_through(self) -> None:
        """A discarded id is new again (its handler failed)."""
        seen, _ = SeenTokens().add("a", NOW + 35, NOW)
        seen, _ = seen.add("b", NOW + 35, NOW)
        seen = seen.discard("a")
        assert len(seen) == 1
        _, new = seen.add("a", NOW + 35, NOW)
        assert new
        assert seen.discard("zzz") is seen

    def test_bad_capacity(self) -> None:
        """A capacity must be a positive integer."""
        with pytest.raises(ValueError, match="capacity"):
            SeenTokens(capacity=0)

    def test_replay_key_from_claims(self) -> None:
        """forget_after is exp plus the verifier's leeway."""
        assert replay_key({"jti": "x", "exp": NOW}) == ("x", NOW + LEEWAY)

    @pytest.mark.parametrize(
        "claims",
        [
            {"exp": NOW},
            {"jti": "", "exp": NOW},
            {"jti": "x" * 129, "exp": NOW},
            {"jti": 7, "exp": NOW},
            {"jti": "x", "exp": True},
            {"jti": "x"},
        ],
    )
    def test_replay_key_refuses_unusable_ids(self, claims: dict[str, Any]) -> None:
        """Without a usable jti a webhook cannot be deduplicated, so it is refused."""
        with pytest.raises(UnexpectedWebhookRequest):
            replay_key(claims)


class TestMemoryStoreAndGuard:
    def test_store_satisfies_the_protocol(self) -> None:
        """The in-memory store is a ReplayStore."""
        assert isinstance(MemoryReplayStore(), ReplayStore)

    def test_store_expiry_follows_its_clock(self) -> None:
        """Ids live until expires_at plus the clock slack, by the store's clock."""
        now = [float(NOW)]
        store = MemoryReplayStore(clock=lambda: now[0])
        assert store.add_if_absent("a", NOW + 35)
        assert not store.add_if_absent("a", NOW + 35)
        now[0] = NOW + 35 + CLOCK_SLACK
        assert not store.add_if_absent("a", NOW + 35)
        now[0] += 1
        assert store.add_if_absent("a", NOW + 100)

    def test_guard_admits_a_verified_webhook_once(self) -> None:
        """A genuine webhook delivered twice is acted on once."""
        headers, body = peer.webhook(peer.outer_package())
        peer.check_webhook(headers, body, "POST", "/webhook")
        guard = ReplayGuard(MemoryReplayStore(clock=lambda: NOW))
        assert guard.admit(headers) == peer.JTI
        with pytest.raises(WebhookReplayed) as err:
            guard.admit(headers)
        assert err.value.jti == peer.JTI
        assert webhook_replay_key(headers) == (peer.JTI, NOW + 5 + LEEWAY)

    def test_once_releases_on_failure(self) -> None:
        """If the handler raises, the id is forgotten so the platform's retry works."""
        headers, _ = peer.webhook(b"{}", encrypt=False, jti="job-1")
        guard = ReplayGuard(MemoryReplayStore(clock=lambda: NOW))

        def handler() -> None:
            raise RuntimeError("database down")

        with pytest.raises(RuntimeError), guard.once(headers):
            handler()
        with guard.once(headers) as jti:
            assert jti == "job-1"
        with pytest.raises(WebhookReplayed), guard.once(headers):
            pytest.fail("a repeat must not run the handler")

    def test_guard_refuses_headers_without_a_token(self) -> None:
        """No JWT at all: the guard does not invent an id."""
        guard = ReplayGuard()
        with pytest.raises(UnexpectedWebhookRequest):
            guard.admit([("X-IOV-JWT", "not.a.jwt")])

    def test_concurrent_deliveries_admit_exactly_one(self) -> None:
        """Eight threads racing with the same 50 ids: each id admitted once."""
        store = MemoryReplayStore(clock=lambda: NOW)
        admitted: list[str] = []
        lock = threading.Lock()
        start = threading.Barrier(8)

        def worker() -> None:
            start.wait()
            for i in range(50):
                if store.add_if_absent(f"id-{i}", NOW + 35):
                    with lock:
                        admitted.append(f"id-{i}")

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(admitted) == sorted(f"id-{i}" for i in range(50))
        assert len(store) == 50


def test_emulator_retries_carry_the_same_jti() -> None:
    """A delivery acted on but answered 503 comes back with its jti, and is refused."""
    guard = ReplayGuard()
    outcomes: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            headers = list(self.headers.items())
            try:
                guard.admit(headers)
                outcomes.append("acted")
            except WebhookReplayed:
                outcomes.append("refused")
            # The first two answers are "lost": the platform must retry.
            self.send_response(503 if len(outcomes) < 3 else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/webhook"
        with running_emulator(callback_url=url) as lk:
            request = lk.client.authorization_request(lk.user)
            lk.device.approve(request.auth_request)
            assert lk.emulator.wait_webhooks(10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert outcomes == ["acted", "refused", "refused"]


class _SharedStore:
    """A store two "processes" share, written like the Redis example in the docs."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.lock = threading.Lock()

    def add_if_absent(self, jti: str, expires_at: int) -> bool:
        with self.lock:
            if jti in self.ids:
                return False
            self.ids[jti] = expires_at
            return True

    def discard(self, jti: str) -> None:
        with self.lock:
            self.ids.pop(jti, None)


def test_guards_sharing_a_store_refuse_across_processes() -> None:
    """Two receivers behind a load balancer: the second sees the first's id."""
    store = _SharedStore()
    assert isinstance(store, ReplayStore)
    first, second = ReplayGuard(store), ReplayGuard(store)
    headers, _ = peer.webhook(b"{}", encrypt=False, jti="shared-1")
    assert first.admit(headers) == "shared-1"
    with pytest.raises(WebhookReplayed):
        second.admit(headers)
    assert store.ids == {"shared-1": NOW + 5 + LEEWAY}
