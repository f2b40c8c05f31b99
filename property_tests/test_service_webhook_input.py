"""Law: whatever reaches a webhook endpoint, handle_webhook raises only our errors."""

from __future__ import annotations

import base64
import json
import uuid

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lk_core import (
    Headers,
    HttpRequest,
    HttpResponse,
    LaunchKeyError,
    generate_private_key,
)
from lk_io import ServiceClient

PLATFORM = generate_private_key()
SERVICE = generate_private_key()
T0 = 1_800_000_000


class _PublicOnly:
    """Answers the unsigned endpoints a webhook check may need; 404 for the rest."""

    def send(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/public/v3/ping":
            body = json.dumps({"api_time": "2027-01-15T08:00:00Z"}).encode()
            return HttpResponse(status=200, headers=Headers([]), body=body)
        if request.path.startswith("/public/v3/public-key"):
            headers = Headers([("X-IOV-KEY-ID", PLATFORM.kid)])
            return HttpResponse(
                status=200, headers=headers, body=PLATFORM.public.pem.encode()
            )
        return HttpResponse(status=404, headers=Headers([]))


CLIENT = ServiceClient(
    uuid.UUID(int=1, version=4), SERVICE, transport=_PublicOnly(), clock=lambda: T0
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# Compact-JWS-shaped tokens whose parts are arbitrary JSON-ish or random bytes, so the
# verifier gets past the split into three parts often.
TOKEN_PARTS = st.one_of(
    st.binary(max_size=40).map(_b64),
    st.dictionaries(st.sampled_from(["alg", "kid", "typ"]), st.text(max_size=10)).map(
        lambda d: _b64(json.dumps(d).encode())
    ),
)
TOKENS = st.one_of(
    st.text(max_size=60),
    st.tuples(TOKEN_PARTS, TOKEN_PARTS, TOKEN_PARTS).map(".".join),
)
HEADER_VALUES = st.one_of(TOKENS, st.lists(TOKENS, max_size=2), st.binary(max_size=20))
HEADERS = st.one_of(
    st.dictionaries(
        st.sampled_from(["X-IOV-JWT", "x-iov-jwt", "Authorization", "Content-Type"]),
        HEADER_VALUES,
        max_size=3,
    ),
    st.lists(st.tuples(st.text(max_size=10), st.text(max_size=20)), max_size=3),
    st.none(),
    st.integers(),
)
BODIES = st.one_of(st.binary(max_size=120), st.text(max_size=120), st.none())


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    BODIES,
    HEADERS,
    st.sampled_from([None, "POST", "GET"]),
    st.none() | st.text(max_size=10),
)
def test_hostile_webhooks_raise_only_library_errors(
    body: object, headers: object, method: str | None, path: str | None
) -> None:
    """No body, headers, method or path makes handle_webhook raise a foreign error."""
    try:
        CLIENT.handle_webhook(body, headers, method, path)  # type: ignore[arg-type]
    except LaunchKeyError:
        pass
    else:
        raise AssertionError("an unsigned webhook was accepted")
