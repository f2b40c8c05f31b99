"""Platform records: frozen values the state replaces as things happen."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import msgspec

from lk_core._keys import PrivateKey
from lk_core.platform._policy import NO_POLICY, Place, Policy


class Entropy(Protocol):
    """Where the platform draws randomness; lk_io supplies the system one."""

    def new_id(self) -> str:
        """A fresh UUID4 string."""
        ...

    def token(self, nbytes: int) -> bytes:
        """Uniformly random bytes."""
        ...

    def digits(self, count: int) -> str:
        """A string of `count` random decimal digits."""
        ...

    def device_key(self) -> PrivateKey:
        """A fresh RSA-2048 key for a virtual device."""
        ...


def iso(ts: int) -> str:
    """`YYYY-MM-DDTHH:MM:SSZ`, the only date format on the wire."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class DeviceStatus(enum.IntEnum):
    LINK_PENDING = 0
    LINKED = 1
    UNLINK_PENDING = 2


class AuthState(enum.StrEnum):
    PENDING = "PENDING"
    RESPONDED = "RESPONDED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


# Public key types (directory-api.md 3): what the entity may use a key for.
KEY_BOTH, KEY_ENCRYPTION, KEY_SIGNATURE = 0, 1, 2


class Organization(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str


class Directory(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    org_id: str
    name: str
    denial_context_inquiry_enabled: bool = False
    webhook_url: str | None = None
    active: bool = True
    sdk_keys: tuple[str, ...] = ()
    android_key: str | None = None
    ios_certificate_fingerprint: str | None = None


class Service(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    owner: str  # "org:<uuid>" or "dir:<uuid>"
    name: str
    description: str | None = None
    icon: str | None = None
    callback_url: str | None = None
    active: bool = True
    policy: Policy = NO_POLICY
    # The policy JSON as last set through the API, for reading it back.
    policy_json: Any = None

    @property
    def directory_id(self) -> str | None:
        kind, _, ident = self.owner.partition(":")
        return ident if kind == "dir" else None


class EntityKey(msgspec.Struct, frozen=True, kw_only=True):
    """A public key registered for an org, directory or service."""

    entity: str
    kid: str
    public_pem: str
    created: int
    active: bool = True
    expires: int | None = None
    key_type: int = 0  # KEY_BOTH, KEY_ENCRYPTION or KEY_SIGNATURE

    def usable(self, now: int) -> bool:
        return self.active and (self.expires is None or now < self.expires)

    @property
    def verifies(self) -> bool:
        """May requests signed with this key be accepted?"""
        return self.key_type != KEY_ENCRYPTION

    @property
    def receives(self) -> bool:
        """May the platform encrypt responses and packages to this key?"""
        return self.key_type != KEY_SIGNATURE


class User(msgspec.Struct, frozen=True, kw_only=True):
    """A Directory User; `id` is internal and never leaves the platform."""

    id: str
    directory_id: str
    identifier: str
    created: int


class DeviceProfile(msgspec.Struct, frozen=True, kw_only=True):
    """What a virtual authenticator has configured and where it is."""

    methods: tuple[str, ...] = ("PIN_CODE", "FINGERPRINT")
    location: tuple[float, float] | None = None
    jailbroken: bool = False
    emulator: bool = False
    # Country / area / postal code for TERRITORY fences, set by hand (no geocoding).
    territory: Place | None = None
    # Whether the app acknowledges an unlink at once (the device leaves) or only
    # when told to, so it stays UNLINK_PENDING (status 2) until then.
    ack_unlink: bool = True


class AnswerSpec(msgspec.Struct, frozen=True, kw_only=True):
    """How a virtual device answers; None fields fall back to the device profile."""

    action: Literal["approve", "deny", "fail"] = "approve"
    denial_reason: str | None = None
    fraud: bool = False
    fail_reason: str = "AUTHENTICATION"
    methods: tuple[str, ...] | None = None
    location: tuple[float, float] | None = None
    jailbroken: bool | None = None
    emulator: bool | None = None
    territory: Place | None = None


class AutoRule(msgspec.Struct, frozen=True, kw_only=True):
    """Answer every request reaching the device with `answer` after `after` seconds."""

    answer: AnswerSpec
    after: int = 0


class Device(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    user_id: str
    name: str
    type: str = "Virtual"
    status: DeviceStatus = DeviceStatus.LINK_PENDING
    link_code: str
    link_expires: int
    private_pem: str | None = None
    public_pem: str | None = None
    kid: str | None = None
    profile: DeviceProfile = DeviceProfile()
    auto: AutoRule | None = None
    created: int
    updated: int

    def to_json(self) -> dict[str, Any]:
        """The device object of directory-api.md section 1."""
        return {
            "id": self.id,
            "name": self.name,
            "status": int(self.status),
            "type": self.type,
            "created": iso(self.created),
            "updated": iso(self.updated),
        }


class DenialReason(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    reason: str
    fraud: bool


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """The device's response: the decrypted auth_jwe (service-api.md 2.1)."""

    type: str
    reason: str
    denial_reason: str | None
    device_id: str
    service_pins: tuple[str, ...]
    auth_policy: dict[str, Any] | None
    auth_methods: tuple[dict[str, Any], ...]

    def jwe_payload(self, auth_request: str) -> dict[str, Any]:
        return {
            "auth_request": auth_request,
            "type": self.type,
            "reason": self.reason,
            "denial_reason": self.denial_reason,
            "device_id": self.device_id,
            "service_pins": list(self.service_pins),
            "auth_policy": self.auth_policy,
            "auth_methods": list(self.auth_methods),
        }

    def legacy_payload(self, auth_request: str) -> dict[str, Any]:
        """The small legacy package (service-api.md 2.2); fits RSA-OAEP-SHA1 on 2048."""
        return {
            "auth_request": auth_request,
            "response": self.type == "AUTHORIZED" and self.reason == "APPROVED",
            "device_id": self.device_id,
            "service_pins": list(self.service_pins),
        }


class AuthRequest(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    service_id: str
    user_id: str
    issuer: str  # entity that signed the create: webhook audience (webhooks.md 2)
    # kid answers are sealed to: the key that signed the create, or the issuer's
    # newest encryption-capable key when that one is signature-only
    key_id: str
    context: str | None
    title: str | None
    ttl: int
    created: int
    expires: int
    policy: Policy
    denial_reasons: tuple[DenialReason, ...]
    device_ids: tuple[str, ...]
    state: AuthState = AuthState.PENDING
    answer: Answer | None = None
    # The sealed outer package, built once so polls and the webhook agree.
    package: dict[str, Any] | None = None
    finished: int | None = None  # when it was answered, cancelled or expired

    def state_at(self, now: int) -> AuthState:
        if self.state is AuthState.PENDING and now >= self.expires:
            return AuthState.EXPIRED
        return self.state


class Session(msgspec.Struct, frozen=True, kw_only=True):
    service_id: str
    user_id: str
    auth_request: str | None
    created: int
    issuer: str  # who started it: the audience of its session-end webhook


class TotpConfig(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    secret: str
    algorithm: str = "SHA1"
    digits: int = 6
    period: int = 30

    def to_json(self) -> dict[str, Any]:
        return {
            "secret": self.secret,
            "algorithm": self.algorithm,
            "digits": self.digits,
            "period": self.period,
        }


# Outgoing webhook events; the protocol layer renders and signs them when delivered.


class AuthResponseEvent(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    service_id: str
    auth_request: str
    url: str


class SessionEndEvent(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    service_id: str
    audience: str
    service_user_hash: str
    when: int
    url: str


class DeviceLinkEvent(msgspec.Struct, frozen=True, kw_only=True, tag=True):
    directory_id: str
    device_id: str
    url: str


Event = AuthResponseEvent | SessionEndEvent | DeviceLinkEvent
