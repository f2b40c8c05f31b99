"""Transports that move prepared requests, and the two runners that drive plans.

A transport sends one :class:`~lk_core.HttpRequest` and returns the
:class:`~lk_core.HttpResponse` exactly as it came off the wire; it knows nothing about
signing or JSON. Network failures become :class:`~lk_core.TransportError`.

* :class:`Urllib3Transport` - the default: a urllib3 pool with connect/read timeouts,
  TLS verification always on, an optional proxy, a cap on response size and retries for
  unsigned GETs only.
* :class:`AsyncTransport` - the protocol an async client needs: one coroutine
  ``send(request) -> response``. Adapt any async HTTP library with a few lines.
* :class:`AsyncioTransport` - the ready adapter: it runs a :class:`Urllib3Transport` in
  a worker thread, so asyncio programs get pooling, TLS and proxies without a second
  HTTP stack; the event loop never blocks.

Only unsigned GETs (``/public/v3/ping`` and the public-key fetches) are retried here,
and only for transports made directly: the clients build theirs with ``retries=0`` and
are the one retry layer, so that attempts do not multiply. A signed request carries a
one-time ``jti`` that the platform refuses to see twice, so a safe signed call (the
authorization-response GET) is retried by the client, which builds a fresh request; a
create, cancel or session call is never repeated once its signed request went out.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, Generic, Protocol, TypeVar
from urllib.parse import urlsplit

from lk_core import (
    Headers,
    HttpRequest,
    HttpResponse,
    InvalidArgument,
    Plan,
    PlatformView,
    Received,
    Send,
    TransportError,
)

__all__ = [
    "DEFAULT_URL",
    "AsyncTransport",
    "AsyncioTransport",
    "Transport",
    "Urllib3Transport",
    "run_async",
    "run_sync",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_URL = "https://api.launchkey.com"
# Replies of this API are small JSON or JWE documents; anything larger is refused
# rather than buffered.
MAX_RESPONSE_BYTES = 1 << 20


class Transport(Protocol):
    """What the sync client needs: send one request, return the raw response."""

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; raise :class:`TransportError` if no response arrived."""
        ...


class AsyncTransport(Protocol):
    """What the async client needs: the same as :class:`Transport`, awaited.

    An implementation must send ``request.method`` to base URL + ``request.path`` with
    exactly ``request.headers`` and ``request.body``, must not follow redirects, and
    must return status, headers, body and reason phrase unchanged. It raises
    :class:`TransportError` (and nothing else) when no response arrived.
    """

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request``; raise :class:`TransportError` if no response arrived."""
        ...


_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-f]+>:?\s*")


def _describe(exc: Exception) -> str:
    """urllib3's message without the connection object reprs it embeds."""
    return _OBJECT_REPR.sub("", str(exc))[:300] or type(exc).__name__


def _failed(request: HttpRequest, exc: Exception) -> TransportError:
    return TransportError(f"{request.method} {request.path}: {_describe(exc)}")


def is_signed(request: HttpRequest) -> bool:
    """Whether the request carries a signed JWT (an Authorization header)."""
    return any(name.lower() == "authorization" for name, _ in request.headers)


def _is_unsigned_get(request: HttpRequest) -> bool:
    return request.method == "GET" and not is_signed(request)


# Defaults of the options checked below, as Urllib3Transport's signature has them.
_CHECKED_DEFAULTS: dict[str, Any] = {
    "connect_timeout": 5.0,
    "read_timeout": 30.0,
    "maxsize": 10,
    "retries": 2,
    "backoff": 0.25,
}


# Keyword options Urllib3Transport takes besides its base URL.
TRANSPORT_OPTIONS = frozenset(
    {*_CHECKED_DEFAULTS, "proxy_url", "ca_certs", "ssl_context", "user_agent"}
)


def check_transport_options(
    base_url: object, *, also: frozenset[str] = frozenset(), **options: Any
) -> None:
    """Validate a base URL and transport options early (e.g. when a factory is made).

    Raises :class:`InvalidArgument` naming the option: an impossible value, or a name
    that is neither a transport option nor one of ``also``.
    """
    for name in options:
        if name not in TRANSPORT_OPTIONS and name not in also:
            raise InvalidArgument(name, "is not an option of the client or transport")
    merged = {k: options.get(k, v) for k, v in _CHECKED_DEFAULTS.items()}
    _check_options(base_url, **merged)


def _check_options(
    base_url: object,
    *,
    connect_timeout: object,
    read_timeout: object,
    maxsize: object,
    retries: object,
    backoff: object,
) -> None:
    """Refuse impossible settings when the transport is made, naming the option."""
    if not isinstance(base_url, str) or not base_url.lower().startswith(
        ("http://", "https://")
    ):
        raise InvalidArgument("url", "must start with http:// or https://")
    if "?" in base_url or "#" in base_url:
        # Request paths are appended to the base URL; a query there has no place.
        raise InvalidArgument("url", "must not have a query or fragment")
    if any(c.isspace() for c in base_url):
        raise InvalidArgument("url", "must not contain spaces")
    try:
        parts = urlsplit(base_url)
        _port = parts.port  # ValueError unless a number from 0 to 65535
    except ValueError as exc:
        raise InvalidArgument("url", f"is not a valid URL ({exc})") from None
    if not parts.hostname:
        raise InvalidArgument("url", "names no host")
    for name, value in (
        ("connect_timeout", connect_timeout),
        ("read_timeout", read_timeout),
    ):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidArgument(name, "must be a number of seconds")
        if not 0 < value < float("inf"):
            raise InvalidArgument(name, "must be more than 0 seconds")
    for name, value, low in (("maxsize", maxsize, 1), ("retries", retries, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidArgument(name, f"must be a whole number >= {low}")
    if isinstance(backoff, bool) or not isinstance(backoff, int | float):
        raise InvalidArgument("backoff", "must be a number of seconds")
    if not 0 <= backoff < float("inf"):
        raise InvalidArgument("backoff", "must be 0 or more seconds")


class Urllib3Transport:
    """Send requests to one base URL over a urllib3 connection pool.

    ``connect_timeout``/``read_timeout`` are seconds. TLS certificates are verified
    against ``ca_certs`` (a PEM file) or the system store; pass ``ssl_context`` for
    anything else (client certificates, pinning). ``proxy_url`` routes every request
    through that HTTP(S) proxy. ``retries`` and ``backoff`` govern unsigned GETs only:
    attempt ``n`` waits ``backoff * 2**(n-1)`` seconds first.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        proxy_url: str | None = None,
        ca_certs: str | None = None,
        ssl_context: Any = None,
        maxsize: int = 10,
        retries: int = 2,
        backoff: float = 0.25,
        user_agent: str | None = None,
    ) -> None:
        _check_options(
            base_url,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            maxsize=maxsize,
            retries=retries,
            backoff=backoff,
        )
        # urllib3 loads with the first transport rather than with the package (a fifth
        # of its import time); programs with their own transport never load it.
        import urllib3

        self._http_error: type[Exception] = urllib3.exceptions.HTTPError
        # The scheme in lower case: it is case-insensitive, and a proxy is sent it.
        scheme, rest = base_url.split(":", 1)
        self.base_url = scheme.lower() + ":" + rest.rstrip("/")
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)
        self._user_agent = user_agent
        try:
            origin = urllib3.util.parse_url(self.base_url)
        except self._http_error:
            raise InvalidArgument("url", "is not a valid URL") from None
        pool_args: dict[str, Any] = {
            "maxsize": maxsize,
            "timeout": urllib3.Timeout(connect=connect_timeout, read=read_timeout),
            # One shared "never retry" rule: urllib3 would build one per request.
            "retries": urllib3.Retry(total=False, redirect=False),
        }
        tls_args: dict[str, Any] = {"cert_reqs": "CERT_REQUIRED"}
        if ca_certs is not None:
            tls_args["ca_certs"] = ca_certs
        if ssl_context is not None:
            tls_args["ssl_context"] = ssl_context
        # urllib3 1.26 ships untyped; its 2.x types agree with how it is called here.
        self._make_pool: Callable[[], Any]
        self._proxied = proxy_url is not None
        if proxy_url is not None:
            # A proxy is told the whole URL of each request.
            self._prefix = self.base_url
            self._make_pool = partial(
                urllib3.ProxyManager, proxy_url, **pool_args, **tls_args
            )
        else:
            # One pool for the one origin, asked for paths only: a PoolManager would
            # parse every URL twice to find the pool there is only one of.
            self._prefix = origin.path or ""
            if origin.scheme == "https":
                pool_args.update(tls_args)  # plain-http pools refuse TLS options
            self._make_pool = partial(
                urllib3.connection_from_url, self.base_url, **pool_args
            )
        self._pool: Any = self._make_pool()

    def send(self, request: HttpRequest) -> HttpResponse:
        """Send once (unsigned GETs: up to ``1 + retries`` times on network failure)."""
        attempts = 1 + (self.retries if _is_unsigned_get(request) else 0)
        for attempt in range(1, attempts + 1):
            try:
                return self._send_once(request)
            except TransportError as exc:
                if attempt == attempts or not exc.retryable:
                    raise
                delay = self.backoff * float(2 ** (attempt - 1))
                logger.info(
                    "%s %s failed (%s); retry %d in %.2fs",
                    request.method,
                    request.path,
                    exc,
                    attempt,
                    delay,
                )
                time.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover - loop always returns

    def _send_once(self, request: HttpRequest) -> HttpResponse:
        headers = dict(request.headers)
        if self._user_agent is not None:
            headers["User-Agent"] = self._user_agent
        try:
            # Timeouts and the no-retry rule are the pool's own defaults.
            raw = self._pool.urlopen(
                request.method,
                self._prefix + request.path,
                body=request.body or None,
                headers=headers,
                redirect=False,
                assert_same_host=False,
                preload_content=False,
            )
        except self._http_error as exc:
            raise _failed(request, exc) from None
        length = raw.headers.get("Content-Length")
        try:
            body = raw.read(MAX_RESPONSE_BYTES + 1)
            # A body shorter than its Content-Length is a cut connection, not an
            # answer; urllib3 1.26 returns such a short read as if it were complete.
            truncated = (
                length is not None and length.isdigit() and int(length) != len(body)
            )
            if truncated or len(body) > MAX_RESPONSE_BYTES:
                raw.close()  # never pool a connection left mid-body
        except self._http_error as exc:
            raise _failed(request, exc) from None
        finally:
            raw.release_conn()
        if len(body) > MAX_RESPONSE_BYTES:
            raise TransportError("response larger than 1 MiB refused", retryable=False)
        if truncated:
            raise TransportError(
                f"{request.method} {request.path}: body truncated "
                f"({len(body)} of {length} bytes)"
            )
        logger.debug("%s %s -> %d", request.method, request.path, raw.status)
        return HttpResponse(
            status=raw.status,
            headers=Headers(list(raw.headers.items())),
            body=body,
            reason=raw.reason or "",
        )

    def close(self) -> None:
        """Close every pooled connection; a later request opens new ones."""
        # A closed urllib3 pool refuses further requests, so a fresh one takes its
        # place, as a PoolManager's clear() would allow.
        pool, self._pool = self._pool, self._make_pool()
        if self._proxied:
            pool.clear()
        else:
            pool.close()


class AsyncioTransport:
    """:class:`AsyncTransport` for asyncio: a :class:`Urllib3Transport` in a thread.

    Takes the same keyword arguments as :class:`Urllib3Transport`, or an existing one
    as ``transport``. Requests run on this transport's own threads, as many as the
    connection pool holds (``maxsize``, 32 by default), so that many requests are in
    flight at once whatever the machine's core count; the loop's default executor
    would allow only ``min(32, cores + 4)``. The threads start when first needed.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_URL,
        *,
        transport: Urllib3Transport | None = None,
        **options: Any,
    ) -> None:
        options.setdefault("maxsize", 32)
        self.sync = transport or Urllib3Transport(base_url, **options)
        self._workers = options["maxsize"]
        self._executor: Any = None  # a ThreadPoolExecutor, made on first send
        self._lock = threading.Lock()

    def _pool(self) -> Any:
        with self._lock:
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor

                self._executor = ThreadPoolExecutor(
                    max_workers=self._workers, thread_name_prefix="lk-asyncio-transport"
                )
            return self._executor

    async def send(self, request: HttpRequest) -> HttpResponse:
        """Send ``request`` without blocking the event loop."""
        # Imported here: asyncio is a quarter of this package's import time, and
        # sync-only programs never need it.
        import asyncio

        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool(), self.sync.send, request)

    def close(self) -> None:
        """Close every pooled connection and stop the worker threads."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        self.sync.close()


class _Done(Generic[T]):
    __slots__ = ("value",)

    def __init__(self, value: T) -> None:
        self.value = value


def _advance(
    plan: Plan[T], reply: Received | None, store: Callable[[PlatformView], None]
) -> HttpRequest | _Done[T]:
    """Run ``plan`` until it needs a request sent (returned) or finishes."""
    while True:
        try:
            step = plan.send(reply)
        except StopIteration as done:
            return _Done(done.value)
        if isinstance(step, Send):
            return step.request
        store(step.view)
        reply = None


def run_sync(
    plan: Plan[T],
    send: Callable[[HttpRequest], HttpResponse],
    clock: Callable[[], float],
    store: Callable[[PlatformView], None],
) -> T:
    """Drive ``plan`` to its result: send each request, keep each new platform view.

    ``clock`` gives the local unix time each answer arrived. Errors raised by the plan
    or by ``send`` propagate unchanged.
    """
    reply: Received | None = None
    try:
        while not isinstance(step := _advance(plan, reply, store), _Done):
            reply = Received(send(step), clock())
        return step.value
    finally:
        plan.close()


async def run_async(
    plan: Plan[T],
    send: Callable[[HttpRequest], Awaitable[HttpResponse]],
    clock: Callable[[], float],
    store: Callable[[PlatformView], None],
) -> T:
    """:func:`run_sync` with an awaited ``send``."""
    reply: Received | None = None
    try:
        while not isinstance(step := _advance(plan, reply, store), _Done):
            reply = Received(await send(step), clock())
        return step.value
    finally:
        plan.close()
