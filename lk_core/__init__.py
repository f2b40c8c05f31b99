"""lk_core: the LaunchKey / TruValidate MFA protocol, with no I/O.

Everything here is a pure function of its arguments: bytes, keys, the current time and
request ids come in; request bytes, frozen msgspec structs and error values come out.
Nothing in this package opens a socket, starts a thread, reads a file or a clock, or
logs. The only randomness is what the JOSE layer draws for content keys and IVs.
``lk_io`` moves the bytes.
"""

from ._errors import *  # noqa: F403
from ._errors import __all__ as _errors_all
from ._http import Headers, HttpRequest, HttpResponse
from ._jose import JOSEDecryptError, jwe_decrypt, jwe_encrypt
from ._keys import (
    KeyRing,
    KeyType,
    PrivateKey,
    PublicKey,
    generate_private_key,
    kid_of,
    load_private_key,
    load_public_key,
    private_key_pem,
)
from ._plan import (
    Credentials,
    Plan,
    PlatformView,
    Received,
    Send,
    Store,
    signed_call,
)
from ._protocol import (
    Entity,
    SignedRequest,
    VerifiedRequest,
    WebhookRequest,
    parse_entity,
    sign_request,
    sign_response,
    sign_webhook,
    verify_request,
    verify_response,
    verify_webhook,
)
from ._replay import (
    ReplayCapacityExceeded,
    SeenTokens,
    WebhookReplayed,
    replay_key,
    webhook_replay_key,
)

__all__ = [
    *_errors_all,
    "Credentials",
    "Entity",
    "Headers",
    "HttpRequest",
    "HttpResponse",
    "JOSEDecryptError",
    "KeyRing",
    "KeyType",
    "Plan",
    "PlatformView",
    "PrivateKey",
    "PublicKey",
    "Received",
    "ReplayCapacityExceeded",
    "SeenTokens",
    "Send",
    "SignedRequest",
    "Store",
    "VerifiedRequest",
    "WebhookReplayed",
    "WebhookRequest",
    "generate_private_key",
    "jwe_decrypt",
    "jwe_encrypt",
    "kid_of",
    "load_private_key",
    "load_public_key",
    "parse_entity",
    "private_key_pem",
    "replay_key",
    "sign_request",
    "sign_response",
    "sign_webhook",
    "signed_call",
    "verify_request",
    "verify_response",
    "verify_webhook",
    "webhook_replay_key",
]

# The Service Client's values, policies and plans (lk_core.service), re-exported so
# every public name is importable from lk_core directly.
from .service import *  # noqa: F403
from .service import __all__ as _service_all

__all__ += _service_all
