"""Policy JSON cross-checked with the vendor SDK (launchkey 4.0.1), both directions.

The vendor objects are only built here to compare wire shapes; none of their code is
used by the library.
"""

from __future__ import annotations

from typing import Any

import pytest
from launchkey.entities.service import AuthPolicy as VendorAuthPolicy
from launchkey.entities.service import policy as vendor

from lk_core import (
    AuthPolicy,
    ConditionalGeoFencePolicy,
    FactorsPolicy,
    GeoCircleFence,
    LegacyPolicy,
    MethodAmountPolicy,
    TerritoryFence,
    policy_from_json,
    policy_to_json,
)


def _factors_sorted(doc: dict[str, Any]) -> dict[str, Any]:
    # The factor list is a set on the wire; the vendor adds device integrity first.
    return {**doc, "factors": sorted(doc["factors"], key=lambda f: f["factor"])}


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"any": 2},
        {"knowledge": True, "inherence": True},
        {"possession": True, "jailbreak_protection": True},
    ],
)
@pytest.mark.parametrize("fences", [0, 2])
def test_auth_policy_matches_vendor(kwargs: dict[str, Any], fences: int) -> None:
    """AuthPolicy.to_dict equals the vendor's for the same calls, and reads back."""
    ours, theirs = AuthPolicy(**kwargs), VendorAuthPolicy(**kwargs)
    for i in range(fences):
        ours.add_geofence(latitude=10 + i, longitude=20, radius=150, name=f"f{i}")
        theirs.add_geofence(latitude=10 + i, longitude=20, radius=150, name=f"f{i}")
    assert _factors_sorted(ours.to_dict()) == _factors_sorted(theirs.to_dict())
    assert AuthPolicy.from_dict(theirs.to_dict()) == ours


TYPED = [
    (
        MethodAmountPolicy(amount=2, fences=(TerritoryFence(country="US", name="us"),)),
        vendor.MethodAmountPolicy(
            amount=2, fences=[vendor.TerritoryFence("US", name="us")]
        ),
    ),
    (
        FactorsPolicy(possession_required=True, inherence_required=True),
        vendor.FactorsPolicy(possession_required=True, inherence_required=True),
    ),
    (
        ConditionalGeoFencePolicy(
            inside=MethodAmountPolicy(amount=1),
            outside=FactorsPolicy(knowledge_required=True),
            fences=(GeoCircleFence(latitude=1, longitude=2, radius=3, name="c"),),
            deny_emulator_simulator=True,
        ),
        vendor.ConditionalGeoFencePolicy(
            inside=vendor.MethodAmountPolicy(amount=1),
            outside=vendor.FactorsPolicy(knowledge_required=True),
            fences=[vendor.GeoCircleFence(1, 2, 3, name="c")],
            deny_emulator_simulator=True,
        ),
    ),
    (
        LegacyPolicy(
            amount=1,
            deny_rooted_jailbroken=True,
            fences=(GeoCircleFence(latitude=1, longitude=2, radius=3, name="c"),),
        ),
        vendor.LegacyPolicy(
            amount=1,
            deny_rooted_jailbroken=True,
            fences=[vendor.GeoCircleFence(1, 2, 3, name="c")],
        ),
    ),
]


@pytest.mark.parametrize(("ours", "theirs"), TYPED, ids=lambda p: type(p).__name__)
def test_typed_policies_match_vendor(ours: Any, theirs: Any) -> None:
    """Typed policies encode like the vendor's, and the vendor's JSON reads back."""
    assert policy_to_json(ours) == theirs.to_dict()
    assert policy_from_json(theirs.to_dict()) == ours
