"""Laws for the Service parsers and policies: hostile input only raises our errors."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lk_core import LaunchKeyError, PolicyError
from lk_core.service import (
    AuthPackage,
    AuthPolicy,
    FactorsPolicy,
    GeoCircleFence,
    MethodAmountPolicy,
    MethodFlags,
    TerritoryFence,
    decode_policy,
    encode_policy,
    parse_auth_package,
    parse_create_auth,
    parse_jwe_response,
    parse_legacy_response,
    parse_session_end,
    parse_totp,
    policy_from_json,
)

SETTINGS = settings(max_examples=60, deadline=None)

# Any JSON value, nested a few levels; keys drawn partly from the real field names so
# that the parsers get past their first checks often.
FIELD_NAMES = st.sampled_from(
    [
        "auth_request",
        "push_package",
        "device_ids",
        "valid",
        "auth",
        "auth_jwe",
        "service_user_hash",
        "org_user_hash",
        "user_push_id",
        "public_key_id",
        "type",
        "reason",
        "device_id",
        "service_pins",
        "auth_policy",
        "auth_methods",
        "method",
        "response",
        "api_time",
        "requirement",
        "types",
        "geofences",
        "amount",
        "fences",
        "factors",
        "inside",
        "outside",
        "country",
        "latitude",
        "minimum_requirements",
    ]
)
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(FIELD_NAMES | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=20,
)
PACKAGE = AuthPackage(auth_jwe="x", service_user_hash="s", org_user_hash="o")


def _parsers() -> list[Callable[[bytes], Any]]:
    return [
        parse_create_auth,
        parse_totp,
        parse_auth_package,
        lambda b: parse_auth_package(b, webhook=True),
        lambda b: parse_jwe_response(b, PACKAGE, "req"),
        lambda b: parse_legacy_response(b, PACKAGE, None),
        parse_session_end,
        decode_policy,
    ]


def _only_our_errors(parse: Callable[[bytes], Any], data: bytes) -> None:
    with contextlib.suppress(LaunchKeyError):
        parse(data)


@SETTINGS
@given(st.binary(max_size=200))
def test_arbitrary_bytes_raise_only_library_errors(data: bytes) -> None:
    """No byte string makes a parser raise anything but a LaunchKeyError."""
    for parse in _parsers():
        _only_our_errors(parse, data)


@SETTINGS
@given(JSON)
def test_arbitrary_json_raises_only_library_errors(value: object) -> None:
    """No JSON document makes a parser raise anything but a LaunchKeyError."""
    data = json.dumps(value).encode()
    for parse in _parsers():
        _only_our_errors(parse, data)


@SETTINGS
@given(JSON)
def test_policy_reader_raises_only_policy_errors(value: object) -> None:
    """policy_from_json on any JSON value returns a policy or raises a PolicyError."""
    with contextlib.suppress(PolicyError):
        policy_from_json(value)


# Fences within the documented ranges: latitude -90..90, longitude -180..180, radius
# 0..20000 km in metres.
CIRCLES = st.builds(
    GeoCircleFence,
    latitude=st.floats(-90, 90),
    longitude=st.floats(-180, 180),
    radius=st.floats(0, 2e7),
    name=st.none() | st.text(max_size=10),
)
TERRITORIES = st.builds(
    TerritoryFence,
    country=st.from_regex(r"[A-Z]{2}", fullmatch=True),
    postal_code=st.none() | st.text(max_size=8),
)
FENCES = st.lists(CIRCLES | TERRITORIES, max_size=3).map(tuple)
POLICIES = st.builds(
    MethodAmountPolicy,
    amount=st.integers(0, 10),
    fences=FENCES,
    deny_rooted_jailbroken=st.booleans(),
) | st.builds(
    FactorsPolicy,
    knowledge_required=st.just(True),
    possession_required=st.booleans(),
    fences=FENCES,
    deny_emulator_simulator=st.booleans(),
)


@SETTINGS
@given(POLICIES)
def test_typed_policy_round_trip(policy: MethodAmountPolicy | FactorsPolicy) -> None:
    """decode(encode(p)) == p for every typed policy."""
    assert decode_policy(encode_policy(policy)) == policy


@SETTINGS
@given(
    st.integers(0, 5),
    st.booleans(),
    st.lists(CIRCLES, max_size=3),
)
def test_auth_policy_round_trip(
    count: int, jailbreak: bool, circles: list[GeoCircleFence]
) -> None:
    """AuthPolicy.from_dict(p.to_dict()) == p."""
    policy = AuthPolicy(any=count, jailbreak_protection=jailbreak)
    for circle in circles:
        policy.add_geofence(circle.latitude, circle.longitude, circle.radius)
    assert AuthPolicy.from_dict(policy.to_dict()) == policy


# Every flag the public type has, so a new flag is covered without editing this list.
FLAG_NAMES = MethodFlags.__struct_fields__
FLAG = st.none() | st.booleans()
METHOD = st.fixed_dictionaries(
    {"method": st.sampled_from(["pin_code", "wearables", "PIN_CODE", "new_kind"])},
    optional=dict.fromkeys(FLAG_NAMES, FLAG),
)


@SETTINGS
@given(st.lists(st.lists(METHOD, max_size=20), min_size=1, max_size=4))
def test_auth_methods_follow_the_wire(lists: list[list[dict[str, Any]]]) -> None:
    """Each response's methods are exactly its own, in order, however many responses
    with equal or different method lists were read before it."""
    for methods in lists * 2:
        data = json.dumps(
            {
                "auth_request": "req",
                "type": "AUTHORIZED",
                "reason": "APPROVED",
                "device_id": "d",
                "auth_methods": methods,
            }
        ).encode()
        got = parse_jwe_response(data, PACKAGE, "req").auth_methods
        assert len(got) == len(methods)
        for parsed, wire in zip(got, methods, strict=True):
            assert parsed.method.value.lower() == (
                wire["method"].lower() if wire["method"] != "new_kind" else "other"
            )
            for name in FLAG_NAMES:
                assert getattr(parsed, name) == wire.get(name)
