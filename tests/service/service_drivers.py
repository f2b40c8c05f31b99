"""Run one scenario through both clients: the sync one, and the async one made blocking.

:class:`BlockingAsync` runs an :class:`AsyncServiceClient`'s coroutines on a private
event loop in a thread, so the seed's synchronous examples and the scenario suite run
unchanged against the async code path as well.
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from dataclasses import dataclass
from typing import Any

from lk_io import AsyncServiceClient, ServiceFactory
from lk_io.emulator import Emulator, VirtualDevice


class BlockingAsync:
    """The async client's methods, each awaited to completion on a private loop."""

    def __init__(self, client: AsyncServiceClient) -> None:
        self.client = client
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.client, name)
        if not inspect.iscoroutinefunction(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            future = asyncio.run_coroutine_threadsafe(attr(*args, **kwargs), self._loop)
            return future.result()

        return call

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self.client.aclose(), self._loop).result()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._loop.close()


@dataclass
class World:
    """An emulator, a client of its service (sync or async) and two users."""

    emulator: Emulator
    factory: ServiceFactory
    service_client: Any
    myuser: VirtualDevice
    other: VirtualDevice
    kind: str

    def settle(self) -> None:
        """Answer whatever is still pending, so the next test can ask again."""
        for device in (self.myuser, self.other):
            device.auto_off()
            for auth in device.pending():
                device.approve(auth["auth_request"])
