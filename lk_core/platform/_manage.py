"""Management of services, their keys and policies (directory-api.md 4), for the
Directory or Organization that owns them (organization-api.md 4).

Each function takes the acting entity (`dir:<uuid>` or `org:<uuid>`), the decrypted
body and `now`, and returns (HTTP status, response JSON or None).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import msgspec

from lk_core.platform._errors import PlatformError
from lk_core.platform._model import EntityKey, Service, iso
from lk_core.platform._policy import NO_POLICY, parse_service_policy
from lk_core.platform._state import Platform, json_object

Result = tuple[int, Any]
Handler = Callable[[Platform, str, object, int], Result]


def _own_service(p: Platform, owner: str, service_id: object) -> Service:
    if not isinstance(service_id, str):
        raise PlatformError.field("service_id", "This field is required")
    service = p.service(service_id)
    if service.owner != owner:
        raise PlatformError(403, None, "service belongs to another entity")
    return service


def _opt_text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise PlatformError.field(name, "must be a string or null")
    return value


def _date(value: object, name: str) -> int | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise PlatformError.field(name, "must be YYYY-MM-DDTHH:MM:SSZ")
    try:
        parsed = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        raise PlatformError.field(name, "must be YYYY-MM-DDTHH:MM:SSZ") from None
    return int(parsed.replace(tzinfo=UTC).timestamp())


def service_json(service: Service) -> dict[str, Any]:
    return {
        "id": service.id,
        "icon": service.icon,
        "name": service.name,
        "description": service.description,
        "active": service.active,
        "callback_url": service.callback_url,
    }


def key_json(key: EntityKey) -> dict[str, Any]:
    return {
        "id": key.kid,
        "active": key.active,
        "date_created": iso(key.created),
        "date_expires": None if key.expires is None else iso(key.expires),
        "public_key": key.public_pem,
        "key_type": key.key_type,
    }


def create_service(p: Platform, owner: str, body: object, now: int) -> Result:
    f = json_object(body)
    name = f.get("name")
    if not isinstance(name, str) or not name:
        raise PlatformError.field("name", "This field is required")
    active = f.get("active", True)
    service = p.add_service(
        owner,
        name,
        callback_url=_opt_text(f, "callback_url"),
        description=_opt_text(f, "description"),
        icon=_opt_text(f, "icon"),
        active=active if isinstance(active, bool) else True,
    )
    return 201, {"id": service.id}


def list_services(p: Platform, owner: str, body: object, now: int) -> Result:
    return 200, [service_json(s) for s in p.services.values() if s.owner == owner]


def get_services(p: Platform, owner: str, body: object, now: int) -> Result:
    ids = json_object(body).get("service_ids")
    if not isinstance(ids, list):
        raise PlatformError.field("service_ids", "must be a list")
    found = [p.services.get(i) for i in ids if isinstance(i, str)]
    return 200, [service_json(s) for s in found if s is not None and s.owner == owner]


def update_service(p: Platform, owner: str, body: object, now: int) -> Result:
    f = json_object(body)
    service = _own_service(p, owner, f.get("service_id"))
    changes: dict[str, Any] = {}
    for name in ("name", "description", "icon", "callback_url"):
        if name in f:
            changes[name] = _opt_text(f, name)
    if isinstance(f.get("active"), bool):
        changes["active"] = f["active"]
    if changes.get("name", service.name) is None:
        raise PlatformError.field("name", "may not be null")
    p.update_service(service.id, **changes)
    return 204, None


def add_key(p: Platform, owner: str, body: object, now: int) -> Result:
    f = json_object(body)
    service = _own_service(p, owner, f.get("service_id"))
    return add_entity_key(p, f"svc:{service.id}", f, now)


def add_entity_key(p: Platform, entity: str, f: dict[str, Any], now: int) -> Result:
    """KEY-001 bad PEM, KEY-002 already on the entity; 201 {"key_id"}."""
    pem = f.get("public_key")
    if not isinstance(pem, str):
        raise PlatformError.coded(400, "KEY-001", "public_key is required")
    key_type = f.get("key_type", 0)
    if key_type not in (0, 1, 2) or isinstance(key_type, bool):
        raise PlatformError.field("key_type", "must be 0, 1 or 2")
    active = f.get("active", True)
    key = p.add_key(
        entity,
        pem,
        now,
        expires=_date(f.get("date_expires"), "date_expires"),
        active=active if isinstance(active, bool) else True,
        key_type=key_type,
    )
    return 201, {"key_id": key.kid}


def list_keys(p: Platform, owner: str, body: object, now: int) -> Result:
    service = _own_service(p, owner, json_object(body).get("service_id"))
    return list_entity_keys(p, f"svc:{service.id}")


def list_entity_keys(p: Platform, entity: str) -> Result:
    keys = sorted(
        (k for (e, _), k in p.keys.items() if e == entity), key=lambda k: k.created
    )
    return 200, [key_json(k) for k in keys]


def update_key(p: Platform, owner: str, body: object, now: int) -> Result:
    f = json_object(body)
    service = _own_service(p, owner, f.get("service_id"))
    return update_entity_key(p, f"svc:{service.id}", f)


def update_entity_key(p: Platform, entity: str, f: dict[str, Any]) -> Result:
    kid = f.get("key_id")
    if not isinstance(kid, str) or (entity, kid) not in p.keys:
        raise PlatformError.coded(400, "KEY-003", "public key does not exist")
    if isinstance(f.get("active"), bool):
        p.set_key_active(entity, kid, f["active"])
    if "date_expires" in f:
        expires = _date(f["date_expires"], "date_expires")
        p.keys[(entity, kid)] = msgspec.structs.replace(
            p.keys[(entity, kid)], expires=expires
        )
    return 204, None


def remove_key(p: Platform, owner: str, body: object, now: int) -> Result:
    f = json_object(body)
    service = _own_service(p, owner, f.get("service_id"))
    return remove_entity_key(p, f"svc:{service.id}", f)


def remove_entity_key(p: Platform, entity: str, f: dict[str, Any]) -> Result:
    kid = f.get("key_id")
    if not isinstance(kid, str) or (entity, kid) not in p.keys:
        raise PlatformError.coded(400, "KEY-003", "public key does not exist")
    if not any(e == entity and i != kid for (e, i) in p.keys):
        raise PlatformError.coded(400, "KEY-004", "last remaining key")
    del p.keys[(entity, kid)]
    return 204, None


def set_policy(p: Platform, owner: str, body: object, now: int) -> Result:
    f = json_object(body)
    service = _own_service(p, owner, f.get("service_id"))
    raw = f.get("policy")
    p.update_service(service.id, policy=parse_service_policy(raw), policy_json=raw)
    return 204, None


def get_policy(p: Platform, owner: str, body: object, now: int) -> Result:
    """Typed policies read back as stored; legacy ones in the section-1 shape with
    "type": "LEGACY" (policies.md 2, emulator proposal)."""
    service = _own_service(p, owner, json_object(body).get("service_id"))
    raw = service.policy_json
    if isinstance(raw, dict) and raw.get("type") in (
        "METHOD_AMOUNT",
        "FACTORS",
        "COND_GEO",
    ):
        return 200, raw
    return 200, service.policy.to_legacy_json()


def remove_policy(p: Platform, owner: str, body: object, now: int) -> Result:
    service = _own_service(p, owner, json_object(body).get("service_id"))
    p.update_service(service.id, policy=NO_POLICY, policy_json=None)
    return 204, None


_SERVICE_ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/services"): create_service,
    ("GET", "/services"): list_services,
    ("POST", "/services/list"): get_services,
    ("PATCH", "/services"): update_service,
    ("POST", "/service/keys"): add_key,
    ("POST", "/service/keys/list"): list_keys,
    ("PATCH", "/service/keys"): update_key,
    ("DELETE", "/service/keys"): remove_key,
    ("PUT", "/service/policy"): set_policy,
    ("POST", "/service/policy/item"): get_policy,
    ("DELETE", "/service/policy"): remove_policy,
}
# The same calls under both owners' base paths (organization-api.md 4).
ROUTES: dict[tuple[str, str], Handler] = {
    (method, prefix + path): fn
    for prefix in ("/directory/v3", "/organization/v3")
    for (method, path), fn in _SERVICE_ROUTES.items()
}
