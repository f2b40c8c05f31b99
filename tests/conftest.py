"""Shared fixtures: a few RSA-2048 keys, generated once per test session.

Key generation is the slowest thing a test can do, so every test shares these four
keys; tests that need a particular PEM layout load it from ``tests/core/fixtures``.
"""

from __future__ import annotations

import pytest

from lk_core import KeyRing, PrivateKey, generate_private_key


@pytest.fixture(scope="session")
def client_key() -> PrivateKey:
    """The signing (and default decryption) key of the entity under test."""
    return generate_private_key(2048)


@pytest.fixture(scope="session")
def client_key2() -> PrivateKey:
    """A second entity key: a rotated-in key, or a separate encryption key."""
    return generate_private_key(2048)


@pytest.fixture(scope="session")
def platform_key() -> PrivateKey:
    """The platform's current key (signs responses, decrypts requests)."""
    return generate_private_key(2048)


@pytest.fixture(scope="session")
def platform_key2() -> PrivateKey:
    """An older or foreign platform key, for rotation and wrong-key cases."""
    return generate_private_key(2048)


@pytest.fixture(scope="session")
def client_ring(client_key: PrivateKey) -> KeyRing:
    """A ring holding only the client's dual-purpose key."""
    return KeyRing(client_key)


@pytest.fixture(scope="session")
def platform_ring(platform_key: PrivateKey) -> KeyRing:
    """The platform's ring, used to decrypt request bodies."""
    return KeyRing(platform_key)
