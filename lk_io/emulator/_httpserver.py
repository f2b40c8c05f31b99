"""The threaded HTTP server the emulator and the webhook receiver run on."""

from __future__ import annotations

from http.server import ThreadingHTTPServer


class LoopbackServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with a listen backlog fit for hundreds of clients.

    The standard library listens with a backlog of 5; under a burst of new connections
    (a load test, many clients starting at once) the kernel then resets the overflow,
    and a client sees a connection reset for a request that was never read.
    """

    request_queue_size = 512
    daemon_threads = True
