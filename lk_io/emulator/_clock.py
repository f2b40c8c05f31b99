"""The emulator's clock: wall time plus an adjustable offset, or frozen for tests."""

from __future__ import annotations

import threading
import time
import zoneinfo
from datetime import tzinfo


class Clock:
    """Seconds since the epoch as the emulated platform sees them.

    `advance` moves platform time forward (expiry, TOTP, token windows). Clients keep
    their own time offset from /public/v3/ping, so after a jump they must ping again
    before their tokens fit the platform's window.
    """

    def __init__(self, *, start: float | None = None, frozen: bool = False) -> None:
        self._lock = threading.Lock()
        self._frozen = frozen
        base = time.time() if start is None else start
        self._offset = base - time.time()
        self._fixed = base

    def now(self) -> float:
        with self._lock:
            if self._frozen:
                return self._fixed
            return time.time() + self._offset

    def seconds(self) -> int:
        return int(self.now())

    def advance(self, seconds: float) -> float:
        with self._lock:
            self._offset += seconds
            self._fixed += seconds
            return self._fixed if self._frozen else time.time() + self._offset

    @property
    def frozen(self) -> bool:
        return self._frozen


def system_zone(name: str) -> tzinfo:
    """An IANA time zone from the system database or the tzdata package.

    Raises LookupError with what to install when the data is missing, so a time
    fence naming that zone fails closed instead of being checked in the wrong zone.
    """
    try:
        return zoneinfo.ZoneInfo(name)
    except zoneinfo.ZoneInfoNotFoundError:
        raise LookupError(
            f"time zone {name!r} not found: unknown name, or no zone data on this "
            "machine (install the tzdata package)"
        ) from None
    except ValueError:
        raise LookupError(f"time zone {name!r} is not a valid zone name") from None
