"""RSA keys: PEM loading, key ids, and the key ring a client signs and decrypts with.

Keys are parsed once; the parsed ``cryptography`` objects are kept with their key id so
that nothing on the hot path parses or hashes a key again. Reprs show the key id only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from enum import IntEnum

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from ._errors import EntityKeyNotFound, InvalidPrivateKey, InvalidPublicKeyFormat

__all__ = [
    "KeyRing",
    "KeyType",
    "PrivateKey",
    "PublicKey",
    "generate_private_key",
    "kid_of",
    "load_private_key",
    "load_public_key",
    "private_key_pem",
]

# Keys smaller than this are refused: the platform never issued them and they are
# breakable.
MIN_BITS = 2048
# A PEM larger than this is not a key we can use (an RSA-16384 PKCS#8 PEM is about 13
# kB).
MAX_PEM_BYTES = 32 * 1024


class KeyType(IntEnum):
    """What a key may be used for (the platform's ``key_type``)."""

    BOTH = 0
    ENCRYPTION = 1
    SIGNATURE = 2


def kid_of(key: rsa.RSAPublicKey) -> str:
    """The platform's key id: colon-separated MD5 of the DER SubjectPublicKeyInfo."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # MD5 is what the platform defines the key id as; it names keys, it protects
    # nothing.
    digest = hashlib.md5(der, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, 32, 2))


class PublicKey:
    """A parsed RSA public key with its key id."""

    __slots__ = ("_key", "kid", "pem", "size")

    def __init__(self, key: rsa.RSAPublicKey) -> None:
        self._key = key
        # Bytes in the modulus: the length of every signature and wrapped key.
        self.size: int = (key.key_size + 7) // 8
        self.kid = kid_of(key)
        self.pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode("ascii")

    @property
    def key(self) -> rsa.RSAPublicKey:
        """The ``cryptography`` key object."""
        return self._key

    @property
    def bits(self) -> int:
        return self._key.key_size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other.kid == self.kid

    def __hash__(self) -> int:
        return hash(self.kid)

    def __repr__(self) -> str:
        return f"PublicKey(kid={self.kid!r}, bits={self.bits})"


class PrivateKey:
    """A parsed RSA private key with its key id. Its repr never shows key material."""

    __slots__ = ("_key", "kid", "public", "size")

    def __init__(self, key: rsa.RSAPrivateKey) -> None:
        self._key = key
        self.public = PublicKey(key.public_key())
        self.kid = self.public.kid
        self.size: int = self.public.size

    @property
    def key(self) -> rsa.RSAPrivateKey:
        """The ``cryptography`` key object."""
        return self._key

    @property
    def bits(self) -> int:
        return self._key.key_size

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrivateKey) and other.kid == self.kid

    def __hash__(self) -> int:
        return hash(self.kid)

    def __repr__(self) -> str:
        return f"PrivateKey(kid={self.kid!r}, bits={self.bits})"

    def __reduce__(self) -> str:
        # Pickling would write the key out in clear; refuse rather than leak it
        # silently.
        raise TypeError("PrivateKey cannot be pickled; store the PEM yourself")


def _pem_bytes(pem: str | bytes, error: type[Exception]) -> bytes:
    if isinstance(pem, str):
        try:
            data = pem.encode("ascii")
        except UnicodeEncodeError:
            raise error("key text is not ASCII PEM") from None
    elif isinstance(pem, bytes | bytearray | memoryview):
        data = bytes(pem)
    else:
        raise error(f"expected PEM as str or bytes, got {type(pem).__name__}")
    if len(data) > MAX_PEM_BYTES:
        raise error(f"key PEM is {len(data)} bytes; at most {MAX_PEM_BYTES} accepted")
    return data.strip()


def load_private_key(pem: str | bytes) -> PrivateKey:
    """Load an unencrypted RSA private key from PKCS#1 or PKCS#8 PEM.

    Raises :class:`InvalidPrivateKey` (saying which check failed) for an encrypted PEM,
    an EC or other non-RSA key, a certificate or public key, a key under 2048 bits, or
    garbage.
    """
    data = _pem_bytes(pem, InvalidPrivateKey)
    if b"ENCRYPTED" in data.split(b"\n", 1)[0] or b"Proc-Type: 4,ENCRYPTED" in data:
        raise InvalidPrivateKey("the private key PEM is encrypted; decrypt it first")
    if data.startswith(b"-----BEGIN CERTIFICATE"):
        raise InvalidPrivateKey("found a certificate where a private key was expected")
    if b"PUBLIC KEY-----" in data.split(b"\n", 1)[0]:
        raise InvalidPrivateKey("found a public key where a private key was expected")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InvalidPrivateKey("the private key PEM is encrypted") from None
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidPrivateKey(
            "not a PEM RSA private key (PKCS#1 or PKCS#8)"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise InvalidPrivateKey(f"expected an RSA key, found {type(key).__name__}")
    if key.key_size < MIN_BITS:
        raise InvalidPrivateKey(f"RSA key is {key.key_size} bits; at least {MIN_BITS}")
    return PrivateKey(key)


def load_public_key(pem: str | bytes) -> PublicKey:
    """Load an RSA public key from SubjectPublicKeyInfo or PKCS#1 PEM.

    Raises :class:`InvalidPublicKeyFormat` for anything else.
    """
    data = _pem_bytes(pem, InvalidPublicKeyFormat)
    if data.startswith(b"-----BEGIN CERTIFICATE"):
        raise InvalidPublicKeyFormat(
            "found a certificate where a public key was expected"
        )
    try:
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise InvalidPublicKeyFormat(
            "not a PEM RSA public key (SPKI or PKCS#1)"
        ) from None
    if not isinstance(key, rsa.RSAPublicKey):
        raise InvalidPublicKeyFormat(f"expected an RSA key, found {type(key).__name__}")
    if key.key_size < MIN_BITS:
        raise InvalidPublicKeyFormat(
            f"RSA key is {key.key_size} bits; at least {MIN_BITS}"
        )
    return PublicKey(key)


def generate_private_key(bits: int = 2048) -> PrivateKey:
    """Make a fresh RSA key (for tests, the emulator, and new credentials)."""
    if bits < MIN_BITS:
        raise InvalidPrivateKey(f"RSA key size {bits}; at least {MIN_BITS}")
    return PrivateKey(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def private_key_pem(key: PrivateKey) -> str:
    """The key as unencrypted PKCS#1 PEM, the form the platform's tools hand out."""
    return key.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")


class KeyRing:
    """The private keys of one entity: one to sign with, any number to decrypt with.

    A dual-purpose key is simply the signing key; it is also used to decrypt. Extra keys
    (rotation, or a separate encryption key) are looked up by the key id an encrypted
    message names.
    """

    __slots__ = ("_by_kid", "signing")

    def __init__(
        self, signing: PrivateKey | None, decryption: Iterable[PrivateKey] = ()
    ) -> None:
        self.signing = signing
        by_kid: dict[str, PrivateKey] = {}
        if signing is not None:
            by_kid[signing.kid] = signing
        for key in decryption:
            by_kid[key.kid] = key
        self._by_kid: Mapping[str, PrivateKey] = by_kid

    def with_decryption_key(self, key: PrivateKey) -> KeyRing:
        """A new ring that can also decrypt with ``key``."""
        return KeyRing(self.signing, [*self._by_kid.values(), key])

    @property
    def kids(self) -> tuple[str, ...]:
        return tuple(self._by_kid)

    def keys(self) -> tuple[PrivateKey, ...]:
        """Every key in the ring, signing key first."""
        return tuple(self._by_kid.values())

    def decryption_key(self, kid: str) -> PrivateKey:
        """The private key named by ``kid``.

        Raises :class:`EntityKeyNotFound` when no key has that id.
        """
        key = self._by_kid.get(kid)
        if key is None:
            raise EntityKeyNotFound(kid)
        return key

    def __repr__(self) -> str:
        signing = self.signing.kid if self.signing else None
        return f"KeyRing(signing={signing!r}, kids={list(self._by_kid)!r})"
