"""Run the local emulator inside your own tests.

Nothing here registers itself. Opt in with either

    from lk_io.testing import running_emulator
    with running_emulator() as lk:
        request = lk.client.authorization_request(lk.user)
        lk.device.approve()

or, for pytest, ``pytest_plugins = ["lk_io.testing"]`` in your conftest.py, which
gives the ``lk_emulator`` fixture (the same object, a fresh emulator per test).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lk_io.emulator import Credentials, Emulator, EmulatorControl, VirtualDevice

if TYPE_CHECKING:
    from lk_io._client import ServiceClient

__all__ = ["EmulatorSession", "lk_emulator", "running_emulator"]


@dataclass
class EmulatorSession:
    """A running emulator with a ready Service client, a user and its device."""

    emulator: Emulator
    client: ServiceClient
    user: str
    device: VirtualDevice
    credentials: Credentials

    @property
    def control(self) -> EmulatorControl:
        return self.emulator.control


@contextmanager
def running_emulator(
    *, user: str = "user@example.com", **emulator_options: Any
) -> Iterator[EmulatorSession]:
    """Start an emulator on a free 127.0.0.1 port; stop it on exit.

    `emulator_options` go to :class:`Emulator` (callback_url, rate_limit, clock...).
    """
    # Imported here so the emulator stays usable while only lk_core is importable.
    from lk_io._factory import ServiceFactory

    with Emulator(**emulator_options) as emulator:
        creds = emulator.credentials
        device = emulator.add_user(user)
        # The client reads the emulator's clock, so control.advance(...) moves both:
        # tokens stay valid and expiry shows up as it would after real waiting.
        factory = ServiceFactory(
            creds.service_id,
            creds.service_key,
            url=creds.base_url,
            clock=emulator.clock.now,
        )
        client = factory.make_service_client()
        try:
            yield EmulatorSession(
                emulator=emulator,
                client=client,
                user=user,
                device=device,
                credentials=creds,
            )
        finally:
            client.close()


try:
    import pytest
except ImportError:  # pragma: no cover - pytest is only needed for the fixture
    pass
else:

    @pytest.fixture
    def lk_emulator() -> Iterator[EmulatorSession]:
        """A fresh emulator, client, user and virtual device for one test."""
        with running_emulator() as session:
            yield session
