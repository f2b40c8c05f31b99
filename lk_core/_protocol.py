"""The signed, encrypted request/response protocol of platform API v3, both sides.

Client side: :func:`sign_request` builds a request, :func:`verify_response` checks the
platform's answer, :func:`verify_webhook` checks a request the platform sent us.
Platform side (used by the emulator, and by tests as a fake peer):
:func:`verify_request`, :func:`sign_response`, :func:`sign_webhook`. Both sides share
the JOSE code and the claim checks, so what one side writes the other reads by
construction, and the vendor SDK cross-checks keep both honest.

Spec: docs of the wire protocol, sections "Building a request", "Responses" and
"Webhooks".
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Callable, Mapping
from typing import Any, Final, Literal

import msgspec

from . import _json
from ._errors import (
    InvalidAlgorithm,
    InvalidArgument,
    InvalidEntityID,
    InvalidIssuer,
    InvalidJWTResponse,
    JWTValidationFailure,
    ProtocolError,
    UnableToDecryptWebhookRequest,
    UnexpectedAPIResponse,
    UnexpectedWebhookRequest,
    WebhookAuthorizationError,
)
from ._http import Headers, HeadersInput, HttpRequest, HttpResponse
from ._jose import (
    JOSEDecryptError,
    UnverifiedJWS,
    jwe_decrypt,
    jwe_seal,
    jws_kid,
    jws_parse,
    jws_sign,
    jws_verify,
)
from ._keys import KeyRing, PrivateKey, PublicKey

__all__ = [
    "AUDIENCE",
    "LEEWAY",
    "MAX_TOKEN_LIFETIME",
    "PLATFORM",
    "Entity",
    "EntityType",
    "SignedRequest",
    "VerifiedRequest",
    "WebhookRequest",
    "parse_entity",
    "response_kid",
    "sign_request",
    "sign_response",
    "sign_webhook",
    "verify_request",
    "verify_response",
    "verify_webhook",
    "webhook_kid",
]

AUDIENCE: Final = "lka"  # ``aud`` of every request, ``iss`` of every platform token
PLATFORM: Final = AUDIENCE
LEEWAY: Final = 30  # seconds of clock skew tolerated on nbf, iat and exp (jose.md 1)
REQUEST_LIFETIME: Final = 5  # exp = nbf + 5 on requests
# What the emulator tolerates on incoming requests (emulator-notes.md 2).
PLATFORM_SKEW: Final = 5
# Latest ``exp`` accepted, counted from now. Platform tokens live 5 s; a token valid for
# days could be replayed for days, and would pin its id in a replay guard as long. Ten
# minutes is the longest an authorization request itself may live (ttl <= 600).
MAX_TOKEN_LIFETIME: Final = 600

_FUNCS: Final[dict[str, Callable[[bytes], Any]]] = {
    "S256": hashlib.sha256,
    "S384": hashlib.sha384,
    "S512": hashlib.sha512,
}

EntityType = Literal["svc", "dir", "org"]


class Entity(msgspec.Struct, frozen=True):
    """An organization, directory or service: ``svc:<uuid>`` on the wire."""

    type: EntityType
    id: str

    def __str__(self) -> str:
        return f"{self.type}:{self.id}"

    @classmethod
    def service(cls, service_id: str | uuid.UUID) -> Entity:
        return cls("svc", _uuid_text(service_id))

    @classmethod
    def directory(cls, directory_id: str | uuid.UUID) -> Entity:
        return cls("dir", _uuid_text(directory_id))

    @classmethod
    def organization(cls, organization_id: str | uuid.UUID) -> Entity:
        return cls("org", _uuid_text(organization_id))


def _uuid_text(value: object) -> str:
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or len(value) > 64:
        raise InvalidEntityID(
            f"entity id must be a UUID string, got {type(value).__name__}"
        )
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise InvalidEntityID(f"entity id {value[:64]!r} is not a UUID") from None


def parse_entity(text: object) -> Entity:
    """Parse ``<svc|dir|org>:<uuid>``; InvalidIssuer or InvalidEntityID if it is not."""
    if not isinstance(text, str) or ":" not in text:
        raise InvalidIssuer(f"{str(text)[:80]!r} is not <type>:<uuid>")
    kind, _, ident = text.partition(":")
    if kind not in ("svc", "dir", "org"):
        raise InvalidIssuer(f"entity type {kind[:16]!r}; expected svc, dir or org")
    return Entity(kind, _uuid_text(ident))  # type: ignore[arg-type]


def _digest(func: str, body: bytes) -> str:
    hexdigest: str = _FUNCS[func](body).hexdigest()
    return hexdigest


# --- claim checks shared by every verifier -------------------------------------------


def _int_claim(claims: Mapping[str, Any], name: str) -> int:
    value = claims.get(name)
    if type(value) is not int:  # bool is an int subclass; refuse it
        raise JWTValidationFailure(name, "an integer", value)
    return value


def _check_times(claims: Mapping[str, Any], now: int, before: int, after: int) -> None:
    """``before``: how far ahead nbf/iat may be; ``after``: how late exp may be."""
    nbf = _int_claim(claims, "nbf")
    iat = _int_claim(claims, "iat")
    exp = _int_claim(claims, "exp")
    if nbf > now + before:
        raise JWTValidationFailure("nbf", f"<= {now + before}", nbf)
    if iat > now + before:
        raise JWTValidationFailure("iat", f"<= {now + before}", iat)
    if exp < now - after:
        raise JWTValidationFailure("exp", f">= {now - after}", exp)
    if exp < nbf:
        raise JWTValidationFailure("exp", f">= nbf {nbf}", exp)
    if exp > now + MAX_TOKEN_LIFETIME:
        raise JWTValidationFailure("exp", f"<= {now + MAX_TOKEN_LIFETIME}", exp)


def _expect(
    claims: Mapping[str, Any], name: str, expected: object, where: str = ""
) -> None:
    found = claims.get(name)
    if found != expected or type(found) is not type(expected):
        raise JWTValidationFailure(f"{where}{name}", expected, found)


def _check_platform_claims(
    claims: Mapping[str, Any], audience: str, subject: str | None, now: int
) -> None:
    """iss, aud, sub (unless None) and the 30 s time window of a platform token."""
    nbf, iat, exp = claims.get("nbf"), claims.get("iat"), claims.get("exp")
    # One pass for the usual case, where all is well: equal strings are strings, and the
    # bounds are those of _check_times.
    if (
        claims.get("iss") == PLATFORM
        and claims.get("aud") == audience
        and (subject is None or claims.get("sub") == subject)
        and type(nbf) is int
        and type(iat) is int
        and type(exp) is int
        and nbf <= now + LEEWAY
        and iat <= now + LEEWAY
        and nbf <= exp
        and now - LEEWAY <= exp <= now + MAX_TOKEN_LIFETIME
    ):
        return
    # Something is wrong; the careful checks name it, in the documented order.
    _expect(claims, "iss", PLATFORM)
    _expect(claims, "aud", audience)
    if subject is not None:
        _expect(claims, "sub", subject)
    _check_times(claims, now, LEEWAY, LEEWAY)
    # Not reached: the fast test is the conjunction of the careful ones.
    raise JWTValidationFailure("claims", "platform claims", "claims that fail")


def _check_body_hash(
    bound: Mapping[str, Any], body: bytes, where: str, *, require_func: bool = True
) -> None:
    """A non-empty body must carry a matching hash; an empty one must carry none."""
    digest, func = bound.get("hash"), bound.get("func")
    if not body:
        for name, value in (("hash", digest), ("func", func)):
            if value is not None:
                raise JWTValidationFailure(
                    f"{where}.{name}", "absent for an empty body", value
                )
        return
    if func not in _FUNCS:
        if func is None and not require_func:
            func = "S256"
        else:
            raise JWTValidationFailure(f"{where}.func", sorted(_FUNCS), func)
    if not isinstance(digest, str):
        raise JWTValidationFailure(f"{where}.hash", "a hex digest", digest)
    actual = _digest(func, body)
    # compare_digest refuses non-ASCII str, so compare bytes; "?" never matches hex.
    claimed = digest.lower().encode("utf-8", "replace")
    if not hmac.compare_digest(actual.encode("ascii"), claimed):
        raise JWTValidationFailure(f"{where}.hash", actual, digest)


def _object_claim(claims: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = claims.get(name)
    if not isinstance(value, dict):
        raise JWTValidationFailure(name, "an object", type(value).__name__)
    return value


def _verified(
    token: str, keys: Mapping[str, PublicKey], error: type[ProtocolError]
) -> UnverifiedJWS:
    jws = jws_parse(token)
    _verify_signature(jws, keys, error)
    return jws


def _verify_signature(
    jws: UnverifiedJWS, keys: Mapping[str, PublicKey], error: type[ProtocolError]
) -> None:
    if jws.kid is None:
        raise error("token has no kid")
    key = keys.get(jws.kid)
    if key is None:
        raise error(f"token names unknown platform key {jws.kid!r}")
    jws_verify(jws, key)


# --- client side ---------------------------------------------------------------------


class SignedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A request we signed, with what its response must echo."""

    http: HttpRequest
    issuer: Entity
    subject: Entity
    jti: str

    @property
    def method(self) -> str:
        return self.http.method

    @property
    def path(self) -> str:
        return self.http.path


def sign_request(
    method: str,
    path: str,
    *,
    issuer: Entity,
    subject: Entity,
    keyring: KeyRing,
    platform_key: PublicKey | None,
    payload: bytes | None,
    now: int,
    jti: str,
    alg: str = "RS512",
    func: str = "S256",
    user_agent: str = "lk-mfa",
) -> SignedRequest:
    """Build a request: JWE body to the platform key, JWT in the Authorization header.

    ``payload`` is the JSON body (bytes) or ``None`` for a bodiless call; ``now`` is the
    server-adjusted time (unix seconds).
    """
    if func not in _FUNCS:
        raise InvalidAlgorithm(f"hash func {func!r}; expected one of {sorted(_FUNCS)}")
    method = method.upper()
    request: dict[str, str] = {"meth": method, "path": path}
    body = b""
    headers: list[tuple[str, str]] = [("User-Agent", user_agent)]
    if payload is not None:
        if platform_key is None:
            raise InvalidAlgorithm("a body needs the platform public key to encrypt to")
        body = jwe_seal(payload, platform_key)
        request["hash"] = _digest(func, body)
        request["func"] = func
        headers.append(("Content-Type", "application/jwe"))
    else:
        headers.append(("Content-Type", "application/jwt"))
    claims = {
        "iss": str(issuer),
        "sub": str(subject),
        "aud": AUDIENCE,
        "iat": now,
        "nbf": now,
        "exp": now + REQUEST_LIFETIME,
        "jti": jti,
        "request": request,
    }
    token = jws_sign(_json.dumps(claims), keyring.signing, alg)
    headers.append(("Authorization", "IOV-JWT " + token))
    http = HttpRequest(method=method, path=path, headers=tuple(headers), body=body)
    return SignedRequest(http=http, issuer=issuer, subject=subject, jti=jti)


def _header_token(headers: Headers, error: type[ProtocolError]) -> str:
    token = headers.get("X-IOV-JWT")
    if token is None:
        raise error("the X-IOV-JWT header is missing")
    return token.strip()


def response_kid(response: HttpResponse) -> str:
    """The platform key id named in the response's X-IOV-JWT header.

    Only the JWT header is read (:func:`verify_response` parses the rest once).
    """
    kid = jws_kid(_header_token(response.headers, UnexpectedAPIResponse))
    if kid is None:
        raise UnexpectedAPIResponse("X-IOV-JWT has no kid")
    return kid


def verify_response(
    response: HttpResponse,
    sent: SignedRequest,
    *,
    platform_keys: Mapping[str, PublicKey],
    keyring: KeyRing,
    now: int,
) -> bytes | None:
    """Verify a signed platform response; return the decrypted body (None if empty).

    Checks, in order: the X-IOV-JWT signature with the platform key its kid names; iss,
    aud (our issuer), sub, nbf/iat/exp within 30 s; jti echo; ``response.status`` equal
    to the HTTP status; ``location``/``cache`` equal to the Location and Cache-Control
    headers; the body hash. Then decrypts the body with the ring key the JWE names.

    Raises :class:`InvalidJWTResponse`, :class:`JWTValidationFailure`,
    :class:`UnexpectedAPIResponse`, :class:`EntityKeyNotFound` or ``JOSEDecryptError``.
    The caller decides what a verified 4xx means; 401 and 5xx are not passed here (a
    platform that cannot authenticate us cannot bind its answer to our request).
    """
    jws = _verified(
        _header_token(response.headers, UnexpectedAPIResponse),
        platform_keys,
        InvalidJWTResponse,
    )
    claims = jws.claims
    _check_platform_claims(claims, str(sent.issuer), str(sent.subject), now)
    if claims.get("jti") != sent.jti:
        _expect(claims, "jti", sent.jti)
    bound = _object_claim(claims, "response")
    status = bound.get("status")
    if type(status) is not int or status != response.status:
        raise JWTValidationFailure("response.status", response.status, status)
    headers = response.headers
    for claim, header in (("location", "Location"), ("cache", "Cache-Control")):
        if bound.get(claim) != headers.get(header):
            raise JWTValidationFailure(
                f"response.{claim}", headers.get(header), bound.get(claim)
            )
    _check_body_hash(bound, response.body, "response")
    if not response.body:
        return None
    return jwe_decrypt(response.body, keyring)


class WebhookRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A verified webhook: its claims and its body (decrypted when it was a JWE)."""

    claims: dict[str, Any]
    body: bytes
    encrypted: bool

    def __repr__(self) -> str:
        return (
            f"WebhookRequest(encrypted={self.encrypted}, {len(self.body)} body bytes)"
        )


def _webhook_token(headers: Headers) -> str:
    token = headers.get("X-IOV-JWT")
    if token is None:
        auth = headers.get("Authorization") or ""
        if auth.startswith("IOV-JWT "):
            token = auth[8:]
    if token is None:
        raise WebhookAuthorizationError("the webhook has no X-IOV-JWT header")
    return token.strip()


def webhook_jws(headers: Headers) -> UnverifiedJWS:
    """A webhook's JWT, parsed but not verified, naming a kid.

    Raises WebhookAuthorizationError (no JWT) or UnexpectedWebhookRequest.
    """
    try:
        jws = jws_parse(_webhook_token(headers))
    except InvalidJWTResponse as exc:
        raise UnexpectedWebhookRequest(str(exc)) from None
    if jws.kid is None:
        raise UnexpectedWebhookRequest("webhook JWT has no kid")
    return jws


def webhook_kid(headers: Headers | HeadersInput) -> str:
    """The platform key id a webhook's JWT names."""
    kid = webhook_jws(_headers(headers)).kid
    assert kid is not None  # webhook_jws refuses a JWT without one
    return kid


def _headers(headers: Headers | HeadersInput) -> Headers:
    if isinstance(headers, Headers):
        return headers
    try:
        return Headers(headers)
    except (TypeError, ValueError) as exc:
        raise UnexpectedWebhookRequest(
            f"headers are not name/value pairs: {exc}"
        ) from None


def verify_webhook(
    headers: Headers | HeadersInput,
    body: bytes,
    method: str | None,
    path: str | None,
    *,
    audience: Entity,
    subject: Entity | None,
    platform_keys: Mapping[str, PublicKey],
    keyring: KeyRing,
    now: int,
) -> WebhookRequest:
    """Verify a webhook request the platform sent us; decrypt its body if it is a JWE.

    ``method`` and ``path`` are what the receiver saw; they are compared with the signed
    ``request`` claim when given. Raises :class:`WebhookAuthorizationError` (no JWT),
    :class:`UnexpectedWebhookRequest` (any JWT or claim failure, the message says
    which), :class:`UnableToDecryptWebhookRequest` or :class:`EntityKeyNotFound`.
    """
    return verify_webhook_jws(
        webhook_jws(_headers(headers)),
        body,
        method,
        path,
        audience=audience,
        subject=subject,
        platform_keys=platform_keys,
        keyring=keyring,
        now=now,
    )


def verify_webhook_jws(
    jws: UnverifiedJWS,
    body: bytes,
    method: str | None,
    path: str | None,
    *,
    audience: Entity,
    subject: Entity | None,
    platform_keys: Mapping[str, PublicKey],
    keyring: KeyRing,
    now: int,
) -> WebhookRequest:
    """:func:`verify_webhook` of a JWT already read by :func:`webhook_jws`."""
    # What the receiver saw is the caller's to give as text; anything else is a
    # mistake in the caller's code, not a sign of a forged webhook.
    for name, value in (("method", method), ("path", path)):
        if value is not None and not isinstance(value, str):
            raise InvalidArgument(name, "must be a str or None")
    try:
        _verify_signature(jws, platform_keys, InvalidJWTResponse)
        claims = jws.claims
        _check_platform_claims(
            claims, str(audience), None if subject is None else str(subject), now
        )
        bound = _object_claim(claims, "request")
        meth, claimed_path = bound.get("meth"), bound.get("path")
        if not isinstance(meth, str) or not isinstance(claimed_path, str):
            raise JWTValidationFailure("request", "meth and path strings", bound)
        if method is not None and meth != method.upper():
            raise JWTValidationFailure("request.meth", method.upper(), meth)
        if path is not None and claimed_path != path:
            raise JWTValidationFailure("request.path", path, claimed_path)
        _check_body_hash(bound, body, "request")
    except (InvalidJWTResponse, JWTValidationFailure) as exc:
        raise UnexpectedWebhookRequest(str(exc)) from exc
    stripped = body.lstrip() if body[:1].isspace() else body
    if not stripped.startswith(b"{"):
        # Not plain JSON, so it must be a compact JWE (auth response, device link).
        try:
            return WebhookRequest(
                claims=claims, body=jwe_decrypt(stripped, keyring), encrypted=True
            )
        except JOSEDecryptError as exc:
            raise UnableToDecryptWebhookRequest(str(exc)) from None
    return WebhookRequest(claims=claims, body=body, encrypted=False)


# --- platform side -------------------------------------------------------------------


class VerifiedRequest(msgspec.Struct, frozen=True, kw_only=True):
    """An incoming request whose JWT, claims and body hash checked out."""

    issuer: Entity
    subject: Entity
    jti: str
    kid: str
    exp: int
    payload: bytes | None
    # The iss and sub claims exactly as sent. Answers echo these: SDKs compare the
    # text, and the vendor SDK keeps an upper-case id as its user typed it.
    iss_claim: str = ""
    sub_claim: str = ""

    def __repr__(self) -> str:
        return (
            f"VerifiedRequest(iss={self.issuer}, sub={self.subject}, jti={self.jti!r})"
        )


def _entity_claim(claims: Mapping[str, Any], name: str) -> Entity:
    # parse_entity raises usage errors (meant for our callers' ids); a bad claim from
    # the far side is a protocol failure, answered with 401 rather than a crash.
    value = claims.get(name)
    try:
        return parse_entity(value)
    except (InvalidIssuer, InvalidEntityID):
        raise JWTValidationFailure(name, "<svc|dir|org>:<uuid>", value) from None


def verify_request(
    method: str,
    path: str,
    headers: Headers | HeadersInput,
    body: bytes,
    *,
    key_lookup: Callable[[Entity, str], PublicKey | None],
    platform_keys: KeyRing,
    now: int,
    skew: int = PLATFORM_SKEW,
) -> VerifiedRequest:
    """Platform side: verify a request a client signed, and decrypt its body.

    ``key_lookup(issuer, kid)`` returns the issuer's active public key with that kid.
    Every failure raises a :class:`ProtocolError` whose message names the check; the
    server answers it with 401. Replay of a ``jti`` is left to the caller's state.
    """
    hdrs = headers if isinstance(headers, Headers) else Headers(headers)
    auth = hdrs.get("Authorization") or ""
    if not auth.startswith("IOV-JWT "):
        raise InvalidJWTResponse("Authorization header is not 'IOV-JWT <token>'")
    jws = jws_parse(auth[8:].strip())
    claims = jws.claims
    issuer = _entity_claim(claims, "iss")
    subject = _entity_claim(claims, "sub")
    if jws.kid is None:
        raise InvalidJWTResponse("request JWT has no kid")
    key = key_lookup(issuer, jws.kid)
    if key is None:
        raise InvalidJWTResponse(f"no active key {jws.kid!r} for {issuer}")
    jws_verify(jws, key)
    _expect(claims, "aud", AUDIENCE)
    _check_times(claims, now, skew, skew)
    jti = claims.get("jti")
    if not isinstance(jti, str) or not 0 < len(jti) <= 128:
        raise JWTValidationFailure("jti", "a string of 1 to 128 characters", jti)
    bound = _object_claim(claims, "request")
    _expect(bound, "meth", method.upper(), "request.")
    _expect(bound, "path", path, "request.")
    _check_body_hash(bound, body, "request")
    payload = jwe_decrypt(body, platform_keys) if body else None
    return VerifiedRequest(
        issuer=issuer,
        subject=subject,
        jti=jti,
        kid=jws.kid,
        exp=_int_claim(claims, "exp"),
        payload=payload,
        iss_claim=claims["iss"],
        sub_claim=claims["sub"],
    )


def sign_response(
    status: int,
    payload: bytes | None,
    *,
    request: VerifiedRequest | None,
    platform_key: PrivateKey,
    encrypt_to: PublicKey | None,
    now: int,
    jti: str = "",
    extra_headers: tuple[tuple[str, str], ...] = (),
    reason: str = "",
) -> HttpResponse:
    """Platform side: a signed response, its body encrypted to ``encrypt_to``.

    Without a verified ``request`` (a 401), ``aud`` and ``sub`` are ``public`` and
    ``jti`` is the caller's (the raw jti of the refused token, if one could be read).
    """
    body = b""
    headers: list[tuple[str, str]] = []
    bound: dict[str, Any] = {"status": status}
    if payload is not None:
        if encrypt_to is None:
            raise InvalidAlgorithm("a response body needs a key to encrypt to")
        body = jwe_seal(payload, encrypt_to)
        bound["hash"] = _digest("S256", body)
        bound["func"] = "S256"
        headers.append(("Content-Type", "application/jose"))
    for name, value in extra_headers:
        headers.append((name, value))
        if name.lower() == "location":
            bound["location"] = value
        elif name.lower() == "cache-control":
            bound["cache"] = value
    claims = {
        "iss": PLATFORM,
        "aud": (request.iss_claim or str(request.issuer)) if request else "public",
        "sub": (request.sub_claim or str(request.subject)) if request else "public",
        "iat": now,
        "nbf": now,
        "exp": now + REQUEST_LIFETIME,
        "jti": request.jti if request else jti,
        "response": bound,
    }
    token = jws_sign(_json.dumps(claims), platform_key, "RS256")
    headers.append(("X-IOV-JWT", token))
    return HttpResponse(
        status=status, headers=Headers(headers), body=body, reason=reason
    )


def sign_webhook(
    payload: bytes,
    *,
    path: str,
    audience: Entity,
    subject: Entity,
    platform_key: PrivateKey,
    encrypt_to: PublicKey | None,
    now: int,
    jti: str,
) -> HttpRequest:
    """Platform side: a webhook POST with a JWE body (plain JSON if no ``encrypt_to``).

    The JWT goes in both X-IOV-JWT (what SDKs read) and Authorization (what docs show).
    """
    if encrypt_to is not None:
        body = jwe_seal(payload, encrypt_to)
        content_type = "application/jose"
    else:
        body = payload
        content_type = "application/json"
    claims = {
        "iss": PLATFORM,
        "aud": str(audience),
        "sub": str(subject),
        "iat": now,
        "nbf": now,
        "exp": now + REQUEST_LIFETIME,
        "jti": jti,
        "request": {
            "meth": "POST",
            "path": path,
            "hash": _digest("S256", body),
            "func": "S256",
        },
    }
    token = jws_sign(_json.dumps(claims), platform_key, "RS256")
    headers = (
        ("Content-Type", content_type),
        ("X-IOV-JWT", token),
        ("Authorization", "IOV-JWT " + token),
    )
    return HttpRequest(method="POST", path=path, headers=headers, body=body)
