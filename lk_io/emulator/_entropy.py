"""System randomness for the platform core."""

from __future__ import annotations

import secrets
import uuid

from lk_core._keys import PrivateKey, generate_private_key


class SystemEntropy:
    """Draws from the operating system's CSPRNG.

    `device_key`, when given, is handed to every new device instead of a fresh one:
    RSA generation is the slowest thing the platform does, and tests that link many
    devices rarely care whose key a device holds.
    """

    def __init__(self, device_key: PrivateKey | None = None) -> None:
        self._device_key = device_key

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def token(self, nbytes: int) -> bytes:
        return secrets.token_bytes(nbytes)

    def digits(self, count: int) -> str:
        return "".join(secrets.choice("0123456789") for _ in range(count))

    def device_key(self) -> PrivateKey:
        return self._device_key or generate_private_key(2048)
