"""Laws of the platform's legacy policy handling."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lk_core.platform import PlatformError, Policy, parse_legacy
from lk_core.platform._policy import (
    DAYS,
    FACTOR_OF,
    FACTOR_TYPES,
    Fence,
    Place,
    distance_m,
    evaluate,
    merge,
    parse_service_policy,
    time_window,
    utc_only,
)

SETTINGS = settings(max_examples=100, deadline=None)

# Any JSON value, a few levels deep: what a client could put in "policy".
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
# Latitudes/longitudes over the whole globe; radii from 1 m to 1000 km.
LAT = st.floats(min_value=-90, max_value=90, allow_nan=False)
LON = st.floats(min_value=-180, max_value=180, allow_nan=False)
FENCE = st.builds(
    Fence,
    name=st.none() | st.text(max_size=6),
    latitude=LAT,
    longitude=LON,
    radius=st.floats(min_value=1, max_value=1_000_000),
)
# Valid policies the legacy shape can carry (no emulator flag, no time fences).
POLICY = st.builds(
    Policy,
    amount=st.integers(min_value=0, max_value=len(FACTOR_OF)),
    types=st.sets(st.sampled_from(FACTOR_TYPES)).map(
        lambda s: tuple(t for t in FACTOR_TYPES if t in s)
    ),
    fence_groups=st.lists(
        st.lists(FENCE, min_size=1, max_size=3).map(tuple), max_size=2
    ).map(tuple),
    deny_jailbroken=st.booleans(),
)
METHODS = st.sets(st.sampled_from(sorted(FACTOR_OF))).map(sorted)
DEVICE = st.fixed_dictionaries(
    {
        "used": METHODS,
        "location": st.none() | st.tuples(LAT, LON),
        "jailbroken": st.booleans(),
        "emulator": st.booleans(),
    }
)


@SETTINGS
@given(JSON)
def test_arbitrary_json_is_policy_or_svc002(raw: Any) -> None:
    """Anything a client sends parses or is refused as SVC-002; nothing else."""
    refusal = None
    try:
        parse_legacy(raw)
    except PlatformError as err:
        refusal = err
    if refusal is not None:
        assert (refusal.status, refusal.code) == (400, "SVC-002")


@SETTINGS
@given(POLICY)
def test_legacy_round_trip(policy: Policy) -> None:
    """A stored policy reads back as itself."""
    assert parse_legacy(policy.to_legacy_json()) == policy


@SETTINGS
@given(POLICY, POLICY, DEVICE)
def test_merge_only_tightens(a: Policy, b: Policy, device: dict[str, Any]) -> None:
    """A device that passes the merged policy passes each part on its own."""
    if evaluate(merge(a, b), **device).passed:
        assert evaluate(a, **device).passed
        assert evaluate(b, **device).passed


@SETTINGS
@given(POLICY, POLICY)
def test_merge_symmetric(a: Policy, b: Policy) -> None:
    """Merging is order-independent in everything it decides."""
    ab, ba = merge(a, b), merge(b, a)
    assert (ab.amount, set(ab.types), ab.deny_jailbroken) == (
        ba.amount,
        set(ba.types),
        ba.deny_jailbroken,
    )
    assert set(ab.fence_groups) == set(ba.fence_groups)


@SETTINGS
@given(FENCE, LAT, LON)
def test_fence_geometry(fence: Fence, lat: float, lon: float) -> None:
    """The centre is inside; distance is symmetric and non-negative."""
    assert fence.contains(fence.latitude, fence.longitude)
    d1 = distance_m(fence.latitude, fence.longitude, lat, lon)
    d2 = distance_m(lat, lon, fence.latitude, fence.longitude)
    assert d1 >= 0
    assert abs(d1 - d2) < 1e-6


PLACE = st.none() | st.builds(
    Place,
    country=st.sampled_from(["US", "CA", "FR"]),
    administrative_area=st.none() | st.sampled_from(["US-NV", "US-CA"]),
    postal_code=st.none() | st.sampled_from(["89109", "8 9109", "10001"]),
)
BRANCH = st.one_of(
    st.builds(
        lambda n: {"type": "METHOD_AMOUNT", "amount": n},
        st.integers(min_value=0, max_value=len(FACTOR_OF)),
    ),
    st.builds(
        lambda s: {"type": "FACTORS", "factors": sorted(s)},
        st.sets(st.sampled_from(["INHERENCE", "KNOWLEDGE", "POSSESSION"]), min_size=1),
    ),
)
TERRITORY = st.builds(
    lambda c, a, p: {
        "type": "TERRITORY",
        "country": c,
        "administrative_area": a,
        "postal_code": p,
    },
    st.sampled_from(["US", "CA"]),
    st.none() | st.sampled_from(["US-NV"]),
    st.none() | st.sampled_from(["89109"]),
)


@SETTINGS
@given(BRANCH, st.lists(TERRITORY, min_size=1, max_size=3), DEVICE, PLACE)
def test_cond_geo_with_equal_branches_ignores_place(
    branch: dict[str, Any],
    fences: list[dict[str, Any]],
    device: dict[str, Any],
    place: Place | None,
) -> None:
    """When inside and outside agree, where the device is cannot matter."""
    cond = {"type": "COND_GEO", "fences": fences, "inside": branch, "outside": branch}
    plain = parse_service_policy(branch)
    got = evaluate(parse_service_policy(cond), **device, place=place)
    assert got.passed == evaluate(plain, **device).passed


@SETTINGS
@given(
    BRANCH, BRANCH, st.lists(TERRITORY, min_size=1, max_size=3), POLICY, DEVICE, PLACE
)
def test_request_policy_tightens_cond_geo(
    inside: dict[str, Any],
    outside: dict[str, Any],
    fences: list[dict[str, Any]],
    request: Policy,
    device: dict[str, Any],
    place: Place | None,
) -> None:
    """A device passing the merged policy passes the COND_GEO policy alone."""
    cond = {"type": "COND_GEO", "fences": fences, "inside": inside, "outside": outside}
    service = parse_service_policy(cond)
    if evaluate(merge(service, request), **device, place=place).passed:
        assert evaluate(service, **device, place=place).passed


MINUTE = st.integers(min_value=0, max_value=1439)
INSTANT = st.integers(min_value=0, max_value=4_102_444_800)  # 1970..2100


def _all_days(start: int, end: int) -> dict[str, Any]:
    return {
        "days": [day.title() for day in DAYS],
        "start hour": start // 60,
        "start minute": start % 60,
        "end hour": end // 60,
        "end minute": end % 60,
        "timezone": "UTC",
    }


@SETTINGS
@given(MINUTE, MINUTE, INSTANT)
def test_overnight_window_is_the_complement(a: int, b: int, now: int) -> None:
    """Every day, [a, b] across midnight holds exactly when [b+1, a-1] does not."""
    start, end = max(a, b), min(a, b)
    if start - end < 2:
        return
    wrapped = time_window(_all_days(start, end))
    day = time_window(_all_days(end + 1, start - 1))
    assert wrapped.holds(now, utc_only) != day.holds(now, utc_only)


@SETTINGS
@given(INSTANT)
def test_whole_day_window_always_holds(now: int) -> None:
    """00:00 to 23:59 on every day holds at any instant."""
    assert time_window(_all_days(0, 1439)).holds(now, utc_only)
