"""The emulator: the platform core served over HTTP on 127.0.0.1."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from types import TracebackType
from typing import Any

from lk_core._http import HttpRequest
from lk_core._keys import PrivateKey, generate_private_key, private_key_pem
from lk_core.platform import DEFAULT_RATE_LIMIT, Event, Platform, RateLimit
from lk_core.platform._server import PlatformServer
from lk_io.emulator import _control
from lk_io.emulator._clock import Clock, system_zone
from lk_io.emulator._device import EmulatorControl, VirtualDevice
from lk_io.emulator._entropy import SystemEntropy
from lk_io.emulator._httpserver import LoopbackServer
from lk_io.emulator._webhooks import Pending, WebhookSender

log = logging.getLogger(__name__)
TICK = 0.05  # seconds between runs of auto-answers, expiry and state saves


@dataclass(frozen=True)
class Credentials:
    """What a client needs: ids, private keys (PEM) and the base URL."""

    base_url: str
    organization_id: str
    directory_id: str
    service_id: str
    service_key: str
    directory_key: str
    organization_key: str

    def __repr__(self) -> str:
        return (
            f"Credentials(base_url={self.base_url!r}, service_id={self.service_id!r})"
        )


class Emulator:
    """A local LaunchKey platform with one organization, directory and service.

    Use as a context manager, or call start() and stop(). `state_file` keeps
    organizations, users, devices and keys in SQLite across restarts.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Clock | None = None,
        state_file: str | Path | None = None,
        rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
        allow_remote_webhooks: bool = False,
        callback_url: str | None = None,
    ) -> None:
        self.clock = clock or Clock()
        self.lock = threading.RLock()
        self._host, self._port = host, port
        self._stop = threading.Event()
        self._dirty = False
        self._httpd: LoopbackServer | None = None
        self._threads: list[threading.Thread] = []
        self._store = None
        now = self.clock.seconds()
        loaded = None
        if state_file is not None:
            from lk_io.emulator._store import Store

            self._store = Store(Path(state_file))
            loaded = self._store.load(SystemEntropy(), rate_limit, now)
        resumed: list[Pending] = []
        if loaded is not None:
            self.platform, keys, self._creds, resumed = loaded
        else:
            self.platform = Platform(SystemEntropy(), rate_limit=rate_limit)
            keys = [generate_private_key()]
            self._creds = self._bootstrap(now, callback_url)
        self.platform.zones = system_zone
        self.server = PlatformServer(self.platform, keys)
        self.sender = WebhookSender(self._render, allow_remote=allow_remote_webhooks)
        self._saved_hooks = -1
        self._dirty = True
        for item in resumed:
            self.sender.resume(item)
        if resumed:
            log.info("resuming %d undelivered webhooks", len(resumed))

    def _bootstrap(self, now: int, callback_url: str | None) -> dict[str, str]:
        p = self.platform
        org = p.add_organization("Emulated Organization")
        directory = p.add_directory(
            org.id, "Emulated Directory", denial_context_inquiry_enabled=True
        )
        p.update_directory(directory.id, sdk_keys=(p.entropy.new_id(),))
        service = p.add_service(
            f"dir:{directory.id}", "Emulated Service", callback_url=callback_url
        )
        creds = {
            "organization_id": org.id,
            "directory_id": directory.id,
            "service_id": service.id,
        }
        for entity, name in (
            (f"org:{org.id}", "organization_key"),
            (f"dir:{directory.id}", "directory_key"),
            (f"svc:{service.id}", "service_key"),
        ):
            key = generate_private_key()
            p.add_key(entity, key.public.pem, now)
            creds[name] = private_key_pem(key)
        return creds

    # ----- life cycle -----------------------------------------------------------------

    def start(self) -> Emulator:
        handler = type("Handler", (_Handler,), {"emulator": self})
        self._httpd = LoopbackServer((self._host, self._port), handler)
        self.platform.qrcode_base = f"{self.base_url}/_emulator/qrcode/"
        httpd = self._httpd
        for target, name in (
            (lambda: httpd.serve_forever(poll_interval=TICK), "lk-emulator-http"),
            (self._ticker, "lk-emulator-tick"),
        ):
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("emulator listening on %s", self.base_url)
        return self

    def stop(self, drain: float = 0.0) -> bool:
        """Stop serving; with `drain` > 0, first wait up to that many seconds for
        queued webhooks to be delivered. Webhooks still undelivered are kept in the
        state file and resumed by the next run; without a state file they are
        dropped (and logged). Returns True when none was left undelivered."""
        self._stop.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)
        if drain > 0:
            self.sender.wait_idle(drain)
        self.sender.close()
        left = len(self.sender.pending())
        if self._store is not None:
            self._save()
        elif left:
            log.warning("stopping with %d undelivered webhooks: dropped", left)
        return left == 0

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("emulator not started")
        return f"http://{self._host}:{self._httpd.server_port}"

    @property
    def credentials(self) -> Credentials:
        return Credentials(base_url=self.base_url, **self._creds)

    @property
    def directory_id(self) -> str:
        return self._creds["directory_id"]

    @property
    def service_id(self) -> str:
        return self._creds["service_id"]

    @property
    def control(self) -> EmulatorControl:
        """Test hooks over the control API (expiry, clock, services, stats)."""
        return EmulatorControl(self.base_url)

    def add_user(self, identifier: str, **profile: Any) -> VirtualDevice:
        """A Directory User with a linked virtual device (methods, location...)."""
        return self.control.add_user(identifier, **profile)

    def wait_webhooks(self, timeout: float = 10.0) -> bool:
        """Block until every queued webhook is delivered; False on timeout."""
        return self.sender.wait_idle(timeout)

    def info(self) -> dict[str, Any]:
        return {
            "base_url": self.base_url,
            "organization_id": self._creds["organization_id"],
            "directory_id": self.directory_id,
            "service_id": self.service_id,
            "platform_key_ids": [k.kid for k in self.server.keys],
            "now": self.clock.seconds(),
        }

    # ----- work -----------------------------------------------------------------------

    def handle(self, request: HttpRequest) -> tuple[int, list[tuple[str, str]], bytes]:
        """One platform API request, under the lock; queued webhooks go out after."""
        with self.lock:
            now = self.clock.seconds()
            self.platform.tick(now)
            response = self.server.handle(request, now)
            events = self.after_change()
        self.send(events)
        return response.status, list(response.headers), response.body

    def after_change(self) -> list[Event]:
        """Take the queued webhook events and mark state for saving (lock held)."""
        self._dirty = True
        return self.platform.drain_outbox()

    def send(self, events: list[Event]) -> None:
        """Hand events to the sender. Never with the lock held: a full queue blocks
        here until the worker, which takes the lock to sign, makes room."""
        for event in events:
            self.sender.submit(event)

    def _render(self, event: Any, jti: str) -> HttpRequest | None:
        with self.lock:
            return self.server.webhook(event, self.clock.seconds(), jti)

    def _ticker(self) -> None:
        while not self._stop.wait(TICK):
            with self.lock:
                events = []
                if self.platform.tick(self.clock.seconds()):
                    events = self.after_change()
            self.send(events)
            self._save()

    def _save(self) -> None:
        if self._store is None:
            return
        hooks = self.sender.version
        if not self._dirty and hooks == self._saved_hooks:
            return
        with self.lock:
            self._dirty = False
            self._saved_hooks = hooks
            self._store.save(
                self.platform, self.server.keys, self._creds, self.sender.pending()
            )

    def rotate_platform_key(self, key: PrivateKey | None = None) -> str:
        with self.lock:
            self.server.rotate(key or generate_private_key())
            self._dirty = True
            return self.server.current_key.kid


class _Handler(BaseHTTPRequestHandler):
    emulator: Emulator
    protocol_version = "HTTP/1.1"
    server_version = "lk-emulator"
    # Headers and body go out in separate writes; with Nagle on, the body waits for
    # the client's delayed ACK (about 40 ms per response on Linux).
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        try:
            if length < 0:
                status, headers, out = 400, [("Connection", "close")], b""
                self.close_connection = True
            else:
                body = self.rfile.read(length) if length else b""
                status, headers, out = self._answer(body)
        except ConnectionError:
            raise  # the client left while sending; LoopbackServer logs it quietly
        except Exception:
            # A bug in the emulator must still answer, not drop the connection: the
            # client then reports a ServerError instead of a network failure.
            log.exception("emulator failed on %s %s", self.command, self.path)
            status, headers, out = 500, [("Content-Type", "text/plain")], b"error"
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def _answer(self, body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        path = self.path.split("?", 1)[0]
        if path.startswith("/_emulator/"):
            status, out = _control.handle(self.emulator, self.command, path, body)
            return status, [("Content-Type", "application/json")], out
        request = HttpRequest(
            method=self.command,
            path=self.path,
            headers=tuple(self.headers.items()),
            body=body,
        )
        return self.emulator.handle(request)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)
