"""Urllib3Transport's one pool per base URL: paths, proxies, TLS options, reopening."""

from __future__ import annotations

import ssl
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from test_service_transport import Server, _self_signed

from lk_core import (
    HttpRequest,
    InvalidArgument,
    TransportError,
    generate_private_key,
    private_key_pem,
)
from lk_io import ServiceFactory, Urllib3Transport

PING = HttpRequest(method="GET", path="/public/v3/ping")


class CountingServer(Server):
    """:class:`Server` that also counts the connections it accepted."""

    def __init__(self) -> None:
        super().__init__()
        self.connections = 0
        accept = self.httpd.process_request

        def counted(request: Any, address: Any) -> None:
            self.connections += 1
            accept(request, address)

        self.httpd.process_request = counted  # type: ignore[method-assign]


@pytest.fixture
def server() -> Iterator[CountingServer]:
    s = CountingServer()
    yield s
    s.close()


def _short_body(h: BaseHTTPRequestHandler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", "10")
    h.end_headers()
    h.wfile.write(b"abc")
    h.close_connection = True


@pytest.mark.parametrize("suffix", ["/api", "/api/", "/api/v1"])
def test_base_url_path_prefix_is_kept(server: CountingServer, suffix: str) -> None:
    """A base URL with a path sends each request below that path."""
    transport = Urllib3Transport(server.url + suffix, retries=0)
    try:
        assert transport.send(PING).status == 200
    finally:
        transport.close()
    assert server.seen[0][1] == suffix.rstrip("/") + "/public/v3/ping"


def test_proxy_is_told_the_whole_url_with_prefix(server: CountingServer) -> None:
    """Through a proxy the request line names scheme, host, base path and path."""
    transport = Urllib3Transport(
        "http://platform.invalid/api/", proxy_url=server.url, retries=0
    )
    try:
        assert transport.send(PING).status == 200
    finally:
        transport.close()
    assert server.seen[0][1] == "http://platform.invalid/api/public/v3/ping"


def test_tls_options_are_ignored_for_plain_http(
    server: CountingServer, tmp_path: Path
) -> None:
    """ca_certs and ssl_context with an http:// base URL do not break requests."""
    cert_file, _ = _self_signed(tmp_path)
    transport = Urllib3Transport(
        server.url,
        ca_certs=str(cert_file),
        ssl_context=ssl.create_default_context(),
        retries=0,
    )
    try:
        assert transport.send(PING).status == 200
    finally:
        transport.close()


def test_ssl_context_is_used_for_https(server: CountingServer, tmp_path: Path) -> None:
    """An ssl_context that trusts the server's certificate lets requests through."""
    cert_file, key_file = _self_signed(tmp_path)
    serving = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    serving.load_cert_chain(cert_file, key_file)
    server.httpd.socket = serving.wrap_socket(server.httpd.socket, server_side=True)
    trusting = ssl.create_default_context(cafile=str(cert_file))
    # urllib3 1.26 sends no server name for an IP address, and checks the name itself.
    trusting.check_hostname = False
    https = server.url.replace("http://", "https://")
    transport = Urllib3Transport(https + "/api", ssl_context=trusting, retries=0)
    try:
        assert transport.send(PING).status == 200
    finally:
        transport.close()
    assert server.seen[0][1] == "/api/public/v3/ping"


def test_connection_is_kept_alive(server: CountingServer) -> None:
    """Requests in a row share one pooled connection."""
    transport = Urllib3Transport(server.url, retries=0)
    try:
        for _ in range(3):
            assert transport.send(PING).body == b"hello"
    finally:
        transport.close()
    assert server.connections == 1


def test_closed_transport_opens_new_connections(server: CountingServer) -> None:
    """close() drops pooled connections; a later request still goes out."""
    transport = Urllib3Transport(server.url, retries=0)
    try:
        assert transport.send(PING).status == 200
        transport.close()
        assert transport.send(PING).status == 200
    finally:
        transport.close()
    assert server.connections == 2


def test_short_body_is_a_transport_error(server: CountingServer) -> None:
    """Fewer body bytes than Content-Length promised is a network failure."""
    server.script = _short_body
    transport = Urllib3Transport(server.url, retries=0)
    try:
        with pytest.raises(TransportError, match="GET /public/v3/ping: "):
            transport.send(PING)
    finally:
        transport.close()


BAD_BASE_URLS = [
    "http://127.0.0.1:9/?x=1",
    "http://127.0.0.1:9/api#top",
    "http://",
    "https://",
    "http:///api",
    "http://:80",
    "http://::1:80",
    "http://127.0.0.1:99999",
    "http://127.0.0.1 /x",
]


@pytest.mark.parametrize("url", BAD_BASE_URLS)
def test_base_url_without_a_place_for_paths_is_refused(url: str) -> None:
    """A query, a fragment, no host, a bad port or a space is refused when the
    transport is made, and when the factory is made, before any client exists."""
    key = private_key_pem(generate_private_key())
    for make in (
        lambda: Urllib3Transport(url),
        lambda: ServiceFactory(str(uuid.uuid4()), key, url=url),
    ):
        with pytest.raises(InvalidArgument) as caught:
            make()
        assert caught.value.field == "url"


def test_scheme_in_any_case(server: CountingServer) -> None:
    """URL schemes are case-insensitive; the transport sends to the same place."""
    transport = Urllib3Transport("HTTP" + server.url.removeprefix("http"), retries=0)
    try:
        assert transport.base_url.startswith("http://")
        assert transport.send(PING).status == 200
    finally:
        transport.close()
    assert server.seen[0][1] == "/public/v3/ping"
