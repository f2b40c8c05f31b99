"""Values the Service Client hands back: requests, responses, webhook events, enums.

All are frozen msgspec structs. Enums map any value they do not know to ``OTHER``
instead of failing, because the platform adds new response reasons and auth methods
over time (service-api.md 2.1, policies.md 5 and 6).
"""

from __future__ import annotations

import datetime as _dt
import enum
from typing import Any, TypeVar

import msgspec

from lk_core.service._policy import Fence

__all__ = [
    "AdvancedAuthorizationResponse",
    "AuthMethod",
    "AuthMethodType",
    "AuthResponseReason",
    "AuthResponseType",
    "AuthorizationRequest",
    "AuthorizationResponsePolicy",
    "DenialReason",
    "MethodFlags",
    "Requirement",
    "SessionEndRequest",
    "WebhookEvent",
]


_E = TypeVar("_E", bound="_OpenEnum")
_WIRE: dict[type[Any], dict[str, Any]] = {}


class _OpenEnum(enum.Enum):
    """String enum whose unknown values (any case) become ``OTHER``."""

    @classmethod
    def _missing_(cls, value: object) -> _OpenEnum:
        if isinstance(value, str):
            member = cls._value2member_map_.get(value.upper())
            if member is not None:
                return member  # type: ignore[return-value]  # a member of cls
        return cls["OTHER"]

    @classmethod
    def from_wire(cls: type[_E], value: str) -> _E:
        """The member for a wire value, any case; OTHER if unknown. Faster than
        calling the class, which devices' lower-case values send through _missing_."""
        table = _WIRE.get(cls)
        if table is None:
            table = {m.value: m for m in cls} | {m.value.lower(): m for m in cls}
            _WIRE[cls] = table
        member = table.get(value)
        return member if member is not None else cls(value)


class AuthResponseType(_OpenEnum):
    """What the user did with the request (``type`` in the device package)."""

    AUTHORIZED = "AUTHORIZED"
    DENIED = "DENIED"
    FAILED = "FAILED"
    OTHER = "OTHER"


class AuthResponseReason(_OpenEnum):
    """Why the response has its type (``reason`` in the device package)."""

    APPROVED = "APPROVED"
    DISAPPROVED = "DISAPPROVED"
    FRAUDULENT = "FRAUDULENT"
    POLICY = "POLICY"
    PERMISSION = "PERMISSION"
    AUTHENTICATION = "AUTHENTICATION"
    CONFIGURATION = "CONFIGURATION"
    BUSY_LOCAL = "BUSY_LOCAL"
    SENSOR = "SENSOR"
    OTHER = "OTHER"


class AuthMethodType(_OpenEnum):
    """An authentication method the device reported on (``auth_methods[].method``)."""

    PIN_CODE = "PIN_CODE"
    CIRCLE_CODE = "CIRCLE_CODE"
    GEOFENCING = "GEOFENCING"
    LOCATIONS = "LOCATIONS"
    WEARABLES = "WEARABLES"
    FINGERPRINT = "FINGERPRINT"
    FACE = "FACE"
    OTHER = "OTHER"


class Requirement(_OpenEnum):
    """Kind of requirement in the policy the device applied (``auth_policy``)."""

    AMOUNT = "AMOUNT"
    TYPES = "TYPES"
    COND_GEO = "COND_GEO"
    OTHER = "OTHER"


class DenialReason(msgspec.Struct, frozen=True):
    """One reason a user may pick when denying a request.

    Positional construction follows the seed: ``DenialReason("a", "No", True)``.
    ``id`` is 1 to 5 characters; a request needs at least one fraud reason and one
    non-fraud reason.
    """

    id: str
    reason: str
    fraud: bool

    @property
    def denial_id(self) -> str:
        """The same value as ``id`` (the name older code uses)."""
        return self.id


class AuthorizationRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What creating an authorization request returns.

    ``auth_request`` is the id to poll or to match a webhook with; ``push_package`` is
    ``None`` for services that do not deliver their own push messages.
    """

    auth_request: str
    push_package: str | None = None
    device_ids: tuple[str, ...] = ()

    @property
    def id(self) -> str:
        """The same value as ``auth_request``."""
        return self.auth_request


class MethodFlags(msgspec.Struct, frozen=True, kw_only=True):
    """The flags a device reports for one authentication method (policies.md 5)."""

    set: bool | None = None
    active: bool | None = None
    allowed: bool | None = None
    supported: bool | None = None
    user_required: bool | None = None
    passed: bool | None = None
    error: bool | None = None


class AuthMethod(MethodFlags, frozen=True, kw_only=True):
    """State of one authentication method while the device processed the request.

    Each flag is ``None`` when the device did not say.
    """

    method: AuthMethodType


class AuthorizationResponsePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """The effective policy the device applied (``auth_policy``, policies.md 4)."""

    requirement: Requirement | None = None
    amount: int = 0
    fences: tuple[Fence, ...] = ()
    inherence_required: bool = False
    knowledge_required: bool = False
    possession_required: bool = False


class AdvancedAuthorizationResponse(msgspec.Struct, frozen=True, kw_only=True):
    """The user's answer to an authorization request, from polling or from a webhook.

    ``authorized`` is true only for type AUTHORIZED with reason APPROVED. For answers
    that came in the legacy ``auth`` package the device says only yes or no: ``type``
    and ``reason`` are then ``None`` and ``policy`` and ``auth_methods`` are empty.
    The three user values are ``None`` only when a webhook body omitted them
    (webhooks.md 3).
    """

    authorization_request_id: str
    authorized: bool
    type: AuthResponseType | None = None
    reason: AuthResponseReason | None = None
    denial_reason: str | None = None
    fraud: bool = False
    service_user_hash: str | None = None
    organization_user_hash: str | None = None
    user_push_id: str | None = None
    device_id: str
    service_pins: tuple[str, ...] = ()
    policy: AuthorizationResponsePolicy | None = None
    auth_methods: tuple[AuthMethod, ...] = ()

    def __repr__(self) -> str:
        # Service PINs detect cloned devices; printing the answer (a common logging
        # habit) must not publish them, so only their count is shown.
        fields = [
            f"{name}={getattr(self, name)!r}"
            for name in self.__struct_fields__
            if name != "service_pins"
        ]
        fields.append(f"service_pins=<{len(self.service_pins)} hidden>")
        return f"AdvancedAuthorizationResponse({', '.join(fields)})"


class SessionEndRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A user ended their session from a device (session-end webhook, webhooks.md 4)."""

    service_user_hash: str
    logout_requested: _dt.datetime

    @property
    def api_time(self) -> _dt.datetime:
        """When the logout happened (aware UTC); same as ``logout_requested``."""
        return self.logout_requested


WebhookEvent = AdvancedAuthorizationResponse | SessionEndRequest
