"""Request ids (jti) the clients draw: random version-4 UUIDs, never repeated."""

from __future__ import annotations

import uuid

from lk_io._client import ServiceCalls

DRAWS = 2000


def test_jti_is_a_canonical_random_uuid() -> None:
    """Each jti parses as an RFC 4122 version-4 UUID and prints the same way back."""
    seen = set()
    for _ in range(DRAWS):
        jti = ServiceCalls._new_jti()
        parsed = uuid.UUID(jti)
        assert parsed.version == 4
        assert parsed.variant == uuid.RFC_4122
        assert str(parsed) == jti
        seen.add(jti)
    assert len(seen) == DRAWS
