"""A forging peer for the hardening suites: genuine messages, then hostile edits.

Genuine messages come from the platform-side functions of :mod:`lk_core` (what the
emulator uses). Forgeries are assembled here by hand, with ``cryptography`` and the
standard library, so that a test can change one header, claim or byte of an otherwise
valid message and see exactly one check refuse it. Shared by ``tests/hardening`` and
``property_tests/test_fuzz_*``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from collections.abc import Callable
from functools import cache
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lk_core import (
    Entity,
    Headers,
    HttpResponse,
    KeyRing,
    PrivateKey,
    PublicKey,
    SignedRequest,
    VerifiedRequest,
    WebhookRequest,
    generate_private_key,
    jwe_encrypt,
    sign_request,
    sign_response,
    sign_webhook,
    verify_webhook,
)
from lk_core._jose import legacy_encrypt

NOW = 1_800_000_000  # a fixed platform time; every check takes time as an argument
SERVICE = Entity.service("5e1f0c7e-8d0a-4b6e-9f35-0c2d7a1b9e11")
OTHER_SERVICE = Entity.service("0b7a9e2c-4d1f-4e8a-a3c5-6f2e1d0c9b88")
REQUEST_ID = "8f14e45f-ceea-467f-a0e6-3b1a2c4d5e6f"
OTHER_REQUEST_ID = "c9f0f895-fb98-4b91-9e1a-7d6c5b4a3f20"
JTI = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
HOOK_PATH = "/webhook"
CREATE_BODY = b'{"auth_request":"' + REQUEST_ID.encode() + b'","device_ids":["d1"]}'
PIN_SECRET = "8532"  # a service PIN: decrypted-package content a log must never show


@cache
def key(name: str) -> PrivateKey:
    """One RSA-2048 key per role for the whole run (generation is the slow part)."""
    del name
    return generate_private_key(2048)


def platform() -> PrivateKey:
    return key("platform")


def service() -> PrivateKey:
    return key("service")


def ring() -> KeyRing:
    return KeyRing(service())


def platform_keys() -> dict[str, PublicKey]:
    """Platform keys a client knows: current and an older, still trusted one."""
    old = key("platform-old")
    return {platform().kid: platform().public, old.kid: old.public}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def forge_jws(
    header: dict[str, Any] | bytes,
    claims: dict[str, Any] | bytes,
    signer: PrivateKey | None = None,
    *,
    hmac_key: bytes | None = None,
) -> str:
    """A compact JWS with exactly this header and claims (raw bytes allowed).

    Signed RS* with ``signer`` (by the header's ``alg``), HS256 with ``hmac_key``, or
    left with an empty signature.
    """
    raw_header = header if isinstance(header, bytes) else dumps(header)
    raw_claims = claims if isinstance(claims, bytes) else dumps(claims)
    signing_input = (b64(raw_header) + "." + b64(raw_claims)).encode()
    alg = json.loads(raw_header).get("alg") if raw_header.startswith(b"{") else None
    signature = b""
    if hmac_key is not None:
        signature = hmac.digest(hmac_key, signing_input, "sha256")
    elif signer is not None:
        digest = {"RS256": hashes.SHA256, "RS384": hashes.SHA384}.get(
            str(alg), hashes.SHA512
        )
        signature = signer.key.sign(signing_input, padding.PKCS1v15(), digest())
    return signing_input.decode() + "." + b64(signature)


def request(method: str = "POST", path: str = "/service/v3/auths") -> SignedRequest:
    """What the client sent: a signed request whose answer the tests forge."""
    return sign_request(
        method,
        path,
        issuer=SERVICE,
        subject=SERVICE,
        keyring=ring(),
        platform_key=platform().public,
        payload=b'{"username":"u"}' if method == "POST" else None,
        now=NOW,
        jti=JTI,
    )


def response(
    sent: SignedRequest, status: int = 201, payload: bytes | None = CREATE_BODY
) -> HttpResponse:
    """A genuine platform answer to ``sent``."""
    return sign_response(
        status,
        payload,
        request=_verified(sent),
        platform_key=platform(),
        encrypt_to=service().public,
        now=NOW,
    )


def _verified(sent: SignedRequest) -> VerifiedRequest:
    # Only issuer, subject and jti matter to the signer: what the answer echoes.
    return VerifiedRequest(
        issuer=sent.issuer,
        subject=sent.subject,
        jti=sent.jti,
        kid="",
        exp=0,
        payload=None,
    )


def response_claims(resp: HttpResponse) -> tuple[dict[str, Any], dict[str, Any]]:
    """(header, claims) of a response's X-IOV-JWT, decoded with the standard library."""
    token = resp.headers.get("X-IOV-JWT") or ""
    h64, c64, _ = token.split(".")
    return json.loads(unb64(h64)), json.loads(unb64(c64))


def reforge_response(
    resp: HttpResponse,
    edit: Callable[[dict[str, Any], dict[str, Any]], None] = lambda h, c: None,
    *,
    signer: PrivateKey | None = None,
    body: bytes | None = None,
    hmac_key: bytes | None = None,
) -> HttpResponse:
    """``resp`` with its JWT header/claims edited in place and re-signed.

    ``signer`` defaults to the genuine platform key, so a test isolates a claim check
    from the signature check.
    """
    header, claims = response_claims(resp)
    edit(header, claims)
    token = forge_jws(header, claims, signer or platform(), hmac_key=hmac_key)
    headers = [(n, v) for n, v in resp.headers if n.lower() != "x-iov-jwt"]
    headers.append(("X-IOV-JWT", token))
    return HttpResponse(
        status=resp.status,
        headers=Headers(headers),
        body=resp.body if body is None else body,
        reason=resp.reason,
    )


def webhook(
    payload: bytes, *, encrypt: bool = True, now: int = NOW, jti: str = JTI
) -> tuple[list[tuple[str, str]], bytes]:
    """A genuine webhook to ``SERVICE``: (headers, body)."""
    req = sign_webhook(
        payload,
        path=HOOK_PATH,
        audience=SERVICE,
        subject=SERVICE,
        platform_key=platform(),
        encrypt_to=service().public if encrypt else None,
        now=now,
        jti=jti,
    )
    return list(req.headers), req.body


def reforge_webhook(
    headers: list[tuple[str, str]],
    edit: Callable[[dict[str, Any], dict[str, Any]], None],
    *,
    signer: PrivateKey | None = None,
) -> list[tuple[str, str]]:
    """Webhook headers whose JWT has been edited and re-signed (X-IOV-JWT only)."""
    token = dict(headers)["X-IOV-JWT"]
    h64, c64, _ = token.split(".")
    header, claims = json.loads(unb64(h64)), json.loads(unb64(c64))
    edit(header, claims)
    forged = forge_jws(header, claims, signer or platform())
    kept = [
        (n, v) for n, v in headers if n.lower() not in ("x-iov-jwt", "authorization")
    ]
    return [*kept, ("X-IOV-JWT", forged)]


def check_webhook(
    headers: list[tuple[str, str]],
    body: bytes,
    method: str = "POST",
    path: str = HOOK_PATH,
) -> WebhookRequest:
    """Verify a webhook as ``SERVICE`` receiving it at ``method path`` at ``NOW``."""
    return verify_webhook(
        headers,
        body,
        method,
        path,
        audience=SERVICE,
        subject=SERVICE,
        platform_keys=platform_keys(),
        keyring=ring(),
        now=NOW,
    )


def device_package(
    request_id: str = REQUEST_ID, *, response_type: str = "AUTHORIZED"
) -> bytes:
    """The device's decrypted ``auth_jwe`` JSON."""
    return dumps(
        {
            "auth_request": request_id,
            "type": response_type,
            "reason": "APPROVED" if response_type == "AUTHORIZED" else "DISAPPROVED",
            "denial_reason": None,
            "device_id": "device-1",
            "service_pins": [PIN_SECRET, "1111"],
            "auth_policy": {"requirement": None, "geofences": []},
            "auth_methods": [],
        }
    )


def outer_package(
    inner: bytes | None = None,
    *,
    to: PublicKey | None = None,
    legacy: bytes | None = None,
) -> bytes:
    """The outer authorization package: JWE device package, or legacy RSA package."""
    target = to or service().public
    auth_jwe = ""
    if legacy is None or inner is not None:
        auth_jwe = jwe_encrypt(inner or device_package(), target)
    auth = ""
    if legacy is not None:
        auth = base64.b64encode(legacy_encrypt(legacy, target)).decode()
    return dumps(
        {
            "auth": auth,
            "auth_jwe": auth_jwe,
            "service_user_hash": "suh",
            "org_user_hash": "ouh",
            "user_push_id": "upid",
            "public_key_id": target.kid,
        }
    )


def raw_jwe(
    plaintext: bytes,
    to: PublicKey,
    header: dict[str, Any],
    *,
    tag_edit: Callable[[bytes], bytes] = lambda t: t,
) -> str:
    """A compact A256CBC-HS512 JWE with exactly ``header`` (tag right unless edited).

    Built by hand so that headers our encrypter never writes (``zip``, ``crit``, other
    algorithms) can be tried against the decrypter with an otherwise valid token.
    """
    cek, iv = os.urandom(64), os.urandom(16)
    aad = b64(dumps(header)).encode()
    pad = 16 - len(plaintext) % 16
    enc = Cipher(algorithms.AES(cek[32:]), modes.CBC(iv)).encryptor()
    ciphertext = enc.update(plaintext + bytes((pad,)) * pad) + enc.finalize()
    oaep = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)
    wrapped = to.key.encrypt(cek, oaep)
    al = (len(aad) * 8).to_bytes(8, "big")
    tag = hmac.digest(cek[:32], aad + iv + ciphertext + al, "sha512")[:32]
    parts = (aad.decode(), b64(wrapped), b64(iv), b64(ciphertext), b64(tag_edit(tag)))
    return ".".join(parts)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
