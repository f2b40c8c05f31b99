"""Platform state and rules. Methods take `now` (unix seconds); nothing reads a clock.

Not thread-safe: the server holds one lock around each call.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import deque
from collections.abc import Iterable
from typing import Any

import msgspec

from lk_core._errors import LaunchKeyError
from lk_core._jose import b64url_encode
from lk_core._keys import load_public_key, private_key_pem
from lk_core.platform import _policy, _totp
from lk_core.platform._errors import PlatformError, not_found
from lk_core.platform._model import (
    Answer,
    AnswerSpec,
    AuthRequest,
    AuthResponseEvent,
    AuthState,
    AutoRule,
    DenialReason,
    Device,
    DeviceLinkEvent,
    DeviceProfile,
    DeviceStatus,
    Directory,
    EntityKey,
    Entropy,
    Event,
    Organization,
    Service,
    Session,
    SessionEndEvent,
    TotpConfig,
    User,
    iso,
)
from lk_core.platform._policy import Place, Policy

TTL_DEFAULT, TTL_MIN, TTL_MAX = 300, 30, 600
LINK_TTL_DEFAULT, LINK_TTL_MIN, LINK_TTL_MAX = 300, 1, 3600
# Answered, cancelled and expired requests stay readable this long, then read as 404
# (emulator-notes 6: "repeatable until some retention time").
RETENTION = 600
PIN_COUNT = 5
LINK_CODE_LENGTH = 8
LINK_CODE_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
MAX_CONTEXT, MAX_TITLE, MAX_PUSH_TITLE, MAX_PUSH_BODY = 400, 200, 200, 400
MAX_DENIAL_ID, MAX_DENIAL_REASON = 5, 400
FAIL_REASONS = (
    "POLICY",
    "PERMISSION",
    "AUTHENTICATION",
    "CONFIGURATION",
    "BUSY_LOCAL",
    "SENSOR",
)


class RateLimit(msgspec.Struct, frozen=True, kw_only=True):
    """At most `creates` authorization requests per user in any `window` seconds."""

    creates: int = 5
    window: int = 60


DEFAULT_RATE_LIMIT = RateLimit()


class Platform:
    """Organizations, directories, services, users, devices and the auth lifecycle."""

    def __init__(
        self,
        entropy: Entropy,
        *,
        secret: bytes | None = None,
        rate_limit: RateLimit | None = DEFAULT_RATE_LIMIT,
        qrcode_base: str = "https://emulator.invalid/_emulator/qrcode/",
    ) -> None:
        self.entropy = entropy
        # HMAC key for the user hashes; kept in the state file so hashes stay stable.
        self.secret = secret if secret is not None else entropy.token(32)
        self.rate_limit = rate_limit
        self.qrcode_base = qrcode_base
        self.orgs: dict[str, Organization] = {}
        self.directories: dict[str, Directory] = {}
        self.services: dict[str, Service] = {}
        self.keys: dict[tuple[str, str], EntityKey] = {}
        self.users: dict[str, User] = {}
        self.devices: dict[str, Device] = {}
        self.auths: dict[str, AuthRequest] = {}
        self.sessions: dict[tuple[str, str], Session] = {}
        self.totp: dict[str, TotpConfig] = {}
        self.push_ids: dict[tuple[str, str], str] = {}
        self.pins: dict[tuple[str, str], tuple[str, ...]] = {}
        self.creates: dict[str, deque[int]] = {}
        # (due time, auth id, device id) for auto-answer rules.
        self.scheduled: list[tuple[int, str, str]] = []
        self.outbox: list[Event] = []
        # Time-zone lookup for time fences; lk_io installs zoneinfo. The pure
        # default knows UTC only, so other zones fail closed.
        self.zones: _policy.Zones = _policy.utc_only

    # ----- set-up ---------------------------------------------------------------------

    def add_organization(self, name: str) -> Organization:
        org = Organization(id=self.entropy.new_id(), name=name)
        self.orgs[org.id] = org
        return org

    def add_directory(
        self,
        org_id: str,
        name: str,
        *,
        denial_context_inquiry_enabled: bool = False,
        webhook_url: str | None = None,
    ) -> Directory:
        if org_id not in self.orgs:
            raise not_found("organization")
        if any(d.name == name for d in self.directories.values() if d.org_id == org_id):
            raise PlatformError.coded(400, "ORG-003", "directory name in use")
        directory = Directory(
            id=self.entropy.new_id(),
            org_id=org_id,
            name=name,
            denial_context_inquiry_enabled=denial_context_inquiry_enabled,
            webhook_url=webhook_url,
        )
        self.directories[directory.id] = directory
        return directory

    def update_directory(self, directory_id: str, **changes: Any) -> Directory:
        directory = self.directories.get(directory_id)
        if directory is None:
            raise not_found("directory")
        directory = msgspec.structs.replace(directory, **changes)
        self.directories[directory_id] = directory
        return directory

    def add_service(
        self,
        owner: str,
        name: str,
        *,
        callback_url: str | None = None,
        description: str | None = None,
        icon: str | None = None,
        active: bool = True,
    ) -> Service:
        kind, _, ident = owner.partition(":")
        known = (
            self.orgs if kind == "org" else self.directories if kind == "dir" else {}
        )
        if ident not in known:
            raise not_found("service owner")
        if any(s.name == name for s in self.services.values() if s.owner == owner):
            raise PlatformError.coded(400, "SVC-001", "service name taken")
        service = Service(
            id=self.entropy.new_id(),
            owner=owner,
            name=name,
            callback_url=callback_url,
            description=description,
            icon=icon,
            active=active,
        )
        self.services[service.id] = service
        return service

    def update_service(self, service_id: str, **changes: Any) -> Service:
        service = self.service(service_id)
        if "policy" in changes:
            _policy.check_zones(changes["policy"], self.zones)
        service = msgspec.structs.replace(service, **changes)
        self.services[service_id] = service
        return service

    def service(self, service_id: str) -> Service:
        service = self.services.get(service_id)
        if service is None:
            raise PlatformError.coded(404, "SVC-004", "service not found")
        return service

    def add_key(
        self,
        entity: str,
        public_pem: str,
        now: int,
        *,
        expires: int | None = None,
        active: bool = True,
        key_type: int = 0,
    ) -> EntityKey:
        try:
            public = load_public_key(public_pem)
        except (ValueError, LaunchKeyError):
            raise PlatformError.coded(400, "KEY-001", "invalid public key") from None
        if (entity, public.kid) in self.keys:
            raise PlatformError.coded(400, "KEY-002", "public key already in use")
        key = EntityKey(
            entity=entity,
            kid=public.kid,
            public_pem=public.pem,
            created=now,
            expires=expires,
            active=active,
            key_type=key_type,
        )
        self.keys[(entity, key.kid)] = key
        return key

    def set_key_active(self, entity: str, kid: str, active: bool) -> EntityKey:
        """Switch a key on or off; the last active key cannot be switched off."""
        key = self.keys.get((entity, kid))
        if key is None:
            raise PlatformError.coded(404, "KEY-003", "public key does not exist")
        others = [
            k
            for (e, i), k in self.keys.items()
            if e == entity and i != kid and k.active
        ]
        if not active and not others:
            raise PlatformError.coded(400, "KEY-004", "last remaining key")
        key = msgspec.structs.replace(key, active=active)
        self.keys[(entity, kid)] = key
        return key

    def entity_key(self, entity: str, kid: str, now: int) -> EntityKey | None:
        """An active, unexpired key of the entity (jose.md 8 step 2) that may verify
        requests (not encryption-only), else None."""
        key = self.keys.get((entity, kid))
        if key is None or not key.usable(now) or not key.verifies:
            return None
        return key

    def newest_key(self, entity: str, now: int) -> EntityKey | None:
        """The most recently added usable key of an entity that may be encrypted to."""
        usable = [
            k
            for (e, _), k in self.keys.items()
            if e == entity and k.usable(now) and k.receives
        ]
        # Reversed so that, within one second, the key added last wins.
        return max(reversed(usable), key=lambda k: k.created, default=None)

    def encryption_key(self, entity: str, signed_with: str, now: int) -> EntityKey:
        """Where answers to a request signed with `signed_with` are encrypted: that
        key unless it is signature-only, else the entity's newest key that may be
        encrypted to. 403 when the entity has none (nothing it could read)."""
        key = self.keys.get((entity, signed_with))
        if key is not None and key.receives:
            return key
        other = self.newest_key(entity, now)
        if other is None:
            raise PlatformError(403, None, f"{entity} has no key to encrypt to")
        return other

    def may_act_for(self, issuer: str, subject: str) -> bool:
        """Own credentials, or a parent acting for its own child (jose.md section 2)."""
        if issuer == subject:
            return True
        i_kind, _, i_id = issuer.partition(":")
        s_kind, _, s_id = subject.partition(":")
        if s_kind == "svc" and s_id in self.services:
            owner = self.services[s_id].owner
            if owner == issuer:
                return True
            o_kind, _, o_id = owner.partition(":")
            return (
                i_kind == "org"
                and o_kind == "dir"
                and o_id in self.directories
                and self.directories[o_id].org_id == i_id
            )
        if s_kind == "dir" and s_id in self.directories:
            return i_kind == "org" and self.directories[s_id].org_id == i_id
        return False

    # ----- users and devices ----------------------------------------------------------

    def _user(self, directory_id: str, identifier: str) -> User | None:
        for user in self.users.values():
            if user.directory_id == directory_id and user.identifier == identifier:
                return user
        return None

    def directory_user(self, directory_id: str, identifier: object) -> User:
        """The user named by a Directory call; 404 when unknown."""
        user = self._user(directory_id, _identifier(identifier))
        if user is None:
            raise not_found("user")
        return user

    def link_device(
        self, directory_id: str, identifier: object, now: int, ttl: object = None
    ) -> dict[str, str]:
        """Start linking: creates the user if new and a LINK_PENDING device."""
        ident = _identifier(identifier)
        link_ttl = _int_in(ttl, "ttl", LINK_TTL_DEFAULT, LINK_TTL_MIN, LINK_TTL_MAX)
        user = self._user(directory_id, ident)
        if user is None:
            user = User(
                id=self.entropy.new_id(),
                directory_id=directory_id,
                identifier=ident,
                created=now,
            )
            self.users[user.id] = user
        code = self._link_code()
        device = Device(
            id=self.entropy.new_id(),
            user_id=user.id,
            name=f"Virtual device {len(self._devices_of(user.id)) + 1}",
            link_code=code,
            link_expires=now + link_ttl,
            created=now,
            updated=now,
        )
        self.devices[device.id] = device
        return {
            "qrcode": self.qrcode_base + code,
            "code": code,
            "device_id": device.id,
        }

    def _link_code(self) -> str:
        alphabet = LINK_CODE_ALPHABET
        while True:
            raw = self.entropy.token(LINK_CODE_LENGTH)
            code = "".join(alphabet[b % len(alphabet)] for b in raw)
            if all(d.link_code != code for d in self.devices.values()):
                return code

    def complete_link(
        self,
        code: str,
        now: int,
        *,
        name: str | None = None,
        profile: DeviceProfile | None = None,
        device_type: str = "Virtual",
    ) -> Device:
        """The app entered `code`: the device becomes LINKED with its own key."""
        device = next(
            (
                d
                for d in self.devices.values()
                if d.link_code == code and d.status is DeviceStatus.LINK_PENDING
            ),
            None,
        )
        if device is None or now >= device.link_expires:
            raise not_found("link code")
        for method in (profile or device.profile).methods:
            if method not in _policy.FACTOR_OF:
                raise PlatformError.field("methods", f"unknown method {method}")
        private = self.entropy.device_key()
        device = msgspec.structs.replace(
            device,
            status=DeviceStatus.LINKED,
            name=name or device.name,
            type=device_type,
            private_pem=private_key_pem(private),
            public_pem=private.public.pem,
            kid=private.kid,
            profile=profile or device.profile,
            updated=now,
        )
        self.devices[device.id] = device
        user = self.users[device.user_id]
        url = self.directories[user.directory_id].webhook_url
        if url:
            self.outbox.append(
                DeviceLinkEvent(
                    directory_id=user.directory_id, device_id=device.id, url=url
                )
            )
        return device

    def update_device(self, device_id: str, now: int, **changes: Any) -> Device:
        device = self.device(device_id)
        device = msgspec.structs.replace(device, updated=now, **changes)
        self.devices[device_id] = device
        return device

    def device(self, device_id: str) -> Device:
        device = self.devices.get(device_id)
        if device is None:
            raise not_found("device")
        return device

    def _devices_of(self, user_id: str) -> list[Device]:
        return [d for d in self.devices.values() if d.user_id == user_id]

    def list_devices(self, directory_id: str, identifier: object) -> list[Device]:
        """Devices of a user; an unknown identifier has none (directory-api.md 1)."""
        user = self._user(directory_id, _identifier(identifier))
        return [] if user is None else self._devices_of(user.id)

    def unlink_device(
        self,
        directory_id: str,
        identifier: object,
        device_id: object,
        now: int | None = None,
    ) -> None:
        """Unlink a device (directory-api.md 1). A device that acknowledges at once
        (the default) leaves directly; one that does not stays UNLINK_PENDING until
        `acknowledge_unlink`. Unlinking it again meanwhile changes nothing."""
        user = self._user(directory_id, _identifier(identifier))
        device = self.devices.get(device_id) if isinstance(device_id, str) else None
        if user is None or device is None or device.user_id != user.id:
            raise not_found("device")
        if device.profile.ack_unlink:
            self._remove_device(device.id)
        elif device.status is not DeviceStatus.UNLINK_PENDING:
            self.devices[device.id] = msgspec.structs.replace(
                device,
                status=DeviceStatus.UNLINK_PENDING,
                updated=device.updated if now is None else now,
            )

    def acknowledge_unlink(self, device_id: str) -> None:
        """The virtual app confirms an unlink: the device is gone (409 if no unlink
        is waiting)."""
        device = self.device(device_id)
        if device.status is not DeviceStatus.UNLINK_PENDING:
            raise PlatformError(409, None, "no unlink is waiting for this device")
        self._remove_device(device_id)

    def _remove_device(self, device_id: str) -> None:
        del self.devices[device_id]
        for key in [k for k in self.pins if k[1] == device_id]:
            del self.pins[key]

    # ----- hashes ---------------------------------------------------------------------

    def _hash(self, scope: str, user_id: str) -> str:
        message = f"{scope}:{user_id}".encode()
        return hmac.new(self.secret, message, hashlib.sha256).hexdigest()

    def service_user_hash(self, service_id: str, user_id: str) -> str:
        return self._hash(service_id, user_id)

    def org_user_hash(self, service_id: str, user_id: str) -> str:
        return self._hash(self.org_of(service_id), user_id)

    def org_of(self, service_id: str) -> str:
        owner = self.services[service_id].owner
        kind, _, ident = owner.partition(":")
        return ident if kind == "org" else self.directories[ident].org_id

    def user_push_id(self, service_id: str, user_id: str) -> str:
        key = (service_id, user_id)
        if key not in self.push_ids:
            self.push_ids[key] = self.entropy.new_id()
        return self.push_ids[key]

    def resolve_user(self, service_id: str, username: object) -> User:
        """Directory User identifier first, then a User Push ID (emulator-notes 3).

        An Organization Service has no directory of its own; it finds users by
        identifier in its organization's directories, oldest directory first.
        """
        name = _required_str(username, "username")
        service = self.service(service_id)
        directory_id = service.directory_id
        if directory_id is not None:
            user = self._user(directory_id, name)
            if user is not None:
                return user
        for (svc, user_id), push_id in self.push_ids.items():
            if svc == service_id and push_id == name:
                return self.users[user_id]
        if directory_id is None:
            org_id = self.org_of(service_id)
            for directory in self.directories.values():
                if directory.org_id == org_id:
                    user = self._user(directory.id, name)
                    if user is not None:
                        return user
        raise not_found("user")

    # ----- authorization requests -----------------------------------------------------

    def create_auth(
        self,
        service_id: str,
        body: object,
        now: int,
        *,
        issuer: str,
        key_id: str,
    ) -> dict[str, Any]:
        """POST /service/v3/auths (service-api.md 1). Returns the response object."""
        self.expire(now)
        service = self.service(service_id)
        fields = json_object(body)
        user = self.resolve_user(service_id, fields.get("username"))
        directory = (
            self.directories[service.directory_id]
            if service.directory_id is not None
            else None
        )
        context = _opt_str(fields, "context", MAX_CONTEXT)
        title = _opt_str(fields, "title", MAX_TITLE)
        _opt_str(fields, "push_title", MAX_PUSH_TITLE)
        _opt_str(fields, "push_body", MAX_PUSH_BODY)
        if directory is None:
            for name in ("title", "push_title", "push_body", "denial_reasons"):
                if fields.get(name) is not None:
                    raise PlatformError.field(name, "Directory Services only")
        ttl = _int_in(fields.get("ttl"), "ttl", TTL_DEFAULT, TTL_MIN, TTL_MAX)
        reasons = _denial_reasons(fields.get("denial_reasons"))
        if reasons and not (directory and directory.denial_context_inquiry_enabled):
            raise PlatformError.field(
                "denial_reasons", "denial context inquiry is not enabled"
            )
        policy = service.policy
        if fields.get("policy") is not None:
            asked = _policy.parse_legacy(fields["policy"])
            _policy.check_zones(asked, self.zones)
            policy = _policy.merge(policy, asked)
        devices = [
            d for d in self._devices_of(user.id) if d.status is DeviceStatus.LINKED
        ]
        if not devices:
            raise not_found("user with linked devices")
        if not any(_policy.can_satisfy(policy, d.profile.methods) for d in devices):
            raise PlatformError.coded(400, "SVC-003", "user cannot satisfy the policy")
        blocking = self.pending_for(user.id, now)
        if blocking is not None:
            raise PlatformError.coded(
                400,
                "SVC-005",
                "an authorization request is already in progress",
                {
                    "auth_request": blocking.id,
                    "expires": iso(blocking.expires),
                    "from_same_service": blocking.service_id == service_id,
                },
            )
        self._count_create(user.id, now)
        auth = AuthRequest(
            id=self.entropy.new_id(),
            service_id=service_id,
            user_id=user.id,
            issuer=issuer,
            key_id=key_id,
            context=context,
            title=title,
            ttl=ttl,
            created=now,
            expires=now + ttl,
            policy=policy,
            denial_reasons=reasons,
            device_ids=tuple(d.id for d in devices),
        )
        self.auths[auth.id] = auth
        for device in devices:
            if device.auto is not None:
                self.scheduled.append((now + device.auto.after, auth.id, device.id))
        out: dict[str, Any] = {
            "auth_request": auth.id,
            "device_ids": list(auth.device_ids),
        }
        if directory is not None:
            out["push_package"] = self.push_package(auth)
        return out

    def push_package(self, auth: AuthRequest) -> str:
        """Opaque to clients: base64url JSON naming the request (emulator-notes 4)."""
        raw = msgspec.json.encode(
            {
                "auth_request": auth.id,
                "service_id": auth.service_id,
                "expires": iso(auth.expires),
            }
        )
        return b64url_encode(raw)

    def _count_create(self, user_id: str, now: int) -> None:
        if self.rate_limit is None:
            return
        window = self.creates.setdefault(user_id, deque())
        while window and window[0] <= now - self.rate_limit.window:
            window.popleft()
        if len(window) >= self.rate_limit.creates:
            raise PlatformError(429, None, "too many authorization requests")
        window.append(now)

    def pending_for(self, user_id: str, now: int) -> AuthRequest | None:
        for auth in self.auths.values():
            if auth.user_id == user_id and auth.state_at(now) is AuthState.PENDING:
                return auth
        return None

    def auth_for(self, service_id: str, auth_id: str, now: int) -> AuthRequest:
        """A request of this service; other services' requests read as unknown."""
        self.expire(now)
        auth = self.auths.get(auth_id)
        if auth is None or auth.service_id != service_id:
            raise not_found("authorization request")
        return auth

    def poll(self, service_id: str, auth_id: str, now: int) -> AuthRequest | None:
        """GET /service/v3/auths/<id>: None while pending (204), the request once
        answered (200); 408 expired, SVC-007 cancelled, 404 unknown."""
        auth = self.auth_for(service_id, auth_id, now)
        match auth.state:
            case AuthState.PENDING:
                return None
            case AuthState.RESPONDED:
                return auth
            case AuthState.EXPIRED:
                raise PlatformError(408, None, "authorization request timed out")
            case AuthState.CANCELED:
                raise PlatformError.coded(
                    400, "SVC-007", "authorization request was cancelled"
                )
        raise AssertionError(auth.state)  # pragma: no cover - enum is exhaustive

    def cancel(self, service_id: str, auth_id: str, now: int) -> None:
        """DELETE /service/v3/auths/<id> (service-api.md 3)."""
        auth = self.auth_for(service_id, auth_id, now)
        match auth.state:
            case AuthState.PENDING:
                self.auths[auth_id] = msgspec.structs.replace(
                    auth, state=AuthState.CANCELED, finished=now
                )
            case AuthState.RESPONDED:
                raise PlatformError.coded(
                    400, "SVC-006", "authorization request already has a response"
                )
            case AuthState.CANCELED:
                raise PlatformError.coded(
                    400, "SVC-007", "authorization request was already cancelled"
                )
            case AuthState.EXPIRED:
                # Proposal (emulator-notes 6): an expired request cannot be cancelled.
                raise PlatformError(408, None, "authorization request timed out")

    def expire(self, now: int) -> None:
        """Move overdue requests to EXPIRED and forget finished ones past retention."""
        for auth_id, auth in list(self.auths.items()):
            if auth.state is AuthState.PENDING and now >= auth.expires:
                auth = msgspec.structs.replace(
                    auth, state=AuthState.EXPIRED, finished=auth.expires
                )
                self.auths[auth_id] = auth
            if auth.finished is not None and now >= auth.finished + RETENTION:
                del self.auths[auth_id]

    def expire_now(self, auth_id: str, now: int) -> AuthRequest:
        """Test hook: let a pending request time out now."""
        auth = self.auths.get(auth_id)
        if auth is None:
            raise not_found("authorization request")
        if auth.state_at(now) is not AuthState.PENDING:
            raise PlatformError(409, None, "authorization request is not pending")
        self.auths[auth_id] = msgspec.structs.replace(auth, expires=now)
        self.expire(now)
        return self.auths[auth_id]

    def pending_for_device(self, device_id: str, now: int) -> list[AuthRequest]:
        self.expire(now)
        return [
            a
            for a in self.auths.values()
            if a.state is AuthState.PENDING and device_id in a.device_ids
        ]

    def answer(
        self, auth_id: str, device_id: str, spec: AnswerSpec, now: int
    ) -> AuthRequest:
        """The device answers: apply the policy, rotate PINs, queue the webhook."""
        self.expire(now)
        auth = self.auths.get(auth_id)
        if auth is None:
            raise not_found("authorization request")
        if auth.state is not AuthState.PENDING:
            raise PlatformError(409, None, f"authorization request is {auth.state}")
        if device_id not in auth.device_ids:
            raise PlatformError(403, None, "device did not receive this request")
        device = self.device(device_id)
        # A COND_GEO branch is picked from where the device is, whatever it answers.
        policy = _policy.resolve(
            auth.policy, _where(spec, device.profile), _place(spec, device.profile)
        )
        result = self._judge(auth, policy, device, spec, now)
        pins = self._rotate_pins(auth.service_id, device_id)
        answer = Answer(
            type=result[0],
            reason=result[1],
            denial_reason=result[2],
            device_id=device_id,
            service_pins=pins,
            auth_policy=policy.to_auth_policy(),
            auth_methods=tuple(result[3]),
        )
        auth = msgspec.structs.replace(
            auth, state=AuthState.RESPONDED, answer=answer, finished=now
        )
        self.auths[auth_id] = auth
        url = self.services[auth.service_id].callback_url
        if url:
            self.outbox.append(
                AuthResponseEvent(
                    service_id=auth.service_id, auth_request=auth.id, url=url
                )
            )
        return auth

    def _judge(
        self,
        auth: AuthRequest,
        policy: Policy,
        device: Device,
        spec: AnswerSpec,
        now: int,
    ) -> tuple[str, str, str | None, list[dict[str, Any]]]:
        profile = device.profile
        methods_set = profile.methods
        used = spec.methods if spec.methods is not None else methods_set
        if spec.action == "deny":
            denial_id, fraud = _pick_denial(auth.denial_reasons, spec)
            methods = _policy.auth_methods(
                policy, methods_set=methods_set, used=(), verdict=None
            )
            return (
                "DENIED",
                "FRAUDULENT" if fraud else "DISAPPROVED",
                denial_id,
                methods,
            )
        if spec.action == "fail":
            if spec.fail_reason not in FAIL_REASONS:
                raise PlatformError.field(
                    "fail_reason", f"must be one of {', '.join(FAIL_REASONS)}"
                )
            methods = _policy.auth_methods(
                policy, methods_set=methods_set, used=(), verdict=None
            )
            return "FAILED", spec.fail_reason, None, methods
        for method in used:
            if method not in methods_set:
                raise PlatformError.field(
                    "methods", f"{method} is not set on the device"
                )
        verdict = _policy.evaluate(
            policy,
            used=used,
            location=_where(spec, profile),
            place=_place(spec, profile),
            now=now,
            zones=self.zones,
            jailbroken=_pick(spec.jailbroken, profile.jailbroken),
            emulator=_pick(spec.emulator, profile.emulator),
        )
        methods = _policy.auth_methods(
            policy, methods_set=methods_set, used=used, verdict=verdict
        )
        if verdict.passed:
            return "AUTHORIZED", "APPROVED", None, methods
        return "FAILED", "POLICY", None, methods

    def _rotate_pins(self, service_id: str, device_id: str) -> tuple[str, ...]:
        """FIFO of PINs per (service, device): one new PIN in, the oldest out."""
        key = (service_id, device_id)
        pins = self.pins.get(key)
        if pins is None:
            pins = tuple(self.entropy.digits(4) for _ in range(PIN_COUNT))
        else:
            pins = (*pins[1:], self.entropy.digits(4))
        self.pins[key] = pins
        return pins

    def seal(self, auth_id: str, package: dict[str, Any]) -> None:
        """Keep the sealed outer package so every poll and webhook send the same one."""
        self.auths[auth_id] = msgspec.structs.replace(
            self.auths[auth_id], package=package
        )

    def tick(self, now: int) -> list[AuthRequest]:
        """Run due auto-answers and expiries; returns the requests answered."""
        self.expire(now)
        due = [s for s in self.scheduled if s[0] <= now]
        self.scheduled = [s for s in self.scheduled if s[0] > now]
        answered: list[AuthRequest] = []
        for _, auth_id, device_id in sorted(due):
            auth = self.auths.get(auth_id)
            device = self.devices.get(device_id)
            if auth is None or device is None or device.auto is None:
                continue
            if auth.state_at(now) is not AuthState.PENDING:
                continue
            answered.append(self.answer(auth_id, device_id, device.auto.answer, now))
        return answered

    def set_auto(self, device_id: str, rule: AutoRule | None, now: int) -> Device:
        """Set or clear the device's auto-answer rule; requests already waiting for
        the device are answered `after` seconds from now."""
        device = self.update_device(device_id, now, auto=rule)
        if rule is not None:
            for auth in self.pending_for_device(device_id, now):
                self.scheduled.append((now + rule.after, auth.id, device_id))
        return device

    # ----- sessions -------------------------------------------------------------------

    def start_session(
        self, service_id: str, body: object, now: int, *, issuer: str
    ) -> None:
        fields = json_object(body)
        user = self.resolve_user(service_id, fields.get("username"))
        auth_id = fields.get("auth_request")
        if auth_id is not None and not isinstance(auth_id, str):
            raise PlatformError.field("auth_request", "must be a string")
        self.sessions[(service_id, user.id)] = Session(
            service_id=service_id,
            user_id=user.id,
            auth_request=auth_id,
            created=now,
            issuer=issuer,
        )

    def end_session(self, service_id: str, body: object) -> None:
        """Service-side end: no webhook, the service already knows."""
        fields = json_object(body)
        user = self.resolve_user(service_id, fields.get("username"))
        self.sessions.pop((service_id, user.id), None)

    def user_sessions(self, user_id: str) -> list[Session]:
        return sorted(
            (s for s in self.sessions.values() if s.user_id == user_id),
            key=lambda s: s.created,
        )

    def session_json(self, session: Session) -> dict[str, Any]:
        service = self.services[session.service_id]
        return {
            "auth_request": session.auth_request,
            "date_created": iso(session.created),
            "service_icon": service.icon,
            "service_id": service.id,
            "service_name": service.name,
        }

    def end_user_sessions(
        self, user_id: str, now: int, service_ids: Iterable[str] | None = None
    ) -> int:
        """End sessions from the device or the directory; each service gets the
        session-end webhook (webhooks.md 4). Returns how many ended."""
        wanted = None if service_ids is None else set(service_ids)
        ended = 0
        for key, session in list(self.sessions.items()):
            if session.user_id != user_id:
                continue
            if wanted is not None and session.service_id not in wanted:
                continue
            del self.sessions[key]
            ended += 1
            url = self.services[session.service_id].callback_url
            if url:
                self.outbox.append(
                    SessionEndEvent(
                        service_id=session.service_id,
                        audience=session.issuer,
                        service_user_hash=self.service_user_hash(
                            session.service_id, user_id
                        ),
                        when=now,
                        url=url,
                    )
                )
        return ended

    # ----- TOTP -----------------------------------------------------------------------

    def generate_totp(self, user_id: str) -> TotpConfig:
        config = TotpConfig(
            user_id=user_id,
            secret=_totp.secret_from_bytes(self.entropy.token(_totp.SECRET_BYTES)),
        )
        self.totp[user_id] = config
        return config

    def remove_totp(self, user_id: str) -> None:
        self.totp.pop(user_id, None)

    def verify_totp(self, service_id: str, body: object, now: int) -> bool:
        fields = json_object(body)
        otp = _required_str(fields.get("otp"), "otp")
        user = self.resolve_user(service_id, fields.get("identifier"))
        config = self.totp.get(user.id)
        if config is None:
            raise not_found("TOTP configuration")
        return _totp.verify(
            config.secret,
            otp,
            now,
            algorithm=config.algorithm,
            digits=config.digits,
            period=config.period,
        )

    def drain_outbox(self) -> list[Event]:
        events, self.outbox = self.outbox, []
        return events


# ----- request-field helpers ----------------------------------------------------------


def json_object(body: object) -> dict[str, Any]:
    """The request body as a JSON object; ARG-001 otherwise."""
    if not isinstance(body, dict):
        raise PlatformError(400, "ARG-001", "request body must be a JSON object")
    return body


def _required_str(value: object, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise PlatformError.field(name, "This field is required")
    return value


def _identifier(value: object) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        raise PlatformError.coded(400, "DIR-001", "invalid directory user identifier")
    return value


def _opt_str(fields: dict[str, Any], name: str, limit: int) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise PlatformError.field(name, "must be a string")
    if len(value) > limit:
        raise PlatformError.field(name, f"must be at most {limit} characters")
    return value


def _int_in(value: object, name: str, default: int, low: int, high: int) -> int:
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise PlatformError.field(name, "must be a whole number")
    if not low <= value <= high:
        raise PlatformError.field(name, f"must be between {low} and {high}")
    return value


def _denial_reasons(raw: object) -> tuple[DenialReason, ...]:
    """SDK docs rules: >= 2 items, unique ids and texts, fraud and non-fraud present."""
    if raw is None:
        return ()
    if not isinstance(raw, list) or len(raw) < 2:
        raise PlatformError.field("denial_reasons", "at least 2 items are required")
    out: list[DenialReason] = []
    for item in raw:
        if not isinstance(item, dict):
            raise PlatformError.field("denial_reasons", "items must be objects")
        ident, reason, fraud = item.get("id"), item.get("reason"), item.get("fraud")
        if not isinstance(ident, str) or not 1 <= len(ident) <= MAX_DENIAL_ID:
            raise PlatformError.field("denial_reasons", "id must be 1 to 5 characters")
        if not isinstance(reason, str) or not 1 <= len(reason) <= MAX_DENIAL_REASON:
            raise PlatformError.field("denial_reasons", "reason must be 1 to 400 chars")
        if not isinstance(fraud, bool):
            raise PlatformError.field("denial_reasons", "fraud must be a boolean")
        out.append(DenialReason(id=ident, reason=reason, fraud=fraud))
    if len({r.id for r in out}) != len(out) or len({r.reason for r in out}) != len(out):
        raise PlatformError.field("denial_reasons", "ids and reasons must be unique")
    if {r.fraud for r in out} != {True, False}:
        raise PlatformError.field(
            "denial_reasons", "need at least one fraud and one non-fraud reason"
        )
    return tuple(out)


def _pick_denial(
    reasons: tuple[DenialReason, ...], spec: AnswerSpec
) -> tuple[str | None, bool]:
    """The denial id and fraud flag a deny carries (emulator-notes 5).

    With custom reasons the device reports one of their ids and its fraud flag comes
    from that reason; without them it only tells fraud from plain denial.
    """
    if not reasons:
        if spec.denial_reason is not None:
            raise PlatformError.field("denial_reason", "request has no denial reasons")
        return None, spec.fraud
    if spec.denial_reason is not None:
        for reason in reasons:
            if reason.id == spec.denial_reason:
                return reason.id, reason.fraud
        raise PlatformError.field("denial_reason", "not one of the request's reasons")
    chosen = next(r for r in reasons if r.fraud == spec.fraud)
    return chosen.id, chosen.fraud


def _pick(value: bool | None, default: bool) -> bool:
    return default if value is None else value


def _where(spec: AnswerSpec, profile: DeviceProfile) -> tuple[float, float] | None:
    return spec.location if spec.location is not None else profile.location


def _place(spec: AnswerSpec, profile: DeviceProfile) -> Place | None:
    return spec.territory if spec.territory is not None else profile.territory
