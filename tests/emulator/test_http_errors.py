"""A client that vanishes mid-request is routine; other handler faults are logged.

The standard library prints "Exception occurred during processing of request" and a
traceback to stderr for both. Over real sockets: a client resets its connection
(SO_LINGER 0 makes close() send RST) at two points of the exchange.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit

import pytest

from lk_io.emulator import Emulator
from lk_io.emulator._httpserver import LoopbackServer

SERVER_LOG = "lk_io.emulator._httpserver"


class Records(logging.Handler):
    """Collects lk_io.emulator records; `arrived` is set by the server's own."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        self.arrived = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if record.name == SERVER_LOG:
            self.arrived.set()

    def wait(self) -> list[logging.LogRecord]:
        assert self.arrived.wait(10), "the server logged nothing"
        return [r for r in self.records if r.name == SERVER_LOG]


@pytest.fixture
def records() -> Iterator[Records]:
    logger = logging.getLogger("lk_io.emulator")
    handler = Records()
    old_level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def address(emulator: Emulator) -> tuple[str, int]:
    parts = urlsplit(emulator.base_url)
    return parts.hostname or "", parts.port or 80


def connect(address: tuple[str, int]) -> socket.socket:
    sock = socket.create_connection(address, timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    return sock


def read_until(sock: socket.socket, marker: bytes) -> bytes:
    data = b""
    while marker not in data:
        chunk = sock.recv(4096)
        assert chunk, data
        data += chunk
    return data


def quiet_disconnect(records: Records, capfd: pytest.CaptureFixture[str]) -> None:
    [record] = records.wait()
    assert record.levelno == logging.DEBUG
    assert "went away" in record.getMessage()
    assert [r for r in records.records if r.levelno >= logging.WARNING] == []
    assert "Traceback" not in capfd.readouterr().err


def test_reset_between_requests(
    records: Records, capfd: pytest.CaptureFixture[str]
) -> None:
    """Reset after a full answer, while the server waits for the next request."""
    with Emulator() as emulator:
        sock = connect(address(emulator))
        sock.sendall(b"GET /public/v3/ping HTTP/1.1\r\nHost: emulator\r\n\r\n")
        answer = read_until(sock, b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200")
        sock.close()
        quiet_disconnect(records, capfd)


def test_reset_while_sending_the_body(
    records: Records, capfd: pytest.CaptureFixture[str]
) -> None:
    """Reset once the server has the headers (it said 100 Continue) and reads on."""
    with Emulator() as emulator:
        sock = connect(address(emulator))
        sock.sendall(
            b"POST /service/v3/auths HTTP/1.1\r\nHost: emulator\r\n"
            b"Content-Length: 1000\r\nExpect: 100-continue\r\n\r\n"
        )
        assert read_until(sock, b"\r\n\r\n").startswith(b"HTTP/1.1 100")
        sock.close()
        quiet_disconnect(records, capfd)


def test_other_faults_are_logged_as_errors(
    records: Records, capfd: pytest.CaptureFixture[str]
) -> None:
    """A handler fault that is not a vanished client: ERROR with the traceback."""

    class Broken(BaseHTTPRequestHandler):
        def handle(self) -> None:
            raise ValueError("handler fault")

    server = LoopbackServer(("127.0.0.1", 0), Broken)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with socket.create_connection(server.server_address[:2], timeout=10):
            [record] = records.wait()
    finally:
        server.shutdown()
        server.server_close()
    assert record.levelno == logging.ERROR
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], ValueError)
    assert "Traceback" not in capfd.readouterr().err
