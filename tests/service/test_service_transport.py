"""Urllib3Transport and AsyncioTransport against a scripted server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from lk_core import (
    HttpRequest,
    InvalidArgument,
    TransportError,
    UsageError,
    generate_private_key,
    private_key_pem,
)
from lk_io import AsyncioTransport, ServiceClient, ServiceFactory, Urllib3Transport

Script = Callable[[BaseHTTPRequestHandler], None]


class _QuietServer(ThreadingHTTPServer):
    # Hung-up and timed-out connections are what some tests are about; no tracebacks.
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class Server:
    """Answers every request with ``script``; remembers what it was asked."""

    def __init__(self) -> None:
        self.script: Script = _ok
        self.seen: list[tuple[str, str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                outer.seen.append((self.command, self.path, dict(self.headers), body))
                outer.script(self)

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def _ok(h: BaseHTTPRequestHandler) -> None:
    body = b"hello"
    h.send_response(200, "Fine")
    h.send_header("X-Multi", "a")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def _hang_up(h: BaseHTTPRequestHandler) -> None:
    h.close_connection = True
    h.connection.shutdown(2)


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server()
    yield s
    s.close()


@pytest.fixture
def transport(server: Server) -> Iterator[Urllib3Transport]:
    t = Urllib3Transport(server.url, retries=2, backoff=0, read_timeout=2)
    yield t
    t.close()


def _get(path: str = "/public/v3/ping", **headers: str) -> HttpRequest:
    return HttpRequest(method="GET", path=path, headers=tuple(headers.items()))


def test_round_trip(server: Server, transport: Urllib3Transport) -> None:
    """Method, path, headers, body go out; status, reason, headers, body come back."""
    request = HttpRequest(
        method="POST", path="/service/v3/auths", headers=(("X-A", "1"),), body=b"abc"
    )
    response = transport.send(request)
    assert (response.status, response.reason, response.body) == (200, "Fine", b"hello")
    assert response.headers.get("x-multi") == "a"
    method, path, headers, body = server.seen[0]
    assert (method, path, headers["X-A"], body) == (
        "POST",
        "/service/v3/auths",
        "1",
        b"abc",
    )


def test_unsigned_get_is_retried(server: Server, transport: Urllib3Transport) -> None:
    """A public-key or ping fetch that loses its connection is tried again."""
    failures = iter([True, True])
    server.script = lambda h: _hang_up(h) if next(failures, False) else _ok(h)
    assert transport.send(_get()).status == 200
    assert len(server.seen) == 3


@pytest.mark.parametrize(
    "request_",
    [
        HttpRequest(method="POST", path="/service/v3/auths", body=b"x"),
        _get("/service/v3/auths/1", Authorization="IOV-JWT t"),
    ],
    ids=["post", "signed-get"],
)
def test_other_requests_are_sent_once(
    server: Server, transport: Urllib3Transport, request_: HttpRequest
) -> None:
    """Signed requests and POSTs are never repeated by the transport."""
    server.script = _hang_up
    with pytest.raises(TransportError):
        transport.send(request_)
    assert len(server.seen) == 1


def test_refused_connection() -> None:
    """Nothing listening on the port is a TransportError."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    transport = Urllib3Transport(f"http://127.0.0.1:{port}", retries=1, backoff=0)
    with pytest.raises(TransportError):
        transport.send(_get())


def test_redirects_are_not_followed(
    server: Server, transport: Urllib3Transport
) -> None:
    """A 302 comes back as it is; the platform never redirects (jose.md 1)."""

    def redirect(h: BaseHTTPRequestHandler) -> None:
        h.send_response(302)
        h.send_header("Location", "/elsewhere")
        h.send_header("Content-Length", "0")
        h.end_headers()

    server.script = redirect
    assert transport.send(_get()).status == 302
    assert len(server.seen) == 1


def test_oversized_response(server: Server, transport: Urllib3Transport) -> None:
    """A body over 1 MiB is refused, not buffered, and not retried."""

    def huge(h: BaseHTTPRequestHandler) -> None:
        size = (1 << 20) + 10
        h.send_response(200)
        h.send_header("Content-Length", str(size))
        h.end_headers()
        h.wfile.write(b"x" * size)

    server.script = huge
    with pytest.raises(TransportError) as info:
        transport.send(_get())
    assert info.value.retryable is False
    assert len(server.seen) == 1


def test_read_timeout(server: Server) -> None:
    """A server that does not answer in time gives a TransportError."""
    release = threading.Event()

    def stall(h: BaseHTTPRequestHandler) -> None:
        release.wait(5)
        _ok(h)

    server.script = stall
    transport = Urllib3Transport(server.url, read_timeout=0.2, retries=0)
    try:
        with pytest.raises(TransportError):
            transport.send(_get())
    finally:
        release.set()
        transport.close()


def test_proxy(server: Server) -> None:
    """With proxy_url every request goes to the proxy, naming the real URL."""
    transport = Urllib3Transport("http://platform.invalid", proxy_url=server.url)
    try:
        assert transport.send(_get()).status == 200
    finally:
        transport.close()
    assert server.seen[0][1] == "http://platform.invalid/public/v3/ping"


def test_base_url_must_be_http() -> None:
    """Only http and https base URLs are accepted."""
    with pytest.raises(InvalidArgument, match="http") as caught:
        Urllib3Transport("ftp://example")
    assert caught.value.field == "url"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("connect_timeout", 0),
        ("read_timeout", -1),
        ("read_timeout", float("nan")),
        ("read_timeout", "30"),
        ("maxsize", 0),
        ("retries", -1),
        ("retries", 1.5),
        ("backoff", -0.1),
    ],
)
def test_impossible_options_are_refused_when_the_factory_is_made(
    option: str, value: object
) -> None:
    """A factory names the bad option at once, before any client or request exists."""
    key = private_key_pem(generate_private_key())
    with pytest.raises(InvalidArgument) as caught:
        ServiceFactory(
            str(uuid.uuid4()), key, url="http://127.0.0.1:9", **{option: value}
        )
    assert caught.value.field == option
    with pytest.raises(InvalidArgument):
        Urllib3Transport("http://127.0.0.1:9", **{option: value})


def test_refused_connection_message_has_no_object_reprs() -> None:
    """The TransportError says what failed, without urllib3's object reprs."""
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = Urllib3Transport(f"http://127.0.0.1:{port}", retries=0)
    try:
        with pytest.raises(TransportError) as caught:
            transport.send(_get())
    finally:
        transport.close()
    message = str(caught.value)
    assert message.startswith("GET /public/v3/ping: ")
    assert "refused" in message.lower()
    assert " object at 0x" not in message


def test_closed_client_refuses_calls() -> None:
    """After close() every call raises UsageError instead of silently reconnecting."""
    key = private_key_pem(generate_private_key())
    client = ServiceFactory(
        str(uuid.uuid4()), key, url="http://127.0.0.1:9"
    ).make_service_client()
    client.close()
    with pytest.raises(UsageError, match="closed"):
        client.session_end("someone")
    with pytest.raises(UsageError, match="closed"):
        client.handle_webhook(b"{}", {}, "POST", "/hook")


def test_asyncio_transport(server: Server) -> None:
    """The asyncio adapter returns the same response without blocking the loop."""
    transport = AsyncioTransport(server.url)

    async def both() -> list[int]:
        ticks = 0

        async def ticker() -> None:
            nonlocal ticks
            while True:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        response = await transport.send(_get())
        task.cancel()
        return [response.status, ticks]

    status, ticks = asyncio.run(both())
    transport.close()
    assert status == 200
    assert ticks > 0


def _self_signed(tmp: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 signed by itself, and its key (PEM files)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "cert.pem", tmp / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


def test_tls_is_verified(server: Server, tmp_path: Path) -> None:
    """An unknown certificate is refused; trusting it with ca_certs lets it through."""
    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    https = server.url.replace("http://", "https://")
    untrusting = Urllib3Transport(https, retries=0)
    trusting = Urllib3Transport(https, ca_certs=str(cert_file), retries=0)
    try:
        with pytest.raises(TransportError):
            untrusting.send(_get())
        assert trusting.send(_get()).status == 200
    finally:
        untrusting.close()
        trusting.close()


IN_FLIGHT = 20  # more than the loop's default executor allows on a 2-core machine (6)


def test_asyncio_transport_runs_its_pool_size_at_once(server: Server) -> None:
    """AsyncioTransport has its own threads: 20 requests are in flight together."""
    lock = threading.Lock()
    arrived = threading.Barrier(IN_FLIGHT, timeout=10)
    state = {"now": 0, "peak": 0}

    def gather(h: BaseHTTPRequestHandler) -> None:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        try:
            arrived.wait()  # only returns once all IN_FLIGHT requests are here at once
        finally:
            with lock:
                state["now"] -= 1
        _ok(h)

    server.script = gather
    threads_before = threading.active_count()
    transport = AsyncioTransport(server.url, read_timeout=15)

    async def burst() -> list[int]:
        replies = await asyncio.gather(
            *(transport.send(_get()) for _ in range(IN_FLIGHT))
        )
        return [reply.status for reply in replies]

    try:
        assert asyncio.run(burst()) == [200] * IN_FLIGHT
    finally:
        transport.close()
        # The server's 20 handler threads end once their kept-alive connections see
        # the close; wait for that so no thread outlives this test.
        deadline = time.monotonic() + 10
        while threading.active_count() > threads_before and time.monotonic() < deadline:
            time.sleep(0.01)
    assert state["peak"] == IN_FLIGHT


def test_unknown_option_names_are_refused_at_once() -> None:
    """A misspelt option is named when the factory or client is made, not later."""
    key = private_key_pem(generate_private_key())
    with pytest.raises(InvalidArgument) as caught:
        ServiceFactory(str(uuid.uuid4()), key, "http://127.0.0.1:9", read_timout=3)
    assert caught.value.field == "read_timout"
    with pytest.raises(InvalidArgument) as caught:
        ServiceClient(str(uuid.uuid4()), key, url="http://127.0.0.1:9", bogus=1)
    assert caught.value.field == "bogus"


def test_transport_options_with_own_transport_are_refused() -> None:
    """Options for the default transport next to a transport of one's own would be
    silently ignored, so they are refused."""
    key = private_key_pem(generate_private_key())
    own = Urllib3Transport("http://127.0.0.1:9")
    try:
        with pytest.raises(InvalidArgument, match="default transport") as caught:
            ServiceClient(str(uuid.uuid4()), key, transport=own, read_timeout=1)
        assert caught.value.field == "read_timeout"
    finally:
        own.close()
