"""A small Directory client: the calls the demo and tests need to set users up.

It runs the protocol core's signed_call plan over the same transport as the Service
client; it is not a full Directory SDK.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from lk_core import (
    Credentials,
    Entity,
    KeyRing,
    PlatformView,
    _json,
    load_private_key,
    signed_call,
)
from lk_io._transport import Urllib3Transport, run_sync


class DirectoryCalls:
    """Directory endpoints (directory-api.md 1-3) signed with a Directory key."""

    def __init__(self, directory_id: str, private_key: str, url: str) -> None:
        entity = Entity.directory(directory_id)
        self._creds = Credentials(
            issuer=entity,
            subject=entity,
            keyring=KeyRing(load_private_key(private_key)),
        )
        self._view = PlatformView()
        self._transport = Urllib3Transport(url)

    def close(self) -> None:
        self._transport.close()

    def _store(self, view: PlatformView) -> None:
        self._view = view

    def _call(self, method: str, path: str, body: dict[str, Any]) -> Any:
        plan = signed_call(
            self._view,
            self._creds,
            method,
            path,
            _json.dumps(body),
            now=time.time(),
            new_jti=lambda: str(uuid.uuid4()),
        )
        _, payload = run_sync(plan, self._transport.send, time.time, self._store)
        return None if payload is None else _json.loads(payload)

    def link_device(self, identifier: str, ttl: int | None = None) -> dict[str, str]:
        """Start linking: {"qrcode", "code", "device_id"}."""
        body: dict[str, Any] = {"identifier": identifier}
        if ttl is not None:
            body["ttl"] = ttl
        result: dict[str, str] = self._call("POST", "/directory/v3/devices", body)
        return result

    def devices(self, identifier: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "POST", "/directory/v3/devices/list", {"identifier": identifier}
        )
        return result

    def unlink_device(self, identifier: str, device_id: str) -> None:
        body = {"identifier": identifier, "device_id": device_id}
        self._call("DELETE", "/directory/v3/devices", body)

    def generate_totp(self, identifier: str) -> dict[str, Any]:
        """{"secret", "algorithm", "digits", "period"}."""
        result: dict[str, Any] = self._call(
            "POST", "/directory/v3/totp", {"identifier": identifier}
        )
        return result

    def remove_totp(self, identifier: str) -> None:
        self._call("DELETE", "/directory/v3/totp", {"identifier": identifier})

    def sessions(self, identifier: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._call(
            "POST", "/directory/v3/sessions/list", {"identifier": identifier}
        )
        return result

    def end_sessions(self, identifier: str) -> None:
        self._call("DELETE", "/directory/v3/sessions", {"identifier": identifier})
