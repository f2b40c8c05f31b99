"""The unsigned test-only control API under /_emulator/ (emulator-notes 5)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import msgspec

from lk_core import _json
from lk_core._keys import generate_private_key, private_key_pem
from lk_core.platform import (
    AnswerSpec,
    AuthRequest,
    AutoRule,
    Device,
    DeviceProfile,
    PlatformError,
    iso,
)
from lk_core.platform._policy import parse_service_policy

if TYPE_CHECKING:
    from lk_io.emulator._emulator import Emulator

Handler = Callable[["Emulator", re.Match[str], Any], tuple[int, Any]]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []


def _route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        _ROUTES.append((method, re.compile(f"^/_emulator{pattern}$"), fn))
        return fn

    return register


def handle(emu: Emulator, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    """Answer one control request with a JSON body. Takes the emulator lock."""
    try:
        data = _json.loads(body) if body else None
    except ValueError:
        return 400, _json.dumps({"error": "body is not JSON"})
    for verb, pattern, fn in _ROUTES:
        match = pattern.match(path)
        if match is None or verb != method:
            continue
        try:
            with emu.lock:
                status, result = fn(emu, match, data)
                events = emu.after_change()
            emu.send(events)
        except PlatformError as err:
            detail = err.detail or err.status
            if isinstance(detail, dict):
                # A field-keyed detail ({"fail_reason": "..."}) reads as a sentence.
                detail = "; ".join(f"{k}: {v}" for k, v in detail.items())
            return err.status, _json.dumps({"error": str(detail)})
        except (msgspec.ValidationError, TypeError, ValueError) as err:
            return 400, _json.dumps({"error": str(err)})
        return status, _json.dumps(result)
    return 404, _json.dumps({"error": f"no control route {method} {path}"})


def _obj(data: Any) -> dict[str, Any]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def device_json(emu: Emulator, device: Device) -> dict[str, Any]:
    user = emu.platform.users[device.user_id]
    out = device.to_json()
    out.update(
        identifier=user.identifier,
        directory_id=user.directory_id,
        profile=msgspec.to_builtins(device.profile),
        auto=None if device.auto is None else msgspec.to_builtins(device.auto),
        public_key_id=device.kid,
    )
    return out


def auth_json(auth: AuthRequest, now: int) -> dict[str, Any]:
    out: dict[str, Any] = {
        "auth_request": auth.id,
        "service_id": auth.service_id,
        "state": str(auth.state_at(now)),
        "context": auth.context,
        "title": auth.title,
        "expires": iso(auth.expires),
        "device_ids": list(auth.device_ids),
        "denial_reasons": [msgspec.to_builtins(r) for r in auth.denial_reasons],
        "policy": auth.policy.to_auth_policy(),
    }
    if auth.answer is not None:
        out.update(
            type=auth.answer.type,
            reason=auth.answer.reason,
            denial_reason=auth.answer.denial_reason,
            device_id=auth.answer.device_id,
        )
    return out


def _profile(data: dict[str, Any], base: DeviceProfile) -> DeviceProfile:
    fields = {
        k: data[k]
        for k in (
            "methods",
            "location",
            "jailbroken",
            "emulator",
            "territory",
            "ack_unlink",
        )
        if k in data
    }
    merged = {**msgspec.to_builtins(base), **fields}
    return msgspec.convert(merged, DeviceProfile)


def _answer_spec(data: dict[str, Any]) -> AnswerSpec:
    fields = {k: v for k, v in data.items() if k in AnswerSpec.__struct_fields__}
    return msgspec.convert(fields, AnswerSpec)


@_route("GET", "/info")
def _info(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    return 200, emu.info()


@_route("POST", "/users")
def _new_user(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    """Create (or reuse) a Directory User and link a virtual device in one go."""
    body = _obj(data)
    now = emu.clock.seconds()
    directory_id = body.get("directory_id") or emu.directory_id
    link = emu.platform.link_device(directory_id, body.get("identifier"), now)
    profile = _profile(body, DeviceProfile())
    device = emu.platform.complete_link(
        link["code"], now, name=body.get("name"), profile=profile
    )
    return 201, device_json(emu, device)


@_route("POST", "/devices/link")
def _link(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    """The virtual app enters a link code from POST /directory/v3/devices."""
    body = _obj(data)
    code = body.get("code")
    if not isinstance(code, str):
        raise ValueError("code is required")
    device = emu.platform.complete_link(
        code,
        emu.clock.seconds(),
        name=body.get("name"),
        profile=_profile(body, DeviceProfile()),
    )
    return 200, device_json(emu, device)


@_route("GET", "/devices/(?P<id>[^/]+)")
def _device(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    return 200, device_json(emu, emu.platform.device(m["id"]))


@_route("PATCH", "/devices/(?P<id>[^/]+)")
def _update_device(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    device = emu.platform.device(m["id"])
    profile = _profile(_obj(data), device.profile)
    device = emu.platform.update_device(device.id, emu.clock.seconds(), profile=profile)
    return 200, device_json(emu, device)


@_route("POST", "/devices/(?P<id>[^/]+)/unlink-ack")
def _ack_unlink(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    """The virtual app confirms a pending unlink; the device is removed."""
    emu.platform.acknowledge_unlink(m["id"])
    return 200, {"device_id": m["id"], "removed": True}


@_route("GET", "/devices/(?P<id>[^/]+)/auths")
def _pending(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    now = emu.clock.seconds()
    emu.platform.device(m["id"])
    return 200, [
        auth_json(a, now) for a in emu.platform.pending_for_device(m["id"], now)
    ]


@_route("POST", "/devices/(?P<id>[^/]+)/answer")
def _answer(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    """Answer `auth_request`, or the device's only pending request."""
    body = _obj(data)
    now = emu.clock.seconds()
    auth_id = body.get("auth_request")
    if auth_id is None:
        if m["id"] not in emu.platform.devices:
            raise PlatformError(404, None, "device not found")
        pending = emu.platform.pending_for_device(m["id"], now)
        if not pending:
            raise PlatformError(409, None, "no request is waiting for this device")
        if len(pending) > 1:
            raise PlatformError(
                409,
                None,
                f"{len(pending)} requests are waiting for this device; name one"
                " by its auth_request (lk device: --auth)",
            )
        auth_id = pending[0].id
    auth = emu.platform.answer(auth_id, m["id"], _answer_spec(body), now)
    return 200, auth_json(auth, now)


@_route("PUT", "/devices/(?P<id>[^/]+)/auto")
def _auto(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    """Auto-answer rule: answer every new request this way after `after` seconds."""
    body = _obj(data)
    after = body.get("after", 0)
    if isinstance(after, bool) or not isinstance(after, int) or after < 0:
        raise ValueError("after must be a whole number of seconds >= 0")
    rule = AutoRule(answer=_answer_spec(body), after=after)
    device = emu.platform.set_auto(m["id"], rule, emu.clock.seconds())
    return 200, device_json(emu, device)


@_route("DELETE", "/devices/(?P<id>[^/]+)/auto")
def _auto_off(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    device = emu.platform.set_auto(m["id"], None, emu.clock.seconds())
    return 200, device_json(emu, device)


@_route("POST", "/devices/(?P<id>[^/]+)/logout")
def _logout(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    """End the user's sessions from the device (all, or one service's)."""
    body = _obj(data)
    device = emu.platform.device(m["id"])
    service_id = body.get("service_id")
    services = None if service_id is None else [service_id]
    ended = emu.platform.end_user_sessions(
        device.user_id, emu.clock.seconds(), services
    )
    return 200, {"ended": ended}


@_route("GET", "/auths")
def _auths(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    now = emu.clock.seconds()
    emu.platform.expire(now)
    return 200, [auth_json(a, now) for a in emu.platform.auths.values()]


@_route("POST", "/auths/(?P<id>[^/]+)/expire")
def _expire(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    now = emu.clock.seconds()
    return 200, auth_json(emu.platform.expire_now(m["id"], now), now)


@_route("GET", "/clock")
def _clock(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    now = emu.clock.seconds()
    return 200, {"now": now, "api_time": iso(now), "frozen": emu.clock.frozen}


@_route("POST", "/clock")
def _advance(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    seconds = _obj(data).get("advance")
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise ValueError("advance must be a number of seconds")
    emu.clock.advance(seconds)
    emu.platform.tick(emu.clock.seconds())
    return _clock(emu, m, None)


@_route("GET", "/webhooks")
def _webhooks(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    return 200, emu.sender.stats()


@_route("POST", "/services")
def _new_service(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    """A new Directory Service with a fresh key; the private key is handed back."""
    body = _obj(data)
    directory_id = body.get("directory_id") or emu.directory_id
    name = body.get("name") or f"Service {len(emu.platform.services) + 1}"
    service = emu.platform.add_service(
        f"dir:{directory_id}", name, callback_url=body.get("callback_url")
    )
    key = generate_private_key()
    emu.platform.add_key(f"svc:{service.id}", key.public.pem, emu.clock.seconds())
    return 201, {"service_id": service.id, "private_key": private_key_pem(key)}


@_route("POST", "/services/(?P<id>[^/]+)/keys")
def _add_service_key(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    """Another key for the service (rotation); the private key is handed back.
    `key_type` 0 both (default), 1 encryption only, 2 signature only."""
    emu.platform.service(m["id"])
    key_type = _obj(data).get("key_type", 0)
    if isinstance(key_type, bool) or key_type not in (0, 1, 2):
        raise ValueError("key_type must be 0, 1 or 2")
    key = generate_private_key()
    emu.platform.add_key(
        f"svc:{m['id']}", key.public.pem, emu.clock.seconds(), key_type=key_type
    )
    return 201, {"key_id": key.kid, "private_key": private_key_pem(key)}


@_route("PATCH", "/services/(?P<id>[^/]+)/keys/(?P<kid>[0-9a-f:]+)")
def _update_service_key(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    """Deactivate (or re-activate) a service key: `{"active": false}`."""
    active = _obj(data).get("active")
    if not isinstance(active, bool):
        raise ValueError("active must be true or false")
    key = emu.platform.set_key_active(f"svc:{m['id']}", m["kid"], active)
    return 200, {"key_id": key.kid, "active": key.active}


@_route("PATCH", "/services/(?P<id>[^/]+)")
def _update_service(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    body = _obj(data)
    changes: dict[str, Any] = {}
    if "callback_url" in body:
        changes["callback_url"] = body["callback_url"]
    if "policy" in body:
        changes["policy"] = parse_service_policy(body["policy"] or {})
    service = emu.platform.update_service(m["id"], **changes)
    return 200, {"service_id": service.id, "callback_url": service.callback_url}


@_route("PATCH", "/directories/(?P<id>[^/]+)")
def _update_directory(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    body = _obj(data)
    allowed = ("denial_context_inquiry_enabled", "webhook_url")
    directory = emu.platform.update_directory(
        m["id"], **{k: body[k] for k in allowed if k in body}
    )
    return 200, msgspec.to_builtins(directory)


@_route("POST", "/keys/rotate")
def _rotate(emu: Emulator, m: re.Match[str], data: Any) -> tuple[int, Any]:
    emu.server.rotate(generate_private_key())
    return 200, {"kid": emu.server.current_key.kid}
