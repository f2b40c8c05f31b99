"""What the benchmarks share: keys, payloads, an in-memory platform, stubs, the floor.

Three implementations run the same operations on the same keys and bytes:

* ours: the public lk_io ServiceClient (or the lk_core function it runs), with its
  transport replaced by a call into :class:`MemoryPlatform`;
* vendor: the ``launchkey`` 4.0.1 SDK, driven through its own factory, client and
  JOSETransport, with only its requests layer replaced by :class:`VendorHttpStub`;
* floor: the cryptographic primitives those operations cannot avoid (RSA sign,
  verify, OAEP wrap and unwrap, AES-CBC, HMAC-SHA-512, SHA-256), called directly
  through ``cryptography`` on bytes prepared beforehand.

The platform's own CPU time is counted in :attr:`MemoryPlatform.cpu_ns` so that a
benchmark can subtract it and report the client's work alone.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import time
from base64 import urlsafe_b64decode
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from lk_core import (
    Credentials,
    Entity,
    Headers,
    HttpRequest,
    HttpResponse,
    KeyRing,
    PrivateKey,
    PublicKey,
    SignedRequest,
    VerifiedRequest,
    generate_private_key,
    load_private_key,
    private_key_pem,
    sign_response,
    sign_webhook,
    verify_request,
)
from lk_core._jose import jwe_encrypt

SERVICE_ID = "11111111-2222-4333-8444-555555555555"
SERVICE = Entity.service(SERVICE_ID)
AUTHS = "/service/v3/auths"
WEBHOOK_PATH = "/webhook"
REQUEST_ID = "6f1c1e3a-9d3b-4f6e-8a53-0c3d1b2a4e5f"
USER = "my-unique-user"
CONTEXT = "Log in to Example"
TITLE = "Login"
TTL = 300

CREATE_REPLY = {
    "auth_request": REQUEST_ID,
    "push_package": "pkg-" + "a" * 40,
    "device_ids": ["d1e2f3a4-0000-4000-8000-000000000001"],
}
_METHOD = {
    "set": True,
    "active": True,
    "allowed": True,
    "supported": True,
    "user_required": None,
    "passed": None,
    "error": None,
}
DEVICE_ANSWER = {
    "auth_request": REQUEST_ID,
    "type": "AUTHORIZED",
    "reason": "APPROVED",
    "denial_reason": None,
    "device_id": "d1e2f3a4-0000-4000-8000-000000000001",
    "service_pins": ["1234", "3456", "5678"],
    "auth_policy": {"requirement": None, "geofences": []},
    "auth_methods": [
        {**_METHOD, "method": name}
        for name in ("wearables", "geofencing", "locations", "pin_code", "circle_code")
    ],
}


def _package(auth_jwe: str) -> bytes:
    return json.dumps(
        {
            "auth": None,
            "auth_jwe": auth_jwe,
            "service_user_hash": "s" * 43,
            "org_user_hash": "o" * 43,
            "user_push_id": "u" * 36,
            "public_key_id": "",
        }
    ).encode()


def session_end_body(now: float) -> bytes:
    stamp = dt.datetime.fromtimestamp(int(now), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return json.dumps({"service_user_hash": "s" * 43, "api_time": stamp}).encode()


# --- the in-memory platform ----------------------------------------------------------


class MemoryPlatform:
    """Just enough of the platform for one authorization round trip, in memory.

    It really verifies each signed request and signs and encrypts each reply with the
    core's platform-side functions, so both clients see exactly what they would see
    from a server. Its own CPU time accumulates in :attr:`cpu_ns`.
    """

    def __init__(self, key: PrivateKey, client: PublicKey, package: bytes) -> None:
        self.key = key
        self.ring = KeyRing(key)
        self.client = client
        self.package = package
        self.cpu_ns = 0

    def _lookup(self, issuer: Entity, kid: str) -> PublicKey | None:
        return self.client if kid == self.client.kid else None

    def handle(
        self, method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        start = time.process_time_ns()
        try:
            return self._handle(method.upper(), path, headers, body)
        finally:
            self.cpu_ns += time.process_time_ns() - start

    def _handle(
        self, method: str, path: str, headers: Iterable[tuple[str, str]], body: bytes
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        now = time.time()
        if path == "/public/v3/ping":
            stamp = dt.datetime.fromtimestamp(int(now), dt.UTC)
            api_time = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            return (
                200,
                [("Content-Type", "application/json")],
                json.dumps({"api_time": api_time}).encode(),
            )
        if path == "/public/v3/public-key":
            pem = self.key.public.pem.encode()
            return 200, [("X-IOV-KEY-ID", self.key.kid)], pem
        verified = verify_request(
            method,
            path,
            headers,
            body,
            key_lookup=self._lookup,
            platform_keys=self.ring,
            now=int(now),
        )
        if method == "POST" and path == AUTHS:
            status, payload = 201, json.dumps(CREATE_REPLY).encode()
        elif method == "GET" and path == f"{AUTHS}/{REQUEST_ID}":
            status, payload = 200, self.package
        else:
            raise AssertionError(f"the benchmark platform has no {method} {path}")
        reply = sign_response(
            status,
            payload,
            request=verified,
            platform_key=self.key,
            encrypt_to=self.client,
            now=int(now),
        )
        return reply.status, list(reply.headers), reply.body


class Abort(Exception):
    """Raised by a stub transport to stop a call once its request has been built."""


class OurTransport:
    """An lk_io Transport that answers from a :class:`MemoryPlatform`."""

    def __init__(self, platform: MemoryPlatform) -> None:
        self.platform = platform

    def send(self, request: HttpRequest) -> HttpResponse:
        status, headers, body = self.platform.handle(
            request.method, request.path, request.headers, request.body
        )
        # What Urllib3Transport builds from the wire.
        return HttpResponse(status=status, headers=Headers(headers), body=body)


class VendorHttpStub:
    """Stands in for the vendor's RequestsTransport: same methods, no network.

    With ``abort`` set, signed requests are not answered: :class:`Abort` is raised as
    soon as the vendor hands one over, which is how "build a request" is timed. It
    builds the same APIResponse values the vendor's own response parser would
    (JSON if the text parses, else the text), so everything above it is the vendor's
    code.
    """

    def __init__(self, platform: MemoryPlatform) -> None:
        from launchkey.transports.base import APIErrorResponse, APIResponse
        from requests.structures import CaseInsensitiveDict

        self.platform = platform
        self.abort = False
        self._ok = APIResponse
        self._error = APIErrorResponse
        self._headers = CaseInsensitiveDict

    def set_url(self, url: str, testing: bool) -> None:
        """The vendor factory calls this; there is no URL to keep."""

    def _call(
        self, method: str, path: str, headers: dict[str, str] | None, data: Any
    ) -> Any:
        headers = headers or {}
        if self.abort and "Authorization" in headers:
            raise Abort
        body = data.encode() if isinstance(data, str) else b""
        status, out, raw = self.platform.handle(method, path, headers.items(), body)
        text = raw.decode()
        try:
            parsed: Any = json.loads(text)
        except ValueError:
            parsed = text
        if status < 400:
            return self._ok(parsed, self._headers(out), status, raw_data=text)
        return self._error(parsed, self._headers(out), status, "", text)

    def get(self, path: str, headers: Any = None, data: Any = None) -> Any:
        return self._call("GET", path, headers, data)

    def post(self, path: str, headers: Any = None, data: Any = None) -> Any:
        return self._call("POST", path, headers, data)

    def put(self, path: str, headers: Any = None, data: Any = None) -> Any:
        return self._call("PUT", path, headers, data)

    def delete(self, path: str, headers: Any = None, data: Any = None) -> Any:
        return self._call("DELETE", path, headers, data)

    def patch(self, path: str, headers: Any = None, data: Any = None) -> Any:
        return self._call("PATCH", path, headers, data)


# --- the floor -----------------------------------------------------------------------

_PKCS1 = padding.PKCS1v15()
_OAEP = padding.OAEP(padding.MGF1(hashes.SHA1()), hashes.SHA1(), None)


def _b64(part: str) -> bytes:
    return urlsafe_b64decode(part + "=" * (-len(part) % 4))


@dataclass(frozen=True)
class SealedParts:
    """The raw bytes of one compact JWE, decoded beforehand for the floor."""

    aad: bytes
    wrapped: bytes
    iv: bytes
    ciphertext: bytes
    tag: bytes

    @classmethod
    def of(cls, token: str | bytes) -> SealedParts:
        text = token.decode() if isinstance(token, bytes) else token
        head, wrapped, iv, ct, tag = text.split(".")
        return cls(head.encode(), _b64(wrapped), _b64(iv), _b64(ct), _b64(tag))


@dataclass(frozen=True)
class SignedParts:
    """The signing input and signature of one compact JWS, decoded beforehand."""

    signing_input: bytes
    signature: bytes

    @classmethod
    def of(cls, token: str) -> SignedParts:
        head, claims, sig = token.split(".")
        return cls(f"{head}.{claims}".encode(), _b64(sig))


def floor_seal(key: PublicKey, plaintext: bytes, aad: bytes) -> None:
    """JWE A256CBC-HS512 + RSA-OAEP to ``key``: draw CEK and IV, AES, HMAC, wrap."""
    cek = os.urandom(64)
    iv = os.urandom(16)
    pad = 16 - len(plaintext) % 16
    enc = Cipher(algorithms.AES(cek[32:]), modes.CBC(iv)).encryptor()
    ct = enc.update(plaintext + bytes((pad,)) * pad) + enc.finalize()
    al = (len(aad) * 8).to_bytes(8, "big")
    hmac.digest(cek[:32], aad + iv + ct + al, "sha512")
    key.key.encrypt(cek, _OAEP)


def floor_open(key: PrivateKey, parts: SealedParts) -> bytes:
    """Unwrap the CEK, check the tag, AES-CBC decrypt."""
    cek = key.key.decrypt(parts.wrapped, _OAEP)
    al = (len(parts.aad) * 8).to_bytes(8, "big")
    signed = parts.aad + parts.iv + parts.ciphertext + al
    mac = hmac.digest(cek[:32], signed, "sha512")[:32]
    if not hmac.compare_digest(mac, parts.tag):
        raise AssertionError("floor: tag mismatch")
    dec = Cipher(algorithms.AES(cek[32:]), modes.CBC(parts.iv)).decryptor()
    return dec.update(parts.ciphertext) + dec.finalize()


def floor_sign(key: PrivateKey, signing_input: bytes) -> None:
    """RS512 over the signing input (requests are signed RS512)."""
    key.key.sign(signing_input, _PKCS1, hashes.SHA512())


def floor_verify(key: PublicKey, parts: SignedParts) -> None:
    """RS256 verification (the platform signs RS256)."""
    key.key.verify(parts.signature, parts.signing_input, _PKCS1, hashes.SHA256())


def floor_hash(body: bytes) -> None:
    """The body hash bound into every JWT (S256)."""
    hashlib.sha256(body).hexdigest()


# --- one key size's world ------------------------------------------------------------


@dataclass
class Messages:
    """Platform messages signed at one moment; valid for about 35 seconds."""

    jti: str
    create: HttpResponse
    poll: HttpResponse
    auth_hook: HttpRequest
    session_hook: HttpRequest


class World:
    """Keys, payloads, platform and the three clients for one RSA key size."""

    def __init__(self, bits: int) -> None:
        self.bits = bits
        self.client_key = generate_private_key(bits)
        self.platform_key = generate_private_key(bits)
        self.client_pem = private_key_pem(self.client_key)
        self.client_pub = self.client_key.public
        self.keyring = KeyRing(self.client_key)
        self.platform_keys = {self.platform_key.kid: self.platform_key.public}
        self.auth_jwe = jwe_encrypt(json.dumps(DEVICE_ANSWER).encode(), self.client_pub)
        self.package = _package(self.auth_jwe)
        self.platform = MemoryPlatform(self.platform_key, self.client_pub, self.package)
        self.ours = self._our_client()
        self.creds = Credentials(
            issuer=SERVICE, subject=SERVICE, keyring=KeyRing(self.ours_key)
        )
        # The vendor has no sans-IO layer: a second client whose requests layer stops
        # each signed call once the request is built (see Abort).
        self.vendor = self._vendor_client(abort=False)
        self.vendor_builder = self._vendor_client(abort=True)
        self.counter = 0
        # One call each learns the platform's clock and key, as any first call does.
        for client in (self.ours, self.vendor):
            made = client.authorization_request(USER)
            client.get_advanced_authorization_response(made.auth_request)

    def _our_client(self) -> Any:
        from lk_io import ServiceClient

        self.ours_key = load_private_key(self.client_pem)
        transport = OurTransport(self.platform)
        return ServiceClient(SERVICE_ID, self.ours_key, transport=transport)

    def _vendor_client(self, *, abort: bool) -> Any:
        import warnings

        from launchkey.factories import ServiceFactory
        from launchkey.transports import JOSETransport

        # The vendor warns on every webhook and response; a user would silence that.
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=PendingDeprecationWarning)
        http = VendorHttpStub(self.platform)
        http.abort = abort
        transport = JOSETransport(http_client=http)
        factory = ServiceFactory(SERVICE_ID, self.client_pem, transport=transport)
        return factory.make_service_client()

    def fresh(self) -> Messages:
        """Sign a new set of platform messages (untimed work)."""
        self.counter += 1
        jti = f"bench-{self.counter}"
        now = int(time.time())
        request = VerifiedRequest(
            issuer=SERVICE,
            subject=SERVICE,
            jti=jti,
            kid=self.client_key.kid,
            exp=now + 5,
            payload=None,
        )

        def reply(status: int, payload: bytes) -> HttpResponse:
            return sign_response(
                status,
                payload,
                request=request,
                platform_key=self.platform_key,
                encrypt_to=self.client_pub,
                now=now,
            )

        def hook(payload: bytes, encrypt: bool) -> HttpRequest:
            return sign_webhook(
                payload,
                path=WEBHOOK_PATH,
                audience=SERVICE,
                subject=SERVICE,
                platform_key=self.platform_key,
                encrypt_to=self.client_pub if encrypt else None,
                now=now,
                jti=f"{jti}-hook",
            )

        return Messages(
            jti=jti,
            create=reply(201, json.dumps(CREATE_REPLY).encode()),
            poll=reply(200, self.package),
            auth_hook=hook(self.package, True),
            session_hook=hook(session_end_body(now), False),
        )

    def sent(self, jti: str) -> SignedRequest:
        """What our client remembers of the request a response answers."""
        return SignedRequest(
            http=HttpRequest(method="POST", path=AUTHS),
            issuer=SERVICE,
            subject=SERVICE,
            jti=jti,
        )


def header(message: HttpRequest | HttpResponse, name: str) -> str:
    for key, value in message.headers:
        if key.lower() == name.lower():
            return value
    raise KeyError(name)


Op = Callable[[], object]
