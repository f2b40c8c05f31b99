"""The webhook examples of docs/webhooks/ (and the seed's Flask one), really served.

Each app listens on 127.0.0.1; the emulator's service callback URL points at it, a
virtual device answers, and the emulator delivers the signed webhook over a socket.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import pytest
import seed_examples as seed
import uvicorn
from werkzeug.serving import make_server as make_werkzeug_server

from lk_core import AdvancedAuthorizationResponse, SessionEndRequest
from lk_core.platform import RateLimit
from lk_io import ServiceClient, ServiceFactory
from lk_io.emulator import Emulator, VirtualDevice

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs" / "webhooks"))
import django_app
import flask_app
import starlette_app


class Events:
    """What an app's callbacks received, with a way to wait for the next one."""

    def __init__(self) -> None:
        self.items: list[object] = []
        self._cond = threading.Condition()

    def add(self, event: object) -> None:
        with self._cond:
            self.items.append(event)
            self._cond.notify_all()

    def wait(self, count: int, timeout: float = 10.0) -> list[object]:
        with self._cond:
            self._cond.wait_for(lambda: len(self.items) >= count, timeout)
            return list(self.items)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def _serve_in_thread(server: Any) -> Callable[[], None]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join()

    return stop


def serve_wsgi_werkzeug(app: Any) -> tuple[str, Callable[[], None]]:
    server = make_werkzeug_server("127.0.0.1", 0, app, threaded=True)
    return f"http://127.0.0.1:{server.port}", _serve_in_thread(server)


def serve_wsgi_ref(app: Any) -> tuple[str, Callable[[], None]]:
    server = make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
    return f"http://127.0.0.1:{server.server_port}", _serve_in_thread(server)


def serve_asgi(app: Any) -> tuple[str, Callable[[], None]]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(app, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]})
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.01)

    def stop() -> None:
        server.should_exit = True
        thread.join()
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    with Emulator(rate_limit=RateLimit(creates=1000)) as emu:
        yield emu


@pytest.fixture(scope="module")
def factory(emulator: Emulator) -> ServiceFactory:
    creds = emulator.credentials
    return ServiceFactory(creds.service_id, creds.service_key, url=creds.base_url)


_users = iter(range(1, 1000))


@pytest.fixture
def device(emulator: Emulator) -> VirtualDevice:
    return emulator.add_user(f"webhook-user-{next(_users)}")


def _run_story(
    emulator: Emulator,
    client: ServiceClient,
    device: VirtualDevice,
    base_url: str,
    events: Events,
) -> None:
    """Approve a request and log out from the device; both events reach the app."""
    emulator.control.set_callback(emulator.service_id, f"{base_url}/webhook")
    try:
        request = client.authorization_request(device.identifier)
        device.approve()
        [answer] = events.wait(1)
        polled = client.get_advanced_authorization_response(request.auth_request)
        assert isinstance(answer, AdvancedAuthorizationResponse)
        assert answer == polled
        client.session_start(device.identifier, request.auth_request)
        assert device.logout() == 1
        logout = events.wait(2)[1]
        assert isinstance(logout, SessionEndRequest)
        assert logout.service_user_hash == answer.service_user_hash
        assert emulator.wait_webhooks()
    finally:
        emulator.control.set_callback(emulator.service_id, None)


def _flask(factory: ServiceFactory, events: Events) -> Any:
    return flask_app.create_app(factory.make_service_client(), events.add, events.add)


def _django(factory: ServiceFactory, events: Events) -> Any:
    client = factory.make_service_client()
    return django_app.create_application(client, events.add, events.add)


def _starlette(factory: ServiceFactory, events: Events) -> Any:
    client = factory.make_async_service_client()
    return starlette_app.create_app(client, events.add, events.add)


@pytest.mark.parametrize(
    ("build", "serve"),
    [
        (_flask, serve_wsgi_werkzeug),
        (_django, serve_wsgi_ref),
        (_starlette, serve_asgi),
    ],
    ids=["flask", "django", "starlette-uvicorn"],
)
def test_framework_example(
    emulator: Emulator,
    factory: ServiceFactory,
    device: VirtualDevice,
    build: Callable[[ServiceFactory, Events], Any],
    serve: Callable[[Any], tuple[str, Callable[[], None]]],
) -> None:
    """Each docs/webhooks app receives and decodes both kinds of event."""
    events = Events()
    base_url, stop = serve(build(factory, events))
    client = factory.make_service_client()
    try:
        _run_story(emulator, client, device, base_url, events)
    finally:
        stop()
        client.close()


def test_refused_webhook_gets_400(factory: ServiceFactory) -> None:
    """A forged POST is answered 400 and never reaches the callbacks."""
    events = Events()
    client = factory.make_service_client()
    base_url, stop = serve_wsgi_werkzeug(
        flask_app.create_app(client, events.add, events.add)
    )
    try:
        import urllib3

        status = (
            urllib3.PoolManager()
            .request(
                "POST",
                f"{base_url}/webhook",
                body=b"{}",
                headers={"X-IOV-JWT": "a.b.c"},
            )
            .status
        )
    finally:
        stop()
        client.close()
    assert status == 400
    assert events.items == []


def test_seed_flask_example(
    emulator: Emulator, factory: ServiceFactory, device: VirtualDevice
) -> None:
    """The seed's Flask example starts a session on approval and logs users out."""
    client = factory.make_service_client()
    request = client.authorization_request(device.identifier)
    logged_out = Events()
    scope: dict[str, Any] = {
        "__name__": "seed_flask",
        "service_client": client,
        "user": device.identifier,
        "auth_request_id": request.auth_request,
        "logout_user_from_my_app": logged_out.add,
    }
    exec(compile(seed.FLASK_WEBHOOK, "<seed flask example>", "exec"), scope)
    base_url, stop = serve_wsgi_werkzeug(scope["app"])
    emulator.control.set_callback(emulator.service_id, f"{base_url}/webhook")
    try:
        device.approve()
        assert emulator.wait_webhooks()
        # The example started a session on approval, so the device can end it.
        assert device.logout() == 1
        [user_hash] = logged_out.wait(1)
        answer = client.get_advanced_authorization_response(request.auth_request)
        assert answer is not None
        assert user_hash == answer.service_user_hash
    finally:
        emulator.control.set_callback(emulator.service_id, None)
        stop()
        client.close()
