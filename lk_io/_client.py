"""The synchronous Service Client, and the part it shares with the async one.

Each public method asks :mod:`lk_core.service` for the plan of its call and runs it. The
client keeps the newest :class:`~lk_core.PlatformView` (platform keys, clock offset) it
was handed; replacing one immutable value is atomic, so a client may be shared between
threads.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, Generic, TypeVar

from lk_core import (
    Credentials,
    Entity,
    Headers,
    HttpRequest,
    HttpResponse,
    InvalidArgument,
    KeyRing,
    Plan,
    PlatformView,
    PrivateKey,
    TransportError,
    UsageError,
    load_private_key,
)
from lk_core._plan import ensure_platform
from lk_core.service import (
    AdvancedAuthorizationResponse,
    AuthorizationRequest,
    AuthPolicy,
    AuthPolicyValue,
    DenialReason,
    WebhookEvent,
    cancel_auth_plan,
    create_auth_plan,
    get_auth_response_plan,
    read_webhook,
    session_end_plan,
    session_start_plan,
    verify_totp_plan,
    webhook_headers,
    webhook_plan,
)
from lk_io._transport import (
    DEFAULT_URL,
    Transport,
    Urllib3Transport,
    check_transport_options,
    is_signed,
    run_sync,
)

__all__ = ["ServiceClient"]

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

KeyInput = PrivateKey | str | bytes


def as_private_key(key: KeyInput) -> PrivateKey:
    """A loaded key from a :class:`PrivateKey` or PEM text; InvalidPrivateKey if bad."""
    return key if isinstance(key, PrivateKey) else load_private_key(key)


def _check_transport_options(
    url: str, transport: object, options: dict[str, Any]
) -> None:
    """Options for the default transport: refused with a transport of the caller's
    (they would be silently ignored), else checked by name and value."""
    if transport is not None:
        if options:
            raise InvalidArgument(
                next(iter(options)),
                "applies to the default transport only; set it on yours",
            )
        return
    check_transport_options(url, **options)


class SentLog(Generic[R]):
    """Wraps a transport's send; remembers whether a signed request went out.

    A request carrying an Authorization header is signed: once one was sent, the
    platform may have acted on it, so rerunning the call is no longer always safe.
    """

    __slots__ = ("_send", "signed")

    def __init__(self, send: Callable[[HttpRequest], R]) -> None:
        self._send = send
        self.signed = False

    def __call__(self, request: HttpRequest) -> R:
        if not self.signed and is_signed(request):
            self.signed = True
        return self._send(request)


class Call(Generic[T]):
    """How to build one call's plan; ``safe`` calls may rerun after a network error."""

    __slots__ = ("make", "name", "safe")

    def __init__(
        self, name: str, make: Callable[[PlatformView, float], Plan[T]], safe: bool
    ) -> None:
        self.name = name
        self.make = make
        self.safe = safe


class ServiceCalls:
    """Credentials, the platform view and the plan of every call; no I/O.

    ``service_id`` is the Service's UUID (InvalidEntityID otherwise); ``private_key`` a
    :class:`PrivateKey` or PEM text; ``decryption_keys`` older or extra keys that
    responses and webhooks may be encrypted to. ``issuer`` lets a parent Directory or
    Organization key act for the Service (jose.md 2).
    """

    def __init__(
        self,
        service_id: str | uuid.UUID,
        private_key: KeyInput,
        *,
        decryption_keys: Iterable[KeyInput] = (),
        issuer: Entity | None = None,
        retries: int = 2,
        backoff: float = 0.25,
        clock: Callable[[], float] = time.time,
    ) -> None:
        subject = Entity.service(service_id)
        keyring = KeyRing(
            as_private_key(private_key), [as_private_key(k) for k in decryption_keys]
        )
        self._creds = Credentials(
            issuer=issuer or subject, subject=subject, keyring=keyring
        )
        self._view = PlatformView()
        self.retries = max(0, retries)
        self.backoff = max(0.0, backoff)
        self._clock = clock
        self._closed = False

    def _check_open(self) -> None:
        if self._closed:
            raise UsageError("the client is closed; make a new one")

    @property
    def service_id(self) -> str:
        """The Service's UUID."""
        return self._creds.subject.id

    @property
    def platform_view(self) -> PlatformView:
        """What the client currently knows about the platform (keys, clock offset)."""
        return self._view

    def _store(self, view: PlatformView) -> None:
        self._view = view

    def _stale(self) -> bool:
        """Whether the next call would first have to ping or fetch the current key."""
        now, view = self._clock(), self._view
        return not view.time_fresh(now) or view.current_key(now) is None

    @staticmethod
    def _new_jti() -> str:
        # A random (version 4) UUID, formatted directly: str(uuid.uuid4()) costs four
        # times as much, on every call.
        raw = bytearray(os.urandom(16))
        raw[6] = raw[6] & 0x0F | 0x40
        raw[8] = raw[8] & 0x3F | 0x80
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def _retry_delay(
        self, call: Call[Any], exc: TransportError, attempt: int, signed_sent: bool
    ) -> float:
        """Seconds to wait before running ``call`` again, or raise ``exc``.

        The client is the only retry layer (its own transport does not retry), so
        ``retries`` is the whole budget. Any call may rerun when the failure came
        before its signed request went out (a ping or key fetch failed); after that,
        only calls that are safe to repeat do.
        """
        if (signed_sent and not call.safe) or not exc.retryable:
            raise exc
        if attempt > self.retries:
            raise exc
        delay = self.backoff * float(2 ** (attempt - 1))
        logger.info("%s failed (%s); retry %d in %.2fs", call.name, exc, attempt, delay)
        return delay

    def _call(
        self, name: str, plan: Callable[..., Plan[T]], *args: object, **options: object
    ) -> Call[T]:
        creds, jti = self._creds, self._new_jti

        def make(view: PlatformView, now: float) -> Plan[T]:
            return plan(view, creds, *args, now=now, new_jti=jti, **options)

        # Only the GET of a response is repeated after a network failure: a second
        # create, cancel or session call would act twice.
        return Call(name, make, safe=plan is get_auth_response_plan)

    def _c_create(self, user: object, **options: object) -> Call[AuthorizationRequest]:
        return self._call("authorization_request", create_auth_plan, user, **options)

    def _c_get(self, request_id: object) -> Call[AdvancedAuthorizationResponse | None]:
        return self._call("get_auth_response", get_auth_response_plan, request_id)

    def _c_cancel(self, request_id: object) -> Call[None]:
        return self._call("cancel_authorization", cancel_auth_plan, request_id)

    def _c_session_start(self, user: object, request_id: object) -> Call[None]:
        return self._call("session_start", session_start_plan, user, request_id)

    def _c_session_end(self, user: object) -> Call[None]:
        return self._call("session_end", session_end_plan, user)

    def _c_totp(self, user: object, otp: object) -> Call[bool]:
        return self._call("verify_totp", verify_totp_plan, user, otp)

    def _read_webhook(
        self, body: object, headers: object, method: str | None, path: str | None
    ) -> tuple[WebhookEvent | None, Headers]:
        """The event when no fetch is needed first (the usual case), else None; and
        the headers as read, for the plan to use when it must run."""
        self._check_open()
        hdrs = webhook_headers(headers)
        event = read_webhook(
            self._view, self._creds, body, hdrs, method, path, now=self._clock()
        )
        return event, hdrs

    def _c_webhook(
        self, body: object, headers: object, method: str | None, path: str | None
    ) -> Call[WebhookEvent]:
        creds = self._creds

        def make(view: PlatformView, now: float) -> Plan[WebhookEvent]:
            return webhook_plan(view, creds, body, headers, method, path, now=now)

        # Verifying twice changes nothing; only unsigned key fetches are sent.
        return Call("handle_webhook", make, safe=True)


class ServiceClient(ServiceCalls):
    """Blocking Service Client over urllib3 (or any :class:`Transport`).

    Build it directly or with :class:`ServiceFactory`. ``url`` and the keyword
    ``transport_options`` (``connect_timeout``, ``read_timeout``, ``proxy_url``,
    ``ca_certs``, ``ssl_context``, ``maxsize``) configure the default
    :class:`Urllib3Transport`; pass ``transport`` to use another one. ``retries`` and
    ``backoff`` govern re-running the safe calls after a network failure.
    Every method may also raise :class:`TransportError` (network), Unauthorized (bad
    credentials or clock), RateLimited, ServerError, or a :class:`ProtocolError` when
    the answer fails verification.
    """

    def __init__(
        self,
        service_id: str | uuid.UUID,
        private_key: KeyInput,
        *,
        url: str = DEFAULT_URL,
        transport: Transport | None = None,
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
        self._owns_transport = transport is None
        # retries=0: this client is the one retry layer (see _retry_delay).
        self.transport: Transport = transport or Urllib3Transport(
            url, retries=0, backoff=backoff, **transport_options
        )
        self._refresh_lock = threading.Lock()

    def _refresh(self, send: Callable[[HttpRequest], HttpResponse]) -> None:
        # One thread refreshes the clock offset and platform key while the others
        # wait, instead of each cold call sending its own ping and key fetch.
        with self._refresh_lock:
            if self._stale():
                plan = ensure_platform(self._view, self._clock())
                run_sync(plan, send, self._clock, self._store)

    def _run(self, call: Call[T]) -> T:
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
                    self._refresh(sent)
                    plan = call.make(self._view, self._clock())
                return run_sync(plan, sent, self._clock, self._store)
            except TransportError as exc:
                attempt += 1
                time.sleep(self._retry_delay(call, exc, attempt, sent.signed))

    def authorization_request(
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
        """Ask ``user`` (username, directory user id or user push id) to authorize.

        Returns the request id (``auth_request``), ``push_package`` and ``device_ids``.
        Raises InvalidArgument before sending (empty user, ttl outside 30..600, text
        too long, bad denial reasons, policy not an AuthPolicy); then
        AuthorizationInProgress, InvalidPolicyInput, PolicyFailure, EntityNotFound,
        InvalidParameters. Never retried.
        """
        return self._run(
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

    def get_advanced_authorization_response(
        self, authorization_request_id: str
    ) -> AdvancedAuthorizationResponse | None:
        """The user's answer, or ``None`` while they have not answered.

        Raises RequestTimedOut, AuthorizationRequestCanceled, EntityNotFound,
        UnexpectedDeviceResponse (bad device package, or one for another request),
        UnexpectedKeyID / EntityKeyNotFound (encrypted to a key we do not hold).
        """
        return self._run(self._c_get(authorization_request_id))

    get_authorization_response = get_advanced_authorization_response

    def cancel_authorization_request(self, authorization_request_id: str) -> None:
        """Cancel a pending request.

        Raises EntityNotFound, AuthorizationRequestCanceled or
        AuthorizationResponseExists.
        """
        self._run(self._c_cancel(authorization_request_id))

    def session_start(
        self, user: str, authorization_request_id: str | None = None
    ) -> None:
        """Show a session in the user's authenticator; EntityNotFound if unknown."""
        self._run(self._c_session_start(user, authorization_request_id))

    def session_end(self, user: str) -> None:
        """End the user's session for this Service; EntityNotFound if unknown."""
        self._run(self._c_session_end(user))

    def verify_totp(self, user: str, otp: str) -> bool:
        """Whether ``otp`` (6-8 digit string) is valid for ``user`` now.

        Raises InvalidArgument for a malformed code, EntityNotFound when the user has no
        TOTP configured.
        """
        return self._run(self._c_totp(user, otp))

    def handle_webhook(
        self,
        body: bytes | str,
        headers: Headers | Any,
        method: str | None = None,
        path: str | None = None,
    ) -> WebhookEvent:
        """Verify and read a webhook; same value types as polling gives.

        ``headers`` may be any mapping or list of pairs, any case, single or list
        values. Returns :class:`AdvancedAuthorizationResponse` or
        :class:`SessionEndRequest`. Raises WebhookAuthorizationError (no JWT),
        UnexpectedWebhookRequest (signature, claims, method, path, body hash, or a
        malformed session-end body), UnableToDecryptWebhookRequest, EntityKeyNotFound,
        UnexpectedAuthorizationResponse, UnexpectedDeviceResponse.
        """
        event, hdrs = self._read_webhook(body, headers, method, path)
        if event is None:
            event = self._run(self._c_webhook(body, hdrs, method, path))
        return event

    handle_advanced_webhook = handle_webhook

    def close(self) -> None:
        """Close the pooled connections of a transport this client created.

        Calls made afterwards raise :class:`UsageError`.
        """
        self._closed = True
        if self._owns_transport and isinstance(self.transport, Urllib3Transport):
            self.transport.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
