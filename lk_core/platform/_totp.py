"""RFC 6238 TOTP via cryptography's implementation; the platform picks the window."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

_HASHES: dict[str, type[hashes.SHA1 | hashes.SHA256 | hashes.SHA512]] = {
    "SHA1": hashes.SHA1,
    "SHA256": hashes.SHA256,
    "SHA512": hashes.SHA512,
}
# Codes one period either side of now are accepted, as RFC 6238 section 5.2 suggests
# for clock drift and transmission delay.
WINDOW = 1


SECRET_BYTES = 20  # 160 bits, the HMAC-SHA1 block-friendly size RFC 4226 recommends


def secret_from_bytes(raw: bytes) -> str:
    """Base32 secret text, unpadded, as authenticator apps expect."""
    return base64.b32encode(raw).decode("ascii").rstrip("=")


def _key(secret: str) -> bytes:
    padded = secret.upper() + "=" * (-len(secret) % 8)
    return base64.b32decode(padded)


def _totp(secret: str, algorithm: str, digits: int, period: int) -> TOTP:
    return TOTP(_key(secret), digits, _HASHES[algorithm](), period)


def code_at(
    secret: str, now: int, *, algorithm: str = "SHA1", digits: int = 6, period: int = 30
) -> str:
    """The code valid at `now` (unix seconds)."""
    return _totp(secret, algorithm, digits, period).generate(now).decode("ascii")


def verify(
    secret: str,
    otp: str,
    now: int,
    *,
    algorithm: str = "SHA1",
    digits: int = 6,
    period: int = 30,
) -> bool:
    """Whether `otp` matches the code of this period or of a neighbouring one."""
    if len(otp) != digits or not otp.isdigit():
        return False
    totp = _totp(secret, algorithm, digits, period)
    for step in range(-WINDOW, WINDOW + 1):
        try:
            totp.verify(otp.encode("ascii"), now + step * period)
        except InvalidToken:
            continue
        return True
    return False
