"""Entity and parse_entity: ``<svc|dir|org>:<uuid>`` identifiers (jose.md section 2)."""

from __future__ import annotations

import uuid

import pytest

from lk_core import Entity, InvalidEntityID, InvalidIssuer, UsageError, parse_entity

UID = "11111111-2222-4333-8444-555555555555"


class TestEntity:
    @pytest.mark.parametrize(
        ("make", "prefix"),
        [
            (Entity.service, "svc"),
            (Entity.directory, "dir"),
            (Entity.organization, "org"),
        ],
    )
    def test_constructors(self, make: object, prefix: str) -> None:
        """Each constructor gives the right type prefix on the wire."""
        entity = make(UID)  # type: ignore[operator]
        assert str(entity) == f"{prefix}:{UID}"

    def test_uuid_normalised(self) -> None:
        """Upper-case, braced and UUID-object ids all normalise to lower-case text."""
        assert Entity.service(UID.upper()).id == UID
        assert Entity.service("{" + UID + "}").id == UID
        assert Entity.service(uuid.UUID(UID)).id == UID

    @pytest.mark.parametrize(
        "bad", ["", "not-a-uuid", "1234", UID + "0", "x" * 100, 5, None]
    )
    def test_bad_ids(self, bad: object) -> None:
        """A value that is not a UUID raises InvalidEntityID, a usage error."""
        with pytest.raises(InvalidEntityID) as info:
            Entity.service(bad)  # type: ignore[arg-type]
        assert isinstance(info.value, UsageError)


class TestParseEntity:
    @pytest.mark.parametrize("kind", ["svc", "dir", "org"])
    def test_round_trip(self, kind: str) -> None:
        """parse_entity reads back what str(Entity) writes."""
        text = f"{kind}:{UID}"
        assert str(parse_entity(text)) == text

    @pytest.mark.parametrize(
        "bad", ["usr:" + UID, "SVC:" + UID, UID, None, 7, ":" + UID]
    )
    def test_bad_type(self, bad: object) -> None:
        """An unknown or missing type prefix raises InvalidIssuer."""
        with pytest.raises(InvalidIssuer):
            parse_entity(bad)

    def test_bad_uuid(self) -> None:
        """A known type with a bad id raises InvalidEntityID quoting the id."""
        with pytest.raises(InvalidEntityID, match="'nope'"):
            parse_entity("svc:nope")
