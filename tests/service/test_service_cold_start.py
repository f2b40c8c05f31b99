"""A cold client shares one clock sync and one key fetch among concurrent calls."""

from __future__ import annotations

import asyncio
import threading
import time

from service_fake import FakePlatform

from lk_core import HttpRequest, HttpResponse
from lk_io import AsyncServiceClient, ServiceClient

CALLS = 20  # concurrent first calls
SESSIONS = "/service/v3/sessions"


def _public_paths(fake: FakePlatform) -> list[str]:
    return [r.path for r in fake.seen if r.path.startswith("/public/")]


class _SlowPublic:
    """The fake platform, answering public requests slowly so that calls overlap."""

    def __init__(self, fake: FakePlatform) -> None:
        self.fake = fake
        self.lock = threading.Lock()

    def send(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/public/"):
            time.sleep(0.05)
        with self.lock:
            return self.fake.send(request)


def test_threads_share_one_refresh(fake: FakePlatform) -> None:
    """20 threads calling a new client together cause one ping and one key fetch."""
    fake.route("POST", SESSIONS, 204)
    client = ServiceClient(
        fake.service.id, fake.service_key, transport=_SlowPublic(fake), clock=fake.clock
    )
    start = threading.Barrier(CALLS)

    def call() -> None:
        start.wait()
        client.session_start("someone")

    threads = [threading.Thread(target=call) for _ in range(CALLS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert _public_paths(fake) == ["/public/v3/ping", "/public/v3/public-key"]
    assert len(fake.requests) == CALLS


def test_tasks_share_one_refresh(fake: FakePlatform) -> None:
    """20 tasks on a new async client cause one ping and one key fetch."""
    fake.route("POST", SESSIONS, 204)

    class Slow:
        async def send(self, request: HttpRequest) -> HttpResponse:
            if request.path.startswith("/public/"):
                await asyncio.sleep(0.05)
            return fake.send(request)

    client = AsyncServiceClient(
        fake.service.id, fake.service_key, transport=Slow(), clock=fake.clock
    )

    async def burst() -> None:
        await asyncio.gather(*(client.session_start("someone") for _ in range(CALLS)))

    asyncio.run(burst())
    assert _public_paths(fake) == ["/public/v3/ping", "/public/v3/public-key"]
    assert len(fake.requests) == CALLS
