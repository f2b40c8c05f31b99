"""The async Service Client: the same plans as the sync one, run with ``await``."""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from lk_core import Entity, Headers, HttpRequest, HttpResponse, TransportError
from lk_core._plan import ensure_platform
from lk_core.service import (
    AdvancedAuthorizationResponse,
    AuthorizationRequest,
    AuthPolicy,
    AuthPolicyValue,
    DenialReason,
    WebhookEvent,
)
from lk_io._client import (
    Call,
    KeyInput,
    SentLog,
    ServiceCalls,
    _check_transport_options,
)
from lk_io._transport import DEFAULT_URL, AsyncioTransport, AsyncTransport, run_async

__all__ = ["AsyncServiceClient"]

T = TypeVar("T")


class AsyncServiceClient(ServiceCalls):
    """Service Client for asyncio (or any event loop, given a matching transport).

    Methods, arguments, results and errors are those of :class:`ServiceClient`, as
    coroutines. Without ``transport`` it uses :class:`AsyncioTransport` built from
    ``url`` and ``transport_options``; any object with ``async send(HttpRequest) ->
    HttpResponse`` (see :class:`AsyncTransport`) works instead.
    """

    def __init__(
        self,
        service_id: str | uuid.UUID,
        private_key: KeyInput,
        *,
        url: str = DEFAULT_URL,
        transport: AsyncTransport | None = None,
        decryption_keys: Iterable[KeyInput] = (),
        issuer: Entity | None = None,
        retries: int = 2,
        backoff: float = 0.25,
        clock: Callable[[], float] = time.time,
        **transport_options: Any,
    ) -> None:
        super().__init__(
            service_id,
            private_key,
            decryption_keys=decryption_keys,
            issuer=issuer,
            retries=retries,
            backoff=backoff,
            clock=clock,
        )
        _check_transport_options(url, transport, transport_options)
        self._owned: AsyncioTransport | None = None
        if transport is None:
            # retries=0: the client is the one retry layer (see _retry_delay).
            self._owned = transport = AsyncioTransport(
                url, retries=0, backoff=backoff, **transport_options
            )
        self.transport: AsyncTransport = transport
        self._refresh_locks: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Lock
        ] = weakref.WeakKeyDictionary()

    async def _refresh(
        self, send: Callable[[HttpRequest], Awaitable[HttpResponse]]
    ) -> None:
        # One task refreshes the clock offset and platform key while the others wait,
        # instead of each cold call sending its own ping and key fetch. One lock per
        # event loop: an asyncio lock belongs to the loop it was first used on.
        loop = asyncio.get_running_loop()
        lock = self._refresh_locks.get(loop)
        if lock is None:
            lock = self._refresh_locks[loop] = asyncio.Lock()
        async with lock:
            if self._stale():
                plan = ensure_platform(self._view, self._clock())
                await run_async(plan, send, self._clock, self._store)

    async def _run(self, call: Call[T]) -> T:
        self._check_open()
        attempt = 0
        while True:
            sent = SentLog(self.transport.send)
            try:
                # Made first: a plan checks its arguments when made, so a bad call
                # sends nothing, not even a ping.
                plan = call.make(self._view, self._clock())
                if self._stale():
                    plan.close()
                    await self._refresh(sent)
                    plan = call.make(self._view, self._clock())
                return await run_async(plan, sent, self._clock, self._store)
            except TransportError as exc:
                attempt += 1
                await asyncio.sleep(self._retry_delay(call, exc, attempt, sent.signed))

    async def authorization_request(
        self,
        user: str,
        context: str | None = None,
        policy: AuthPolicy | AuthPolicyValue | None = None,
        title: str | None = None,
        ttl: int | None = None,
        push_title: str | None = None,
        push_body: str | None = None,
        denial_reasons: Iterable[DenialReason] | None = None,
    ) -> AuthorizationRequest:
        """See :meth:`ServiceClient.authorization_request`."""
        return await self._run(
            self._c_create(
                user,
                context=context,
                policy=policy,
                title=title,
                ttl=ttl,
                push_title=push_title,
                push_body=push_body,
                denial_reasons=denial_reasons,
            )
        )

    async def get_advanced_authorization_response(
        self, authorization_request_id: str
    ) -> AdvancedAuthorizationResponse | None:
        """See :meth:`ServiceClient.get_advanced_authorization_response`."""
        return await self._run(self._c_get(authorization_request_id))

    get_authorization_response = get_advanced_authorization_response

    async def cancel_authorization_request(self, authorization_request_id: str) -> None:
        """See :meth:`ServiceClient.cancel_authorization_request`."""
        await self._run(self._c_cancel(authorization_request_id))

    async def session_start(
        self, user: str, authorization_request_id: str | None = None
    ) -> None:
        """See :meth:`ServiceClient.session_start`."""
        await self._run(self._c_session_start(user, authorization_request_id))

    async def session_end(self, user: str) -> None:
        """See :meth:`ServiceClient.session_end`."""
        await self._run(self._c_session_end(user))

    async def verify_totp(self, user: str, otp: str) -> bool:
        """See :meth:`ServiceClient.verify_totp`."""
        return await self._run(self._c_totp(user, otp))

    async def handle_webhook(
        self,
        body: bytes | str,
        headers: Headers | Any,
        method: str | None = None,
        path: str | None = None,
    ) -> WebhookEvent:
        """See :meth:`ServiceClient.handle_webhook`."""
        event, hdrs = self._read_webhook(body, headers, method, path)
        if event is None:
            event = await self._run(self._c_webhook(body, hdrs, method, path))
        return event

    handle_advanced_webhook = handle_webhook

    async def aclose(self) -> None:
        """Close the pooled connections of a transport this client created.

        Calls made afterwards raise :class:`UsageError`.
        """
        self._closed = True
        if self._owned is not None:
            self._owned.close()

    async def __aenter__(self) -> AsyncServiceClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
