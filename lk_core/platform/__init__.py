"""The platform side of the LaunchKey protocol, for the local emulator.

Pure like the rest of lk_core: time, randomness (through an Entropy object) and
request bytes come in as arguments; state changes, replies and webhook events come out.
"""

from lk_core.platform._errors import PlatformError
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
from lk_core.platform._policy import Fence, Place, Policy, parse_legacy
from lk_core.platform._server import PlatformServer
from lk_core.platform._state import DEFAULT_RATE_LIMIT, Platform, RateLimit

__all__ = [
    "DEFAULT_RATE_LIMIT",
    "Answer",
    "AnswerSpec",
    "AuthRequest",
    "AuthResponseEvent",
    "AuthState",
    "AutoRule",
    "DenialReason",
    "Device",
    "DeviceLinkEvent",
    "DeviceProfile",
    "DeviceStatus",
    "Directory",
    "EntityKey",
    "Entropy",
    "Event",
    "Fence",
    "Organization",
    "Place",
    "Platform",
    "PlatformError",
    "PlatformServer",
    "Policy",
    "RateLimit",
    "Service",
    "Session",
    "SessionEndEvent",
    "TotpConfig",
    "User",
    "iso",
    "parse_legacy",
]
