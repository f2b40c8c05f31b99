"""Authorization policies: the seed's AuthPolicy builder and the typed service policies.

Every policy is an immutable value. :class:`AuthPolicy` keeps the seed's call style
(``policy.add_geofence(...)`` changes the policy in place) by holding one immutable
:class:`AuthPolicyValue` and swapping it for a new one on each change; the value is what
gets encoded, compared and sent, so a request built from a policy cannot change
afterwards.

Wire shapes follow policies.md: section 1 for the legacy JSON sent with an authorization
request, section 2 for typed service policies. Readers accept both legacy shapes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from lk_core._errors import (
    DuplicateGeoFenceName,
    InvalidFenceType,
    InvalidGeoFenceName,
    InvalidPolicyAttributes,
    InvalidPolicyFormat,
    UnknownPolicyException,
)

__all__ = [
    "AuthPolicy",
    "AuthPolicyValue",
    "ConditionalGeoFencePolicy",
    "FactorsPolicy",
    "Fence",
    "GeoCircleFence",
    "LegacyPolicy",
    "MethodAmountPolicy",
    "NestedPolicy",
    "ServicePolicy",
    "TerritoryFence",
    "TimeFence",
    "auth_policy_value_from_json",
    "decode_policy",
    "encode_policy",
    "fence_from_json",
    "fence_to_json",
    "policy_from_json",
    "policy_to_json",
]

_COUNTRY = re.compile(r"[A-Z]{2}")
_AREA = re.compile(r"[A-Z]{2}-[A-Z]{2}[A-Z]?")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _number(value: object, what: str) -> float:
    # bool is an int subclass; a True latitude is a caller bug, not 1.0 degrees.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidPolicyAttributes(f"{what} must be a number")
    result = float(value)
    if not math.isfinite(result):
        raise InvalidPolicyAttributes(f"{what} must be finite")
    return result


def _count(value: object, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidPolicyAttributes(f"{what} must be a non-negative integer")
    return value


def _flag(value: object, what: str) -> bool:
    # The seed accepts True/False and 0/1 for factor flags (policies.md 1).
    if value is True or value is False:
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise InvalidPolicyAttributes(f"{what} must be a boolean")


class GeoCircleFence(msgspec.Struct, frozen=True, kw_only=True):
    """A circle on the map: centre in degrees, radius in metres, optional name."""

    latitude: float
    longitude: float
    radius: float
    name: str | None = None

    def __post_init__(self) -> None:
        lat = _number(self.latitude, "latitude")
        lon = _number(self.longitude, "longitude")
        rad = _number(self.radius, "radius")
        if not -90.0 <= lat <= 90.0 or not -180.0 <= lon <= 180.0 or rad < 0:
            raise InvalidPolicyAttributes("geofence centre or radius out of range")
        if self.name is not None and not isinstance(self.name, str):
            raise InvalidPolicyAttributes("fence name must be a string")
        # Store floats even when ints were given, so equal fences compare equal.
        msgspec.structs.force_setattr(self, "latitude", lat)
        msgspec.structs.force_setattr(self, "longitude", lon)
        msgspec.structs.force_setattr(self, "radius", rad)


class TerritoryFence(msgspec.Struct, frozen=True, kw_only=True):
    """A country, optionally narrowed to an administrative area or a postal code."""

    country: str
    administrative_area: str | None = None
    postal_code: str | None = None
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.country, str) or not _COUNTRY.fullmatch(self.country):
            raise InvalidPolicyAttributes("country must be ISO 3166-1 alpha-2, e.g. US")
        area = self.administrative_area
        if area is not None and (
            not isinstance(area, str) or not _AREA.fullmatch(area)
        ):
            raise InvalidPolicyAttributes("administrative_area must look like US-NV")
        for what, text in (("postal_code", self.postal_code), ("name", self.name)):
            if text is not None and not isinstance(text, str):
                raise InvalidPolicyAttributes(f"{what} must be a string")


Fence = GeoCircleFence | TerritoryFence


class TimeFence(msgspec.Struct, frozen=True, kw_only=True):
    """A weekly time window of a legacy service policy (policies.md 1, timefence)."""

    name: str
    days: tuple[str, ...]
    start_hour: int
    start_minute: int
    end_hour: int
    end_minute: int
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidPolicyAttributes("time fence name must be a non-empty string")
        if not self.days or any(day not in _DAYS for day in self.days):
            raise InvalidPolicyAttributes("days must be weekday names, e.g. Monday")
        for what, value, top in (
            ("start hour", self.start_hour, 23),
            ("start minute", self.start_minute, 59),
            ("end hour", self.end_hour, 23),
            ("end minute", self.end_minute, 59),
        ):
            if _count(value, what) > top:
                raise InvalidPolicyAttributes(f"{what} must be at most {top}")
        if not isinstance(self.timezone, str) or not self.timezone:
            raise InvalidPolicyAttributes("timezone must be a non-empty string")


def _fences(
    fences: Iterable[Fence], *, circles_only: bool = False
) -> tuple[Fence, ...]:
    result = tuple(fences)
    allowed = (GeoCircleFence,) if circles_only else (GeoCircleFence, TerritoryFence)
    if not all(isinstance(f, allowed) for f in result):
        raise InvalidFenceType("fences must be GeoCircleFence or TerritoryFence values")
    return result


class MethodAmountPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Require ``amount`` distinct authentication methods (type METHOD_AMOUNT)."""

    amount: int = 0
    fences: tuple[Fence, ...] = ()
    deny_rooted_jailbroken: bool = False
    deny_emulator_simulator: bool = False

    def __post_init__(self) -> None:
        _count(self.amount, "amount")
        msgspec.structs.force_setattr(self, "fences", _fences(self.fences))


class FactorsPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Require the named factor kinds (type FACTORS); at least one must be required."""

    knowledge_required: bool = False
    inherence_required: bool = False
    possession_required: bool = False
    fences: tuple[Fence, ...] = ()
    deny_rooted_jailbroken: bool = False
    deny_emulator_simulator: bool = False

    def __post_init__(self) -> None:
        flags = (
            self.knowledge_required,
            self.inherence_required,
            self.possession_required,
        )
        if not any(_flag(f, "factor") for f in flags):
            raise InvalidPolicyAttributes("a factors policy needs at least one factor")
        msgspec.structs.force_setattr(self, "fences", _fences(self.fences))


NestedPolicy = MethodAmountPolicy | FactorsPolicy


class ConditionalGeoFencePolicy(msgspec.Struct, frozen=True, kw_only=True):
    """Apply ``inside`` when the device is within any fence, ``outside`` otherwise."""

    inside: NestedPolicy
    outside: NestedPolicy
    fences: tuple[Fence, ...]
    deny_rooted_jailbroken: bool = False
    deny_emulator_simulator: bool = False

    def __post_init__(self) -> None:
        fences = _fences(self.fences)
        if not fences:
            raise InvalidPolicyAttributes(
                "a conditional geofence needs at least one fence"
            )
        msgspec.structs.force_setattr(self, "fences", fences)
        for nested in (self.inside, self.outside):
            if not isinstance(nested, MethodAmountPolicy | FactorsPolicy):
                raise UnknownPolicyException("inside/outside must be amount or factors")
            # policies.md 2 COND_GEO: nested policies carry no fences, no device flags.
            if nested.fences or nested.deny_rooted_jailbroken:
                raise InvalidPolicyAttributes(
                    "nested policies may not set fences or flags"
                )
            if nested.deny_emulator_simulator:
                raise InvalidPolicyAttributes(
                    "nested policies may not set fences or flags"
                )


class LegacyPolicy(msgspec.Struct, frozen=True, kw_only=True):
    """A legacy service policy: factor counts or kinds, circles and time windows."""

    amount: int = 0
    inherence_required: bool = False
    knowledge_required: bool = False
    possession_required: bool = False
    deny_rooted_jailbroken: bool = False
    fences: tuple[GeoCircleFence, ...] = ()
    time_restrictions: tuple[TimeFence, ...] = ()

    def __post_init__(self) -> None:
        _count(self.amount, "amount")
        circles = _fences(self.fences, circles_only=True)
        msgspec.structs.force_setattr(self, "fences", circles)
        times = tuple(self.time_restrictions)
        if not all(isinstance(t, TimeFence) for t in times):
            raise InvalidPolicyAttributes("time_restrictions must be TimeFence values")
        msgspec.structs.force_setattr(self, "time_restrictions", times)


ServicePolicy = (
    ConditionalGeoFencePolicy | MethodAmountPolicy | FactorsPolicy | LegacyPolicy
)


class AuthPolicyValue(msgspec.Struct, frozen=True, kw_only=True):
    """The immutable policy an :class:`AuthPolicy` builder currently describes.

    ``any`` counts factors of any kind and may not be combined with the three kind
    flags; all zero means "use the service's own policy".
    """

    any: int = 0
    knowledge: bool = False
    inherence: bool = False
    possession: bool = False
    jailbreak_protection: bool = False
    geofences: tuple[GeoCircleFence, ...] = ()

    def __post_init__(self) -> None:
        _count(self.any, "any")
        kinds = [
            _flag(getattr(self, k), k) for k in ("knowledge", "inherence", "possession")
        ]
        if self.any and any(kinds):
            raise InvalidPolicyAttributes("'any' cannot be combined with factor kinds")
        for name, value in zip(
            ("knowledge", "inherence", "possession"), kinds, strict=True
        ):
            msgspec.structs.force_setattr(self, name, value)
        msgspec.structs.force_setattr(
            self, "jailbreak_protection", bool(self.jailbreak_protection)
        )
        circles = _fences(self.geofences, circles_only=True)
        msgspec.structs.force_setattr(self, "geofences", circles)

    def to_json(self) -> dict[str, Any]:
        """The legacy JSON object (policies.md 1) sent as a request's ``policy``."""
        minimum: list[dict[str, Any]] = []
        if self.any or self.knowledge or self.inherence or self.possession:
            minimum.append(
                {
                    "requirement": "authenticated",
                    "any": self.any,
                    "knowledge": int(self.knowledge),
                    "inherence": int(self.inherence),
                    "possession": int(self.possession),
                }
            )
        factors: list[dict[str, Any]] = []
        if self.geofences:
            locations = [_circle_location(f) for f in self.geofences]
            factors.append(_factor("geofence", {"locations": locations}))
        # Always sent, 0 when off, as the seed's SDK does (policies.md 1).
        integrity = {"factor enabled": int(self.jailbreak_protection)}
        factors.append(_factor("device integrity", integrity))
        return {"minimum_requirements": minimum, "factors": factors}


def _circle_location(fence: GeoCircleFence) -> dict[str, Any]:
    loc: dict[str, Any] = {
        "radius": fence.radius,
        "latitude": fence.latitude,
        "longitude": fence.longitude,
    }
    if fence.name is not None:
        loc["name"] = fence.name
    return loc


def _factor(kind: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {
        "factor": kind,
        "requirement": "forced requirement",
        "quickfail": False,
        "priority": 1,
        "attributes": attributes,
    }


class AuthPolicy:
    """The seed's mutable-looking policy builder for one authorization request.

    ``AuthPolicy(any=2)``, ``AuthPolicy(knowledge=True, inherence=True)`` and
    ``policy.add_geofence(latitude=..., longitude=..., radius=..., name=...)`` work as
    in the seed. Each change replaces :attr:`value`, an immutable
    :class:`AuthPolicyValue`; the client encodes that value, so later changes never
    affect a request already sent.
    Raises :class:`InvalidPolicyAttributes` for non-numeric fence values, non-boolean
    flags, or ``any`` combined with factor kinds.
    """

    __slots__ = ("_value",)

    def __init__(
        self,
        any: int = 0,
        knowledge: bool = False,
        inherence: bool = False,
        possession: bool = False,
        jailbreak_protection: bool = False,
    ) -> None:
        self._value = AuthPolicyValue(
            any=any,
            knowledge=knowledge,
            inherence=inherence,
            possession=possession,
            jailbreak_protection=jailbreak_protection,
        )

    @classmethod
    def from_value(cls, value: AuthPolicyValue) -> AuthPolicy:
        """A builder starting from an existing immutable value."""
        policy = cls.__new__(cls)
        policy._value = value
        return policy

    @classmethod
    def from_dict(cls, data: object) -> AuthPolicy:
        """Read the legacy JSON object (policies.md 1); InvalidPolicyFormat if bad."""
        return cls.from_value(auth_policy_value_from_json(data))

    @property
    def value(self) -> AuthPolicyValue:
        """The immutable policy as it stands now."""
        return self._value

    @property
    def minimum_amount(self) -> int:
        """How many factors of any kind are required (0 = none by count)."""
        return self._value.any

    @property
    def minimum_requirements(self) -> list[str]:
        """Names of the required factor kinds, e.g. ``["knowledge", "inherence"]``."""
        v = self._value
        kinds = (("knowledge", v.knowledge), ("inherence", v.inherence))
        return [name for name, on in (*kinds, ("possession", v.possession)) if on]

    @property
    def geofences(self) -> list[GeoCircleFence]:
        """The geofences, in the order they were added."""
        return list(self._value.geofences)

    @property
    def jailbreak_protection(self) -> bool:
        """Whether rooted or jailbroken devices are refused."""
        return self._value.jailbreak_protection

    def add_geofence(
        self,
        latitude: float,
        longitude: float,
        radius: float,
        name: str | None = None,
    ) -> None:
        """Require the device to be inside this circle (radius in metres).

        Raises InvalidPolicyAttributes for non-numeric values, DuplicateGeoFenceName
        when a fence of that name (any case) exists.
        """
        fence = GeoCircleFence(
            latitude=latitude, longitude=longitude, radius=radius, name=name
        )
        if name is not None and self._find(name) is not None:
            raise DuplicateGeoFenceName(f"a geofence named {name!r} exists")
        fences = (*self._value.geofences, fence)
        self._value = msgspec.structs.replace(self._value, geofences=fences)

    def remove_geofence(self, name: str) -> None:
        """Remove the geofence of that name (any case); InvalidGeoFenceName if none."""
        index = self._find(name)
        if index is None:
            raise InvalidGeoFenceName(f"no geofence named {name!r}")
        fences = list(self._value.geofences)
        del fences[index]
        self._value = msgspec.structs.replace(self._value, geofences=tuple(fences))

    def _find(self, name: str) -> int | None:
        wanted = name.lower()
        for i, fence in enumerate(self._value.geofences):
            if fence.name is not None and fence.name.lower() == wanted:
                return i
        return None

    def require_jailbreak_protection(self, status: bool) -> None:
        """Turn refusal of rooted or jailbroken devices on or off."""
        self._value = msgspec.structs.replace(
            self._value, jailbreak_protection=bool(status)
        )

    def set_minimum_requirements(
        self,
        knowledge: bool = False,
        inherence: bool = False,
        possession: bool = False,
        minimum_amount: int = 0,
    ) -> None:
        """Replace the factor requirements (kinds, or a count of any kind)."""
        self._value = msgspec.structs.replace(
            self._value,
            any=minimum_amount,
            knowledge=knowledge,
            inherence=inherence,
            possession=possession,
        )

    def to_dict(self) -> dict[str, Any]:
        """The legacy JSON object sent with the request."""
        return self._value.to_json()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, AuthPolicy):
            return self._value == other._value
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable builder, like a list

    def __repr__(self) -> str:
        return f"AuthPolicy({self._value!r})"


# --- reading and writing JSON ---------------------------------------------------------


def _obj(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise InvalidPolicyFormat(f"{what} must be a JSON object")
    return value


def _list(value: object, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise InvalidPolicyFormat(f"{what} must be a JSON array")
    return value


def _opt_str(value: object, what: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise InvalidPolicyFormat(f"{what} must be a string or null")
    return value


def _bool(obj: Mapping[str, Any], key: str) -> bool:
    value = obj.get(key, False)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise InvalidPolicyFormat(f"{key} must be a boolean")
    return value


def fence_to_json(fence: Fence) -> dict[str, Any]:
    """One fence in the typed wire shape (policies.md 2, Fences)."""
    if isinstance(fence, GeoCircleFence):
        return {
            "type": "GEO_CIRCLE",
            "name": fence.name,
            "latitude": fence.latitude,
            "longitude": fence.longitude,
            "radius": fence.radius,
        }
    # TERRITORY: all four keys are written, null when unset (policies.md 2).
    return {
        "type": "TERRITORY",
        "name": fence.name,
        "country": fence.country,
        "administrative_area": fence.administrative_area,
        "postal_code": fence.postal_code,
    }


def fence_from_json(data: object) -> Fence:
    """Read a fence; a fence without ``type`` is a legacy circle.

    Raises InvalidFenceType for an unknown type, InvalidPolicyFormat or
    InvalidPolicyAttributes for bad fields.
    """
    obj = _obj(data, "fence")
    kind = obj.get("type")
    name = _opt_str(obj.get("name"), "name")
    if kind is None or kind == "GEO_CIRCLE":
        return GeoCircleFence(
            latitude=obj.get("latitude"),  # type: ignore[arg-type]  # checked on build
            longitude=obj.get("longitude"),  # type: ignore[arg-type]
            radius=obj.get("radius"),  # type: ignore[arg-type]
            name=name,
        )
    if kind == "TERRITORY":
        return TerritoryFence(
            country=obj.get("country"),  # type: ignore[arg-type]  # checked on build
            administrative_area=_opt_str(obj.get("administrative_area"), "area"),
            postal_code=_opt_str(obj.get("postal_code"), "postal_code"),
            name=name,
        )
    raise InvalidFenceType(f"unknown fence type {str(kind)[:40]!r}")


_FACTOR_NAMES = (
    ("INHERENCE", "inherence_required"),
    ("KNOWLEDGE", "knowledge_required"),
    ("POSSESSION", "possession_required"),
)


def _device_flags(policy: ServicePolicy, nested: bool) -> dict[str, Any]:
    # Nested policies omit both device keys (policies.md 2, COND_GEO).
    if nested:
        return {}
    flags: dict[str, Any] = {"deny_rooted_jailbroken": policy.deny_rooted_jailbroken}
    if not isinstance(policy, LegacyPolicy):
        flags["deny_emulator_simulator"] = policy.deny_emulator_simulator
    return flags


def policy_to_json(policy: ServicePolicy, *, _nested: bool = False) -> dict[str, Any]:
    """A typed service policy as its JSON object (policies.md 2)."""
    out: dict[str, Any] = {"fences": [fence_to_json(f) for f in policy.fences]}
    match policy:
        case MethodAmountPolicy():
            out = {"type": "METHOD_AMOUNT", **out, "amount": policy.amount}
        case FactorsPolicy():
            names = [wire for wire, attr in _FACTOR_NAMES if getattr(policy, attr)]
            out = {"type": "FACTORS", **out, "factors": names}
        case ConditionalGeoFencePolicy():
            out = {
                "type": "COND_GEO",
                **out,
                "inside": policy_to_json(policy.inside, _nested=True),
                "outside": policy_to_json(policy.outside, _nested=True),
            }
        case LegacyPolicy():
            out = {
                "type": "LEGACY",
                **out,
                "amount": policy.amount,
                "inherence_required": policy.inherence_required,
                "knowledge_required": policy.knowledge_required,
                "possession_required": policy.possession_required,
                "time_restrictions": [
                    _time_fence_to_json(t) for t in policy.time_restrictions
                ],
            }
    out.update(_device_flags(policy, _nested))
    return out


def _time_fence_to_json(fence: TimeFence) -> dict[str, Any]:
    return {
        "name": fence.name,
        "days": list(fence.days),
        "start hour": fence.start_hour,
        "start minute": fence.start_minute,
        "end hour": fence.end_hour,
        "end minute": fence.end_minute,
        "timezone": fence.timezone,
    }


def _time_fence_from_json(data: object) -> TimeFence:
    obj = _obj(data, "time fence")
    days = _list(obj.get("days"), "days")
    return TimeFence(
        name=obj.get("name"),  # type: ignore[arg-type]  # all checked on build
        days=tuple(days),
        start_hour=obj.get("start hour"),  # type: ignore[arg-type]
        start_minute=obj.get("start minute"),  # type: ignore[arg-type]
        end_hour=obj.get("end hour"),  # type: ignore[arg-type]
        end_minute=obj.get("end minute"),  # type: ignore[arg-type]
        timezone=obj.get("timezone", "UTC"),
    )


def policy_from_json(data: object) -> ServicePolicy:
    """Read a typed service policy from its decoded JSON value.

    A missing ``type`` means LEGACY; LEGACY accepts both the typed shape and the
    section-1 shape (``minimum_requirements`` + ``factors``). Raises
    UnknownPolicyException, InvalidFenceType, InvalidPolicyFormat or
    InvalidPolicyAttributes.
    """
    return _policy_from_json(data, nested=False)


def _policy_from_json(data: object, *, nested: bool) -> ServicePolicy:
    obj = _obj(data, "policy")
    kind = obj.get("type", "LEGACY")
    if kind is None:
        kind = "LEGACY"
    if nested and kind not in ("METHOD_AMOUNT", "FACTORS"):
        raise UnknownPolicyException("inside/outside must be METHOD_AMOUNT or FACTORS")
    if kind == "LEGACY":
        return _legacy_from_json(obj)
    fences = tuple(fence_from_json(f) for f in _list(obj.get("fences"), "fences"))
    flags = {
        "deny_rooted_jailbroken": _bool(obj, "deny_rooted_jailbroken"),
        "deny_emulator_simulator": _bool(obj, "deny_emulator_simulator"),
    }
    if kind == "METHOD_AMOUNT":
        amount = obj.get("amount", 0)
        return MethodAmountPolicy(amount=amount, fences=fences, **flags)
    if kind == "FACTORS":
        factors = _list(obj.get("factors"), "factors")
        if not all(isinstance(f, str) for f in factors):
            raise InvalidPolicyFormat("factors must be strings")
        upper = {f.upper() for f in factors}
        kinds = {attr: wire in upper for wire, attr in _FACTOR_NAMES}
        return FactorsPolicy(fences=fences, **kinds, **flags)
    if kind == "COND_GEO":
        inside = _policy_from_json(obj.get("inside"), nested=True)
        outside = _policy_from_json(obj.get("outside"), nested=True)
        return ConditionalGeoFencePolicy(
            inside=inside,  # type: ignore[arg-type]  # nested=True guarantees the kind
            outside=outside,  # type: ignore[arg-type]
            fences=fences,
            **flags,
        )
    raise UnknownPolicyException(f"unknown policy type {str(kind)[:40]!r}")


def _legacy_from_json(obj: Mapping[str, Any]) -> LegacyPolicy:
    if "minimum_requirements" in obj or "factors" in obj:
        value = auth_policy_value_from_json(obj)
        times = _legacy_time_fences(obj)
        return LegacyPolicy(
            amount=value.any,
            inherence_required=value.inherence,
            knowledge_required=value.knowledge,
            possession_required=value.possession,
            deny_rooted_jailbroken=value.jailbreak_protection,
            fences=value.geofences,
            time_restrictions=times,
        )
    fences = tuple(fence_from_json(f) for f in _list(obj.get("fences"), "fences"))
    if not all(isinstance(f, GeoCircleFence) for f in fences):
        raise InvalidFenceType("a legacy policy holds only circle fences")
    restrictions = _list(obj.get("time_restrictions"), "time_restrictions")
    return LegacyPolicy(
        amount=obj.get("amount", 0),
        inherence_required=_bool(obj, "inherence_required"),
        knowledge_required=_bool(obj, "knowledge_required"),
        possession_required=_bool(obj, "possession_required"),
        deny_rooted_jailbroken=_bool(obj, "deny_rooted_jailbroken"),
        fences=fences,  # type: ignore[arg-type]  # checked just above
        time_restrictions=tuple(_time_fence_from_json(t) for t in restrictions),
    )


def _legacy_time_fences(obj: Mapping[str, Any]) -> tuple[TimeFence, ...]:
    found: list[TimeFence] = []
    for factor in _list(obj.get("factors"), "factors"):
        factor_obj = _obj(factor, "factor")
        if factor_obj.get("factor") == "timefence":
            attrs = _obj(factor_obj.get("attributes"), "attributes")
            for item in _list(attrs.get("time fences"), "time fences"):
                found.append(_time_fence_from_json(item))
    return tuple(found)


def auth_policy_value_from_json(data: object) -> AuthPolicyValue:
    """Read the legacy JSON object of policies.md 1 into an :class:`AuthPolicyValue`.

    Readers accept ``all`` as the count; only the first minimum requirement is used (the
    platform sends at most one). Raises InvalidPolicyFormat or InvalidPolicyAttributes.
    """
    obj = _obj(data, "policy")
    if "minimum_requirements" not in obj or "factors" not in obj:
        raise InvalidPolicyFormat("need minimum_requirements and factors")
    count = 0
    kinds = {"knowledge": False, "inherence": False, "possession": False}
    requirements = _list(obj["minimum_requirements"], "minimum_requirements")
    if requirements:
        first = _obj(requirements[0], "minimum requirement")
        for key in ("all", "any"):
            if first.get(key):
                count = _count(first[key], key)
        for key in kinds:
            kinds[key] = _flag(first.get(key, 0), key)
    circles: list[GeoCircleFence] = []
    jailbreak = False
    for factor in _list(obj["factors"], "factors"):
        factor_obj = _obj(factor, "factor")
        attrs = factor_obj.get("attributes") or {}
        attrs = _obj(attrs, "attributes")
        if factor_obj.get("factor") == "geofence":
            for loc in _list(attrs.get("locations"), "locations"):
                fence = fence_from_json({**_obj(loc, "location"), "type": "GEO_CIRCLE"})
                circles.append(fence)  # type: ignore[arg-type]  # forced GEO_CIRCLE
        elif factor_obj.get("factor") == "device integrity":
            jailbreak = bool(attrs.get("factor enabled"))
    return AuthPolicyValue(
        any=count, jailbreak_protection=jailbreak, geofences=tuple(circles), **kinds
    )


def encode_policy(policy: ServicePolicy) -> bytes:
    """A typed service policy as JSON bytes."""
    return msgspec.json.encode(policy_to_json(policy))


def decode_policy(data: bytes | str) -> ServicePolicy:
    """Read a typed service policy from JSON text; see :func:`policy_from_json`."""
    try:
        raw = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise InvalidPolicyFormat("policy is not JSON") from exc
    return policy_from_json(raw)
