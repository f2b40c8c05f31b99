"""Argument checks and request bodies for each Service call, before anything is signed.

Every check raises :class:`~lk_core.InvalidArgument` naming the offending field, so a
caller mistake never costs a round trip. Limits come from service-api.md 1 and
emulator-notes.md 8; the ones marked there as proposals are noted below.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from lk_core._errors import InvalidArgument
from lk_core.service._entities import DenialReason
from lk_core.service._policy import AuthPolicy, AuthPolicyValue

__all__ = [
    "MAX_CONTEXT",
    "MAX_PUSH_BODY",
    "MAX_PUSH_TITLE",
    "MAX_TITLE",
    "MAX_USERNAME",
    "TTL_RANGE",
    "auth_request_body",
    "check_request_id",
    "session_end_body",
    "session_start_body",
    "totp_body",
]

TTL_RANGE = (30, 600)
MAX_CONTEXT = 400
MAX_TITLE = 200
# The next three are emulator proposals (emulator-notes.md 8), not published limits.
MAX_PUSH_TITLE = 200
MAX_PUSH_BODY = 400
MAX_DENIAL_TEXT = 400
# Our own cap, not a published one: a user identifier longer than this is a mistake, and
# without a cap a huge one only fails after the round trip, as an oversized body.
MAX_USERNAME = 1024

# Request ids travel in the URL path; allowing only letters, digits, '-' and '_' means
# a hostile or mistyped id can never add a path segment ("..", "/"), a query or a
# fragment.
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_OTP = re.compile(r"[0-9]{6,8}")

_encode = msgspec.json.Encoder().encode


def _text(field: str, value: object, limit: int | None = None) -> str:
    if not isinstance(value, str):
        raise InvalidArgument(field, "must be a string")
    if limit is not None and len(value) > limit:
        raise InvalidArgument(field, f"must be at most {limit} characters")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            # A lone surrogate (e.g. from surrogateescape decoding) has no UTF-8 form.
            raise InvalidArgument(field, "is not valid Unicode text") from None
    return value


def _user(field: str, value: object) -> str:
    text = _text(field, value, MAX_USERNAME)
    if not text.strip():
        raise InvalidArgument(field, "must not be empty")
    return text


def check_request_id(value: object, field: str = "authorization_request_id") -> str:
    """Return the id if it is safe to put in a URL path, else raise InvalidArgument."""
    text = _text(field, value)
    if not _REQUEST_ID.fullmatch(text):
        raise InvalidArgument(field, "must be 1-128 letters, digits, '-' or '_'")
    return text


def _ttl(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument("ttl", "must be an integer number of seconds")
    low, high = TTL_RANGE
    if not low <= value <= high:
        raise InvalidArgument("ttl", f"must be between {low} and {high} seconds")
    return value


def _policy(value: object) -> dict[str, Any]:
    if isinstance(value, AuthPolicy):
        return value.value.to_json()
    if isinstance(value, AuthPolicyValue):
        return value.to_json()
    raise InvalidArgument("policy", "must be an AuthPolicy")


def _denial_reasons(value: object) -> list[dict[str, Any]]:
    field = "denial_reasons"
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise InvalidArgument(field, "must be a list of DenialReason")
    items = list(value)
    if not all(isinstance(item, DenialReason) for item in items):
        raise InvalidArgument(field, "must be a list of DenialReason")
    if len(items) < 2:
        raise InvalidArgument(field, "needs at least two reasons")
    ids: set[str] = set()
    texts: set[str] = set()
    for item in items:
        _text(f"{field}.id", item.id)
        if not 1 <= len(item.id) <= 5:
            raise InvalidArgument(f"{field}.id", "must be 1 to 5 characters")
        _text(f"{field}.reason", item.reason, MAX_DENIAL_TEXT)
        if not item.reason.strip():
            raise InvalidArgument(f"{field}.reason", "must not be empty")
        if not isinstance(item.fraud, bool):
            raise InvalidArgument(f"{field}.fraud", "must be True or False")
        if item.id in ids:
            raise InvalidArgument(f"{field}.id", f"{item.id!r} is used twice")
        if item.reason in texts:
            raise InvalidArgument(f"{field}.reason", "each reason text must be unique")
        ids.add(item.id)
        texts.add(item.reason)
    frauds = {item.fraud for item in items}
    if frauds != {True, False}:
        raise InvalidArgument(
            field, "needs at least one fraud and one non-fraud reason"
        )
    return [{"id": r.id, "reason": r.reason, "fraud": r.fraud} for r in items]


def auth_request_body(
    username: object,
    *,
    context: object = None,
    policy: object = None,
    title: object = None,
    ttl: object = None,
    push_title: object = None,
    push_body: object = None,
    denial_reasons: object = None,
) -> bytes:
    """JSON body of ``POST /service/v3/auths``; unset fields are omitted (jose.md 4.4).

    Raises InvalidArgument naming the field: empty username, a text over its limit, ttl
    outside 30..600, a policy that is not an AuthPolicy, or denial reasons breaking the
    rules of service-api.md 1.
    """
    body: dict[str, Any] = {"username": _user("username", username)}
    if context is not None:
        body["context"] = _text("context", context, MAX_CONTEXT)
    if title is not None:
        body["title"] = _text("title", title, MAX_TITLE)
    if ttl is not None:
        body["ttl"] = _ttl(ttl)
    if push_title is not None:
        body["push_title"] = _text("push_title", push_title, MAX_PUSH_TITLE)
    if push_body is not None:
        body["push_body"] = _text("push_body", push_body, MAX_PUSH_BODY)
    if policy is not None:
        body["policy"] = _policy(policy)
    if denial_reasons is not None:
        body["denial_reasons"] = _denial_reasons(denial_reasons)
    try:
        return _encode(body)
    except UnicodeEncodeError:
        # Every text field above was checked; only names inside the policy remain.
        raise InvalidArgument("policy", "has text that is not valid Unicode") from None


def session_start_body(
    username: object, authorization_request_id: object = None
) -> bytes:
    """JSON body of ``POST /service/v3/sessions``; InvalidArgument on bad values."""
    body: dict[str, Any] = {"username": _user("username", username)}
    if authorization_request_id is not None:
        body["auth_request"] = check_request_id(authorization_request_id)
    return _encode(body)


def session_end_body(username: object) -> bytes:
    """JSON body of ``DELETE /service/v3/sessions``; InvalidArgument if user empty."""
    return _encode({"username": _user("username", username)})


def totp_body(username: object, otp: object) -> bytes:
    """JSON body of ``POST /service/v3/totp``; the OTP must be a 6-8 digit string."""
    user = _user("username", username)
    code = _text("otp", otp)
    if not _OTP.fullmatch(code):
        raise InvalidArgument("otp", "must be a string of 6 to 8 digits")
    return _encode({"identifier": user, "otp": code})
