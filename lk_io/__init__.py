"""lk_io: the network half - transports, runners and the public Service clients.

The protocol lives in :mod:`lk_core`; this package only moves its prepared requests
over urllib3 or a caller-supplied async transport. Each module logs to its own
``logging.getLogger(__name__)``; nothing secret (keys, tokens, OTPs, decrypted
payloads) is ever logged.
"""

import logging

from lk_io._async import AsyncServiceClient
from lk_io._client import ServiceClient
from lk_io._factory import ServiceFactory
from lk_io._replay import MemoryReplayStore, ReplayGuard, ReplayStore
from lk_io._transport import (
    DEFAULT_URL,
    AsyncioTransport,
    AsyncTransport,
    Transport,
    Urllib3Transport,
    run_async,
    run_sync,
)

logging.getLogger(__name__).addHandler(logging.NullHandler())

__all__ = [
    "DEFAULT_URL",
    "AsyncServiceClient",
    "AsyncTransport",
    "AsyncioTransport",
    "MemoryReplayStore",
    "ReplayGuard",
    "ReplayStore",
    "ServiceClient",
    "ServiceFactory",
    "Transport",
    "Urllib3Transport",
    "run_async",
    "run_sync",
]
