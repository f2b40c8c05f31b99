"""Fuzz laws for the Service payload parsers, auth and push packages, policies and keys.

Law: arbitrary bytes, arbitrary JSON shaped like the real thing, and mutations of
genuine inputs give a value or a documented LaunchKeyError, never another exception.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lk_core import load_private_key, load_public_key, private_key_pem
from lk_core.service import (
    AuthPolicy,
    auth_policy_value_from_json,
    decode_auth_response,
    decode_policy,
    fence_from_json,
    parse_auth_package,
    parse_create_auth,
    parse_jwe_response,
    parse_legacy_response,
    parse_session_end,
    parse_totp,
    policy_from_json,
)
from tests.hardening import peer
from tests.hardening.fuzz import FUZZ, JSON, OBJECTS, RAW, mutated, only_documented

RAW_OR_JSON = RAW | OBJECTS.map(peer.dumps) | JSON.map(peer.dumps)
SIMPLE_PARSERS = [
    parse_create_auth,
    parse_totp,
    parse_auth_package,
    parse_session_end,
    decode_policy,
]


@FUZZ
@given(data=RAW_OR_JSON, parser=st.sampled_from(SIMPLE_PARSERS))
def test_payload_parsers_arbitrary(data: bytes, parser: Any) -> None:
    """Create-auth, TOTP, outer package, session-end and policy readers."""
    only_documented(parser, data)


@FUZZ
@given(data=st.data(), parser=st.sampled_from(SIMPLE_PARSERS))
def test_payload_parsers_mutated(data: st.DataObject, parser: Any) -> None:
    """Mutations of genuine bodies of each kind."""
    genuine = {
        parse_create_auth: peer.CREATE_BODY,
        parse_totp: b'{"valid":true}',
        parse_auth_package: peer.outer_package(),
        parse_session_end: b'{"service_user_hash":"h","api_time":"2027-01-01T00:00Z"}',
        decode_policy: b'{"type":"COND_GEO","fences":[{"type":"TERRITORY","country"'
        b':"US"}],"inside":{"type":"METHOD_AMOUNT","amount":2},"outside":{"type":'
        b'"FACTORS","factors":["POSSESSION"]}}',
    }[parser]
    only_documented(parser, data.draw(mutated(genuine)))


@FUZZ
@given(inner=OBJECTS, legacy=st.booleans(), request_id=st.none() | st.text(max_size=8))
def test_device_package_fields_arbitrary(
    inner: dict[str, Any], legacy: bool, request_id: str | None
) -> None:
    """Decrypted device packages with arbitrary fields, JWE and legacy."""
    package = parse_auth_package(peer.outer_package())
    parse = parse_legacy_response if legacy else parse_jwe_response
    only_documented(parse, peer.dumps(inner), package, request_id)


@FUZZ
@given(outer=OBJECTS, webhook=st.booleans())
def test_decode_auth_response_arbitrary_outer(
    outer: dict[str, Any], webhook: bool
) -> None:
    """Arbitrary outer packages, sometimes carrying real or garbage inner packages."""
    outer.setdefault("auth_jwe", peer.jwe_encrypt(b"[]", peer.service().public))
    only_documented(
        decode_auth_response,
        peer.dumps(outer),
        peer.ring(),
        expected_id=None,
        webhook=webhook,
    )


@FUZZ
@given(data=st.data(), field=st.sampled_from(["auth_jwe", "auth", "public_key_id"]))
def test_decode_auth_response_mutated_inner(data: st.DataObject, field: str) -> None:
    """Mutated inner packages (JWE text, legacy base64, key id): refused or intact."""
    legacy = peer.dumps({"auth_request": peer.REQUEST_ID, "response": True})
    outer = json.loads(
        peer.outer_package(legacy=legacy if field != "auth_jwe" else None)
    )
    outer[field] = data.draw(mutated(outer[field].encode())).decode("latin-1")
    out = only_documented(
        decode_auth_response,
        peer.dumps(outer),
        peer.ring(),
        expected_id=peer.REQUEST_ID,
    )
    assert out is None or out.authorization_request_id == peer.REQUEST_ID


@FUZZ
@given(value=JSON | OBJECTS)
def test_policy_readers_arbitrary_json(value: object) -> None:
    """Typed, legacy and fence readers on arbitrary JSON values."""
    only_documented(policy_from_json, value)
    only_documented(auth_policy_value_from_json, value)
    only_documented(fence_from_json, value)


@FUZZ
@given(
    kind=st.sampled_from(["LEGACY", "METHOD_AMOUNT", "FACTORS", "COND_GEO", None, 3]),
    body=OBJECTS,
    nested=OBJECTS,
)
def test_policy_readers_typed_shapes(
    kind: object, body: dict[str, Any], nested: dict[str, Any]
) -> None:
    """Objects with a real policy type and arbitrary other fields."""
    body["type"] = kind
    body.setdefault("inside", nested)
    body.setdefault("outside", {**nested, "type": "FACTORS"})
    only_documented(policy_from_json, body)


@FUZZ
@given(
    any_count=st.integers(-3, 5) | st.none(),
    flags=st.lists(st.booleans(), min_size=3, max_size=3),
    fences=st.lists(
        st.tuples(
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(allow_nan=True, allow_infinity=True),
            st.floats(allow_nan=True, allow_infinity=True) | st.integers(),
        ),
        max_size=3,
    ),
)
def test_auth_policy_builder_arbitrary_numbers(
    any_count: int | None, flags: list[bool], fences: list[tuple[Any, Any, Any]]
) -> None:
    """The seed-style builder with any counts and coordinates: value or PolicyError."""

    def build() -> None:
        policy = AuthPolicy(
            any=any_count or 0,
            knowledge=flags[0],
            inherence=flags[1],
            possession=flags[2],
        )
        for lat, lon, radius in fences:
            policy.add_geofence(latitude=lat, longitude=lon, radius=radius)

    only_documented(build)


@FUZZ
@given(data=RAW | st.text(max_size=300))
def test_key_loaders_arbitrary(data: bytes | str) -> None:
    """Arbitrary bytes or text as a PEM: a key or KeyFormatError."""
    only_documented(load_private_key, data)
    only_documented(load_public_key, data)


@FUZZ
@given(data=st.data(), private=st.booleans())
def test_key_loaders_mutated_pem(data: st.DataObject, private: bool) -> None:
    """Mutated genuine PEMs: the same key, another key, or KeyFormatError."""
    pem = (
        private_key_pem(peer.service()) if private else peer.service().public.pem
    ).encode()
    bad = data.draw(mutated(pem))
    loader = load_private_key if private else load_public_key
    only_documented(loader, bad)


@FUZZ
@given(sealed=st.binary(min_size=250, max_size=260))
def test_legacy_auth_arbitrary_ciphertext(sealed: bytes) -> None:
    """Random legacy ciphertexts of about the key length: UnexpectedDeviceResponse."""
    outer = json.loads(peer.outer_package(legacy=b"{}"))
    outer["auth"] = base64.b64encode(sealed).decode()
    out = only_documented(
        decode_auth_response, peer.dumps(outer), peer.ring(), expected_id=None
    )
    assert out is None
