"""System randomness for the platform core."""

from __future__ import annotations

import secrets
import uuid

from lk_core._keys import generate_private_key, private_key_pem


class SystemEntropy:
    """Draws from the operating system's CSPRNG."""

    def new_id(self) -> str:
        return str(uuid.uuid4())

    def token(self, nbytes: int) -> bytes:
        return secrets.token_bytes(nbytes)

    def digits(self, count: int) -> str:
        return "".join(secrets.choice("0123456789") for _ in range(count))

    def rsa_private_pem(self) -> str:
        return private_key_pem(generate_private_key(2048))
