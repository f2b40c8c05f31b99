"""Parsing of decrypted Service payloads into entities.

Everything here reads bytes an attacker may have written. Each function either returns a
value or raises one documented error type; no decoder, KeyError or TypeError escapes.

* create-auth body -> :class:`UnexpectedAPIResponse` (service-api.md 1)
* outer auth package -> :class:`UnexpectedAPIResponse` when polled, or
  :class:`UnexpectedAuthorizationResponse` in a webhook (service-api.md 2,
  webhooks.md 3)
* inner ``auth_jwe`` / legacy ``auth`` JSON -> :class:`UnexpectedDeviceResponse` (2.3)
* session-end webhook body -> :class:`UnexpectedWebhookRequest` (webhooks.md 4)
"""

from __future__ import annotations

import datetime as _dt
from typing import Any, TypeVar

import msgspec

from lk_core import _json
from lk_core._errors import (
    PolicyError,
    UnexpectedAPIResponse,
    UnexpectedAuthorizationResponse,
    UnexpectedDeviceResponse,
    UnexpectedWebhookRequest,
)
from lk_core.service._entities import (
    AdvancedAuthorizationResponse,
    AuthMethod,
    AuthMethodType,
    AuthorizationRequest,
    AuthorizationResponsePolicy,
    AuthResponseReason,
    AuthResponseType,
    MethodFlags,
    Requirement,
    SessionEndRequest,
)
from lk_core.service._policy import Fence, fence_from_json

__all__ = [
    "AuthPackage",
    "parse_auth_package",
    "parse_create_auth",
    "parse_jwe_response",
    "parse_legacy_response",
    "parse_session_end",
    "parse_totp",
]

_T = TypeVar("_T")


class _CreateAuth(msgspec.Struct, kw_only=True):
    auth_request: str
    push_package: str | None = None
    device_ids: list[str] | None = None


class _Totp(msgspec.Struct, kw_only=True):
    valid: bool


class AuthPackage(msgspec.Struct, frozen=True, kw_only=True):
    """The outer authorization-response package (service-api.md 2, 200 body).

    Which inner package to use: ``auth_jwe`` when non-empty, else the legacy ``auth``.
    """

    type: str | None = None
    auth: str | None = None
    auth_jwe: str | None = None
    service_user_hash: str | None = None
    org_user_hash: str | None = None
    user_push_id: str | None = None
    public_key_id: str | None = None

    @property
    def uses_jwe(self) -> bool:
        """True when the device package is the JWE one (preferred)."""
        return bool(self.auth_jwe)


class _RawMethod(MethodFlags, frozen=True, kw_only=True):
    # The method name stays text here; the open enum maps unknown names to OTHER.
    method: str


class _RawPolicy(msgspec.Struct, kw_only=True):
    requirement: str | None = None
    amount: int | float | None = None
    types: list[str] | None = None
    geofences: list[dict[str, Any]] | None = None


class _JwePackage(msgspec.Struct, kw_only=True):
    auth_request: str
    type: str
    reason: str
    denial_reason: str | None = None
    device_id: str
    service_pins: list[str] | None = None
    auth_policy: _RawPolicy | None = None
    auth_methods: list[_RawMethod] | None = None


class _LegacyPackage(msgspec.Struct, kw_only=True):
    auth_request: str
    # The seed's SDK reads a missing ``response`` as a denial (service-api.md 2.2).
    response: bool = False
    device_id: str
    service_pins: list[str] | None = None


class _SessionEnd(msgspec.Struct, kw_only=True):
    service_user_hash: str
    api_time: str


_CREATE = _CreateAuth
_TOTP = _Totp
_PACKAGE = AuthPackage
_JWE = _JwePackage
_LEGACY = _LegacyPackage
_SESSION_END = _SessionEnd


def _decode(shape: type[_T], data: bytes | None, err: type[Any]) -> _T:
    if not data:
        raise err("expected a JSON body, got none")
    # Strict parse first (duplicate keys, NaN, bad UTF-8, deep nesting are refused),
    # then typed conversion; a typed decoder alone would let a repeated key win.
    try:
        value = _json.loads(data)
    except _json.JSONError as exc:
        raise err(f"malformed body: {exc}") from None
    try:
        return msgspec.convert(value, shape)
    except msgspec.ValidationError as exc:
        # The message names the offending field, never its value.
        raise err(f"malformed body: {exc}") from None


def parse_create_auth(body: bytes | None) -> AuthorizationRequest:
    """Read the body of a successful create-auth call (UnexpectedAPIResponse if bad).

    ``push_package`` may be absent or null; an empty string is refused, as the seed's
    SDK does (service-api.md 1).
    """
    raw = _decode(_CREATE, body, UnexpectedAPIResponse)
    if not raw.auth_request:
        raise UnexpectedAPIResponse("auth_request is empty")
    if raw.push_package == "":
        raise UnexpectedAPIResponse("push_package is empty")
    return AuthorizationRequest(
        auth_request=raw.auth_request,
        push_package=raw.push_package,
        device_ids=tuple(raw.device_ids or ()),
    )


def parse_totp(body: bytes | None) -> bool:
    """Read ``{"valid": bool}`` from a TOTP reply (UnexpectedAPIResponse if bad)."""
    return _decode(_TOTP, body, UnexpectedAPIResponse).valid


def parse_auth_package(body: bytes | None, *, webhook: bool = False) -> AuthPackage:
    """Read the outer authorization-response package.

    Polling (service-api.md 2) needs the user hashes, ``user_push_id`` and
    ``public_key_id``, and ``auth`` unless ``auth_jwe`` is set (the seed's SDK also
    wants an ``auth`` key then; we do not) -> UnexpectedAPIResponse otherwise. A
    webhook (webhooks.md 3) only needs ``auth`` and ``public_key_id`` when there is no
    ``auth_jwe`` -> UnexpectedAuthorizationResponse otherwise.
    """
    err = UnexpectedAuthorizationResponse if webhook else UnexpectedAPIResponse
    package = _decode(_PACKAGE, body, err)
    if package.type not in (None, "AUTHORIZATION_RESPONSE"):
        raise err("the package is not an authorization response")
    if not package.uses_jwe and (not package.auth or not package.public_key_id):
        raise err("the package has neither auth_jwe nor auth with public_key_id")
    if not webhook:
        users = (package.service_user_hash, package.org_user_hash, package.user_push_id)
        if any(value is None for value in users):
            raise err("the package lacks a user hash or user push id")
        if package.public_key_id is None:
            raise err("the package lacks public_key_id")
    return package


def _check_id(found: str, expected: str | None) -> None:
    # service-api.md 2.3: a package for another request is a replay or a mix-up.
    if not found:
        raise UnexpectedDeviceResponse("the device package has no auth_request")
    if expected is not None and found != expected:
        raise UnexpectedDeviceResponse("the device package is for another request")


def _response_policy(raw: _RawPolicy) -> AuthorizationResponsePolicy:
    requirement = Requirement.from_wire(raw.requirement) if raw.requirement else None
    # Read amount and types whenever they are present, not only for AMOUNT / TYPES:
    # a conditional-geofence answer reports the branch it applied through them.
    amount = 0
    if raw.amount is not None:
        value = raw.amount
        if value < 0 or (isinstance(value, float) and not value.is_integer()):
            raise UnexpectedDeviceResponse("auth_policy.amount is not a count")
        amount = int(value)
    kinds = {kind.lower() for kind in raw.types or ()}
    fences: list[Fence] = []
    for item in raw.geofences or ():
        try:
            fences.append(fence_from_json(item))
        except PolicyError as exc:
            raise UnexpectedDeviceResponse(f"auth_policy fence: {exc}") from None
    return AuthorizationResponsePolicy(
        requirement=requirement,
        amount=amount,
        fences=tuple(fences),
        inherence_required="inherence" in kinds,
        knowledge_required="knowledge" in kinds,
        possession_required="possession" in kinds,
    )


def _method(raw: _RawMethod) -> AuthMethod:
    return AuthMethod(
        method=AuthMethodType.from_wire(raw.method),
        set=raw.set,
        active=raw.active,
        allowed=raw.allowed,
        supported=raw.supported,
        user_required=raw.user_required,
        passed=raw.passed,
        error=raw.error,
    )


# Devices report the same few method states over and over. The values are frozen, so
# one tuple per state list serves every response; short lists only, and forgotten all at
# once when full, so a sender cannot grow it.
_methods_seen: dict[tuple[_RawMethod, ...], tuple[AuthMethod, ...]] = {}
_MAX_METHOD_LISTS = 64
_MAX_CACHED_METHODS = 16


def _methods(raw: list[_RawMethod] | None) -> tuple[AuthMethod, ...]:
    if not raw:
        return ()
    key = tuple(raw)
    methods = _methods_seen.get(key)
    if methods is None:
        methods = tuple(_method(m) for m in raw)
        if len(key) <= _MAX_CACHED_METHODS:
            if len(_methods_seen) >= _MAX_METHOD_LISTS:
                _methods_seen.clear()
            _methods_seen[key] = methods
    return methods


def parse_jwe_response(
    plaintext: bytes, package: AuthPackage, expected_id: str | None
) -> AdvancedAuthorizationResponse:
    """Build the response from the decrypted ``auth_jwe`` JSON (service-api.md 2.1).

    ``expected_id`` is the polled request id (``None`` for webhooks). Raises
    UnexpectedDeviceResponse for malformed JSON, missing fields or a different id.
    """
    raw = _decode(_JWE, plaintext, UnexpectedDeviceResponse)
    _check_id(raw.auth_request, expected_id)
    kind = AuthResponseType.from_wire(raw.type)
    reason = AuthResponseReason.from_wire(raw.reason)
    policy = _response_policy(raw.auth_policy) if raw.auth_policy is not None else None
    return AdvancedAuthorizationResponse(
        authorization_request_id=raw.auth_request,
        # service-api.md 2.1: the Python rule, stricter than type alone.
        authorized=kind is AuthResponseType.AUTHORIZED
        and reason is AuthResponseReason.APPROVED,
        type=kind,
        reason=reason,
        denial_reason=raw.denial_reason,
        fraud=reason is AuthResponseReason.FRAUDULENT,
        device_id=raw.device_id,
        service_pins=tuple(raw.service_pins or ()),
        policy=policy,
        auth_methods=_methods(raw.auth_methods),
        service_user_hash=package.service_user_hash,
        organization_user_hash=package.org_user_hash,
        user_push_id=package.user_push_id,
    )


def parse_legacy_response(
    plaintext: bytes, package: AuthPackage, expected_id: str | None
) -> AdvancedAuthorizationResponse:
    """Build the response from the decrypted legacy ``auth`` JSON (service-api.md 2.2).

    The legacy package says only yes or no, so ``type``, ``reason`` and ``policy`` are
    ``None``. Raises UnexpectedDeviceResponse like :func:`parse_jwe_response`.
    """
    raw = _decode(_LEGACY, plaintext, UnexpectedDeviceResponse)
    _check_id(raw.auth_request, expected_id)
    return AdvancedAuthorizationResponse(
        authorization_request_id=raw.auth_request,
        authorized=raw.response,
        device_id=raw.device_id,
        service_pins=tuple(raw.service_pins or ()),
        service_user_hash=package.service_user_hash,
        organization_user_hash=package.org_user_hash,
        user_push_id=package.user_push_id,
    )


def _utc(text: str) -> _dt.datetime:
    if len(text) > 64:
        raise ValueError("too long")
    parsed = _dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        # webhooks.md 4: api_time is UTC even when written without an offset.
        return parsed.replace(tzinfo=_dt.UTC)
    return parsed.astimezone(_dt.UTC)


def parse_session_end(body: bytes | None) -> SessionEndRequest:
    """Read the plain-JSON session-end webhook body (UnexpectedWebhookRequest)."""
    raw = _decode(_SESSION_END, body, UnexpectedWebhookRequest)
    if not raw.service_user_hash:
        raise UnexpectedWebhookRequest("service_user_hash is empty")
    try:
        when = _utc(raw.api_time)
    except (ValueError, OverflowError):
        raise UnexpectedWebhookRequest("api_time is not an ISO 8601 time") from None
    return SessionEndRequest(
        service_user_hash=raw.service_user_hash, logout_requested=when
    )
