"""Helpers shared by the core tests: fixed entities, fixture files, forged tokens.

Forging goes through ``jws_sign`` with hand-written claims, so a test can change one
claim of an otherwise valid token and see exactly one check fire. Decoding for
assertions uses the standard library, not our parsers.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from hypothesis import HealthCheck, settings

from lk_core import (
    Entity,
    Headers,
    HttpResponse,
    KeyRing,
    PrivateKey,
    SignedRequest,
    VerifiedRequest,
    WebhookRequest,
    load_private_key,
    sign_request,
    verify_request,
    verify_response,
    verify_webhook,
)
from lk_core._jose import jws_sign

FIXTURES = Path(__file__).parent / "fixtures"

T0 = 1_800_000_000  # a fixed "now" (2027-01-15); time is always an argument
SVC = Entity.service("11111111-2222-4333-8444-555555555555")
SVC2 = Entity.service("22222222-3333-4444-8555-666666666666")
DIR = Entity.directory("33333333-4444-4555-8666-777777777777")
ORG = Entity.organization("44444444-5555-4666-8777-888888888888")
JTI = "4e154de4-3977-4cd4-a755-1aa85d76bac9"
PAYLOAD = b'{"username": "my-unique-user", "context": "Log in", "ttl": 300}'


def fixture_bytes(*parts: str) -> bytes:
    """The raw bytes of a file under tests/core/fixtures."""
    return FIXTURES.joinpath(*parts).read_bytes()


def b64d(segment: str | bytes) -> bytes:
    """Standard-library base64url decoding (independent of our strict decoder)."""
    text = segment.decode() if isinstance(segment, bytes) else segment
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segments(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of a compact JWS, decoded with the standard library."""
    head, body, _ = token.split(".")
    return json.loads(b64d(head)), json.loads(b64d(body))


def header(headers: tuple[tuple[str, str], ...], name: str) -> str | None:
    """The value of one header of a prepared request (any case), or None."""
    values = [v for k, v in headers if k.lower() == name.lower()]
    assert len(values) <= 1, f"{name} sent {len(values)} times"
    return values[0] if values else None


def bearer(headers: tuple[tuple[str, str], ...]) -> str:
    """The JWT of a request's ``Authorization: IOV-JWT <jwt>`` header."""
    auth = header(headers, "Authorization")
    assert auth is not None
    assert auth.startswith("IOV-JWT ")
    return auth[len("IOV-JWT ") :]


def signed(
    client: PrivateKey,
    platform: PrivateKey,
    method: str = "POST",
    path: str = "/service/v3/auths",
    payload: bytes | None = PAYLOAD,
    *,
    issuer: Entity = SVC,
    subject: Entity = SVC,
    now: int = T0,
    jti: str = JTI,
    alg: str = "RS512",
    func: str = "S256",
) -> SignedRequest:
    """A request signed by ``client`` and encrypted to ``platform``."""
    return sign_request(
        method,
        path,
        issuer=issuer,
        subject=subject,
        keyring=KeyRing(client),
        platform_key=platform.public,
        payload=payload,
        now=now,
        jti=jti,
        alg=alg,
        func=func,
    )


def sign_claims(claims: dict[str, Any], key: PrivateKey, alg: str = "RS256") -> str:
    """A compact JWS over exactly these claims."""
    return jws_sign(json.dumps(claims).encode(), key, alg)


def response_claims(
    sent: SignedRequest,
    *,
    now: int = T0,
    status: int = 200,
    bound: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The claims a correct platform puts on its answer to ``sent``."""
    return {
        "iss": "lka",
        "aud": str(sent.issuer),
        "sub": str(sent.subject),
        "iat": now,
        "nbf": now,
        "exp": now + 5,
        "jti": sent.jti,
        "response": {"status": status} if bound is None else bound,
    }


def forged_response(
    claims: dict[str, Any],
    key: PrivateKey,
    *,
    status: int = 200,
    body: bytes = b"",
    headers: tuple[tuple[str, str], ...] = (),
    jwt_header: str = "X-IOV-JWT",
) -> HttpResponse:
    """A response carrying ``claims`` signed by ``key``."""
    token = sign_claims(claims, key)
    return HttpResponse(
        status=status, headers=Headers([*headers, (jwt_header, token)]), body=body
    )


def webhook_claims(
    body: bytes,
    *,
    aud: Entity = SVC,
    sub: Entity = SVC,
    path: str = "/webhook",
    now: int = T0,
    func: str = "S256",
) -> dict[str, Any]:
    """The claims the platform signs on a webhook it POSTs to ``path``."""
    digests = {"S256": hashlib.sha256, "S384": hashlib.sha384, "S512": hashlib.sha512}
    request: dict[str, Any] = {"meth": "POST", "path": path}
    if body:
        request["hash"] = digests[func](body).hexdigest()
        request["func"] = func
    return {
        "iss": "lka",
        "aud": str(aud),
        "sub": str(sub),
        "iat": now,
        "nbf": now,
        "exp": now + 5,
        "jti": "5f0e2a4c-1b4d-4f5e-9a6b-7c8d9e0f1a2b",
        "request": request,
    }


def sign_raw(head: dict[str, Any], claims: dict[str, Any], key: PrivateKey) -> str:
    """A compact RS256 JWS with a hand-written header (e.g. without a kid)."""
    signing_input = (
        f"{b64e(json.dumps(head).encode())}.{b64e(json.dumps(claims).encode())}"
    )
    sig = key.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64e(sig)}"


@functools.cache
def fixture_key(folder: str) -> PrivateKey:
    """The PKCS#1 private key in a fixture folder ("client-key", "platform-key")."""
    return load_private_key(fixture_bytes(folder, "private-pkcs1.pem"))


# --- both ends of a conversation, for the property tests ------------------------------


def platform_verify(
    method: str,
    path: str,
    headers: Any,
    body: bytes,
    *,
    client: PrivateKey,
    platform: PrivateKey,
    now: int = T0,
) -> VerifiedRequest:
    """verify_request as a platform that knows ``client`` as SVC's only key."""
    return verify_request(
        method,
        path,
        headers,
        body,
        key_lookup=lambda issuer, kid: client.public if kid == client.kid else None,
        platform_keys=KeyRing(platform),
        now=now,
    )


def client_verify(
    response: HttpResponse,
    sent: SignedRequest,
    *,
    client: PrivateKey,
    platform: PrivateKey,
    now: int = T0,
) -> bytes | None:
    """verify_response as a client holding ``client`` and knowing ``platform``."""
    return verify_response(
        response,
        sent,
        platform_keys={platform.kid: platform.public},
        keyring=KeyRing(client),
        now=now,
    )


def webhook_verify(
    headers: Any,
    body: bytes,
    *,
    client: PrivateKey,
    platform: PrivateKey,
    path: str = "/hook",
    now: int = T0,
) -> WebhookRequest:
    """verify_webhook as SVC's receiver at ``path``."""
    return verify_webhook(
        headers,
        body,
        "POST",
        path,
        audience=SVC,
        subject=SVC,
        platform_keys={platform.kid: platform.public},
        keyring=KeyRing(client),
        now=now,
    )


def property_settings(examples: int) -> settings:
    """Hypothesis settings for the core laws: no deadline, replayable failures."""
    return settings(
        max_examples=examples,
        deadline=None,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
