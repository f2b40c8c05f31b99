"""Legacy auth policies on the platform side: parsing, merging and evaluation.

The request `policy` field and a Service's stored policy both use the legacy JSON shape
(policies.md section 1). The platform merges them, keeps the stricter value of each
part, and checks the merged policy against the answering device.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from typing import Annotated, Any, Literal

import msgspec

from lk_core.platform._errors import PlatformError

# Method names of policies.md section 5, in the order devices report them.
METHODS = (
    "PIN_CODE",
    "CIRCLE_CODE",
    "GEOFENCING",
    "LOCATIONS",
    "WEARABLES",
    "FINGERPRINT",
    "FACE",
)
# Which factor each user-set method proves. GEOFENCING is enforced by policy fences,
# not chosen by the user, so it counts towards no factor.
FACTOR_OF = {
    "PIN_CODE": "knowledge",
    "CIRCLE_CODE": "knowledge",
    "FINGERPRINT": "inherence",
    "FACE": "inherence",
    "WEARABLES": "possession",
    "LOCATIONS": "possession",
}
FACTOR_TYPES = ("knowledge", "inherence", "possession")
EARTH_RADIUS_M = 6_371_008.8


_COUNTRY = re.compile(r"[A-Z]{2}")
_AREA = re.compile(r"[A-Z]{2}-[A-Z]{2}[A-Z]?")


def _postal(code: str) -> str:
    # Postal codes compare without case or inner spaces ("sw1a 1aa" == "SW1A1AA").
    return "".join(code.split()).upper()


class Place(msgspec.Struct, frozen=True, kw_only=True):
    """Where a virtual device says it is, in the terms TERRITORY fences use.

    The emulator does no reverse geocoding: a device's place is set beside its
    latitude and longitude, and the two are not checked against each other.
    """

    country: Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}$")]
    administrative_area: (
        Annotated[str, msgspec.Meta(pattern="^[A-Z]{2}-[A-Z]{2}[A-Z]?$")] | None
    ) = None
    postal_code: str | None = None


class Fence(msgspec.Struct, frozen=True, kw_only=True):
    """A circular geofence (metres and degrees) or a TERRITORY fence.

    One struct for both kinds keeps stored policies readable by msgspec; a
    record without `kind` is a circle, as every fence was before territories.
    """

    kind: Literal["GEO_CIRCLE", "TERRITORY"] = "GEO_CIRCLE"
    name: str | None = None
    latitude: float = 0.0
    longitude: float = 0.0
    radius: float = 0.0
    country: str | None = None
    administrative_area: str | None = None
    postal_code: str | None = None

    def contains(self, latitude: float, longitude: float) -> bool:
        if self.kind != "GEO_CIRCLE":
            return False
        return distance_m(self.latitude, self.longitude, latitude, longitude) <= (
            self.radius
        )

    def holds(self, location: tuple[float, float] | None, place: Place | None) -> bool:
        """Whether a device at `location` / `place` is inside; unknown is outside."""
        if self.kind == "GEO_CIRCLE":
            return location is not None and self.contains(*location)
        if place is None or place.country != self.country:
            return False
        area = self.administrative_area
        if area is not None and place.administrative_area != area:
            return False
        code = self.postal_code
        return code is None or (
            place.postal_code is not None
            and _postal(place.postal_code) == _postal(code)
        )

    def to_json(self) -> dict[str, Any]:
        if self.kind == "TERRITORY":
            return {
                "type": "TERRITORY",
                "name": self.name,
                "country": self.country,
                "administrative_area": self.administrative_area,
                "postal_code": self.postal_code,
            }
        # Circles keep the legacy shape (no type), which every reader accepts.
        return {
            "name": self.name,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "radius": self.radius,
        }


# Looks a time zone up by IANA name; raises LookupError (with a reason a person can
# act on) when it is unknown or its data is missing. lk_io supplies zoneinfo.
Zones = Callable[[str], tzinfo]
DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def utc_only(name: str) -> tzinfo:
    """The zone lookup of a platform without time-zone data: UTC and nothing else."""
    if name in ("UTC", "Etc/UTC"):
        return UTC
    raise LookupError(f"time zone {name!r} is unknown to a platform without zone data")


class TimeWindow(msgspec.Struct, frozen=True, kw_only=True):
    """A checked time fence: on `days` (0 = Monday), from start to end minute of the
    day, both inclusive, in `timezone`. An end before the start runs past
    midnight into the next day."""

    name: str | None
    days: frozenset[int]
    start: int
    end: int
    timezone: str

    def holds(self, now: int, zones: Zones) -> bool:
        """Raises LookupError when the zone cannot be loaded."""
        local = datetime.fromtimestamp(now, zones(self.timezone))
        minute = local.hour * 60 + local.minute
        day = local.weekday()
        if self.start <= self.end:
            return day in self.days and self.start <= minute <= self.end
        # Across midnight: late on a listed day, or early on the day after one.
        return (day in self.days and minute >= self.start) or (
            (day - 1) % 7 in self.days and minute <= self.end
        )


class Condition(msgspec.Struct, frozen=True, kw_only=True):
    """The conditional part of a COND_GEO policy (policies.md 2)."""

    fences: tuple[Fence, ...]
    inside: Policy
    outside: Policy


class Policy(msgspec.Struct, frozen=True, kw_only=True):
    """An effective policy.

    `fence_groups` holds one tuple of fences per merged source; the device must be
    inside at least one fence of every group.
    """

    amount: int = 0
    types: tuple[str, ...] = ()
    fence_groups: tuple[tuple[Fence, ...], ...] = ()
    deny_jailbroken: bool = False
    deny_emulator: bool = False
    # As sent (checked by time_window), so a stored policy reads back unchanged.
    time_fences: tuple[Mapping[str, Any], ...] = ()
    # COND_GEO: which of two nested policies applies depends on the device place.
    condition: Condition | None = None

    @property
    def fences(self) -> tuple[Fence, ...]:
        return tuple(f for group in self.fence_groups for f in group)

    @property
    def requirement(self) -> str | None:
        if self.condition is not None:
            return COND_GEO_REQUIREMENT
        if self.types:
            return "types"
        if self.amount:
            return "amount"
        return None

    def to_auth_policy(self) -> dict[str, Any]:
        """The `auth_policy` object of an auth_jwe (policies.md section 4).

        A COND_GEO policy reports `cond_geo` with the amount and types of the
        branch that applied (of its base part while unresolved), and lists the
        condition's fences before the other fences.
        """
        out: dict[str, Any] = {"requirement": self.requirement}
        if self.amount:
            out["amount"] = self.amount
        if self.types:
            out["types"] = list(self.types)
        fences = self.condition.fences if self.condition is not None else ()
        out["geofences"] = [f.to_json() for f in fences + self.fences]
        return out

    def to_legacy_json(self) -> dict[str, Any]:
        """The legacy JSON shape, as stored service policies are read back."""
        minimum: list[dict[str, Any]] = []
        if self.amount or self.types:
            minimum.append(
                {
                    "requirement": "authenticated",
                    "any": self.amount,
                    **{t: int(t in self.types) for t in FACTOR_TYPES},
                }
            )
        factors: list[dict[str, Any]] = [
            {
                "factor": "geofence",
                "requirement": "forced requirement",
                "quickfail": False,
                "priority": 1,
                "attributes": {"locations": [f.to_json() for f in group]},
            }
            for group in self.fence_groups
        ]
        factors.append(
            {
                "factor": "device integrity",
                "requirement": "forced requirement",
                "quickfail": False,
                "priority": 1,
                "attributes": {"factor enabled": int(self.deny_jailbroken)},
            }
        )
        if self.time_fences:
            factors.append(
                {
                    "factor": "timefence",
                    "requirement": "forced requirement",
                    "quickfail": False,
                    "priority": 1,
                    "attributes": {"time fences": [dict(t) for t in self.time_fences]},
                }
            )
        return {"type": "LEGACY", "minimum_requirements": minimum, "factors": factors}


NO_POLICY = Policy()
# Wire spelling of a conditional-geofence requirement: lower case like `amount`
# and `types`; both SDKs upper-case it to COND_GEO (docs/emulator.md).
COND_GEO_REQUIREMENT = "cond_geo"


def distance_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _invalid(detail: str) -> PlatformError:
    return PlatformError.coded(400, "SVC-002", detail)


def _number(value: object, what: str) -> float:
    # bool is an int subclass; a flag in a coordinate slot is a malformed policy.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _invalid(f"{what} must be a number")
    if not math.isfinite(value):
        raise _invalid(f"{what} must be finite")
    return float(value)


def _flag(value: object, what: str) -> bool:
    if value in (0, 1) and isinstance(value, int | bool):
        return bool(value)
    raise _invalid(f"{what} must be 0, 1, true or false")


def _parse_minimum(items: object) -> tuple[int, tuple[str, ...]]:
    if not isinstance(items, list):
        raise _invalid("minimum_requirements must be a list")
    if not items:
        return 0, ()
    if len(items) > 1:
        raise _invalid("minimum_requirements holds at most one item")
    item = items[0]
    if not isinstance(item, dict):
        raise _invalid("minimum_requirements items must be objects")
    if item.get("requirement", "authenticated") not in ("authenticated", "enabled"):
        raise _invalid("minimum_requirements.requirement is unknown")
    count = item.get("any", item.get("all", 0))
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise _invalid("minimum_requirements.any must be a whole number >= 0")
    if count > len(FACTOR_OF):
        raise _invalid(f"minimum_requirements.any may not exceed {len(FACTOR_OF)}")
    types = tuple(t for t in FACTOR_TYPES if _flag(item.get(t, 0), t))
    return count, types


def _parse_fence(raw: object) -> Fence:
    if not isinstance(raw, dict):
        raise _invalid("geofence locations must be objects")
    lat = _number(raw.get("latitude"), "latitude")
    lon = _number(raw.get("longitude"), "longitude")
    radius = _number(raw.get("radius"), "radius")
    if not -90 <= lat <= 90 or not -180 <= lon <= 180:
        raise _invalid("geofence coordinates out of range")
    if radius <= 0:
        raise _invalid("geofence radius must be positive")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise _invalid("geofence name must be a string")
    return Fence(name=name, latitude=lat, longitude=lon, radius=radius)


def _clock_part(raw: Mapping[str, Any], key: str, top: int) -> int:
    value = raw.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= top:
        raise _invalid(f"time fence {key!r} must be a whole number 0..{top}")
    return value


def time_window(raw: Mapping[str, Any]) -> TimeWindow:
    """Check one time fence (policies.md 1 `timefence`, LEGACY `time_restrictions`);
    keys hold spaces, days are weekday names in any case."""
    days = raw.get("days")
    if not isinstance(days, list) or not days:
        raise _invalid("time fence days must be a non-empty list of weekday names")
    numbers = set()
    for day in days:
        if not isinstance(day, str) or day.lower() not in DAYS:
            raise _invalid("time fence days must be weekday names, e.g. Monday")
        numbers.add(DAYS.index(day.lower()))
    zone = raw.get("timezone", "UTC")
    if not isinstance(zone, str) or not zone:
        raise _invalid("time fence timezone must be an IANA name, e.g. Europe/Paris")
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise _invalid("time fence name must be a string")
    start_h = _clock_part(raw, "start hour", 23)
    start_m = _clock_part(raw, "start minute", 59)
    end_h = _clock_part(raw, "end hour", 23)
    end_m = _clock_part(raw, "end minute", 59)
    return TimeWindow(
        name=name,
        days=frozenset(numbers),
        start=start_h * 60 + start_m,
        end=end_h * 60 + end_m,
        timezone=zone,
    )


def _time_fences(raw: object, what: str) -> tuple[Mapping[str, Any], ...]:
    if not isinstance(raw, list) or not all(isinstance(t, dict) for t in raw):
        raise _invalid(f"{what} must be a list of objects")
    for item in raw:
        time_window(item)
    return tuple(raw)


def parse_legacy(raw: object) -> Policy:
    """Parse a legacy policy object; raises PlatformError SVC-002 when malformed."""
    if not isinstance(raw, dict):
        raise _invalid("policy must be an object")
    amount, types = _parse_minimum(raw.get("minimum_requirements", []))
    factors = raw.get("factors", [])
    if not isinstance(factors, list):
        raise _invalid("factors must be a list")
    groups: list[tuple[Fence, ...]] = []
    deny_jailbroken = False
    time_fences: list[Mapping[str, Any]] = []
    for factor in factors:
        if not isinstance(factor, dict):
            raise _invalid("factors items must be objects")
        attributes = factor.get("attributes", {})
        if not isinstance(attributes, dict):
            raise _invalid("factor attributes must be an object")
        kind = factor.get("factor")
        if kind == "geofence":
            locations = attributes.get("locations", [])
            if not isinstance(locations, list):
                raise _invalid("geofence locations must be a list")
            fences = tuple(_parse_fence(loc) for loc in locations)
            if fences:
                groups.append(fences)
        elif kind == "device integrity":
            deny_jailbroken = _flag(
                attributes.get("factor enabled", 0), "factor enabled"
            )
        elif kind == "timefence":
            time_fences.extend(
                _time_fences(attributes.get("time fences", []), "time fences")
            )
        else:
            raise _invalid(f"unknown factor {kind!r}")
    # The typed policies' device flags (policies.md 2) are honoured here too, so a
    # service policy can refuse emulators, which the legacy shape cannot express.
    if "deny_rooted_jailbroken" in raw:
        deny_jailbroken = deny_jailbroken or _flag(
            raw["deny_rooted_jailbroken"], "deny_rooted_jailbroken"
        )
    deny_emulator = _flag(raw.get("deny_emulator_simulator", False), "deny_emulator")
    return Policy(
        amount=amount,
        types=types,
        fence_groups=tuple(groups),
        deny_jailbroken=deny_jailbroken,
        deny_emulator=deny_emulator,
        time_fences=tuple(time_fences),
    )


def _territory(raw: dict[str, Any]) -> Fence:
    country = raw.get("country")
    area = raw.get("administrative_area")
    code = raw.get("postal_code")
    name = raw.get("name")
    if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
        raise _invalid("territory country must be ISO 3166-1 alpha-2, e.g. US")
    if area is not None and (not isinstance(area, str) or not _AREA.fullmatch(area)):
        raise _invalid("territory administrative_area must look like US-NV")
    if code is not None and (not isinstance(code, str) or not code.strip()):
        raise _invalid("territory postal_code must be a non-empty string")
    if name is not None and not isinstance(name, str):
        raise _invalid("fence name must be a string")
    return Fence(
        kind="TERRITORY",
        name=name,
        country=country,
        administrative_area=area,
        postal_code=code,
    )


def _typed_fence_list(raw: object) -> tuple[Fence, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _invalid("fences must be a list")
    fences = []
    for item in raw:
        if not isinstance(item, dict):
            raise _invalid("fences items must be objects")
        kind = item.get("type", "GEO_CIRCLE")
        if kind == "GEO_CIRCLE":
            fences.append(_parse_fence(item))
        elif kind == "TERRITORY":
            fences.append(_territory(item))
        else:
            raise _invalid(f"unknown fence type {str(kind)[:40]!r}")
    return tuple(fences)


def _typed_fences(raw: object) -> tuple[tuple[Fence, ...], ...]:
    fences = _typed_fence_list(raw)
    return (fences,) if fences else ()


def _nested(raw: object, which: str) -> Policy:
    """A COND_GEO branch: METHOD_AMOUNT or FACTORS, no fences, no device flags."""
    if not isinstance(raw, dict):
        raise _invalid(f"{which} must be a policy object")
    if raw.get("type") not in ("METHOD_AMOUNT", "FACTORS"):
        raise _invalid(f"{which} must be a METHOD_AMOUNT or FACTORS policy")
    if raw.get("fences"):
        raise _invalid(f"{which} may not have fences")
    for flag in ("deny_rooted_jailbroken", "deny_emulator_simulator"):
        # The SDK omits both keys when nested; false is harmless, true is refused
        # because the outer policy is where device integrity belongs.
        if raw.get(flag):
            raise _invalid(f"{which} may not set {flag}")
    return parse_service_policy(raw)


def parse_service_policy(raw: object) -> Policy:
    """A stored service policy: the legacy shape, or a typed LEGACY, METHOD_AMOUNT,
    FACTORS or COND_GEO policy (policies.md 2). Malformed ones are SVC-002."""
    if not isinstance(raw, dict):
        raise _invalid("policy must be an object")
    kind = raw.get("type", "LEGACY")
    if kind == "LEGACY" and ("minimum_requirements" in raw or "factors" in raw):
        return parse_legacy(raw)
    base = Policy(
        deny_jailbroken=_flag(
            raw.get("deny_rooted_jailbroken", False), "deny_rooted_jailbroken"
        ),
        deny_emulator=_flag(
            raw.get("deny_emulator_simulator", False), "deny_emulator_simulator"
        ),
    )
    replace = msgspec.structs.replace
    if kind == "COND_GEO":
        fences = _typed_fence_list(raw.get("fences"))
        if not fences:
            raise _invalid("COND_GEO fences must be a non-empty list")
        condition = Condition(
            fences=fences,
            inside=_nested(raw.get("inside"), "inside"),
            outside=_nested(raw.get("outside"), "outside"),
        )
        return replace(base, condition=condition)
    base = replace(base, fence_groups=_typed_fences(raw.get("fences")))
    if kind == "LEGACY":
        if any(f.kind != "GEO_CIRCLE" for g in base.fence_groups for f in g):
            raise _invalid("LEGACY policies take GEO_CIRCLE fences only")
        amount, _ = _parse_minimum([{"any": raw.get("amount", 0)}])
        types = tuple(
            t for t in FACTOR_TYPES if _flag(raw.get(f"{t}_required", False), t)
        )
        restrictions = _time_fences(
            raw.get("time_restrictions") or [], "time_restrictions"
        )
        return replace(base, amount=amount, types=types, time_fences=restrictions)
    if kind == "METHOD_AMOUNT":
        amount, _ = _parse_minimum([{"any": raw.get("amount", 0)}])
        return replace(base, amount=amount)
    if kind == "FACTORS":
        factors = raw.get("factors")
        if not isinstance(factors, list) or not factors:
            raise _invalid("factors must be a non-empty list")
        wanted = {str(f).lower() for f in factors}
        if not wanted <= set(FACTOR_TYPES):
            raise _invalid("factors must be INHERENCE, KNOWLEDGE or POSSESSION")
        types = tuple(t for t in FACTOR_TYPES if t in wanted)
        return replace(base, types=types)
    raise _invalid(f"unknown policy type {str(kind)[:40]!r}")


def merge(a: Policy, b: Policy) -> Policy:
    """Keep the stricter part of each policy (policies.md 1: "can only tighten").

    Type requirements are united and the larger amount is kept; a merged policy may
    then carry both, and the device must meet both. Only a service policy can be
    COND_GEO, so at most one side carries a condition; it is kept.
    """
    return Policy(
        amount=max(a.amount, b.amount),
        types=tuple(t for t in FACTOR_TYPES if t in a.types or t in b.types),
        fence_groups=a.fence_groups + b.fence_groups,
        deny_jailbroken=a.deny_jailbroken or b.deny_jailbroken,
        deny_emulator=a.deny_emulator or b.deny_emulator,
        time_fences=a.time_fences + b.time_fences,
        condition=a.condition or b.condition,
    )


def resolve(
    policy: Policy, location: tuple[float, float] | None, place: Place | None
) -> Policy:
    """The policy that applies to a device here: a COND_GEO branch picked by
    whether the device is within any condition fence, merged into the rest.

    The result keeps the condition (so the answer reports `cond_geo`) but its
    amount and types are those of the branch that applied.
    """
    cond = policy.condition
    if cond is None:
        return policy
    inside = any(f.holds(location, place) for f in cond.fences)
    unconditional = msgspec.structs.replace(policy, condition=None)
    branch = merge(unconditional, cond.inside if inside else cond.outside)
    return msgspec.structs.replace(branch, condition=cond)


def can_satisfy(policy: Policy, methods_set: Iterable[str]) -> bool:
    """Whether a device with these methods configured could ever meet the policy
    (a COND_GEO policy: in either branch, since the device may move)."""
    methods = set(methods_set)
    cond = policy.condition
    if cond is None:
        return _factor_shortfall(policy, methods) is None
    return any(
        _factor_shortfall(merge(policy, branch), methods) is None
        for branch in (cond.inside, cond.outside)
    )


def _factor_shortfall(policy: Policy, used: set[str]) -> str | None:
    factors = {FACTOR_OF[m] for m in used if m in FACTOR_OF}
    counted = {m for m in used if m in FACTOR_OF}
    missing = [t for t in policy.types if t not in factors]
    if missing:
        return "missing factor types " + ", ".join(missing)
    if len(counted) < policy.amount:
        return f"{len(counted)} of {policy.amount} required methods"
    return None


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    """Outcome of checking an approving device against a policy."""

    passed: bool
    why: str = ""
    inside_fence: bool | None = None


def evaluate(
    policy: Policy,
    *,
    used: Sequence[str],
    location: tuple[float, float] | None,
    jailbroken: bool,
    emulator: bool,
    place: Place | None = None,
    now: int | None = None,
    zones: Zones = utc_only,
) -> Verdict:
    """Check an approval: device flags, geofences, time fences, then factor counts
    and types.

    A COND_GEO policy is resolved against the device's location and place first.
    Time fences are checked at platform time `now`; without it, or when a zone
    cannot be loaded, they fail closed.
    """
    policy = resolve(policy, location, place)
    inside: bool | None = None
    if policy.fence_groups:
        inside = all(
            any(f.holds(location, place) for f in group)
            for group in policy.fence_groups
        )
    if policy.deny_jailbroken and jailbroken:
        return Verdict(passed=False, why="device is jailbroken", inside_fence=inside)
    if policy.deny_emulator and emulator:
        return Verdict(passed=False, why="device is an emulator", inside_fence=inside)
    if inside is False:
        return Verdict(passed=False, why="device outside geofence", inside_fence=False)
    if policy.time_fences:
        why = outside_time_fences(policy, now, zones)
        if why is not None:
            return Verdict(passed=False, why=why, inside_fence=inside)
    short = _factor_shortfall(policy, set(used))
    if short is not None:
        return Verdict(passed=False, why=short, inside_fence=inside)
    return Verdict(passed=True, inside_fence=inside)


def outside_time_fences(policy: Policy, now: int | None, zones: Zones) -> str | None:
    """Why `now` is outside every time fence of the policy, or None when inside one."""
    if now is None:
        return "no platform time to check time fences against"
    try:
        if any(time_window(t).holds(now, zones) for t in policy.time_fences):
            return None
    except LookupError as exc:
        return str(exc)
    return "outside every time fence"


def check_zones(policy: Policy, zones: Zones) -> None:
    """SVC-002 when a time fence names a zone this platform cannot load."""
    for raw in policy.time_fences:
        try:
            zones(time_window(raw).timezone)
        except LookupError as exc:
            raise _invalid(str(exc)) from None


def auth_methods(
    policy: Policy,
    *,
    methods_set: Sequence[str],
    used: Sequence[str],
    verdict: Verdict | None,
) -> list[dict[str, bool | str | None]]:
    """The auth_methods list (policies.md section 5): all 7 methods, all 8 keys.

    `verdict` is None when the user did not get as far as using methods (deny, fail).
    """
    out: list[dict[str, bool | str | None]] = []
    for method in METHODS:
        if method == "GEOFENCING":
            enforced = bool(policy.fence_groups)
            out.append(
                {
                    "method": method,
                    "set": enforced,
                    "active": enforced,
                    "allowed": True,
                    "supported": True,
                    "user_required": enforced or None,
                    "passed": verdict.inside_fence if verdict and enforced else None,
                    "error": False if enforced else None,
                }
            )
            continue
        is_set = method in methods_set
        required = FACTOR_OF[method] in policy.types
        passed: bool | None = None
        if verdict is not None and method in used:
            passed = True
        out.append(
            {
                "method": method,
                "set": is_set,
                "active": is_set,
                "allowed": True,
                "supported": True,
                "user_required": required if is_set else None,
                "passed": passed,
                "error": False if passed is not None else None,
            }
        )
    return out
