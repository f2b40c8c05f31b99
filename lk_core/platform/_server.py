"""The platform's half of the wire protocol: requests in, signed responses out.

`PlatformServer.handle` turns one HTTP request into one HTTP response, and
`PlatformServer.webhook` turns a queued event into a signed webhook request. Both reuse
the protocol core (verify_request, sign_response, sign_webhook, jwe_encrypt); the
server in lk_io only moves bytes.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

from lk_core import _json
from lk_core._errors import LaunchKeyError
from lk_core._http import Headers, HttpRequest, HttpResponse
from lk_core._jose import JOSEDecryptError, jwe_encrypt, jws_parse, legacy_encrypt
from lk_core._keys import KeyRing, PrivateKey, PublicKey, load_public_key
from lk_core._protocol import (
    Entity,
    VerifiedRequest,
    parse_entity,
    sign_response,
    sign_webhook,
    verify_request,
)
from lk_core.platform import _manage, _organization
from lk_core.platform._errors import PlatformError
from lk_core.platform._model import (
    AuthRequest,
    AuthResponseEvent,
    DeviceLinkEvent,
    Event,
    SessionEndEvent,
    iso,
)
from lk_core.platform._state import Platform, json_object

_AUTH_PATH = re.compile(r"^/service/v3/auths/([^/]+)$")
_KEY_PATH = re.compile(r"^/public/v3/public-key/([0-9a-f:]+)$")
Route = Callable[[VerifiedRequest, Any, int], tuple[int, Any]]


class PlatformServer:
    """Request handling around a Platform, with the platform's own keys.

    `keys` are the platform's private keys, oldest first; the last one is current and
    signs everything, the older ones stay addressable by kid (emulator-notes 1).
    """

    def __init__(self, platform: Platform, keys: Sequence[PrivateKey]) -> None:
        if not keys:
            raise ValueError("the platform needs at least one key")
        self.platform = platform
        self.keys = list(keys)
        # jti -> exp of accepted request tokens, to refuse replays (emulator-notes 2).
        self.seen: dict[str, int] = {}
        self._routes: dict[tuple[str, str], Route] = {
            ("POST", "/service/v3/auths"): self._create_auth,
            ("POST", "/service/v3/sessions"): self._start_session,
            ("DELETE", "/service/v3/sessions"): self._end_session,
            ("POST", "/service/v3/totp"): self._verify_totp,
            ("POST", "/directory/v3/devices"): self._link,
            ("POST", "/directory/v3/devices/list"): self._list_devices,
            ("DELETE", "/directory/v3/devices"): self._unlink,
            ("POST", "/directory/v3/sessions/list"): self._list_sessions,
            ("DELETE", "/directory/v3/sessions"): self._end_sessions,
            ("POST", "/directory/v3/totp"): self._totp_generate,
            ("DELETE", "/directory/v3/totp"): self._totp_remove,
        }
        for routes in (_manage.ROUTES, _organization.ROUTES):
            for key, manage in routes.items():
                self._routes[key] = _bind(platform, manage)

    @property
    def current_key(self) -> PrivateKey:
        return self.keys[-1]

    def rotate(self, key: PrivateKey) -> None:
        """Make `key` current; earlier keys keep verifying old tokens."""
        self.keys.append(key)

    # ----- dispatch -------------------------------------------------------------------

    def handle(self, request: HttpRequest, now: int) -> HttpResponse:
        """Answer one request. Never raises for anything a client can send."""
        path = urlsplit(request.path).path
        method = request.method.upper()
        if path.startswith("/public/v3/"):
            return self._public(method, path, now)
        try:
            verified = self._verify(method, path, request, now)
        except (LaunchKeyError, ValueError) as exc:
            if isinstance(exc, JOSEDecryptError):
                status, code = 400, "ARG-001"
            else:
                status, code = 401, None
            return sign_response(
                status,
                None,
                request=None,
                platform_key=self.current_key,
                encrypt_to=None,
                now=now,
                jti=_raw_jti(request.headers),
                reason=code or "Unauthorized",
            )
        encrypt_to: PublicKey | None = None
        try:
            # Resolved before dispatch: a caller that could not read the answer
            # is refused (bodiless 403) before anything changes.
            encrypt_to = self._caller_key(verified, now)
            status, result = self._dispatch(method, path, verified, now)
        except PlatformError as err:
            status = err.status
            result = err.body() if encrypt_to is not None else None
        payload = None if result is None else _json.dumps(result)
        return sign_response(
            status,
            payload,
            request=verified,
            platform_key=self.current_key,
            encrypt_to=encrypt_to,
            now=now,
        )

    def _verify(
        self, method: str, path: str, request: HttpRequest, now: int
    ) -> VerifiedRequest:
        def lookup(entity: Entity, kid: str) -> PublicKey | None:
            key = self.platform.entity_key(str(entity), kid, now)
            return None if key is None else load_public_key(key.public_pem)

        verified = verify_request(
            method,
            path,
            Headers(request.headers),
            request.body,
            key_lookup=lookup,
            platform_keys=KeyRing(self.current_key, self.keys),
            now=now,
        )
        self.seen = {j: exp for j, exp in self.seen.items() if exp + 5 >= now}
        if verified.jti in self.seen:
            raise ValueError("replayed jti")
        self.seen[verified.jti] = verified.exp
        return verified

    def _caller_key(self, verified: VerifiedRequest, now: int) -> PublicKey:
        key = self.platform.encryption_key(str(verified.issuer), verified.kid, now)
        return load_public_key(key.public_pem)

    def _dispatch(
        self, method: str, path: str, verified: VerifiedRequest, now: int
    ) -> tuple[int, Any]:
        issuer, subject = str(verified.issuer), str(verified.subject)
        if not self.platform.may_act_for(issuer, subject):
            raise PlatformError(403, None, f"{issuer} may not act for {subject}")
        prefix = {"svc": "/service/", "dir": "/directory/", "org": "/organization/"}
        if not path.startswith(prefix[verified.subject.type]):
            raise PlatformError(403, None, "wrong entity type for this endpoint")
        body = None
        if verified.payload is not None:
            try:
                body = _json.loads(verified.payload)
            except ValueError:
                raise PlatformError(400, "ARG-001", "body is not JSON") from None
        match = _AUTH_PATH.match(path)
        if match is not None and method in ("GET", "DELETE"):
            auth_id = match.group(1)
            if method == "GET":
                return self._poll(verified, auth_id, now)
            self.platform.cancel(verified.subject.id, auth_id, now)
            return 204, None
        route = self._routes.get((method, path))
        if route is None:
            raise PlatformError(404, None, f"no route {method} {path}")
        return route(verified, body, now)

    # ----- public endpoints (jose.md 6) -----------------------------------------------

    def _public(self, method: str, path: str, now: int) -> HttpResponse:
        if method != "GET":
            return HttpResponse(status=405, headers=Headers([]))
        if path == "/public/v3/ping":
            body = _json.dumps({"api_time": iso(now)})
            return HttpResponse(
                status=200,
                headers=Headers([("Content-Type", "application/json")]),
                body=body,
            )
        key: PrivateKey | None = None
        if path == "/public/v3/public-key":
            key = self.current_key
        elif (match := _KEY_PATH.match(path)) is not None:
            key = next((k for k in self.keys if k.kid == match.group(1)), None)
        if key is None:
            return HttpResponse(status=404, headers=Headers([]))
        # text/plain and not JSON: the Python SDK wants the parsed body to be a string.
        return HttpResponse(
            status=200,
            headers=Headers(
                [("Content-Type", "text/plain"), ("X-IOV-KEY-ID", key.kid)]
            ),
            body=key.public.pem.encode("ascii"),
        )

    # ----- service endpoints (service-api.md) -----------------------------------------

    def _create_auth(self, v: VerifiedRequest, body: Any, now: int) -> tuple[int, Any]:
        issuer = str(v.issuer)
        # The answer is sealed to a key the caller can decrypt with (emulator-notes 5).
        sealed_to = self.platform.encryption_key(issuer, v.kid, now).kid
        out = self.platform.create_auth(
            v.subject.id, body, now, issuer=issuer, key_id=sealed_to
        )
        return 201, out

    def _poll(self, v: VerifiedRequest, auth_id: str, now: int) -> tuple[int, Any]:
        auth = self.platform.poll(v.subject.id, auth_id, now)
        if auth is None:
            return 204, None
        return 200, self.package(auth)

    def package(self, auth: AuthRequest) -> dict[str, Any]:
        """The outer response package (service-api.md 2), sealed once and kept."""
        if auth.package is not None:
            return auth.package
        answer = auth.answer
        if answer is None:
            raise ValueError("request has no answer yet")
        entity_key = self.platform.keys[(auth.issuer, auth.key_id)]
        key = load_public_key(entity_key.public_pem)
        inner = _json.dumps(answer.jwe_payload(auth.id))
        legacy = _json.dumps(answer.legacy_payload(auth.id))
        p = self.platform
        package = {
            "auth": base64.b64encode(legacy_encrypt(legacy, key)).decode("ascii"),
            "auth_jwe": jwe_encrypt(inner, key),
            "service_user_hash": p.service_user_hash(auth.service_id, auth.user_id),
            "org_user_hash": p.org_user_hash(auth.service_id, auth.user_id),
            "user_push_id": p.user_push_id(auth.service_id, auth.user_id),
            "public_key_id": auth.key_id,
        }
        p.seal(auth.id, package)
        return package

    def _start_session(
        self, v: VerifiedRequest, body: Any, now: int
    ) -> tuple[int, Any]:
        self.platform.start_session(v.subject.id, body, now, issuer=str(v.issuer))
        return 204, None

    def _end_session(self, v: VerifiedRequest, body: Any, now: int) -> tuple[int, Any]:
        self.platform.end_session(v.subject.id, body)
        return 204, None

    def _verify_totp(self, v: VerifiedRequest, body: Any, now: int) -> tuple[int, Any]:
        return 200, {"valid": self.platform.verify_totp(v.subject.id, body, now)}

    # ----- directory endpoints (directory-api.md) -------------------------------------

    def _link(self, v: VerifiedRequest, body: Any, now: int) -> tuple[int, Any]:
        f = json_object(body)
        link = self.platform.link_device(
            v.subject.id, f.get("identifier"), now, f.get("ttl")
        )
        return 201, link

    def _list_devices(self, v: VerifiedRequest, body: Any, now: int) -> tuple[int, Any]:
        f = json_object(body)
        devices = self.platform.list_devices(v.subject.id, f.get("identifier"))
        return 200, [d.to_json() for d in devices]

    def _unlink(self, v: VerifiedRequest, body: Any, now: int) -> tuple[int, Any]:
        f = json_object(body)
        self.platform.unlink_device(
            v.subject.id, f.get("identifier"), f.get("device_id"), now
        )
        return 204, None

    def _list_sessions(
        self, v: VerifiedRequest, body: Any, now: int
    ) -> tuple[int, Any]:
        user = self.platform.directory_user(
            v.subject.id, json_object(body).get("identifier")
        )
        sessions = self.platform.user_sessions(user.id)
        return 200, [self.platform.session_json(s) for s in sessions]

    def _end_sessions(self, v: VerifiedRequest, body: Any, now: int) -> tuple[int, Any]:
        user = self.platform.directory_user(
            v.subject.id, json_object(body).get("identifier")
        )
        self.platform.end_user_sessions(user.id, now)
        return 204, None

    def _totp_generate(
        self, v: VerifiedRequest, body: Any, now: int
    ) -> tuple[int, Any]:
        user = self.platform.directory_user(
            v.subject.id, json_object(body).get("identifier")
        )
        return 200, self.platform.generate_totp(user.id).to_json()

    def _totp_remove(self, v: VerifiedRequest, body: Any, now: int) -> tuple[int, Any]:
        user = self.platform.directory_user(
            v.subject.id, json_object(body).get("identifier")
        )
        self.platform.remove_totp(user.id)
        return 204, None

    # ----- webhooks (webhooks.md) -----------------------------------------------------

    def webhook(self, event: Event, now: int, jti: str) -> HttpRequest | None:
        """The signed webhook for `event`, or None when it can no longer be built
        (its request or key is gone). Signed afresh on every attempt so retries
        carry a valid time window."""
        p = self.platform
        path = urlsplit(event.url).path or "/"
        match event:
            case AuthResponseEvent():
                auth = p.auths.get(event.auth_request)
                if auth is None or auth.answer is None:
                    return None
                key = p.keys.get((auth.issuer, auth.key_id))
                if key is None:
                    return None
                payload = _json.dumps(self.package(auth))
                return sign_webhook(
                    payload,
                    path=path,
                    audience=parse_entity(auth.issuer),
                    subject=Entity("svc", auth.service_id),
                    platform_key=self.current_key,
                    encrypt_to=load_public_key(key.public_pem),
                    now=now,
                    jti=jti,
                )
            case SessionEndEvent():
                body = {
                    "service_user_hash": event.service_user_hash,
                    "api_time": iso(event.when),
                }
                return sign_webhook(
                    _json.dumps(body),
                    path=path,
                    audience=parse_entity(event.audience),
                    subject=Entity("svc", event.service_id),
                    platform_key=self.current_key,
                    encrypt_to=None,
                    now=now,
                    jti=jti,
                )
            case DeviceLinkEvent():
                device = p.devices.get(event.device_id)
                dir_key = p.newest_key(f"dir:{event.directory_id}", now)
                if device is None or dir_key is None or device.kid is None:
                    return None
                body = {
                    "type": "DEVICE_LINK_COMPLETION",
                    "device_id": device.id,
                    "device_public_key": device.public_pem or "",
                    "device_public_key_id": device.kid,
                }
                directory = Entity("dir", event.directory_id)
                return sign_webhook(
                    _json.dumps(body),
                    path=path,
                    audience=directory,
                    subject=directory,
                    platform_key=self.current_key,
                    encrypt_to=load_public_key(dir_key.public_pem),
                    now=now,
                    jti=jti,
                )
        raise AssertionError(event)  # pragma: no cover - the union is exhaustive


def _bind(platform: Platform, manage: _manage.Handler) -> Route:
    """A management function as a route of the entity the request acts for."""

    def route(v: VerifiedRequest, body: Any, now: int) -> tuple[int, Any]:
        return manage(platform, str(v.subject), body, now)

    return route


def _raw_jti(headers: Sequence[tuple[str, str]]) -> str:
    """The jti of a token we refused, if it can be read at all (for the 401 echo)."""
    auth = Headers(headers).get("Authorization") or ""
    try:
        jti = jws_parse(auth.removeprefix("IOV-JWT ").strip()).claims.get("jti")
    except (LaunchKeyError, ValueError):
        return ""
    return jti if isinstance(jti, str) else ""
