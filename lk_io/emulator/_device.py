"""Python drivers for a running emulator: its control API and virtual devices.

They speak the unsigned /_emulator/ API over HTTP, so they work the same against an
emulator in this process and one started with `lk emulator` elsewhere.
"""

from __future__ import annotations

import http.client
import json
from typing import Any, Literal
from urllib.parse import urlsplit

Action = Literal["approve", "deny", "fail"]


class ControlError(Exception):
    """The control API refused a request; `status` is its HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}")
        self.status = status


def _call(base_url: str, method: str, path: str, body: object = None) -> Any:
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=30)
    try:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if data else {}
        conn.request(method, "/_emulator" + path, body=data, headers=headers)
        response = conn.getresponse()
        raw = response.read()
    finally:
        conn.close()
    decoded = json.loads(raw) if raw else None
    if response.status >= 400:
        message = decoded.get("error") if isinstance(decoded, dict) else raw[:200]
        raise ControlError(response.status, str(message))
    return decoded


def _drop_none(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


class EmulatorControl:
    """The emulator's test hooks: users, services, expiry, clock, webhook stats."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = _call(self.base_url, "GET", "/info")
        return result

    def add_user(
        self,
        identifier: str,
        *,
        directory_id: str | None = None,
        methods: list[str] | None = None,
        location: tuple[float, float] | None = None,
        jailbroken: bool | None = None,
        emulator: bool | None = None,
        territory: dict[str, str | None] | None = None,
        ack_unlink: bool | None = None,
    ) -> VirtualDevice:
        """Create the Directory User if needed and link a new virtual device.

        `territory` is `{"country", "administrative_area"?, "postal_code"?}`, what
        TERRITORY fences match (set by hand: the emulator does no geocoding).
        `ack_unlink=False` keeps the device UNLINK_PENDING after an unlink until
        `VirtualDevice.acknowledge_unlink()`.
        """
        body = _drop_none(
            identifier=identifier,
            directory_id=directory_id,
            methods=methods,
            location=location,
            jailbroken=jailbroken,
            emulator=emulator,
            territory=territory,
            ack_unlink=ack_unlink,
        )
        device = _call(self.base_url, "POST", "/users", body)
        return VirtualDevice(self.base_url, device["id"], identifier)

    def link(self, code: str, **profile: Any) -> VirtualDevice:
        """Complete a link started with POST /directory/v3/devices."""
        device = _call(
            self.base_url, "POST", "/devices/link", {"code": code, **profile}
        )
        return VirtualDevice(self.base_url, device["id"], device["identifier"])

    def add_service(
        self, *, callback_url: str | None = None, name: str | None = None
    ) -> tuple[str, str]:
        """A new Directory Service; returns (service id, private key PEM)."""
        out = _call(
            self.base_url,
            "POST",
            "/services",
            _drop_none(callback_url=callback_url, name=name),
        )
        return out["service_id"], out["private_key"]

    def add_service_key(self, service_id: str, key_type: int = 0) -> tuple[str, str]:
        """A new key for the service (`key_type` 0 both, 1 encryption only,
        2 signature only); returns (key id, private key PEM)."""
        out = _call(
            self.base_url,
            "POST",
            f"/services/{service_id}/keys",
            {"key_type": key_type},
        )
        return out["key_id"], out["private_key"]

    def set_service_key_active(
        self, service_id: str, key_id: str, active: bool
    ) -> None:
        _call(
            self.base_url,
            "PATCH",
            f"/services/{service_id}/keys/{key_id}",
            {"active": active},
        )

    def set_callback(self, service_id: str, callback_url: str | None) -> None:
        _call(
            self.base_url,
            "PATCH",
            f"/services/{service_id}",
            {"callback_url": callback_url},
        )

    def set_service_policy(
        self, service_id: str, policy: dict[str, Any] | None
    ) -> None:
        """Store a legacy-shape policy on the service (None clears it)."""
        _call(self.base_url, "PATCH", f"/services/{service_id}", {"policy": policy})

    def update_directory(self, directory_id: str, **changes: Any) -> dict[str, Any]:
        result: dict[str, Any] = _call(
            self.base_url, "PATCH", f"/directories/{directory_id}", changes
        )
        return result

    def auths(self) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = _call(self.base_url, "GET", "/auths")
        return result

    def expire(self, auth_request: str) -> dict[str, Any]:
        """Let a pending request time out now."""
        result: dict[str, Any] = _call(
            self.base_url, "POST", f"/auths/{auth_request}/expire"
        )
        return result

    def advance(self, seconds: float) -> int:
        """Move platform time forward; returns the new platform time."""
        return int(_call(self.base_url, "POST", "/clock", {"advance": seconds})["now"])

    def now(self) -> int:
        return int(_call(self.base_url, "GET", "/clock")["now"])

    def webhook_stats(self) -> dict[str, int]:
        result: dict[str, int] = _call(self.base_url, "GET", "/webhooks")
        return result

    def rotate_key(self) -> str:
        return str(_call(self.base_url, "POST", "/keys/rotate")["kid"])


class VirtualDevice:
    """One virtual authenticator linked to a Directory User."""

    def __init__(self, base_url: str, device_id: str, identifier: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.id = device_id
        self.identifier = identifier

    def __repr__(self) -> str:
        return f"VirtualDevice(id={self.id!r}, identifier={self.identifier!r})"

    def info(self) -> dict[str, Any]:
        result: dict[str, Any] = _call(self.base_url, "GET", f"/devices/{self.id}")
        return result

    def pending(self) -> list[dict[str, Any]]:
        """Requests waiting for this device (what the push would show)."""
        result: list[dict[str, Any]] = _call(
            self.base_url, "GET", f"/devices/{self.id}/auths"
        )
        return result

    def answer(
        self, action: Action, auth_request: str | None = None, **options: Any
    ) -> dict[str, Any]:
        """Answer a request (the only pending one when `auth_request` is None).

        Options: denial_reason, fraud, fail_reason, methods, location (lat, lon),
        territory, jailbroken, emulator. Returns the request with its type and reason.
        """
        body = _drop_none(action=action, auth_request=auth_request, **options)
        result: dict[str, Any] = _call(
            self.base_url, "POST", f"/devices/{self.id}/answer", body
        )
        return result

    def approve(
        self, auth_request: str | None = None, **options: Any
    ) -> dict[str, Any]:
        return self.answer("approve", auth_request, **options)

    def deny(
        self,
        auth_request: str | None = None,
        *,
        reason: str | None = None,
        fraud: bool = False,
    ) -> dict[str, Any]:
        """Deny, with one of the request's denial reason ids, or as fraud or not."""
        return self.answer("deny", auth_request, denial_reason=reason, fraud=fraud)

    def fail(
        self, auth_request: str | None = None, *, reason: str = "AUTHENTICATION"
    ) -> dict[str, Any]:
        return self.answer("fail", auth_request, fail_reason=reason)

    def auto(self, action: Action, after: int = 0, **options: Any) -> None:
        """Answer every new request with `action` after `after` seconds."""
        body = _drop_none(action=action, after=after, **options)
        _call(self.base_url, "PUT", f"/devices/{self.id}/auto", body)

    def auto_off(self) -> None:
        _call(self.base_url, "DELETE", f"/devices/{self.id}/auto")

    def update(self, **profile: Any) -> dict[str, Any]:
        """Change methods, location, territory, jailbroken or emulator flags."""
        result: dict[str, Any] = _call(
            self.base_url, "PATCH", f"/devices/{self.id}", profile
        )
        return result

    def acknowledge_unlink(self) -> None:
        """Confirm a pending unlink (a device with `ack_unlink` off); it is removed."""
        _call(self.base_url, "POST", f"/devices/{self.id}/unlink-ack", {})

    def logout(self, service_id: str | None = None) -> int:
        """End the user's sessions from the device; returns how many ended."""
        body = _drop_none(service_id=service_id)
        return int(
            _call(self.base_url, "POST", f"/devices/{self.id}/logout", body)["ended"]
        )
