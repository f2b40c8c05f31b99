"""Fuzz laws for the JOSE layer and the signed protocol: responses, webhooks, requests.

Law for each: arbitrary bytes and mutations of genuine messages either verify or raise a
documented LaunchKeyError - never another exception. A mutation that still verifies
must leave the verified content unchanged (tampering cannot change what we accept).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from lk_core import (
    Headers,
    HttpResponse,
    KeyRing,
    LaunchKeyError,
    PlatformView,
    Received,
    Send,
    VerifiedRequest,
    jwe_decrypt,
    parse_entity,
    sign_response,
    verify_request,
    verify_response,
)
from lk_core._jose import jws_parse
from lk_core.service import (
    cancel_auth_plan,
    create_auth_plan,
    get_auth_response_plan,
    verify_totp_plan,
    webhook_plan,
)
from lk_io._client import ServiceCalls
from tests.hardening import peer
from tests.hardening.fuzz import (
    FUZZ,
    FUZZ_SLOW,
    JSON,
    OBJECTS,
    RAW,
    mutated,
    only_documented,
)
from tests.hardening.peer import NOW, SERVICE

TEXT_TOKENS = st.text(max_size=300) | RAW.map(lambda b: b.decode("latin-1"))
STATUSES = st.integers(min_value=100, max_value=599)
HEADER_NAMES = st.sampled_from(
    ["X-IOV-JWT", "x-iov-jwt", "Authorization", "Location", "Cache-Control", "X"]
)
HEADER_LISTS = st.lists(st.tuples(HEADER_NAMES, TEXT_TOKENS), max_size=4)


@pytest.fixture(scope="module")
def genuine() -> HttpResponse:
    return peer.response(peer.request())


def _check(resp: HttpResponse) -> bytes | None:
    return verify_response(
        resp,
        peer.request(),
        platform_keys=peer.platform_keys(),
        keyring=peer.ring(),
        now=NOW,
    )


@FUZZ
@given(token=TEXT_TOKENS | RAW)
def test_jws_parse_arbitrary(token: str | bytes) -> None:
    """Any text or bytes: a parsed JWS or InvalidJWTResponse."""
    only_documented(jws_parse, token)


@FUZZ
@given(token=TEXT_TOKENS | RAW)
def test_jwe_decrypt_arbitrary(token: str | bytes) -> None:
    """Any text or bytes: plaintext or a documented error."""
    only_documented(jwe_decrypt, token, peer.ring())


@FUZZ
@given(data=st.data())
def test_jwe_decrypt_mutations_never_change_the_plaintext(data: st.DataObject) -> None:
    """A mutated genuine JWE is refused, or (a no-op edit) yields the same bytes."""
    plain = b'{"auth_request":"r"}'
    token = peer.jwe_encrypt(plain, peer.service().public).encode()
    bad = data.draw(mutated(token))
    out = only_documented(jwe_decrypt, bad, peer.ring())
    assert out is None or out == plain


@FUZZ
@given(status=STATUSES, headers=HEADER_LISTS, body=RAW)
def test_verify_response_arbitrary(
    status: int, headers: list[tuple[str, str]], body: bytes
) -> None:
    """Arbitrary status, headers and body: refused with a documented error."""
    resp = HttpResponse(status=status, headers=Headers(headers), body=body)
    assert only_documented(_check, resp) is None


@FUZZ
@given(data=st.data())
def test_verify_response_mutations(data: st.DataObject, genuine: HttpResponse) -> None:
    """Mutating the token or the body of a genuine answer: refused, or unchanged."""
    token = (genuine.headers.get("X-IOV-JWT") or "").encode()
    part = data.draw(st.sampled_from(["token", "body", "both"]))
    new_token = data.draw(mutated(token)) if part != "body" else token
    new_body = data.draw(mutated(genuine.body)) if part != "token" else genuine.body
    resp = HttpResponse(
        status=genuine.status,
        headers=Headers([("X-IOV-JWT", new_token.decode("latin-1"))]),
        body=new_body,
    )
    out = only_documented(_check, resp)
    assert out is None or out == peer.CREATE_BODY


@FUZZ
@given(claims=OBJECTS, alg=st.sampled_from(["RS256", "RS384", "RS512"]))
def test_verify_response_with_validly_signed_arbitrary_claims(
    claims: dict[str, Any], alg: str, genuine: HttpResponse
) -> None:
    """Claims signed by the real platform key but otherwise arbitrary: no crash."""
    header = {"alg": alg, "kid": peer.platform().kid}
    token = peer.forge_jws(header, claims, peer.platform())
    resp = HttpResponse(
        status=201, headers=Headers([("X-IOV-JWT", token)]), body=genuine.body
    )
    only_documented(_check, resp)


@FUZZ
@given(headers=HEADER_LISTS, body=RAW, path=st.text(max_size=20))
def test_verify_webhook_arbitrary(
    headers: list[tuple[str, str]], body: bytes, path: str
) -> None:
    """Arbitrary webhook headers and body: a documented error."""
    assert only_documented(peer.check_webhook, headers, body, "POST", path) is None


@FUZZ
@given(data=st.data(), encrypted=st.booleans())
def test_verify_webhook_mutations(data: st.DataObject, encrypted: bool) -> None:
    """A genuine webhook with its token or body mutated: refused, or unchanged."""
    payload = peer.outer_package() if encrypted else b'{"service_user_hash":"h"}'
    headers, body = peer.webhook(payload, encrypt=encrypted)
    token = dict(headers)["X-IOV-JWT"].encode()
    bad_token = data.draw(mutated(token) | st.just(token))
    bad_body = data.draw(mutated(body) | st.just(body))
    assume(bad_token != token or bad_body != body)
    forged = [("X-IOV-JWT", bad_token.decode("latin-1"))]
    out = only_documented(peer.check_webhook, forged, bad_body)
    assert out is None or out.body == payload


class _Peer:
    """A platform for plans: public keys by id (else 404); signed calls answered
    with ``status`` and ``payload``, genuinely signed and encrypted."""

    def __init__(self, status: int = 200, payload: bytes | None = None) -> None:
        self.status = status
        self.payload = payload

    def send(self, step: Send) -> HttpResponse:
        request = step.request
        if request.path == "/public/v3/ping":
            body = b'{"api_time":"2027-01-15T08:00:00Z"}'
            return HttpResponse(status=200, headers=Headers([]), body=body)
        if request.path.startswith("/public/"):
            return self._key(request.path.rpartition("/")[2])
        token = dict(request.headers)["Authorization"][8:]
        claims = jws_parse(token).claims
        answering = VerifiedRequest(
            issuer=parse_entity(claims["iss"]),
            subject=parse_entity(claims["sub"]),
            jti=claims["jti"],
            kid="",
            exp=0,
            payload=None,
        )
        return sign_response(
            self.status,
            self.payload,
            request=answering,
            platform_key=peer.platform(),
            encrypt_to=peer.service().public,
            now=NOW,
        )

    def _key(self, kid: str) -> HttpResponse:
        keys = {k.kid: k for k in (peer.platform(), peer.key("platform-old"))}
        key = keys.get(kid) if kid != "public-key" else peer.platform()
        if key is None:
            return HttpResponse(status=404, headers=Headers([]))
        return HttpResponse(
            status=200,
            headers=Headers([("X-IOV-KEY-ID", key.kid)]),
            body=key.public.pem.encode(),
        )


def _drive(plan: Generator[Any, Any, Any], server: _Peer | None = None) -> Any:
    reply: Any = None
    server = server or _Peer()
    while True:
        try:
            step = plan.send(reply)
        except StopIteration as done:
            return done.value
        reply = Received(server.send(step), NOW) if isinstance(step, Send) else None


def _creds() -> Any:
    return ServiceCalls(SERVICE.id, peer.service())._creds


def _handle(body: object, headers: object, method: object, path: object) -> Any:
    view = PlatformView(
        keys={peer.platform().kid: peer.platform().public},
        current_kid=peer.platform().kid,
        current_at=NOW,
        offset=0.0,
        offset_at=NOW,
    )
    plan = webhook_plan(view, _creds(), body, headers, method, path, now=NOW)  # type: ignore[arg-type]
    return _drive(plan)


@FUZZ
@given(
    body=RAW | st.text(max_size=200) | JSON,
    headers=HEADER_LISTS | JSON,
    method=st.none() | st.text(max_size=8),
    path=st.none() | st.text(max_size=20),
)
def test_handle_webhook_arbitrary_inputs(
    body: object, headers: object, method: object, path: object
) -> None:
    """handle_webhook's plan with any body and header shapes: a documented error."""
    assert only_documented(_handle, body, headers, method, path) is None


@FUZZ
@given(data=st.data())
def test_handle_webhook_mutated_session_end(data: st.DataObject) -> None:
    """A session-end webhook's JWT re-signed with arbitrary claims: no crash."""
    _, body = peer.webhook(b'{"service_user_hash":"h","api_time":"x"}', encrypt=False)
    claims = data.draw(OBJECTS)
    token = peer.forge_jws(
        {"alg": "RS256", "kid": peer.platform().kid}, claims, peer.platform()
    )
    only_documented(_handle, body, [("X-IOV-JWT", token)], "POST", "/webhook")


@FUZZ
@given(
    method=st.sampled_from(["GET", "POST", "DELETE"]),
    headers=HEADER_LISTS,
    body=RAW,
)
def test_platform_verify_request_arbitrary(
    method: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    """The emulator's request verifier refuses garbage with a documented error."""
    out = only_documented(
        verify_request,
        method,
        "/service/v3/auths",
        headers,
        body,
        key_lookup=lambda issuer, kid: peer.service().public,
        platform_keys=KeyRing(peer.platform()),
        now=NOW,
    )
    assert out is None


@FUZZ
@given(data=st.data())
def test_platform_verify_request_mutations(data: st.DataObject) -> None:
    """A genuine signed request, mutated: refused, or the same payload."""
    sent = peer.request()
    auth = dict(sent.http.headers)["Authorization"].encode()
    bad_auth = data.draw(mutated(auth) | st.just(auth))
    bad_body = data.draw(mutated(sent.http.body) | st.just(sent.http.body))
    assume(bad_auth != auth or bad_body != sent.http.body)
    out = only_documented(
        verify_request,
        "POST",
        "/service/v3/auths",
        [("Authorization", bad_auth.decode("latin-1"))],
        bad_body,
        key_lookup=lambda issuer, kid: peer.service().public,
        platform_keys=KeyRing(peer.platform()),
        now=NOW,
    )
    assert out is None or out.payload == b'{"username":"u"}'


API_STATUSES = st.sampled_from([200, 201, 204, 400, 403, 404, 408, 409, 429, 499])


@FUZZ_SLOW
@given(
    status=API_STATUSES,
    payload=st.none() | JSON.map(peer.dumps) | OBJECTS.map(peer.dumps) | RAW,
    call=st.sampled_from(["create", "get", "totp", "cancel"]),
)
def test_service_calls_with_signed_arbitrary_answers(
    status: int, payload: bytes | None, call: str
) -> None:
    """Genuinely signed answers of any status carrying any body: a value or a
    documented error (coded API errors included), for each kind of call."""
    make = {
        "create": lambda: create_auth_plan(
            PlatformView(), _creds(), "user", now=NOW, new_jti=lambda: "j"
        ),
        "get": lambda: get_auth_response_plan(
            PlatformView(), _creds(), peer.REQUEST_ID, now=NOW, new_jti=lambda: "j"
        ),
        "totp": lambda: verify_totp_plan(
            PlatformView(), _creds(), "user", "123456", now=NOW, new_jti=lambda: "j"
        ),
        "cancel": lambda: cancel_auth_plan(
            PlatformView(), _creds(), peer.REQUEST_ID, now=NOW, new_jti=lambda: "j"
        ),
    }[call]
    only_documented(_drive, make(), _Peer(status, payload))


@FUZZ_SLOW
@given(
    data=OBJECTS,
    code=st.sampled_from(["SVC-005", "ARG-001", "SVC-007", "XYZ-999"])
    | st.text(max_size=8),
    detail=JSON,
)
def test_coded_error_bodies(data: dict[str, Any], code: str, detail: object) -> None:
    """A 400 error body with any code, detail and error_data maps to an exception
    (AuthorizationInProgress reads its error_data without trusting it)."""
    body = peer.dumps({"error_code": code, "error_detail": detail, "error_data": data})
    plan = create_auth_plan(
        PlatformView(), _creds(), "user", now=NOW, new_jti=lambda: "j"
    )
    with pytest.raises(LaunchKeyError):
        _drive(plan, _Peer(400, body))
