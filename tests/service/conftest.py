"""Fixtures: an in-memory fake platform per test, and a real emulator per module.

``world`` is parametrized over the two clients, so every test that uses it runs once
through the sync :class:`ServiceClient` and once through :class:`AsyncServiceClient`.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from service_drivers import BlockingAsync, World
from service_fake import FakePlatform

from lk_core.platform import RateLimit
from lk_io import ServiceClient, ServiceFactory
from lk_io.emulator import Emulator


@pytest.fixture
def fake() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def client(fake: FakePlatform) -> ServiceClient:
    return ServiceClient(
        fake.service.id, fake.service_key, transport=fake, clock=fake.clock, backoff=0
    )


@pytest.fixture(scope="module", params=["sync", "async"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    # Tests ask many times per user; a generous limit keeps them independent.
    with Emulator(rate_limit=RateLimit(creates=1000)) as emulator:
        creds = emulator.credentials
        factory = ServiceFactory(
            creds.service_id, creds.service_key, url=creds.base_url, backoff=0.01
        )
        client: Any
        if request.param == "sync":
            client = factory.make_service_client()
        else:
            client = BlockingAsync(factory.make_async_service_client())
        myuser = emulator.add_user("myuser")
        other = emulator.add_user("my_unique_internal_identifier")
        yield World(emulator, factory, client, myuser, other, request.param)
        client.close()


@pytest.fixture
def settled(world: World) -> Iterator[World]:
    """The module's world, with nothing pending before and after the test."""
    world.settle()
    yield world
    world.settle()
