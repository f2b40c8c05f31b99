"""Compact JWS and JWE, limited to what the platform speaks.

Signatures: RS256, RS384, RS512 (RSASSA-PKCS1-v1_5). Encryption: RSA-OAEP or
RSA-OAEP-256 key wrapping with A256CBC-HS512 content encryption (RFC 7518 section
5.2.5). Nothing else is accepted: no ``none``, no HMAC, no compression, no JSON
serialisation. Algorithms are a closed table here rather than a registry lookup, so a
header can never choose code we did not pick.

We build these on ``cryptography`` directly instead of a general JOSE library: every
call of the platform costs two RSA private-key operations, and the work around them must
stay small next to those (see docs/performance.md).

Every parser here treats its input as hostile: sizes are capped, base64url must be
canonical, headers and claims must be JSON objects without duplicate keys, and every
failure is one of two documented errors (:class:`InvalidJWTResponse` for JWS,
:class:`JOSEDecryptError` for JWE).
"""

from __future__ import annotations

import binascii
import hmac
import os
from collections.abc import Iterable
from typing import Any, Final

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from . import _json
from ._errors import (
    EntityKeyNotFound,
    InvalidAlgorithm,
    InvalidJWTResponse,
    NoIssuerKey,
    ProtocolError,
)
from ._keys import KeyRing, PrivateKey, PublicKey

__all__ = [
    "JWE_ALGS",
    "JWS_ALGS",
    "MAX_TOKEN_BYTES",
    "JOSEDecryptError",
    "UnverifiedJWS",
    "b64url_decode",
    "b64url_encode",
    "jwe_decrypt",
    "jwe_encrypt",
    "jwe_kid",
    "jwe_seal",
    "jws_kid",
    "jws_parse",
    "jws_sign",
    "jws_verify",
    "legacy_decrypt",
    "legacy_encrypt",
]

# Caps on what we will even look at. A platform JWT is well under 2 kB; bodies are small
# JSON.
MAX_TOKEN_BYTES: Final = 16 * 1024
MAX_JWE_BYTES: Final = 1 << 20
MAX_HEADER_BYTES: Final = 2048

_HASHES: Final[dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}
JWS_ALGS: Final = frozenset(_HASHES)
# Hash objects are immutable descriptions; one instance per algorithm serves every call.
_HASH_OF: Final = {alg: cls() for alg, cls in _HASHES.items()}
_PKCS1 = padding.PKCS1v15()

_OAEP: Final = {
    # SHA-1 inside OAEP is what the platform uses (jose.md 1); OAEP does not rely on
    # SHA-1 collision resistance.
    "RSA-OAEP": padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None),  # noqa: S303
    "RSA-OAEP-256": padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None),
}
JWE_ALGS: Final = frozenset(_OAEP)
_ENC: Final = "A256CBC-HS512"
# PKCS#7 padding blocks by length (index 0 is never used).
_PADS: Final = tuple(bytes((n,)) * n for n in range(17))


class JOSEDecryptError(ProtocolError):
    """A JWE could not be parsed or decrypted, or its integrity tag did not match."""

    code = "JWE-INVALID"


# --- base64url -----------------------------------------------------------------------

_B64_ALPHABET: Final = frozenset(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
)


_TO_URL: Final = bytes.maketrans(b"+/", b"-_")
_b2a: Final = binascii.b2a_base64
_PADDING: Final = {0: b"", 2: b"==", 3: b"="}
_ALPHABET_BYTES: Final = bytes(sorted(_B64_ALPHABET))
# The last character of a 2- or 3-character tail carries 4 or 2 unused bits; these are
# the characters whose unused bits are zero (values 0, 16, 32, 48 / multiples of 4).
_CANONICAL_LAST: Final = {2: frozenset(b"AQgw"), 3: frozenset(b"AEIMQUYcgkosw048")}


def _standard_table(keep: bytes = b"") -> bytes:
    # URL-safe characters map to the standard alphabet, those in ``keep`` to
    # themselves; every other byte, "+", "/", "=", quotes and backslashes included,
    # maps to "!", which the decoder refuses.
    table = bytearray(b"!" * 256)
    for url, std in zip(
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_" + keep,
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/" + keep,
        strict=True,
    ):
        table[url] = std
    return bytes(table)


_TO_STANDARD: Final = _standard_table()
# The same, keeping the dots between the parts of a compact token: one translate for
# the whole token, then one decoder call for all of its binary parts.
_TO_STANDARD_DOTS: Final = _standard_table(keep=b".")
# msgspec decodes a JSON string of standard, padded base64 into bytes at about twice
# the speed of binascii, which matters for the kilobyte-sized JWE ciphertexts. After the
# table above the string holds only the standard alphabet, "!" and our padding, so no
# JSON escape can reach it, and the decoder refuses "!" and misplaced padding.
_a2b_json: Final = msgspec.json.Decoder(bytes).decode
_a2b_two: Final = msgspec.json.Decoder(tuple[bytes, bytes]).decode
_a2b_four: Final = msgspec.json.Decoder(tuple[bytes, bytes, bytes, bytes]).decode


def _b64(data: bytes) -> bytes:
    # binascii directly: the base64 module's wrappers cost more than the encoding. One
    # translate maps to the URL alphabet and drops the padding.
    return _b2a(data, newline=False).translate(_TO_URL, b"=")


def b64url_encode(data: bytes) -> str:
    return _b64(data).decode("ascii")


def _pad(part: bytes) -> bytes:
    """The padding a translated part needs; ``ValueError`` if it has no canonical
    decoding (the canonical last characters are letters and digits, which the
    translation keeps)."""
    rem = len(part) % 4
    if rem and (rem == 1 or part[-1] not in _CANONICAL_LAST[rem]):
        raise ValueError
    return _PADDING[rem]


def _a2b(raw: bytes) -> bytes:
    """Decode one part; ``ValueError`` for every spelling but the canonical one."""
    std = raw.translate(_TO_STANDARD)
    try:
        return _a2b_json(b'"%s%s"' % (std, _pad(std)))
    except msgspec.DecodeError:
        raise ValueError from None


def b64url_decode(text: str | bytes) -> bytes:
    """Decode unpadded base64url, refusing any other spelling of the same bytes.

    Padding, characters outside the URL-safe alphabet, impossible lengths and non-zero
    trailing bits are all errors (``ValueError``), so each byte string has one encoding.
    """
    if type(text) is bytes:
        raw = text
    elif isinstance(text, str):
        raw = text.encode("ascii", "replace")
    elif isinstance(text, bytes | bytearray | memoryview):
        raw = bytes(text)
    else:
        raise ValueError("not base64url text")
    try:
        return _a2b(raw)
    except ValueError:
        pass
    # Refused: say why, checking in the order a reader would.
    if raw.translate(None, _ALPHABET_BYTES):
        raise ValueError("not base64url")
    if len(raw) % 4 == 1:
        raise ValueError("impossible base64url length")
    # Non-zero unused bits in the last character give a second encoding of the same
    # bytes.
    raise ValueError("non-canonical base64url")


# --- JWS -----------------------------------------------------------------------------

_header_cache: dict[tuple[str, str], bytes] = {}


def _jws_header(alg: str, kid: str) -> bytes:
    # The header is the same for every call with one key; encode it once.
    cached = _header_cache.get((alg, kid))
    if cached is None:
        header = _json.dumps({"alg": alg, "kid": kid})
        cached = _b64(header)
        if len(_header_cache) < 256:
            _header_cache[(alg, kid)] = cached
    return cached


def jws_sign(claims: bytes, key: PrivateKey | None, alg: str = "RS512") -> str:
    """Sign JSON claim bytes; return the compact JWS."""
    if key is None:
        raise NoIssuerKey("no signing key configured")
    hash_cls = _HASHES.get(alg)
    if hash_cls is None:
        raise InvalidAlgorithm(f"JWS alg {alg!r}; expected one of {sorted(JWS_ALGS)}")
    signing_input = b"%s.%s" % (_jws_header(alg, key.kid), _b64(claims))
    signature = key.key.sign(signing_input, _PKCS1, _HASH_OF[alg])
    token = b"%s.%s" % (signing_input, _b64(signature))
    return token.decode("ascii")


class UnverifiedJWS:
    """A parsed compact JWS whose signature has not been checked yet."""

    __slots__ = ("alg", "claims", "header", "kid", "signature", "signing_input")

    def __init__(
        self,
        header: dict[str, Any],
        claims: dict[str, Any],
        signing_input: bytes,
        signature: bytes,
    ) -> None:
        self.header = header
        self.claims = claims
        self.signing_input = signing_input
        self.signature = signature
        self.alg: str = header["alg"]
        kid = header.get("kid")
        self.kid: str | None = kid if isinstance(kid, str) else None

    def __repr__(self) -> str:
        return f"UnverifiedJWS(alg={self.alg!r}, kid={self.kid!r})"


def _json_object(part: bytes, what: str, error: type[ProtocolError]) -> dict[str, Any]:
    try:
        value = _json.loads(b64url_decode(part), max_bytes=MAX_TOKEN_BYTES)
    except ValueError as exc:
        raise error(f"{what} is not base64url JSON: {exc}") from None
    if not isinstance(value, dict):
        raise error(f"{what} is not a JSON object")
    return value


def _token_bytes(
    token: str | bytes, limit: int, what: str, error: type[ProtocolError]
) -> bytes:
    """A compact token as bytes; refused when it is not ASCII or over ``limit``."""
    if isinstance(token, str):
        if not token.isascii():
            raise error(f"{what} is not ASCII")
    elif not isinstance(token, bytes | bytearray | memoryview):
        raise error(f"{what} is not text or bytes")
    # Measured before any copy: a hostile size is refused without allocating it.
    size = token.nbytes if isinstance(token, memoryview) else len(token)
    if size > limit:
        raise error(f"{what} is {size} bytes; at most {limit}")
    if isinstance(token, str):
        return token.encode("ascii")
    return token if type(token) is bytes else bytes(token)


def _split(
    raw: bytes, count: int, what: str, error: type[ProtocolError]
) -> list[bytes]:
    """The token's parts in the standard base64 alphabet (any other byte as "!"),
    refused for the wrong number of parts or a huge header."""
    parts = raw.translate(_TO_STANDARD_DOTS).split(b".")
    if len(parts) != count:
        raise error(f"{what} has {len(parts)} parts; expected {count}")
    if len(parts[0]) > MAX_HEADER_BYTES:
        raise error(f"{what} header too large")
    return parts


def _header64(raw: bytes, count: int, what: str, error: type[ProtocolError]) -> bytes:
    """The header part of a compact token as sent, with :func:`_split`'s refusals but
    without translating the rest."""
    dots = raw.count(b".")
    if dots != count - 1:
        raise error(f"{what} has {dots + 1} parts; expected {count}")
    header = raw[: raw.index(b".")]
    if len(header) > MAX_HEADER_BYTES:
        raise error(f"{what} header too large")
    return header


# Headers that passed the checks below, by their base64url text. The platform signs
# with a handful of keys, so its headers repeat; a cache hit skips base64 and JSON.
_checked_headers: dict[bytes, dict[str, Any]] = {}
_MAX_CHECKED_HEADERS: Final = 64


def _checked_header(h64: bytes) -> dict[str, Any]:
    """A checked JWS header: a JSON object with an allowed ``alg`` and no ``crit``.

    The dict may be shared; callers copy it before handing it out.
    """
    header = _checked_headers.get(h64)
    if header is not None:
        return header
    header = _json_object(h64, "JWT header", InvalidJWTResponse)
    alg = header.get("alg")
    # The isinstance test first: a list or object alg is unhashable for the set lookup.
    if not isinstance(alg, str) or alg not in JWS_ALGS:
        raise InvalidJWTResponse(f"JWT alg {alg!r}; expected one of {sorted(JWS_ALGS)}")
    if "crit" in header:
        raise InvalidJWTResponse("JWT header has crit parameters we do not implement")
    if len(_checked_headers) >= _MAX_CHECKED_HEADERS:
        # Hostile senders can vary headers at will; forgetting all is simple and safe.
        _checked_headers.clear()
    _checked_headers[h64] = header
    return header


def jws_kid(token: str | bytes) -> str | None:
    """The ``kid`` a compact JWS header names (None if it names none).

    Reads only the header, so a caller can fetch the key before :func:`jws_parse`;
    raises :class:`InvalidJWTResponse` for anything :func:`jws_parse` would refuse in
    the token's shape or header.
    """
    raw = _token_bytes(token, MAX_TOKEN_BYTES, "JWT", InvalidJWTResponse)
    kid = _checked_header(_header64(raw, 3, "JWT", InvalidJWTResponse)).get("kid")
    return kid if isinstance(kid, str) else None


def jws_parse(token: str | bytes) -> UnverifiedJWS:
    """Split and decode a compact JWS without verifying it.

    Raises :class:`InvalidJWTResponse` unless it has three canonical base64url parts, a
    JSON object header with an allowed ``alg`` and no ``crit``, and a JSON object
    payload.
    """
    raw = _token_bytes(token, MAX_TOKEN_BYTES, "JWT", InvalidJWTResponse)
    _, p_std, s_std = parts = _split(raw, 3, "JWT", InvalidJWTResponse)
    h_len = len(parts[0])
    header = dict(_checked_header(raw[:h_len]))
    try:
        payload, signature = _a2b_two(
            b'["%s%s","%s%s"]' % (p_std, _pad(p_std), s_std, _pad(s_std))
        )
    except (ValueError, msgspec.DecodeError):
        # Find the bad part again, one at a time, to say what is wrong with it.
        _, p64, s64 = raw.split(b".")
        _json_object(p64, "JWT claims", InvalidJWTResponse)
        try:
            b64url_decode(s64)
        except ValueError as exc:
            raise InvalidJWTResponse(f"JWT signature: {exc}") from None
        raise InvalidJWTResponse("JWT is not base64url") from None  # not reached
    try:
        claims = _json.loads(payload, max_bytes=MAX_TOKEN_BYTES)
    except ValueError as exc:
        raise InvalidJWTResponse(f"JWT claims is not base64url JSON: {exc}") from None
    if not isinstance(claims, dict):
        raise InvalidJWTResponse("JWT claims is not a JSON object")
    # The signing input is the token's first two parts exactly as sent.
    signing_input = raw[: h_len + 1 + len(p_std)]
    return UnverifiedJWS(header, claims, signing_input, signature)


def jws_verify(jws: UnverifiedJWS, key: PublicKey) -> None:
    """Check the signature with ``key``; :class:`InvalidJWTResponse` if it fails."""
    if len(jws.signature) != key.size:
        raise InvalidJWTResponse("JWT signature has the wrong length for the key")
    try:
        key.key.verify(jws.signature, jws.signing_input, _PKCS1, _HASH_OF[jws.alg])
    except (
        Exception
    ):  # cryptography raises InvalidSignature; any failure is a bad token
        raise InvalidJWTResponse(
            f"JWT signature does not verify with key {key.kid}"
        ) from None


# --- JWE -----------------------------------------------------------------------------

_jwe_header_cache: dict[tuple[str, str, bool], bytes] = {}


def _jwe_header(alg: str, kid: str, cty: bool) -> bytes:
    cached = _jwe_header_cache.get((alg, kid, cty))
    if cached is None:
        header: dict[str, str] = {"alg": alg, "enc": _ENC, "kid": kid}
        if cty:
            header["cty"] = "application/json"
        cached = _b64(_json.dumps(header))
        if len(_jwe_header_cache) < 256:
            _jwe_header_cache[(alg, kid, cty)] = cached
    return cached


def _tag(mac_key: bytes, aad: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    al = (len(aad) * 8).to_bytes(8, "big")
    return hmac.digest(mac_key, aad + iv + ciphertext + al, "sha512")[:32]


def jwe_encrypt(
    plaintext: bytes, key: PublicKey, alg: str = "RSA-OAEP", *, cty: bool = False
) -> str:
    """Encrypt to ``key``; return the compact JWE (A256CBC-HS512)."""
    return jwe_seal(plaintext, key, alg, cty=cty).decode("ascii")


def jwe_seal(
    plaintext: bytes, key: PublicKey, alg: str = "RSA-OAEP", *, cty: bool = False
) -> bytes:
    """:func:`jwe_encrypt` as ASCII bytes, the form an HTTP body takes."""
    oaep = _OAEP.get(alg)
    if oaep is None:
        raise InvalidAlgorithm(f"JWE alg {alg!r}; expected one of {sorted(JWE_ALGS)}")
    cek = os.urandom(64)
    iv = os.urandom(16)
    aad = _jwe_header(alg, key.kid, cty)
    pad = 16 - len(plaintext) % 16
    encryptor = Cipher(algorithms.AES(cek[32:]), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plaintext + _PADS[pad]) + encryptor.finalize()
    wrapped = key.key.encrypt(cek, oaep)
    al = (len(aad) * 8).to_bytes(8, "big")
    tag = hmac.digest(cek[:32], aad + iv + ciphertext + al, "sha512")[:32]
    # The header is already base64url; one translate turns the other four parts into
    # it and drops their padding.
    b64 = b".".join(
        (
            _b2a(wrapped, newline=False),
            _b2a(iv, newline=False),
            _b2a(ciphertext, newline=False),
            _b2a(tag, newline=False),
        )
    ).translate(_TO_URL, b"=")
    return b"%s.%s" % (aad, b64)


# JWE headers that passed the checks below, by their base64url text: (OAEP, kid).
_checked_jwe_headers: dict[bytes, tuple[padding.OAEP, str | None]] = {}


def _checked_jwe_header(h64: bytes) -> tuple[padding.OAEP, str | None]:
    """The OAEP padding and ``kid`` of an acceptable JWE header; JOSEDecryptError."""
    checked = _checked_jwe_headers.get(h64)
    if checked is not None:
        return checked
    header = _json_object(h64, "JWE header", JOSEDecryptError)
    alg, enc = header.get("alg"), header.get("enc")
    oaep = _OAEP.get(alg) if isinstance(alg, str) else None
    if oaep is None:
        raise JOSEDecryptError(f"JWE alg {alg!r}; expected one of {sorted(JWE_ALGS)}")
    if enc != _ENC:
        raise JOSEDecryptError(f"JWE enc {enc!r}; expected {_ENC!r}")
    if "zip" in header:
        raise JOSEDecryptError("compressed JWE refused")
    if "crit" in header:
        raise JOSEDecryptError("JWE header has crit parameters we do not implement")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise JOSEDecryptError("JWE kid is not a string")
    if len(_checked_jwe_headers) >= _MAX_CHECKED_HEADERS:
        _checked_jwe_headers.clear()
    checked = _checked_jwe_headers[h64] = (oaep, kid)
    return checked


def jwe_kid(token: str | bytes) -> str | None:
    """The ``kid`` a JWE header names, or ``None``; JOSEDecryptError if malformed."""
    raw = _token_bytes(token, MAX_JWE_BYTES, "JWE", JOSEDecryptError)
    h64 = _header64(raw, 5, "JWE", JOSEDecryptError)
    checked = _checked_jwe_headers.get(h64)
    if checked is not None:
        return checked[1]
    # Only the kid is asked for; the algorithms are judged when decrypting.
    kid = _json_object(h64, "JWE header", JOSEDecryptError).get("kid")
    if kid is not None and not isinstance(kid, str):
        raise JOSEDecryptError("JWE kid is not a string")
    return kid


def jwe_decrypt(token: str | bytes, keys: KeyRing) -> bytes:
    """Decrypt a compact JWE with the ring key its ``kid`` names.

    Without a ``kid``, each key is tried. Raises :class:`EntityKeyNotFound` for a kid we
    do not hold and :class:`JOSEDecryptError` for everything else (bad algorithm,
    ``zip``, ``crit``, bad lengths, wrong tag, bad padding).
    """
    raw = _token_bytes(token, MAX_JWE_BYTES, "JWE", JOSEDecryptError)
    _, w_std, iv_std, ct_std, tag_std = parts = _split(raw, 5, "JWE", JOSEDecryptError)
    aad = raw[: len(parts[0])]
    checked = _checked_jwe_headers.get(aad)
    oaep, kid = checked if checked is not None else _checked_jwe_header(aad)
    candidates: Iterable[PrivateKey] = (
        (keys.decryption_key(kid),) if kid is not None else keys.keys()
    )
    try:
        wrapped, iv, ciphertext, tag = _a2b_four(
            b'["%s%s","%s%s","%s%s","%s%s"]'
            % (
                w_std,
                _pad(w_std),
                iv_std,
                _pad(iv_std),
                ct_std,
                _pad(ct_std),
                tag_std,
                _pad(tag_std),
            )
        )
    except (ValueError, msgspec.DecodeError):
        # Find the bad part again, one at a time, to say what is wrong with it.
        for part in raw.split(b".")[1:]:
            try:
                b64url_decode(part)
            except ValueError as exc:
                raise JOSEDecryptError(f"JWE part: {exc}") from None
        raise JOSEDecryptError("JWE part: not base64url") from None  # not reached
    if len(iv) != 16 or len(tag) != 32 or not ciphertext or len(ciphertext) % 16:
        raise JOSEDecryptError("JWE IV, tag or ciphertext has an impossible length")
    for key in candidates:
        if len(wrapped) != key.size:
            continue
        try:
            cek = key.key.decrypt(wrapped, oaep)
        except ValueError:
            continue
        if len(cek) != 64:
            continue
        if not hmac.compare_digest(_tag(cek[:32], aad, iv, ciphertext), tag):
            raise JOSEDecryptError("JWE authentication tag does not match")
        decryptor = Cipher(algorithms.AES(cek[32:]), modes.CBC(iv)).decryptor()
        padded = decryptor.update(ciphertext) + decryptor.finalize()
        pad = padded[-1]
        # The tag already proved integrity, so a padding error here means the sender
        # erred.
        if not 1 <= pad <= 16 or padded[-pad:] != _PADS[pad]:
            raise JOSEDecryptError("JWE plaintext padding is invalid")
        return padded[:-pad]
    if kid is None and not keys.keys():
        raise EntityKeyNotFound(None)
    raise JOSEDecryptError("JWE content key could not be unwrapped")


# --- the legacy ``auth`` package -----------------------------------------------------

_LEGACY_OAEP: Final = _OAEP["RSA-OAEP"]


def legacy_encrypt(plaintext: bytes, key: PublicKey) -> bytes:
    """RSA-OAEP (SHA-1) ciphertext of a small plaintext: the legacy auth package."""
    return key.key.encrypt(plaintext, _LEGACY_OAEP)


def legacy_decrypt(ciphertext: bytes, key: PrivateKey) -> bytes:
    """Inverse of :func:`legacy_encrypt`; :class:`JOSEDecryptError` on any failure."""
    if len(ciphertext) != key.size:
        raise JOSEDecryptError("legacy package has the wrong length for the key")
    try:
        return key.key.decrypt(ciphertext, _LEGACY_OAEP)
    except ValueError:
        raise JOSEDecryptError("legacy package could not be decrypted") from None
