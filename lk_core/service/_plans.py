"""One plan per Service call (see :mod:`lk_core._plan` for what a plan is).

Each function validates its arguments first, so a caller mistake raises
:class:`InvalidArgument` when the plan is created, before any step is yielded. The
orchestration (clock sync, platform key fetch and refresh, signing, verification, error
mapping) comes from :func:`lk_core._plan.signed_call`; this module only says which
request to make and how to read the answer.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

from lk_core._errors import (
    EntityKeyNotFound,
    EntityNotFound,
    UnexpectedAPIResponse,
    UnexpectedDeviceResponse,
    UnexpectedKeyID,
    UnexpectedWebhookRequest,
)
from lk_core._http import Headers, HeadersInput
from lk_core._jose import JOSEDecryptError, UnverifiedJWS, jwe_decrypt, legacy_decrypt
from lk_core._keys import KeyRing
from lk_core._plan import (
    Credentials,
    Plan,
    PlatformView,
    ensure_platform,
    platform_key,
    signed_call,
)
from lk_core._protocol import verify_webhook_jws, webhook_jws
from lk_core.service._entities import (
    AdvancedAuthorizationResponse,
    AuthorizationRequest,
    WebhookEvent,
)
from lk_core.service._parse import (
    parse_auth_package,
    parse_create_auth,
    parse_jwe_response,
    parse_legacy_response,
    parse_session_end,
    parse_totp,
)
from lk_core.service._validate import (
    auth_request_body,
    check_request_id,
    session_end_body,
    session_start_body,
    totp_body,
)

__all__ = [
    "AUTHS_PATH",
    "SESSIONS_PATH",
    "TOTP_PATH",
    "cancel_auth_plan",
    "create_auth_plan",
    "decode_auth_response",
    "get_auth_response_plan",
    "read_webhook",
    "session_end_plan",
    "session_start_plan",
    "verify_totp_plan",
    "webhook_headers",
    "webhook_plan",
]

AUTHS_PATH = "/service/v3/auths"
SESSIONS_PATH = "/service/v3/sessions"
TOTP_PATH = "/service/v3/totp"

NewJti = Callable[[], str]


def create_auth_plan(
    view: PlatformView,
    creds: Credentials,
    username: object,
    *,
    now: float,
    new_jti: NewJti,
    **options: object,
) -> Plan[AuthorizationRequest]:
    """``POST /service/v3/auths``: returns the new request's id, push package, devices.

    ``options`` are the keywords of :func:`auth_request_body` (context, policy, title,
    ttl, push_title, push_body, denial_reasons). InvalidArgument before sending; after
    sending, the mapped API errors (AuthorizationInProgress, InvalidPolicyInput,
    PolicyFailure, EntityNotFound, RateLimited...) or UnexpectedAPIResponse for a
    malformed body.
    """
    body = auth_request_body(username, **options)
    return _create(view, creds, body, now, new_jti)


def _create(
    view: PlatformView, creds: Credentials, body: bytes, now: float, new_jti: NewJti
) -> Plan[AuthorizationRequest]:
    _, reply = yield from signed_call(
        view, creds, "POST", AUTHS_PATH, body, now=now, new_jti=new_jti
    )
    return parse_create_auth(reply)


def get_auth_response_plan(
    view: PlatformView,
    creds: Credentials,
    authorization_request_id: object,
    *,
    now: float,
    new_jti: NewJti,
) -> Plan[AdvancedAuthorizationResponse | None]:
    """``GET /service/v3/auths/<id>``: ``None`` while pending, else the user's answer.

    Raises RequestTimedOut (expired), AuthorizationRequestCanceled, EntityNotFound,
    UnexpectedAPIResponse (bad outer package), UnexpectedDeviceResponse (bad or
    mismatched device package), UnexpectedKeyID or EntityKeyNotFound (a key we lack).
    """
    request_id = check_request_id(authorization_request_id)
    return _get(view, creds, request_id, now, new_jti)


def _get(
    view: PlatformView, creds: Credentials, request_id: str, now: float, new_jti: NewJti
) -> Plan[AdvancedAuthorizationResponse | None]:
    path = f"{AUTHS_PATH}/{request_id}"
    status, reply = yield from signed_call(
        view, creds, "GET", path, None, now=now, new_jti=new_jti
    )
    if status == 204:
        return None
    if reply is None:
        raise UnexpectedAPIResponse(f"HTTP {status} with no authorization response")
    return decode_auth_response(reply, creds.keyring, expected_id=request_id)


def decode_auth_response(
    body: bytes,
    keyring: KeyRing,
    *,
    expected_id: str | None,
    webhook: bool = False,
) -> AdvancedAuthorizationResponse:
    """Read a decrypted outer package and decrypt and read the device package in it.

    Used for both polling and the webhook, so both give the same value. The JWE package
    is preferred; the legacy ``auth`` package is RSA-OAEP-SHA1 under the service key
    named by ``public_key_id`` (service-api.md 2.2).
    """
    package = parse_auth_package(body, webhook=webhook)
    if package.auth_jwe:
        try:
            plaintext = jwe_decrypt(package.auth_jwe, keyring)
        except JOSEDecryptError as exc:
            raise UnexpectedDeviceResponse(f"auth_jwe: {exc}") from None
        return parse_jwe_response(plaintext, package, expected_id)
    # parse_auth_package guarantees both are non-empty strings here.
    kid, sealed = package.public_key_id or "", package.auth or ""
    try:
        key = keyring.decryption_key(kid)
    except EntityKeyNotFound:
        raise UnexpectedKeyID(f"no private key with id {kid[:64]!r}") from None
    try:
        ciphertext = base64.b64decode(sealed, validate=True)
        plaintext = legacy_decrypt(ciphertext, key)
    except (ValueError, JOSEDecryptError):
        # binascii.Error is a ValueError; non-ASCII text raises ValueError too.
        raise UnexpectedDeviceResponse("auth package could not be decrypted") from None
    return parse_legacy_response(plaintext, package, expected_id)


def cancel_auth_plan(
    view: PlatformView,
    creds: Credentials,
    authorization_request_id: object,
    *,
    now: float,
    new_jti: NewJti,
) -> Plan[None]:
    """``DELETE /service/v3/auths/<id>``.

    Raises EntityNotFound, AuthorizationResponseExists or AuthorizationRequestCanceled.
    """
    path = f"{AUTHS_PATH}/{check_request_id(authorization_request_id)}"
    return _no_result(view, creds, "DELETE", path, None, now, new_jti)


def _no_result(
    view: PlatformView,
    creds: Credentials,
    method: str,
    path: str,
    body: bytes | None,
    now: float,
    new_jti: NewJti,
) -> Plan[None]:
    # A success body, if any, carries nothing these calls return; it was verified.
    yield from signed_call(view, creds, method, path, body, now=now, new_jti=new_jti)


def session_start_plan(
    view: PlatformView,
    creds: Credentials,
    username: object,
    authorization_request_id: object = None,
    *,
    now: float,
    new_jti: NewJti,
) -> Plan[None]:
    """``POST /service/v3/sessions``; raises EntityNotFound for an unknown user."""
    body = session_start_body(username, authorization_request_id)
    return _no_result(view, creds, "POST", SESSIONS_PATH, body, now, new_jti)


def session_end_plan(
    view: PlatformView,
    creds: Credentials,
    username: object,
    *,
    now: float,
    new_jti: NewJti,
) -> Plan[None]:
    """``DELETE /service/v3/sessions`` (with a body); EntityNotFound if user unknown."""
    body = session_end_body(username)
    return _no_result(view, creds, "DELETE", SESSIONS_PATH, body, now, new_jti)


def verify_totp_plan(
    view: PlatformView,
    creds: Credentials,
    username: object,
    otp: object,
    *,
    now: float,
    new_jti: NewJti,
) -> Plan[bool]:
    """``POST /service/v3/totp``: whether the code is valid now.

    Raises EntityNotFound when the user has no TOTP configuration.
    """
    body = totp_body(username, otp)
    return _totp(view, creds, body, now, new_jti)


def _totp(
    view: PlatformView, creds: Credentials, body: bytes, now: float, new_jti: NewJti
) -> Plan[bool]:
    try:
        _, reply = yield from signed_call(
            view, creds, "POST", TOTP_PATH, body, now=now, new_jti=new_jti
        )
    except EntityNotFound as exc:
        if exc.error_code != "HTTP-404":
            raise
        # A bare 404 here has one meaning (service-api.md 6); say it.
        raise EntityNotFound(
            "the user has no TOTP configuration", 404, reason=exc.reason
        ) from None
    return parse_totp(reply)


def _webhook_body(body: object) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, bytearray | memoryview):
        return bytes(body)
    if isinstance(body, str):
        try:
            return body.encode("utf-8")
        except UnicodeEncodeError:
            raise UnexpectedWebhookRequest("body text is not valid Unicode") from None
    raise UnexpectedWebhookRequest("body must be bytes or str")


def webhook_headers(headers: object) -> Headers:
    """``headers`` as :class:`Headers` (read once, so a one-shot iterable serves
    :func:`read_webhook` and then :func:`webhook_plan`); UnexpectedWebhookRequest if
    they are not name/value pairs."""
    if isinstance(headers, Headers):
        return headers
    try:
        return Headers(headers)  # type: ignore[arg-type]  # checked by Headers itself
    except (TypeError, ValueError, AttributeError) as exc:
        raise UnexpectedWebhookRequest(
            f"headers are not name/value pairs: {exc}"
        ) from None


def webhook_plan(
    view: PlatformView,
    creds: Credentials,
    body: object,
    headers: HeadersInput | Headers | object,
    method: str | None = None,
    path: str | None = None,
    *,
    now: float,
) -> Plan[WebhookEvent]:
    """Verify and read a webhook the platform POSTed to the service.

    ``body`` is the raw body (bytes or str), ``headers`` any mapping or list of pairs in
    any case with single or list values, ``method``/``path`` what the receiver saw.
    Returns an :class:`AdvancedAuthorizationResponse` (equal to what polling gives) or a
    :class:`SessionEndRequest`. Raises WebhookAuthorizationError (no JWT),
    UnexpectedWebhookRequest, UnableToDecryptWebhookRequest, EntityKeyNotFound,
    UnexpectedAuthorizationResponse, UnexpectedDeviceResponse or UnexpectedKeyID.
    """
    raw = _webhook_body(body)
    jws = webhook_jws(webhook_headers(headers))
    return _webhook(view, creds, raw, jws, method, path, now)


def read_webhook(
    view: PlatformView,
    creds: Credentials,
    body: object,
    headers: HeadersInput | Headers | object,
    method: str | None = None,
    path: str | None = None,
    *,
    now: float,
) -> WebhookEvent | None:
    """:func:`webhook_plan` without the plan, when nothing has to be fetched first.

    Returns the event, or ``None`` when the view's clock offset or current key is stale
    or it lacks the key that signed the webhook; then run :func:`webhook_plan`, which
    fetches them. Same checks, same errors. A long-lived receiver takes this path for
    almost every webhook, without a generator or a runner around it.
    """
    raw = _webhook_body(body)
    jws = webhook_jws(webhook_headers(headers))
    if (
        jws.kid not in view.keys
        or not view.time_fresh(now)
        or view.current_key(now) is None
    ):
        return None
    return _read_webhook(view, creds, raw, jws, method, path, now)


def _webhook(
    view: PlatformView,
    creds: Credentials,
    body: bytes,
    jws: UnverifiedJWS,
    method: str | None,
    path: str | None,
    now: float,
) -> Plan[WebhookEvent]:
    # The clock offset matters here too: the JWT's time claims are platform time.
    view, now = yield from ensure_platform(view, now)
    try:
        view = yield from platform_key(view, jws.kid or "", now)
    except UnexpectedAPIResponse as exc:
        raise UnexpectedWebhookRequest(f"webhook signing key: {exc}") from None
    return _read_webhook(view, creds, body, jws, method, path, now)


def _read_webhook(
    view: PlatformView,
    creds: Credentials,
    body: bytes,
    jws: UnverifiedJWS,
    method: str | None,
    path: str | None,
    now: float,
) -> WebhookEvent:
    verified = verify_webhook_jws(
        jws,
        body,
        method,
        path,
        audience=creds.issuer,
        subject=creds.subject,
        platform_keys=view.keys,
        keyring=creds.keyring,
        now=int(now - view.offset),
    )
    if not verified.encrypted:
        # Only the session-end event travels as plain JSON (webhooks.md 4); deciding by
        # the verified encoding, not by searching the body text, as the spec allows.
        return parse_session_end(verified.body)
    return decode_auth_response(
        verified.body, creds.keyring, expected_id=None, webhook=True
    )
