"""A fresh in-memory fake platform per test, and a sync client wired to it."""

from __future__ import annotations

import pytest
from service_fake import FakePlatform

from lk_io import ServiceClient


@pytest.fixture
def fake() -> FakePlatform:
    return FakePlatform()


@pytest.fixture
def client(fake: FakePlatform) -> ServiceClient:
    return ServiceClient(
        fake.service.id, fake.service_key, transport=fake, clock=fake.clock, backoff=0
    )
