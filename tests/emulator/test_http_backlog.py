"""The emulator's HTTP server takes a burst of connections without dropping any."""

from __future__ import annotations

import select
import socket
import time
from http.server import BaseHTTPRequestHandler

from lk_io.emulator._httpserver import LoopbackServer

BURST = 200  # more simultaneous clients than a default backlog of 5 can queue


def test_burst_of_connections_is_queued_while_the_server_is_busy() -> None:
    """200 connects complete even before the server accepts any of them."""
    server = LoopbackServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    clients: list[socket.socket] = []
    try:
        # serve_forever is not running: every connection waits in the listen queue,
        # which is exactly what a busy server's backlog must absorb.
        for _ in range(BURST):
            sock = socket.socket()
            sock.setblocking(False)
            sock.connect_ex(server.server_address)
            clients.append(sock)
        deadline = time.monotonic() + 5
        pending = set(clients)
        while pending and time.monotonic() < deadline:
            _, writable, _ = select.select([], list(pending), [], 0.2)
            for sock in writable:
                if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                    pending.discard(sock)
        assert not pending, f"{len(pending)} of {BURST} connections never completed"
    finally:
        for sock in clients:
            sock.close()
        server.server_close()
