"""Hostile-platform law for the plans: whatever a (fake) platform answers to each step
of a signed call, the plan returns or raises a documented LaunchKeyError - never
another exception - and never returns success for an answer it could not verify.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from lk_core import (
    Credentials,
    Headers,
    HttpResponse,
    KeyRing,
    LaunchKeyError,
    PlatformView,
    Received,
    Send,
    Store,
    signed_call,
)
from tests.core.support import SVC, T0, fixture_key, property_settings

CLIENT = fixture_key("client-key")
PLATFORM = fixture_key("platform-key")
CREDS = Credentials(issuer=SVC, subject=SVC, keyring=KeyRing(CLIENT))

# Each example runs up to four steps, each answered by one drawn response; 150 examples.
SETTINGS = property_settings(150)

# Statuses across the whole range, weighted towards those the plans treat specially.
STATUSES = st.sampled_from([200, 201, 204, 400, 401, 404, 409, 500, 503]) | st.integers(
    100, 599
)
# Bodies: empty, a real platform key PEM, ping-shaped JSON with good and bad times,
# and arbitrary bytes.
BODIES = (
    st.just(b"")
    | st.just(PLATFORM.public.pem.encode())
    | st.sampled_from(
        [
            b'{"api_time": "2027-01-15T08:00:00Z"}',
            b'{"api_time": "0001-01-01T00:00:00+14:00"}',
            b'{"api_time": "9999-12-31T23:59:59-14:00"}',
            b'{"api_time": "2027-01-15"}',
            b'{"api_time": null}',
            b"[]",
        ]
    )
    | st.binary(max_size=300)
)
# Headers: the key id the platform should send, a wrong one, and junk JWTs.
HEADERS = st.lists(
    st.sampled_from(
        [
            ("X-IOV-KEY-ID", PLATFORM.kid),
            ("X-IOV-KEY-ID", CLIENT.kid),
            ("X-IOV-JWT", "a.b.c"),
            ("X-IOV-JWT", "eyJhbGciOiJSUzI1NiIsImtpZCI6ImEvYiJ9.e30.AA"),
            ("Location", "/x"),
        ]
    ),
    max_size=3,
)
RESPONSES = st.builds(
    lambda status, headers, body: HttpResponse(
        status=status, headers=Headers(headers), body=body
    ),
    STATUSES,
    HEADERS,
    BODIES,
)


@SETTINGS
@given(data=st.data(), payload=st.none() | st.just(b'{"a": 1}'))
def test_signed_call_against_hostile_platform(data: Any, payload: bytes | None) -> None:
    """Any answers raise LaunchKeyError subclasses only, and never yield success."""
    plan = signed_call(
        PlatformView(),
        CREDS,
        "POST",
        "/service/v3/auths",
        payload,
        now=float(T0),
        new_jti=lambda: "j",
    )
    try:
        step = next(plan)
        while True:
            if isinstance(step, Send):
                step = plan.send(Received(data.draw(RESPONSES), float(T0)))
            else:
                assert isinstance(step, Store)
                step = plan.send(None)
    except StopIteration as stop:
        # Success needs a response signed by the platform key: none is drawn here.
        raise AssertionError(f"unverifiable answer accepted: {stop.value!r}") from None
    except LaunchKeyError:
        pass
