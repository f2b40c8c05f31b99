"""A tiny webhook receiver on 127.0.0.1, for the demo and for tests."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from types import TracebackType
from typing import Any

from lk_io.emulator._httpserver import LoopbackServer


@dataclass(frozen=True)
class Received:
    """One webhook as it arrived: what a handler passes to handle_webhook."""

    method: str
    path: str
    headers: list[tuple[str, str]]
    body: bytes


class WebhookReceiver:
    """Collects POSTs; answers `fail_first` of them with 503 to exercise retries."""

    def __init__(self, *, path: str = "/webhook", fail_first: int = 0) -> None:
        self.path = path
        self.fail_first = fail_first
        self.refused = 0
        self.received: list[Received] = []
        self._cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # see the emulator's handler

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._cond:
                    fail = receiver.refused < receiver.fail_first
                    if fail:
                        receiver.refused += 1
                    else:
                        receiver.received.append(
                            Received(
                                self.command,
                                self.path,
                                list(self.headers.items()),
                                body,
                            )
                        )
                        receiver._cond.notify_all()
                self.send_response(503 if fail else 200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._httpd = LoopbackServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=lambda: self._httpd.serve_forever(poll_interval=0.05),
            name="lk-webhook-receiver",
            daemon=True,
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_port}{self.path}"

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """The first `count` webhooks, waiting for them to arrive; fewer on timeout."""
        with self._cond:
            self._cond.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received[:count])
