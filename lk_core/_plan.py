"""Plans: each platform conversation written once, as a generator, for any runner.

A plan yields steps and finally returns its result:

* ``Send(request)``: the runner transmits the request and sends back
  ``Received(response, now)``, ``now`` being the local unix time the answer arrived.
* ``Store(view)``: the plan learned something about the platform (its keys, the clock
  offset); the runner keeps the new :class:`PlatformView` and sends back ``None``.

Errors are raised out of the generator, so they reach the runner's caller unchanged. The
orchestration every call needs - sync the clock with ``/public/v3/ping``, fetch the
current platform key, fetch an older key by id when a response names one we have not
seen - lives here once, and the sync and async runners in ``lk_io`` only move bytes.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable, Generator, Mapping
from typing import Any, Final, TypeVar

import msgspec

from . import _json
from ._errors import (
    LaunchKeyAPIException,
    ServerError,
    Unauthorized,
    UnexpectedAPIResponse,
    api_error,
)
from ._http import HttpRequest, HttpResponse
from ._keys import KeyRing, PublicKey, load_public_key
from ._protocol import Entity, response_kid, sign_request, verify_response

__all__ = [
    "CACHE_TIME",
    "Credentials",
    "Plan",
    "PlatformView",
    "Received",
    "Send",
    "Step",
    "Store",
    "ensure_platform",
    "fetch_platform_key",
    "platform_key",
    "signed_call",
]

T = TypeVar("T")

_KID: Final = re.compile(r"[0-9a-f]{2}(?::[0-9a-f]{2}){15}")
CACHE_TIME: Final = 300.0  # seconds the clock offset and the current key stay fresh
# Platform keys we remember by id; a platform rotates a few times a year, so this is
# roomy.
MAX_PLATFORM_KEYS: Final = 64
# How long a key id the platform does not know is not asked for again, and how many
# such ids are remembered.
MISSING_TIME: Final = 60.0
MAX_MISSING_KIDS: Final = 256


class Send(msgspec.Struct, frozen=True):
    request: HttpRequest


class Received(msgspec.Struct, frozen=True):
    response: HttpResponse
    now: float


class PlatformView(msgspec.Struct, frozen=True, kw_only=True):
    """What a client knows about the platform: its keys and its clock.

    Immutable; a plan that learns something yields a new one in ``Store``. Replacing one
    reference is all the locking a multi-threaded client needs.
    """

    keys: Mapping[str, PublicKey] = msgspec.field(default_factory=dict)
    current_kid: str | None = None
    current_at: float = -math.inf
    offset: float = 0.0
    offset_at: float = -math.inf
    # Key ids the platform said it does not know, with when it said so (see
    # platform_key): a forged webhook must not buy one platform request per POST.
    missing: Mapping[str, float] = msgspec.field(default_factory=dict)

    def current_key(self, now: float) -> PublicKey | None:
        """The current encryption key if it was learned less than 300 s ago."""
        if self.current_kid is None or now - self.current_at >= CACHE_TIME:
            return None
        return self.keys.get(self.current_kid)

    def time_fresh(self, now: float) -> bool:
        return now - self.offset_at < CACHE_TIME

    def with_key(
        self, key: PublicKey, *, current_at: float | None = None
    ) -> PlatformView:
        keys = dict(self.keys)
        if key.kid not in keys and len(keys) >= MAX_PLATFORM_KEYS:
            # Forget the oldest remembered key rather than grow without bound.
            keys.pop(next(iter(keys)))
        keys[key.kid] = key
        if current_at is None:
            return msgspec.structs.replace(self, keys=keys)
        return msgspec.structs.replace(
            self, keys=keys, current_kid=key.kid, current_at=current_at
        )

    def with_missing(self, kid: str, now: float) -> PlatformView:
        missing = {k: t for k, t in self.missing.items() if now - t < MISSING_TIME}
        if len(missing) >= MAX_MISSING_KIDS:
            missing.pop(next(iter(missing)))
        missing[kid] = now
        return msgspec.structs.replace(self, missing=missing)


class Store(msgspec.Struct, frozen=True):
    view: PlatformView


Step = Send | Store
Plan = Generator[Step, Any, T]


class Credentials(msgspec.Struct, frozen=True, kw_only=True):
    """Who signs (issuer), for whom (subject), with which keys and algorithms."""

    issuer: Entity
    subject: Entity
    keyring: KeyRing
    alg: str = "RS512"
    func: str = "S256"
    user_agent: str = "lk-mfa"


def _received(value: Any) -> Received:
    if not isinstance(value, Received):
        raise TypeError("a plan step Send(...) must be answered with Received(...)")
    return value


def _public_get(path: str) -> HttpRequest:
    return HttpRequest(method="GET", path=path, headers=(("Accept", "*/*"),))


def _parse_api_time(response: HttpResponse) -> float:
    if response.status != 200:
        raise UnexpectedAPIResponse(f"ping answered HTTP {response.status}")
    try:
        body = _json.loads(response.body, max_bytes=4096)
    except _json.JSONError as exc:
        raise UnexpectedAPIResponse(f"ping body: {exc}") from None
    api_time = body.get("api_time") if isinstance(body, dict) else None
    if not isinstance(api_time, str) or len(api_time) > 40:
        raise UnexpectedAPIResponse("ping body has no api_time string")
    try:
        parsed = _dt.datetime.fromisoformat(api_time.replace("Z", "+00:00"))
    except ValueError:
        raise UnexpectedAPIResponse(f"api_time {api_time!r} is not ISO 8601") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=_dt.UTC)
    return parsed.timestamp()


def _parse_public_key(response: HttpResponse, wanted: str | None) -> PublicKey:
    if response.status == 404 and wanted is not None:
        raise UnexpectedAPIResponse(f"the platform does not know key {wanted!r}")
    if response.status != 200:
        raise UnexpectedAPIResponse(f"public-key answered HTTP {response.status}")
    header_kid = response.headers.get("X-IOV-KEY-ID")
    if header_kid is None:
        raise UnexpectedAPIResponse("public-key response has no X-IOV-KEY-ID header")
    try:
        key = load_public_key(response.body)
    except ValueError as exc:
        raise UnexpectedAPIResponse(f"public-key body: {exc}") from None
    # The kid is a function of the key: a header that disagrees is a broken or lying
    # server.
    if header_kid.strip() != key.kid or (wanted is not None and key.kid != wanted):
        raise UnexpectedAPIResponse(
            f"public key id {key.kid!r} does not match {wanted or header_kid!r}"
        )
    return key


def ensure_platform(view: PlatformView, now: float) -> Plan[tuple[PlatformView, float]]:
    """Refresh the clock offset and the current platform key when they are stale.

    Returns the (possibly new) view and the local time of the latest answer.
    """
    if not view.time_fresh(now):
        got = _received((yield Send(_public_get("/public/v3/ping"))))
        now = got.now
        view = msgspec.structs.replace(
            view, offset=now - _parse_api_time(got.response), offset_at=now
        )
        yield Store(view)
    if view.current_key(now) is None:
        got = _received((yield Send(_public_get("/public/v3/public-key"))))
        now = got.now
        view = view.with_key(_parse_public_key(got.response, None), current_at=now)
        yield Store(view)
    return view, now


def fetch_platform_key(view: PlatformView, kid: str) -> Plan[PlatformView]:
    """Fetch a platform key by id (named by a response or webhook we must verify).

    A 404 is remembered in the view for 60 s (see :func:`platform_key`).
    """
    # The kid comes from a header anyone can write and goes into a URL path, where
    # "..", "?", "#" or "%2F" would point the fetch elsewhere. A real kid is the
    # colon-separated MD5 of the key (jose.md 3): accept exactly that shape.
    if not _KID.fullmatch(kid):
        raise UnexpectedAPIResponse(f"platform key id {kid[:64]!r} is malformed")
    got = _received((yield Send(_public_get(f"/public/v3/public-key/{kid}"))))
    if got.response.status == 404:
        yield Store(view.with_missing(kid, got.now))
    view = view.with_key(_parse_public_key(got.response, kid))
    yield Store(view)
    return view


def platform_key(view: PlatformView, kid: str, now: float) -> Plan[PlatformView]:
    """Make sure the view holds platform key ``kid``, fetching it if needed.

    A kid the platform answered 404 for less than 60 s ago is refused at once
    (:class:`UnexpectedAPIResponse`) without asking again, so that a stream of forged
    webhooks naming made-up kids cannot make us send one request each.
    """
    if kid in view.keys:
        return view
    asked = view.missing.get(kid)
    if asked is not None and now - asked < MISSING_TIME:
        raise UnexpectedAPIResponse(f"the platform does not know key {kid!r}")
    return (yield from fetch_platform_key(view, kid))


def _error_payload(body: bytes | None) -> object:
    if not body:
        return None
    try:
        return _json.loads(body)
    except _json.JSONError:
        return None


def signed_call(
    view: PlatformView,
    creds: Credentials,
    method: str,
    path: str,
    payload: bytes | None,
    *,
    now: float,
    new_jti: Callable[[], str],
) -> Plan[tuple[int, bytes | None]]:
    """One signed, encrypted API call; returns (HTTP status, decrypted body or None).

    A verified 4xx is raised as the mapped :class:`LaunchKeyAPIException`. A 401 is
    raised as :class:`Unauthorized` and a 5xx as :class:`ServerError` without
    verification: neither can be bound to our request, and neither is ever taken as
    success.
    """
    key = view.current_key(now)
    if key is None or not view.time_fresh(now):
        # Steady state skips this: a generator per call costs more than the checks.
        view, now = yield from ensure_platform(view, now)
        key = view.current_key(now)
    signed = sign_request(
        method,
        path,
        issuer=creds.issuer,
        subject=creds.subject,
        keyring=creds.keyring,
        platform_key=key,
        payload=payload,
        now=int(now - view.offset),
        jti=new_jti(),
        alg=creds.alg,
        func=creds.func,
        user_agent=creds.user_agent,
    )
    got = _received((yield Send(signed.http)))
    response = got.response
    if response.status == 401:
        raise Unauthorized(None, 401, reason=response.reason or "Unauthorized")
    if response.status >= 500:
        raise ServerError(None, response.status, reason=response.reason)
    kid = response_kid(response)
    if kid not in view.keys:  # the usual case needs no generator
        view = yield from platform_key(view, kid, got.now)
    body = verify_response(
        response,
        signed,
        platform_keys=view.keys,
        keyring=creds.keyring,
        now=int(got.now - view.offset),
    )
    if response.status >= 400:
        error: LaunchKeyAPIException = api_error(
            response.status, response.reason, _error_payload(body)
        )
        raise error
    return response.status, body
