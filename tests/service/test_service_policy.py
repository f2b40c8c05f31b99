"""AuthPolicy (the seed's builder) and the typed service policies."""

from __future__ import annotations

import pytest

from lk_core import (
    DuplicateGeoFenceName,
    InvalidFenceType,
    InvalidGeoFenceName,
    InvalidPolicyAttributes,
    InvalidPolicyFormat,
    UnknownPolicyException,
)
from lk_core.service import (
    AuthPolicy,
    ConditionalGeoFencePolicy,
    FactorsPolicy,
    GeoCircleFence,
    LegacyPolicy,
    MethodAmountPolicy,
    TerritoryFence,
    TimeFence,
    decode_policy,
    encode_policy,
    policy_from_json,
    policy_to_json,
)


class TestAuthPolicy:
    def test_any(self) -> None:
        """AuthPolicy(any=2) asks for two factors of any kind."""
        doc = AuthPolicy(any=2).to_dict()
        assert doc["minimum_requirements"] == [
            {
                "requirement": "authenticated",
                "any": 2,
                "knowledge": 0,
                "inherence": 0,
                "possession": 0,
            }
        ]

    def test_kinds(self) -> None:
        """Factor kinds become 0/1 flags; the seed's attributes read them back."""
        policy = AuthPolicy(knowledge=True, inherence=True, possession=False)
        req = policy.to_dict()["minimum_requirements"][0]
        assert (req["knowledge"], req["inherence"], req["possession"]) == (1, 1, 0)
        assert policy.minimum_requirements == ["knowledge", "inherence"]

    def test_no_requirements(self) -> None:
        """All zero sends an empty list and a disabled device-integrity factor."""
        doc = AuthPolicy().to_dict()
        assert doc["minimum_requirements"] == []
        assert doc["factors"][-1]["attributes"] == {"factor enabled": 0}

    def test_add_geofence_replaces_the_value(self) -> None:
        """add_geofence swaps in a new immutable value; the old one is unchanged."""
        policy = AuthPolicy()
        before = policy.value
        policy.add_geofence(latitude=27.175, longitude=78.0422, radius=195, name="taj")
        assert before.geofences == ()
        assert policy.value.geofences == (
            GeoCircleFence(
                latitude=27.175, longitude=78.0422, radius=195.0, name="taj"
            ),
        )
        location = policy.to_dict()["factors"][0]["attributes"]["locations"][0]
        assert location == {
            "radius": 195.0,
            "latitude": 27.175,
            "longitude": 78.0422,
            "name": "taj",
        }

    def test_geofence_names(self) -> None:
        """Names are unique regardless of case; removing an unknown name fails."""
        policy = AuthPolicy()
        policy.add_geofence(1, 2, 3, name="Home")
        with pytest.raises(DuplicateGeoFenceName):
            policy.add_geofence(4, 5, 6, name="home")
        policy.remove_geofence("HOME")
        assert policy.geofences == []
        with pytest.raises(InvalidGeoFenceName):
            policy.remove_geofence("home")

    def test_jailbreak(self) -> None:
        """Jailbreak protection sets device integrity to 1."""
        policy = AuthPolicy(jailbreak_protection=True)
        assert policy.to_dict()["factors"][-1]["attributes"] == {"factor enabled": 1}
        policy.require_jailbreak_protection(False)
        assert policy.jailbreak_protection is False

    @pytest.mark.parametrize(
        "kwargs",
        [{"any": 1, "knowledge": True}, {"knowledge": "yes"}, {"any": -1}],
    )
    def test_bad_arguments(self, kwargs: dict[str, object]) -> None:
        """'any' with kinds, non-boolean kinds and negative counts are refused."""
        with pytest.raises(InvalidPolicyAttributes):
            AuthPolicy(**kwargs)  # type: ignore[arg-type]

    def test_non_numeric_fence(self) -> None:
        """Latitude, longitude and radius must be numbers."""
        with pytest.raises(InvalidPolicyAttributes):
            AuthPolicy().add_geofence(latitude="north", longitude=1, radius=1)  # type: ignore[arg-type]

    def test_round_trip(self) -> None:
        """from_dict(to_dict()) gives an equal policy; 'all' is read as the count."""
        policy = AuthPolicy(any=3, jailbreak_protection=True)
        policy.add_geofence(1.5, 2.5, 100)
        assert AuthPolicy.from_dict(policy.to_dict()) == policy
        doc = {"minimum_requirements": [{"all": 2}], "factors": []}
        assert AuthPolicy.from_dict(doc).minimum_amount == 2

    def test_bad_legacy_json(self) -> None:
        """A document without both keys is InvalidPolicyFormat."""
        with pytest.raises(InvalidPolicyFormat):
            AuthPolicy.from_dict({"factors": []})


NESTED_AMOUNT = MethodAmountPolicy(amount=2)
POLICIES = [
    MethodAmountPolicy(amount=2, fences=(TerritoryFence(country="US"),)),
    FactorsPolicy(knowledge_required=True, possession_required=True),
    ConditionalGeoFencePolicy(
        inside=NESTED_AMOUNT,
        outside=FactorsPolicy(possession_required=True),
        fences=(
            TerritoryFence(country="US", administrative_area="US-NV", name="nv"),
            GeoCircleFence(latitude=1, longitude=2, radius=3),
        ),
        deny_rooted_jailbroken=True,
    ),
    LegacyPolicy(
        amount=1,
        fences=(GeoCircleFence(latitude=1, longitude=2, radius=3, name="x"),),
        time_restrictions=(
            TimeFence(
                name="work",
                days=("Monday",),
                start_hour=9,
                start_minute=0,
                end_hour=17,
                end_minute=30,
                timezone="America/Chicago",
            ),
        ),
    ),
]


class TestTypedPolicies:
    @pytest.mark.parametrize("policy", POLICIES, ids=lambda p: type(p).__name__)
    def test_round_trip(self, policy: object) -> None:
        """Each typed policy survives encode then decode unchanged."""
        assert decode_policy(encode_policy(policy)) == policy  # type: ignore[arg-type]

    def test_factors_wire_order(self) -> None:
        """FACTORS lists kinds in the order INHERENCE, KNOWLEDGE, POSSESSION."""
        policy = FactorsPolicy(possession_required=True, inherence_required=True)
        assert policy_to_json(policy)["factors"] == ["INHERENCE", "POSSESSION"]

    def test_nested_policies_omit_device_flags(self) -> None:
        """Inside/outside carry no deny_* keys on the wire."""
        doc = policy_to_json(POLICIES[2])  # type: ignore[arg-type]
        assert "deny_rooted_jailbroken" not in doc["inside"]
        assert doc["deny_rooted_jailbroken"] is True

    def test_territory_writes_all_keys(self) -> None:
        """A territory fence always has all four keys, null when unset."""
        doc = policy_to_json(POLICIES[0])  # type: ignore[arg-type]
        assert doc["fences"][0] == {
            "type": "TERRITORY",
            "name": None,
            "country": "US",
            "administrative_area": None,
            "postal_code": None,
        }

    def test_legacy_section_one_shape(self) -> None:
        """A LEGACY policy read back in the section-1 shape is understood."""
        doc = {
            "type": "LEGACY",
            "minimum_requirements": [{"requirement": "authenticated", "any": 2}],
            "factors": [
                {"factor": "device integrity", "attributes": {"factor enabled": 1}},
                {
                    "factor": "timefence",
                    "attributes": {
                        "time fences": [
                            {
                                "name": "t",
                                "days": ["Sunday"],
                                "start hour": 1,
                                "start minute": 2,
                                "end hour": 3,
                                "end minute": 4,
                                "timezone": "UTC",
                            }
                        ]
                    },
                },
            ],
        }
        policy = policy_from_json(doc)
        assert isinstance(policy, LegacyPolicy)
        assert (policy.amount, policy.deny_rooted_jailbroken) == (2, True)
        assert policy.time_restrictions[0].days == ("Sunday",)

    def test_missing_type_is_legacy(self) -> None:
        """A policy without a type is LEGACY."""
        assert isinstance(policy_from_json({"amount": 1}), LegacyPolicy)

    @pytest.mark.parametrize(
        ("doc", "error"),
        [
            ({"type": "MAGIC"}, UnknownPolicyException),
            ({"type": "METHOD_AMOUNT", "fences": [{"type": "HEX"}]}, InvalidFenceType),
            ({"type": "FACTORS", "factors": []}, InvalidPolicyAttributes),
            (
                {"type": "COND_GEO", "fences": [], "inside": {}, "outside": {}},
                UnknownPolicyException,
            ),
            ({"type": "METHOD_AMOUNT", "amount": "two"}, InvalidPolicyAttributes),
            ([1, 2], InvalidPolicyFormat),
        ],
    )
    def test_bad_documents(self, doc: object, error: type[Exception]) -> None:
        """Unknown types and bad attributes raise the documented errors."""
        with pytest.raises(error):
            policy_from_json(doc)

    def test_cond_geo_rules(self) -> None:
        """A conditional geofence needs fences; nested policies may not have any."""
        with pytest.raises(InvalidPolicyAttributes):
            ConditionalGeoFencePolicy(
                inside=NESTED_AMOUNT, outside=NESTED_AMOUNT, fences=()
            )
        fenced = MethodAmountPolicy(fences=(TerritoryFence(country="US"),))
        with pytest.raises(InvalidPolicyAttributes):
            ConditionalGeoFencePolicy(
                inside=fenced, outside=NESTED_AMOUNT, fences=fenced.fences
            )

    @pytest.mark.parametrize(
        "kwargs",
        [{"country": "usa"}, {"country": "US", "administrative_area": "NV"}],
    )
    def test_territory_format(self, kwargs: dict[str, str]) -> None:
        """Country and administrative area follow ISO 3166 shapes."""
        with pytest.raises(InvalidPolicyAttributes):
            TerritoryFence(**kwargs)
