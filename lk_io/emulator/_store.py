"""Optional SQLite state file: organizations, users, devices, keys survive restarts.

Authorization requests are short-lived and are not kept, except those an undelivered
auth-response webhook still needs: webhooks waiting for delivery are kept, and
resumed by the next run.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from lk_core._keys import PrivateKey, load_private_key, private_key_pem
from lk_core.platform import (
    AuthRequest,
    AuthResponseEvent,
    Device,
    Directory,
    EntityKey,
    Entropy,
    Organization,
    Platform,
    RateLimit,
    Service,
    Session,
    TotpConfig,
    User,
)
from lk_io.emulator._webhooks import Pending

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS rows (
    kind TEXT NOT NULL, id TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (kind, id)
);
"""
# kind -> (struct type, attribute of Platform holding a dict of them)
_KINDS: dict[str, tuple[type[Any], str]] = {
    "org": (Organization, "orgs"),
    "directory": (Directory, "directories"),
    "service": (Service, "services"),
    "key": (EntityKey, "keys"),
    "user": (User, "users"),
    "device": (Device, "devices"),
    "totp": (TotpConfig, "totp"),
    "session": (Session, "sessions"),
}


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        new = not path.exists()
        self._db = sqlite3.connect(path, check_same_thread=False)
        if new:
            # Virtual devices' private keys and the credentials live here.
            os.chmod(path, 0o600)
        self._db.executescript(SCHEMA)

    def save(
        self,
        platform: Platform,
        keys: Sequence[PrivateKey],
        creds: dict[str, str],
        webhooks: Sequence[Pending] = (),
    ) -> None:
        rows: list[tuple[str, str, str]] = []
        for item in webhooks:
            rows.append(("webhook", item.jti, msgspec.json.encode(item).decode()))
            event = item.event
            auth = (
                platform.auths.get(event.auth_request)
                if isinstance(event, AuthResponseEvent)
                else None
            )
            if auth is not None:
                rows.append(("auth", auth.id, msgspec.json.encode(auth).decode()))
        for kind, (_, attr) in _KINDS.items():
            for ident, value in getattr(platform, attr).items():
                key = ident if isinstance(ident, str) else "\x1f".join(ident)
                rows.append((kind, key, msgspec.json.encode(value).decode()))
        for (svc, user), push_id in platform.push_ids.items():
            rows.append(("push_id", f"{svc}\x1f{user}", push_id))
        for (svc, device), pins in platform.pins.items():
            rows.append(("pins", f"{svc}\x1f{device}", ",".join(pins)))
        meta = {
            "secret": platform.secret.hex(),
            "platform_keys": "\n\x1f".join(private_key_pem(k) for k in keys),
            **{f"cred.{k}": v for k, v in creds.items()},
        }
        with self._db:
            self._db.execute("DELETE FROM rows")
            self._db.execute("DELETE FROM meta")
            self._db.executemany("INSERT INTO rows VALUES (?, ?, ?)", rows)
            self._db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())

    def load(
        self, entropy: Entropy, rate_limit: RateLimit | None, now: int
    ) -> tuple[Platform, list[PrivateKey], dict[str, str], list[Pending]] | None:
        """The saved platform, its keys, credentials and undelivered webhooks.

        Requests kept for those webhooks count their retention from `now`, so a
        long stop does not purge them before their webhook goes out.
        """
        meta = dict(self._db.execute("SELECT name, value FROM meta").fetchall())
        if "secret" not in meta:
            return None
        platform = Platform(
            entropy, secret=bytes.fromhex(meta["secret"]), rate_limit=rate_limit
        )
        webhooks: list[Pending] = []
        for kind, ident, data in self._db.execute("SELECT kind, id, data FROM rows"):
            parts = ident.split("\x1f")
            key = parts[0] if len(parts) == 1 else tuple(parts)
            if kind == "push_id":
                platform.push_ids[(parts[0], parts[1])] = data
            elif kind == "pins":
                platform.pins[(parts[0], parts[1])] = tuple(data.split(","))
            elif kind == "webhook":
                webhooks.append(msgspec.json.decode(data, type=Pending))
            elif kind == "auth":
                auth = msgspec.json.decode(data, type=AuthRequest)
                platform.auths[ident] = msgspec.structs.replace(auth, finished=now)
            else:
                cls, attr = _KINDS[kind]
                getattr(platform, attr)[key] = msgspec.json.decode(data, type=cls)
        keys = [load_private_key(pem) for pem in meta["platform_keys"].split("\n\x1f")]
        creds = {k[5:]: v for k, v in meta.items() if k.startswith("cred.")}
        return platform, keys, creds, webhooks

    def close(self) -> None:
        self._db.close()
