"""Laws of the platform's legacy policy handling."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lk_core.platform import PlatformError, Policy, parse_legacy
from lk_core.platform._policy import (
    FACTOR_OF,
    FACTOR_TYPES,
    Fence,
    distance_m,
    evaluate,
    merge,
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
