"""The clients against misbehaving servers on 127.0.0.1, over real sockets.

Each server answers the public endpoints (ping, public key) correctly, so the client
gets as far as its signed call, then misbehaves there: refuses, resets, answers 5xx,
truncates, stalls or talks garbage. Every case must end in a typed error within the
configured timeouts, repeat only what is safe to repeat (counted on the server side:
never a second POST /service/v3/auths), and leave no thread or socket behind.

Elapsed times are measured but only checked against generous bounds (several times the
configured budget), so a slow CI machine cannot make them fail spuriously.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import gc
import os
import socket
import struct
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import pytest

from lk_core import (
    LaunchKeyError,
    ServerError,
    TransportError,
    UnexpectedAPIResponse,
    UnexpectedWebhookRequest,
)
from lk_io import AsyncServiceClient, ServiceClient

from . import peer

CONNECT_TIMEOUT = 0.4
READ_TIMEOUT = 0.4
RETRIES = 2
BACKOFF = 0.01
# Worst case for one call: every attempt of every step waits out both timeouts.
BUDGET = (1 + RETRIES) * 3 * (CONNECT_TIMEOUT + READ_TIMEOUT)
GENEROUS = 5 * BUDGET + 5.0
AUTHS = "/service/v3/auths"
REQUEST_ID = "8f14e45f-ceea-467f-a0e6-3b1a2c4d5e6f"


def _public_answer(path: str) -> bytes:
    if path == "/public/v3/ping":
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = (f'{{"api_time":"{now}"}}').encode()
        return _http(200, body, [("Content-Type", "application/json")])
    key = peer.platform()
    return _http(
        200,
        key.public.pem.encode(),
        [("Content-Type", "text/plain"), ("X-IOV-KEY-ID", key.kid)],
    )


def _http(
    status: int, body: bytes, headers: list[tuple[str, str]] | None = None
) -> bytes:
    lines = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers or []]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class HostileServer:
    """A loopback HTTP/1.1 server that misbehaves on chosen paths.

    ``mode`` decides what a request to a path under ``/service/`` (or every path, with
    ``public_too``) gets: ``reset``, ``close``, ``500``, ``503``, ``truncate``
    (short body, then close), ``truncate-stall`` (short body, connection kept open),
    ``slow`` (no answer until the client gives up), ``garbage`` (not HTTP).
    """

    def __init__(self, mode: str, *, public_too: bool = False) -> None:
        self.mode = mode
        self.public_too = public_too
        self.requests: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._sock.settimeout(0.05)
        self._threads: list[threading.Thread] = []
        self._conns: list[socket.socket] = []
        self._acceptor = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def count(self, method: str, path: str) -> int:
        with self._lock:
            return self.requests.count((method, path))

    def start(self) -> HostileServer:
        self._acceptor.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._acceptor.join(5)
        with self._lock:
            conns = list(self._conns)
        for conn in conns:
            _close(conn)
        for thread in self._threads:
            thread.join(5)
        self._sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def _read_request(self, conn: socket.socket, buf: bytes) -> tuple[Any, bytes]:
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path, _ = lines[0].split(" ", 2)
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None, b""
            rest += chunk
        return (method, path), rest[length:]

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        buf = b""
        try:
            while not self._stop.is_set():
                try:
                    request, buf = self._read_request(conn, buf)
                except TimeoutError:
                    continue
                if request is None:
                    return
                with self._lock:
                    self.requests.append(request)
                if not self._answer(conn, *request):
                    return
        except OSError:
            return
        finally:
            _close(conn)

    def _answer(self, conn: socket.socket, method: str, path: str) -> bool:
        """Reply; False when the connection must end here."""
        hostile = self.public_too or path.startswith("/service/")
        if not hostile:
            conn.sendall(_public_answer(path))
            return True
        mode = self.mode
        if mode == "reset":
            conn.setsockopt(
                socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
            )
            return False
        if mode == "close":
            return False
        if mode in ("500", "503"):
            conn.sendall(_http(int(mode), b"down"))
            return True
        if mode.startswith("truncate"):
            conn.sendall(_http(200, b"x" * 1000)[:-900])
            if mode == "truncate-stall":
                self._stop.wait(30)
            return False
        if mode == "slow":
            self._stop.wait(30)
            return False
        if mode == "garbage":
            conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
            return False
        raise AssertionError(mode)


def _close(conn: socket.socket) -> None:
    with suppress(OSError):
        conn.close()


def _fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


@contextmanager
def nothing_left_behind() -> Iterator[None]:
    """Fail if the block leaves a thread running or a file descriptor open."""
    gc.collect()
    # Compared by identity, not by count: a thread an earlier test left to finish may
    # end while this block runs, which says nothing about this block.
    threads, fds = set(threading.enumerate()), _fds()
    yield
    gc.collect()
    deadline = time.monotonic() + 5
    while set(threading.enumerate()) - threads and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not set(threading.enumerate()) - threads
    leaked = _fds() - fds
    assert not leaked, [os.readlink(f"/proc/self/fd/{fd}") for fd in leaked]


def make_client(url: str) -> ServiceClient:
    return ServiceClient(
        peer.SERVICE.id,
        peer.service(),
        url=url,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries=RETRIES,
        backoff=BACKOFF,
    )


def run_call(
    url: str, call: str, flavour: str = "sync"
) -> tuple[BaseException | None, float]:
    """Make one call against ``url``; the error it raised and the seconds it took."""
    start = time.monotonic()
    try:
        if flavour == "async":
            asyncio.run(_async_call(url, call))
        else:
            _sync_call(url, call)
    except LaunchKeyError as exc:
        return exc, time.monotonic() - start
    return None, time.monotonic() - start


def _sync_call(url: str, call: str) -> None:
    with make_client(url) as client:
        if call == "create":
            client.authorization_request("user@example.com")
        else:
            client.get_advanced_authorization_response(REQUEST_ID)


async def _async_call(url: str, call: str) -> None:
    async with AsyncServiceClient(
        peer.SERVICE.id,
        peer.service(),
        url=url,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries=RETRIES,
        backoff=BACKOFF,
    ) as client:
        if call == "create":
            await client.authorization_request("user@example.com")
        else:
            await client.get_advanced_authorization_response(REQUEST_ID)


FLAVOURS = pytest.mark.parametrize("flavour", ["sync", "async"])


HOSTILE_MODES = [
    ("reset", TransportError),
    ("close", TransportError),
    ("garbage", TransportError),
    ("slow", TransportError),
    ("truncate", TransportError),
    ("truncate-stall", TransportError),
    ("500", ServerError),
    ("503", ServerError),
]


@FLAVOURS
@pytest.mark.parametrize(("mode", "expected"), HOSTILE_MODES)
def test_create_is_never_sent_twice(mode: str, expected: Any, flavour: str) -> None:
    """POST /service/v3/auths: a typed error, in time, sent exactly once."""
    with nothing_left_behind():
        server = HostileServer(mode).start()
        try:
            error, elapsed = run_call(server.url, "create", flavour)
        finally:
            server.stop()
    assert isinstance(error, expected), repr(error)
    assert server.count("POST", AUTHS) == 1
    assert elapsed < GENEROUS


@pytest.mark.parametrize(
    ("mode", "expected", "repeated"),
    [
        ("reset", TransportError, True),
        ("slow", TransportError, True),
        ("garbage", TransportError, True),
        ("truncate", TransportError, True),
        ("503", ServerError, False),
    ],
)
@FLAVOURS
def test_polling_is_retried_only_on_network_failure(
    mode: str, expected: Any, repeated: bool, flavour: str
) -> None:
    """The safe GET of a response reruns after a network failure, not after a 5xx."""
    with nothing_left_behind():
        server = HostileServer(mode).start()
        try:
            error, elapsed = run_call(server.url, "get", flavour)
        finally:
            server.stop()
    assert isinstance(error, expected), repr(error)
    attempts = server.count("GET", f"{AUTHS}/{REQUEST_ID}")
    assert attempts == (1 + RETRIES if repeated else 1)
    assert elapsed < GENEROUS


@pytest.mark.parametrize("mode", ["reset", "slow", "503", "garbage"])
def test_unsigned_key_and_clock_fetches(mode: str) -> None:
    """When even /public/v3/ping misbehaves, the call never reaches the create."""
    with nothing_left_behind():
        server = HostileServer(mode, public_too=True).start()
        try:
            error, elapsed = run_call(server.url, "create")
        finally:
            server.stop()
    if mode == "503":
        assert isinstance(error, UnexpectedAPIResponse), repr(error)
        assert server.count("GET", "/public/v3/ping") == 1
    else:
        assert isinstance(error, TransportError), repr(error)
        # An unsigned GET is safe to repeat: the transport retries it.
        assert server.count("GET", "/public/v3/ping") == 1 + RETRIES
    assert server.count("POST", AUTHS) == 0
    assert elapsed < GENEROUS


def test_connection_refused() -> None:
    """Nothing listening: a TransportError, with no socket left open."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        url = f"http://127.0.0.1:{probe.getsockname()[1]}"
    with nothing_left_behind():
        error, elapsed = run_call(url, "create")
    assert isinstance(error, TransportError), repr(error)
    assert elapsed < GENEROUS


def test_connect_stalls() -> None:
    """A listener whose accept queue is full drops SYNs: the connect timeout fires."""
    listener = socket.create_server(("127.0.0.1", 0), backlog=0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket()
            filler.setblocking(False)
            with suppress(BlockingIOError):
                filler.connect(("127.0.0.1", port))
            fillers.append(filler)
        time.sleep(0.1)
        with nothing_left_behind():
            error, elapsed = run_call(f"http://127.0.0.1:{port}", "create")
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert isinstance(error, TransportError), repr(error)
    assert elapsed < GENEROUS


@pytest.mark.parametrize(
    "kid",
    ["..", "%2e%2e", "a?x=1#f", "a\r\nX-Evil: 1", "../../admin", "AA:" * 15 + "AA"],
)
def test_forged_webhook_kid_never_steers_a_key_fetch(kid: str) -> None:
    """A kid from a forged webhook is fetched only if it has the shape of a real kid."""
    headers, body = peer.webhook(peer.outer_package(), now=int(time.time()))
    forged = peer.reforge_webhook(headers, lambda h, c: h.update(kid=kid))
    with nothing_left_behind():
        server = HostileServer("503").start()
        client = make_client(server.url)
        try:
            with pytest.raises(UnexpectedWebhookRequest, match="malformed"):
                client.handle_webhook(body, forged, "POST", "/webhook")
        finally:
            client.close()
            server.stop()
    assert [path for _, path in server.requests] == [
        "/public/v3/ping",
        "/public/v3/public-key",
    ]


@FLAVOURS
@pytest.mark.parametrize("call", ["create", "get"])
def test_retries_are_one_budget_not_a_product(call: str, flavour: str) -> None:
    """With the platform down from the first ping, a call makes 1 + retries attempts
    in all (not (1 + retries) squared), and a create whose signed request never went
    out may be retried like any other call."""
    with nothing_left_behind():
        server = HostileServer("reset", public_too=True).start()
        try:
            error, _ = run_call(server.url, call, flavour)
        finally:
            server.stop()
    assert isinstance(error, TransportError), repr(error)
    assert server.count("GET", "/public/v3/ping") == 1 + RETRIES
    assert server.count("POST", AUTHS) == 0
