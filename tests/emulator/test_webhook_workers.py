"""Webhook delivery runs on several workers: a stalled receiver delays only itself."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler

from lk_core._http import HttpRequest
from lk_core.platform import Event
from lk_core.platform._model import SessionEndEvent
from lk_io.emulator._httpserver import LoopbackServer
from lk_io.emulator._webhooks import WebhookSender

STALL = 3.0  # seconds the slow receiver holds each request


def _receiver(delay: float, arrived: list[str]) -> LoopbackServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            time.sleep(delay)
            arrived.append(self.path)
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = LoopbackServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _render(event: Event, jti: str) -> HttpRequest:
    path = event.url.split("/", 3)[3]
    return HttpRequest(method="POST", path="/" + path, body=b"{}")


def _event(server: LoopbackServer, name: str) -> SessionEndEvent:
    host, port = server.server_address[:2]
    return SessionEndEvent(
        service_id="s",
        audience="a",
        service_user_hash="h",
        when=0,
        url=f"http://{host!s}:{port}/{name}",
    )


def test_fast_receiver_is_not_queued_behind_a_stalled_one() -> None:
    """An event for a quick receiver arrives while an earlier one is still stalled."""
    slow_seen: list[str] = []
    fast_seen: list[str] = []
    slow, fast = _receiver(STALL, slow_seen), _receiver(0.0, fast_seen)
    sender = WebhookSender(_render)
    try:
        sender.submit(_event(slow, "slow"))
        time.sleep(0.2)  # let the slow delivery start first
        sender.submit(_event(fast, "fast"))
        deadline = time.monotonic() + STALL / 2
        while not fast_seen and time.monotonic() < deadline:
            time.sleep(0.02)
        assert fast_seen == ["/fast"]
        assert slow_seen == []  # still stalled: the fast one did not wait for it
        assert sender.wait_idle(timeout=STALL * 3)
        assert slow_seen == ["/slow"]
    finally:
        sender.close()
        slow.shutdown()
        fast.shutdown()
        slow.server_close()
        fast.server_close()
