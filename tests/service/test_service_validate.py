"""Checks made before anything is sent: each names the offending field."""

from __future__ import annotations

import json

import pytest

from lk_core import InvalidArgument
from lk_core.service import (
    AuthPolicy,
    DenialReason,
    auth_request_body,
    check_request_id,
    session_start_body,
    totp_body,
)

FRAUD = DenialReason("a", "Absolute fraud", True)
TIMING = DenialReason("b", "Bad timing", False)


def test_minimal_body() -> None:
    """Only the username is sent when nothing else is set."""
    assert json.loads(auth_request_body("myuser")) == {"username": "myuser"}


def test_full_body() -> None:
    """Every option appears under its wire name."""
    body = json.loads(
        auth_request_body(
            "u",
            context="c",
            title="t",
            ttl=30,
            push_title="pt",
            push_body="pb",
            policy=AuthPolicy(any=1),
            denial_reasons=(FRAUD, TIMING),
        )
    )
    assert set(body) == {
        "username",
        "context",
        "title",
        "ttl",
        "push_title",
        "push_body",
        "policy",
        "denial_reasons",
    }


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ttl": 29}, "ttl"),
        ({"ttl": 601}, "ttl"),
        ({"ttl": True}, "ttl"),
        ({"ttl": 60.0}, "ttl"),
        ({"context": "x" * 401}, "context"),
        ({"title": "x" * 201}, "title"),
        ({"push_title": "x" * 201}, "push_title"),
        ({"push_body": "x" * 401}, "push_body"),
        ({"context": 5}, "context"),
        ({"policy": {"any": 2}}, "policy"),
        ({"denial_reasons": [FRAUD]}, "denial_reasons"),
        (
            {"denial_reasons": [FRAUD, DenialReason("b", "Other", True)]},
            "denial_reasons",
        ),
        (
            {"denial_reasons": [FRAUD, DenialReason("a", "Other", False)]},
            "denial_reasons.id",
        ),
        (
            {"denial_reasons": [FRAUD, DenialReason("b", "Absolute fraud", False)]},
            "denial_reasons.reason",
        ),
        (
            {"denial_reasons": [FRAUD, DenialReason("abcdef", "Long", False)]},
            "denial_reasons.id",
        ),
        (
            {"denial_reasons": [FRAUD, DenialReason("", "Empty", False)]},
            "denial_reasons.id",
        ),
        ({"denial_reasons": [FRAUD, {"id": "b"}]}, "denial_reasons"),
        ({"denial_reasons": "ab"}, "denial_reasons"),
    ],
)
def test_rules(kwargs: dict[str, object], field: str) -> None:
    """Each rule of service-api.md 1 raises InvalidArgument naming its field."""
    with pytest.raises(InvalidArgument) as info:
        auth_request_body("u", **kwargs)
    assert info.value.field == field


@pytest.mark.parametrize("user", ["", "   ", None, 5])
def test_username_required(user: object) -> None:
    """An empty or non-string username is refused."""
    with pytest.raises(InvalidArgument) as info:
        auth_request_body(user)
    assert info.value.field == "username"


def test_limits_are_inclusive() -> None:
    """The documented limits themselves are accepted."""
    auth_request_body("u", ttl=600, context="x" * 400, title="x" * 200)


@pytest.mark.parametrize(
    "otp",
    ["12345", "123456789", "12345a", 123456, "\uff11\uff12\uff13\uff14\uff15\uff16"],
)
def test_otp(otp: object) -> None:
    """An OTP is a string of 6 to 8 ASCII digits."""
    with pytest.raises(InvalidArgument):
        totp_body("u", otp)


@pytest.mark.parametrize("rid", ["", "a/b", "..", "a?b", "a b", "x" * 129, None])
def test_request_id(rid: object) -> None:
    """Request ids that could alter the URL are refused."""
    with pytest.raises(InvalidArgument):
        check_request_id(rid)


def test_session_start_without_request_id() -> None:
    """The request id of a session start is optional."""
    assert json.loads(session_start_body("u")) == {"username": "u"}


LONE_SURROGATE = "caf\udce9"  # what surrogateescape makes of Latin-1 bytes


@pytest.mark.parametrize(
    ("field", "call"),
    [
        ("username", lambda: auth_request_body(LONE_SURROGATE)),
        ("context", lambda: auth_request_body("u", context=LONE_SURROGATE)),
        ("title", lambda: auth_request_body("u", title=LONE_SURROGATE)),
        ("push_body", lambda: auth_request_body("u", push_body=LONE_SURROGATE)),
        (
            "denial_reasons.reason",
            lambda: auth_request_body(
                "u", denial_reasons=[FRAUD, DenialReason("b", LONE_SURROGATE, False)]
            ),
        ),
        ("username", lambda: session_start_body(LONE_SURROGATE)),
        ("username", lambda: totp_body(LONE_SURROGATE, "123456")),
    ],
)
def test_text_without_a_utf8_form_is_refused(field: str, call: object) -> None:
    """A lone surrogate is an InvalidArgument naming the field, not a UnicodeError."""
    with pytest.raises(InvalidArgument) as caught:
        call()  # type: ignore[operator]
    assert caught.value.field == field


def test_geofence_name_without_a_utf8_form_is_refused() -> None:
    """The policy's own texts are covered too."""
    policy = AuthPolicy()
    policy.add_geofence(latitude=1.0, longitude=2.0, radius=3.0, name=LONE_SURROGATE)
    with pytest.raises(InvalidArgument) as caught:
        auth_request_body("u", policy=policy)
    assert caught.value.field == "policy"


def test_username_length_is_capped() -> None:
    """A username over 1024 characters is refused before the round trip."""
    assert json.loads(auth_request_body("u" * 1024))["username"] == "u" * 1024
    with pytest.raises(InvalidArgument, match="at most 1024") as caught:
        auth_request_body("u" * 1025)
    assert caught.value.field == "username"
