"""One emulator and one webhook receiver per module; a fresh user per test."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from lk_core.platform import RateLimit
from lk_io.emulator import Emulator, VirtualDevice, WebhookReceiver

_users = itertools.count(1)


@pytest.fixture(scope="module")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as r:
        yield r


@pytest.fixture(scope="module")
def emulator(receiver: WebhookReceiver) -> Iterator[Emulator]:
    # Tests make many requests per user; a generous limit keeps them independent.
    with Emulator(callback_url=receiver.url, rate_limit=RateLimit(creates=1000)) as emu:
        yield emu


@pytest.fixture
def device(emulator: Emulator) -> VirtualDevice:
    """A new Directory User with one linked virtual device."""
    return emulator.add_user(f"user-{next(_users)}")
