"""A tiny in-memory platform built from lk_core's platform-side functions.

It verifies every signed request exactly as the real emulator would, answers from a
table of routes the test fills in, and signs webhooks. No sockets: the plans under test
are driven through a client whose transport is this object (its ``send``).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

from lk_core import (
    Entity,
    Headers,
    HttpRequest,
    HttpResponse,
    KeyRing,
    PrivateKey,
    VerifiedRequest,
    generate_private_key,
    jwe_encrypt,
    sign_response,
    sign_webhook,
    verify_request,
)
from lk_core._jose import legacy_encrypt

T0 = 1_800_000_000

Route = Callable[[VerifiedRequest], tuple[int, Any]]


@cache
def key(name: str) -> PrivateKey:
    """One RSA key per name for the whole run (key generation is the slow part)."""
    del name
    return generate_private_key()


class FakePlatform:
    """Answers public endpoints itself and service endpoints from ``routes``."""

    def __init__(self, service_key: PrivateKey | None = None) -> None:
        self.platform_key = key("platform")
        # Signs responses and webhooks; tests swap it to simulate rotation or forgery.
        self.signer = self.platform_key
        self.service_key = service_key or key("service")
        self.service = Entity.service(uuid.UUID(int=7, version=4))
        self.now = T0
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[HttpRequest] = []
        self.requests: list[VerifiedRequest] = []
        self.extra_keys: dict[str, PrivateKey] = {}

    def route(self, method: str, path: str, status: int, payload: Any = None) -> None:
        """Answer ``method path`` with ``status`` and JSON ``payload`` (None: empty)."""
        self.routes[(method, path)] = lambda _req: (status, payload)

    def _public(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/public/v3/ping":
            when = dt.datetime.fromtimestamp(self.now, dt.UTC)
            body = json.dumps({"api_time": when.strftime("%Y-%m-%dT%H:%M:%SZ")})
            return HttpResponse(status=200, headers=Headers([]), body=body.encode())
        kid = request.path.removeprefix("/public/v3/public-key").lstrip("/")
        keys = {self.platform_key.kid: self.platform_key, **self.extra_keys}
        chosen = keys.get(kid) if kid else self.platform_key
        if chosen is None:
            return HttpResponse(status=404, headers=Headers([]))
        headers = Headers([("X-IOV-KEY-ID", chosen.kid)])
        return HttpResponse(
            status=200, headers=headers, body=chosen.public.pem.encode()
        )

    def send(self, request: HttpRequest) -> HttpResponse:
        self.seen.append(request)
        if request.path.startswith("/public/"):
            return self._public(request)
        verified = verify_request(
            request.method,
            request.path,
            request.headers,
            request.body,
            key_lookup=lambda _entity, kid: (
                self.service_key.public if kid == self.service_key.kid else None
            ),
            platform_keys=KeyRing(self.platform_key, self.extra_keys.values()),
            now=self.now,
        )
        self.requests.append(verified)
        status, payload = self.routes[(request.method, request.path)](verified)
        body = None if payload is None else json.dumps(payload).encode()
        return sign_response(
            status,
            body,
            request=verified,
            platform_key=self.signer,
            encrypt_to=self.service_key.public,
            now=self.now,
        )

    def clock(self) -> float:
        return float(self.now)

    def last_payload(self) -> Any:
        payload = self.requests[-1].payload
        return None if payload is None else json.loads(payload)

    # --- building authorization responses ------------------------------------------

    def device_jwe(self, **fields: Any) -> str:
        inner = {
            "auth_request": "req-1",
            "type": "AUTHORIZED",
            "reason": "APPROVED",
            "denial_reason": None,
            "device_id": "dev-1",
            "service_pins": ["1234", "5678"],
            **fields,
        }
        return jwe_encrypt(json.dumps(inner).encode(), self.service_key.public)

    def legacy_auth(self, **fields: Any) -> str:
        inner = {
            "auth_request": "req-1",
            "response": True,
            "device_id": "dev-1",
            "service_pins": ["1"],
            **fields,
        }
        sealed = legacy_encrypt(json.dumps(inner).encode(), self.service_key.public)
        return base64.b64encode(sealed).decode()

    def package(self, **fields: Any) -> dict[str, Any]:
        return {
            "auth": None,
            "auth_jwe": self.device_jwe(),
            "service_user_hash": "suh",
            "org_user_hash": "ouh",
            "user_push_id": "upi",
            "public_key_id": self.service_key.kid,
            **fields,
        }

    def sign_raw(self, body: bytes, path: str = "/webhook") -> HttpRequest:
        """A webhook whose (plain) body is exactly ``body``, correctly signed."""
        return sign_webhook(
            body,
            path=path,
            audience=self.service,
            subject=self.service,
            platform_key=self.signer,
            encrypt_to=None,
            now=self.now,
            jti=str(uuid.uuid4()),
        )

    def webhook(
        self,
        payload: dict[str, Any],
        *,
        encrypt: bool = True,
        path: str = "/webhook",
        signer: PrivateKey | None = None,
    ) -> HttpRequest:
        return sign_webhook(
            json.dumps(payload).encode(),
            path=path,
            audience=self.service,
            subject=self.service,
            platform_key=signer or self.signer,
            encrypt_to=self.service_key.public if encrypt else None,
            now=self.now,
            jti=str(uuid.uuid4()),
        )
