"""Hypothesis strategies and the one law every fuzz test states.

The law: whatever bytes arrive, a parser returns a value or raises a
:class:`~lk_core.LaunchKeyError` (the documented root); any other exception - KeyError,
TypeError, RecursionError, a decoder's own error - is a bug. Strategies are named
constants; each comment gives its ranges. Seeds replay with ``--hypothesis-seed``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from lk_core import LaunchKeyError

T = TypeVar("T")

# Modest example counts and no deadline: the suite must stay well under 90 s on two
# cores, and RSA operations make single examples slow on a loaded machine. Set
# LK_FUZZ_EXAMPLES for a longer hunt (the hardening notes in docs/security.md).
FUZZ = settings(
    max_examples=int(os.environ.get("LK_FUZZ_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
# For laws whose every example runs several RSA private-key operations (whole calls).
FUZZ_SLOW = settings(FUZZ, max_examples=max(1, FUZZ.max_examples // 2))

# Raw bytes up to 2 KiB: random noise reaches the size, alphabet and structure checks.
RAW = st.binary(max_size=2048)

# Field names the parsers look for, mixed with arbitrary short names, so that random
# objects often reach the checks behind a field lookup.
FIELDS = [
    "alg",
    "kid",
    "enc",
    "zip",
    "crit",
    "iss",
    "aud",
    "sub",
    "iat",
    "nbf",
    "exp",
    "jti",
    "request",
    "response",
    "status",
    "hash",
    "func",
    "meth",
    "path",
    "location",
    "cache",
    "auth",
    "auth_jwe",
    "auth_request",
    "type",
    "reason",
    "denial_reason",
    "device_id",
    "service_pins",
    "auth_policy",
    "auth_methods",
    "requirement",
    "amount",
    "types",
    "geofences",
    "service_user_hash",
    "org_user_hash",
    "user_push_id",
    "public_key_id",
    "push_package",
    "device_ids",
    "valid",
    "api_time",
    "response",
    "method",
    "set",
    "active",
    "allowed",
    "supported",
    "user_required",
    "passed",
    "error",
    "latitude",
    "longitude",
    "radius",
    "name",
    "country",
    "administrative_area",
    "postal_code",
    "fences",
    "factors",
    "inside",
    "outside",
    "minimum_requirements",
    "any",
    "all",
    "knowledge",
    "inherence",
    "possession",
    "attributes",
    "factor",
    "locations",
    "days",
    "timezone",
    "time_restrictions",
    "deny_rooted_jailbroken",
    "deny_emulator_simulator",
]
KEYS = st.sampled_from(FIELDS) | st.text(max_size=8)

# JSON scalars: integers beyond 64 bits, any finite float, short text with any code
# point (surrogates excluded, they cannot be UTF-8 encoded).
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=24)
    | st.sampled_from(FIELDS).map(str.upper)
)

# JSON values up to 25 leaves, objects keyed mostly by known field names.
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS, inner, max_size=6)
    ),
    max_leaves=25,
)
OBJECTS = st.dictionaries(KEYS, JSON, max_size=8)


@st.composite
def mutated(draw: st.DrawFn, valid: bytes) -> bytes:
    """``valid`` with 1 to 4 edits: flip, delete, insert, duplicate or truncate."""
    data = bytearray(valid)
    for _ in range(draw(st.integers(1, 4))):
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        op = draw(st.sampled_from(["flip", "delete", "insert", "dup", "cut"]))
        if op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif op == "dup":
            data[at:at] = data[at : at + draw(st.integers(1, 32))]
        else:
            del data[at:]
    return bytes(data)


def only_documented(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T | None:
    """Run ``fn``; a LaunchKeyError is an accepted outcome, anything else propagates."""
    try:
        return fn(*args, **kwargs)
    except LaunchKeyError:
        return None
