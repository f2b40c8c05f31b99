"""Legacy auth policies on the platform side: parsing, merging and evaluation.

The request `policy` field and a Service's stored policy both use the legacy JSON shape
(policies.md section 1). The platform merges them, keeps the stricter value of each
part, and checks the merged policy against the answering device.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

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


class Fence(msgspec.Struct, frozen=True, kw_only=True):
    """A circular geofence in metres and degrees."""

    name: str | None = None
    latitude: float
    longitude: float
    radius: float

    def contains(self, latitude: float, longitude: float) -> bool:
        return distance_m(self.latitude, self.longitude, latitude, longitude) <= (
            self.radius
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "latitude": self.latitude,
            "longitude": self.longitude,
            "radius": self.radius,
        }


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
    # Time fences are parsed and stored but not enforced (see docs/emulator.md).
    time_fences: tuple[Mapping[str, Any], ...] = ()

    @property
    def fences(self) -> tuple[Fence, ...]:
        return tuple(f for group in self.fence_groups for f in group)

    @property
    def requirement(self) -> str | None:
        if self.types:
            return "types"
        if self.amount:
            return "amount"
        return None

    def to_auth_policy(self) -> dict[str, Any]:
        """The `auth_policy` object of an auth_jwe (policies.md section 4)."""
        out: dict[str, Any] = {"requirement": self.requirement}
        if self.amount:
            out["amount"] = self.amount
        if self.requirement == "types":
            out["types"] = list(self.types)
        out["geofences"] = [f.to_json() for f in self.fences]
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
            fences_raw = attributes.get("time fences", [])
            if not isinstance(fences_raw, list) or not all(
                isinstance(t, dict) for t in fences_raw
            ):
                raise _invalid("time fences must be a list of objects")
            time_fences.extend(fences_raw)
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


def _typed_fences(raw: object) -> tuple[tuple[Fence, ...], ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _invalid("fences must be a list")
    fences = []
    for item in raw:
        kind = item.get("type", "GEO_CIRCLE") if isinstance(item, dict) else None
        if kind != "GEO_CIRCLE":
            # TERRITORY needs reverse geocoding of the device location.
            raise _invalid(f"fence type {kind!r} is not supported by the emulator")
        fences.append(_parse_fence(item))
    return (tuple(fences),) if fences else ()


def parse_service_policy(raw: object) -> Policy:
    """A stored service policy: the legacy shape, or a typed LEGACY, METHOD_AMOUNT or
    FACTORS policy (policies.md 2). COND_GEO is refused with SVC-002."""
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
        fence_groups=_typed_fences(raw.get("fences")),
    )
    replace = msgspec.structs.replace
    if kind == "LEGACY":
        amount, _ = _parse_minimum([{"any": raw.get("amount", 0)}])
        types = tuple(
            t for t in FACTOR_TYPES if _flag(raw.get(f"{t}_required", False), t)
        )
        restrictions = raw.get("time_restrictions") or []
        if not isinstance(restrictions, list):
            raise _invalid("time_restrictions must be a list")
        return replace(
            base, amount=amount, types=types, time_fences=tuple(restrictions)
        )
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
    raise _invalid(f"policy type {kind!r} is not supported by the emulator")


def merge(a: Policy, b: Policy) -> Policy:
    """Keep the stricter part of each policy (policies.md 1: "can only tighten").

    Type requirements are united and the larger amount is kept; a merged policy may
    then carry both, and the device must meet both.
    """
    return Policy(
        amount=max(a.amount, b.amount),
        types=tuple(t for t in FACTOR_TYPES if t in a.types or t in b.types),
        fence_groups=a.fence_groups + b.fence_groups,
        deny_jailbroken=a.deny_jailbroken or b.deny_jailbroken,
        deny_emulator=a.deny_emulator or b.deny_emulator,
        time_fences=a.time_fences + b.time_fences,
    )


def can_satisfy(policy: Policy, methods_set: Iterable[str]) -> bool:
    """Whether a device with these methods configured could ever meet the policy."""
    return _factor_shortfall(policy, set(methods_set)) is None


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
) -> Verdict:
    """Check an approval: device flags, then geofences, then factor counts and types."""
    inside: bool | None = None
    if policy.fence_groups:
        inside = location is not None and all(
            any(f.contains(*location) for f in group) for group in policy.fence_groups
        )
    if policy.deny_jailbroken and jailbroken:
        return Verdict(passed=False, why="device is jailbroken", inside_fence=inside)
    if policy.deny_emulator and emulator:
        return Verdict(passed=False, why="device is an emulator", inside_fence=inside)
    if inside is False:
        return Verdict(passed=False, why="device outside geofence", inside_fence=False)
    short = _factor_shortfall(policy, set(used))
    if short is not None:
        return Verdict(passed=False, why=short, inside_fence=inside)
    return Verdict(passed=True, inside_fence=inside)


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
