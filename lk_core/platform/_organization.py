"""Organization endpoints: directories, their keys and SDK keys (organization-api.md
1-3). Services of the organization are in _manage. Same calling shape as _manage:
(platform, acting entity, body, now) -> (status, JSON or None)."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import msgspec
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

from lk_core.platform._errors import PlatformError
from lk_core.platform._manage import (
    Handler,
    Result,
    add_entity_key,
    list_entity_keys,
    remove_entity_key,
    update_entity_key,
)
from lk_core.platform._model import Directory
from lk_core.platform._state import Platform, json_object


def _org_id(owner: str) -> str:
    return owner.partition(":")[2]


def _own_directory(p: Platform, owner: str, directory_id: object) -> Directory:
    if not isinstance(directory_id, str):
        raise PlatformError.field("directory_id", "This field is required")
    directory = p.directories.get(directory_id)
    if directory is None:
        raise PlatformError(404, None, "directory not found")
    if directory.org_id != _org_id(owner):
        raise PlatformError(403, None, "directory belongs to another organization")
    return directory


def directory_json(p: Platform, directory: Directory) -> dict[str, Any]:
    owner = f"dir:{directory.id}"
    return {
        "id": directory.id,
        "name": directory.name,
        "service_ids": [s.id for s in p.services.values() if s.owner == owner],
        "sdk_keys": list(directory.sdk_keys),
        "premium": False,
        "android_key": directory.android_key,
        "ios_certificate_fingerprint": directory.ios_certificate_fingerprint,
        "active": directory.active,
        "denial_context_inquiry_enabled": directory.denial_context_inquiry_enabled,
        "webhook_url": directory.webhook_url,
    }


def create_directory(p: Platform, owner: str, body: object, now: int) -> Result:
    name = json_object(body).get("name")
    if not isinstance(name, str) or not name.strip():
        raise PlatformError.field("name", "This field is required")
    directory = p.add_directory(_org_id(owner), name)
    # Every directory starts with one Authenticator SDK key, as the platform's do.
    p.directories[directory.id] = msgspec.structs.replace(
        directory, sdk_keys=(p.entropy.new_id(),)
    )
    return 201, {"id": directory.id}


def list_directories(p: Platform, owner: str, body: object, now: int) -> Result:
    org = _org_id(owner)
    return 200, [
        directory_json(p, d) for d in p.directories.values() if d.org_id == org
    ]


def get_directories(p: Platform, owner: str, body: object, now: int) -> Result:
    ids = json_object(body).get("directory_ids")
    if not isinstance(ids, list):
        raise PlatformError.field("directory_ids", "must be a list")
    org = _org_id(owner)
    found = [p.directories.get(i) for i in ids if isinstance(i, str)]
    return 200, [
        directory_json(p, d) for d in found if d is not None and d.org_id == org
    ]


def _fingerprint(p12_base64: str) -> str:
    """SHA-1 fingerprint of the push certificate in a password-less PKCS#12."""
    try:
        raw = base64.b64decode(p12_base64)
        _, cert, _ = pkcs12.load_key_and_certificates(raw, None)
    except (ValueError, binascii.Error):
        raise PlatformError.field("ios_p12", "not a password-less PKCS#12") from None
    if cert is None:
        raise PlatformError.field("ios_p12", "holds no certificate")
    digest = cert.fingerprint(hashes.SHA1()).hex()  # noqa: S303 - Apple's format
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def update_directory(p: Platform, owner: str, body: object, now: int) -> Result:
    f = json_object(body)
    directory = _own_directory(p, owner, f.get("directory_id"))
    changes: dict[str, Any] = {}
    for flag in ("active", "denial_context_inquiry_enabled"):
        if flag in f:
            if not isinstance(f[flag], bool):
                raise PlatformError.field(flag, "must be true or false")
            changes[flag] = f[flag]
    for text in ("android_key", "webhook_url"):
        if text in f:
            if f[text] is not None and not isinstance(f[text], str):
                raise PlatformError.field(text, "must be a string or null")
            changes[text] = f[text]
    if "ios_p12" in f:
        p12 = f["ios_p12"]
        changes["ios_certificate_fingerprint"] = (
            _fingerprint(p12) if isinstance(p12, str) and p12 else None
        )
    p.update_directory(directory.id, **changes)
    return 204, None


def add_key(p: Platform, owner: str, body: object, now: int) -> Result:
    f = json_object(body)
    directory = _own_directory(p, owner, f.get("directory_id"))
    return add_entity_key(p, f"dir:{directory.id}", f, now)


def list_keys(p: Platform, owner: str, body: object, now: int) -> Result:
    directory = _own_directory(p, owner, json_object(body).get("directory_id"))
    return list_entity_keys(p, f"dir:{directory.id}")


def update_key(p: Platform, owner: str, body: object, now: int) -> Result:
    f = json_object(body)
    directory = _own_directory(p, owner, f.get("directory_id"))
    return update_entity_key(p, f"dir:{directory.id}", f)


def remove_key(p: Platform, owner: str, body: object, now: int) -> Result:
    f = json_object(body)
    directory = _own_directory(p, owner, f.get("directory_id"))
    return remove_entity_key(p, f"dir:{directory.id}", f)


def add_sdk_key(p: Platform, owner: str, body: object, now: int) -> Result:
    directory = _own_directory(p, owner, json_object(body).get("directory_id"))
    key = p.entropy.new_id()
    p.update_directory(directory.id, sdk_keys=(*directory.sdk_keys, key))
    return 201, {"sdk_key": key}


def list_sdk_keys(p: Platform, owner: str, body: object, now: int) -> Result:
    directory = _own_directory(p, owner, json_object(body).get("directory_id"))
    return 200, list(directory.sdk_keys)


def remove_sdk_key(p: Platform, owner: str, body: object, now: int) -> Result:
    f = json_object(body)
    directory = _own_directory(p, owner, f.get("directory_id"))
    key = f.get("sdk_key")
    if key not in directory.sdk_keys:
        raise PlatformError.coded(400, "ORG-006", "SDK key is not in the directory")
    if len(directory.sdk_keys) == 1:
        raise PlatformError.coded(400, "ORG-005", "last remaining SDK key")
    remaining = tuple(k for k in directory.sdk_keys if k != key)
    p.update_directory(directory.id, sdk_keys=remaining)
    return 204, None


ROUTES: dict[tuple[str, str], Handler] = {
    ("POST", "/organization/v3/directories"): create_directory,
    ("GET", "/organization/v3/directories"): list_directories,
    ("POST", "/organization/v3/directories/list"): get_directories,
    ("PATCH", "/organization/v3/directories"): update_directory,
    ("POST", "/organization/v3/directory/keys"): add_key,
    ("POST", "/organization/v3/directory/keys/list"): list_keys,
    ("PATCH", "/organization/v3/directory/keys"): update_key,
    ("DELETE", "/organization/v3/directory/keys"): remove_key,
    ("POST", "/organization/v3/directory/sdk-keys"): add_sdk_key,
    ("POST", "/organization/v3/directory/sdk-keys/list"): list_sdk_keys,
    ("DELETE", "/organization/v3/directory/sdk-keys"): remove_sdk_key,
}
