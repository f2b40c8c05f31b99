"""The threaded HTTP server the emulator and the webhook receiver run on."""

from __future__ import annotations

import logging
import sys
from http.server import ThreadingHTTPServer
from typing import Any

log = logging.getLogger(__name__)


class LoopbackServer(ThreadingHTTPServer):
    """``ThreadingHTTPServer`` with a listen backlog fit for hundreds of clients.

    The standard library listens with a backlog of 5; under a burst of new connections
    (a load test, many clients starting at once) the kernel then resets the overflow,
    and a client sees a connection reset for a request that was never read.
    """

    request_queue_size = 512
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Log instead of printing a traceback to stderr as the standard library does.

        A client that gave up (a short read timeout, a closed test) leaves a broken
        pipe or a reset behind: routine, so DEBUG. Anything else is a fault here.
        """
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError):
            log.debug("client %s went away: %r", client_address, error)
        else:
            log.error("failed serving %s", client_address, exc_info=True)
