"""lk_io: the network half - transports, runners and the public Service clients.

The protocol lives in :mod:`lk_core`; this package only moves its prepared requests
over urllib3 or a caller-supplied async transport. Each module logs to its own
``logging.getLogger(__name__)``; nothing secret (keys, tokens, OTPs, decrypted
payloads) is ever logged.
"""

import logging
from typing import TYPE_CHECKING, Any

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

if TYPE_CHECKING:
    from lk_io._async import AsyncServiceClient

logging.getLogger(__name__).addHandler(logging.NullHandler())


def __getattr__(name: str) -> Any:
    # The async client brings in asyncio, a quarter of this package's import time;
    # sync-only programs never load it.
    if name == "AsyncServiceClient":
        from lk_io._async import AsyncServiceClient

        return AsyncServiceClient
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


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
