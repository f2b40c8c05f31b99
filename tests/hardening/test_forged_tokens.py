"""Forged and tampered platform JWTs, on responses and on webhooks: each named attack.

Every test starts from a genuine message and changes one thing, so the error it expects
comes from the one check that attack must trip.
"""

from __future__ import annotations

from typing import Any

import pytest

from lk_core import (
    HttpResponse,
    InvalidJWTResponse,
    JWTValidationFailure,
    UnexpectedAPIResponse,
    UnexpectedWebhookRequest,
    WebhookAuthorizationError,
    verify_response,
)
from lk_core._jose import MAX_HEADER_BYTES, MAX_TOKEN_BYTES

from . import peer
from .peer import NOW, OTHER_SERVICE, SERVICE


def check(resp: HttpResponse, now: int = NOW) -> bytes | None:
    return verify_response(
        resp,
        peer.request(),
        platform_keys=peer.platform_keys(),
        keyring=peer.ring(),
        now=now,
    )


def hook(headers: list[tuple[str, str]], body: bytes, path: str = "/webhook") -> Any:
    return peer.check_webhook(headers, body, "POST", path)


@pytest.fixture(scope="module")
def genuine() -> HttpResponse:
    return peer.response(peer.request())


@pytest.fixture(scope="module")
def genuine_hook() -> tuple[list[tuple[str, str]], bytes]:
    return peer.webhook(peer.outer_package())


def set_claim(name: str, value: object) -> Any:
    def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
        claims[name] = value

    return edit


class TestSignatureAndAlgorithm:
    def test_genuine_response_passes(self, genuine: HttpResponse) -> None:
        """The unedited answer verifies: the forgeries below differ only by the edit."""
        assert check(genuine) == peer.CREATE_BODY
        assert check(peer.reforge_response(genuine)) == peer.CREATE_BODY

    def test_alg_none_is_refused(self, genuine: HttpResponse) -> None:
        """An unsigned token (alg none, empty signature) is refused before any key."""

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            header["alg"] = "none"

        _, claims = peer.response_claims(genuine)
        token = peer.forge_jws({"alg": "none", "kid": peer.platform().kid}, claims)
        forged = HttpResponse(
            status=201,
            headers=peer.Headers([("X-IOV-JWT", token)]),
            body=genuine.body,
        )
        with pytest.raises(InvalidJWTResponse, match="alg 'none'"):
            check(forged)
        # Even carrying a real RS512 signature, the header alg decides and is refused.
        with pytest.raises(InvalidJWTResponse, match="alg 'none'"):
            check(peer.reforge_response(genuine, edit))

    @pytest.mark.parametrize("alg", ["None", "NONE", "", None, "RS1", "PS512", "ES256"])
    def test_algorithms_outside_the_pinned_set(
        self, genuine: HttpResponse, alg: object
    ) -> None:
        """Only RS256/384/512 are accepted, in that exact spelling."""

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            header["alg"] = alg

        with pytest.raises(InvalidJWTResponse, match="alg"):
            check(peer.reforge_response(genuine, edit))

    def test_hmac_token_keyed_with_the_platform_public_key(
        self, genuine: HttpResponse
    ) -> None:
        """Key confusion: HS256 with the public PEM as secret never reaches a MAC."""

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            header["alg"] = "HS256"

        pem = peer.platform().public.pem.encode()
        forged = peer.reforge_response(genuine, edit, hmac_key=pem)
        with pytest.raises(InvalidJWTResponse, match="HS256"):
            check(forged)

    def test_kid_naming_another_trusted_key(self, genuine: HttpResponse) -> None:
        """Signed by the current key but naming the old one: verified with the old."""
        old = peer.key("platform-old")

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            header["kid"] = old.kid

        with pytest.raises(InvalidJWTResponse, match="does not verify"):
            check(peer.reforge_response(genuine, edit))

    def test_attacker_key_under_the_platform_kid(self, genuine: HttpResponse) -> None:
        """A token signed with a key the attacker owns but naming the platform's kid."""
        with pytest.raises(InvalidJWTResponse, match="does not verify"):
            check(peer.reforge_response(genuine, signer=peer.key("attacker")))

    def test_attacker_key_under_its_own_kid(self, genuine: HttpResponse) -> None:
        """A token naming a key the client does not trust is refused outright."""
        attacker = peer.key("attacker")

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            header["kid"] = attacker.kid

        with pytest.raises(InvalidJWTResponse, match="unknown platform key"):
            check(peer.reforge_response(genuine, edit, signer=attacker))

    def test_missing_kid(self, genuine: HttpResponse) -> None:
        """No kid: we will not guess which key should verify it."""

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            del header["kid"]

        with pytest.raises(InvalidJWTResponse, match="no kid"):
            check(peer.reforge_response(genuine, edit))

    def test_crit_header(self, genuine: HttpResponse) -> None:
        """A crit extension we do not implement must not be silently ignored."""

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            header["crit"] = ["exp"]

        with pytest.raises(InvalidJWTResponse, match="crit"):
            check(peer.reforge_response(genuine, edit))

    def test_flipped_signature_bit(self, genuine: HttpResponse) -> None:
        """One bit of the signature changed."""
        token = genuine.headers.get("X-IOV-JWT") or ""
        head, _, sig = token.rpartition(".")
        raw = bytearray(peer.unb64(sig))
        raw[10] ^= 1
        forged = HttpResponse(
            status=201,
            headers=peer.Headers([("X-IOV-JWT", head + "." + peer.b64(bytes(raw)))]),
            body=genuine.body,
        )
        with pytest.raises(InvalidJWTResponse, match="does not verify"):
            check(forged)

    def test_missing_jwt_header(self, genuine: HttpResponse) -> None:
        """An answer without X-IOV-JWT is not an answer (vendor SDK: a crash)."""
        bare = HttpResponse(status=201, headers=peer.Headers([]), body=genuine.body)
        with pytest.raises(UnexpectedAPIResponse, match="X-IOV-JWT"):
            check(bare)


class TestTimes:
    def test_expired(self, genuine: HttpResponse) -> None:
        """exp more than the 30 s leeway in the past."""
        with pytest.raises(JWTValidationFailure) as err:
            check(genuine, now=NOW + 5 + 31)
        assert err.value.check == "exp"

    def test_expired_at_the_edge_is_still_accepted(self, genuine: HttpResponse) -> None:
        """exp exactly 30 s ago is inside the documented leeway."""
        assert check(genuine, now=NOW + 5 + 30) == peer.CREATE_BODY

    @pytest.mark.parametrize("claim", ["nbf", "iat"])
    def test_not_yet_valid(self, genuine: HttpResponse, claim: str) -> None:
        """nbf or iat more than 30 s ahead of now."""
        edit = set_claim(claim, NOW + 31)
        forged = peer.reforge_response(genuine, _both(edit, set_claim("exp", NOW + 60)))
        with pytest.raises(JWTValidationFailure) as err:
            check(forged)
        assert err.value.check == claim

    def test_far_future_expiry(self, genuine: HttpResponse) -> None:
        """A token valid for ten years is refused: it could be replayed for years."""
        forged = peer.reforge_response(
            genuine, set_claim("exp", NOW + 10 * 365 * 86400)
        )
        with pytest.raises(JWTValidationFailure) as err:
            check(forged)
        assert err.value.check == "exp"

    @pytest.mark.parametrize("value", [True, 1.8e9, "1800000000", None, [NOW]])
    def test_time_claims_must_be_integers(
        self, genuine: HttpResponse, value: object
    ) -> None:
        """A bool, float, string or missing exp is not a time."""
        with pytest.raises(JWTValidationFailure) as err:
            check(peer.reforge_response(genuine, set_claim("exp", value)))
        assert err.value.check == "exp"


def _both(*edits: Any) -> Any:
    def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
        for one in edits:
            one(header, claims)

    return edit


class TestClaims:
    @pytest.mark.parametrize(
        ("claim", "value"),
        [
            ("aud", str(OTHER_SERVICE)),
            ("aud", "public"),
            ("aud", [str(SERVICE)]),
            ("iss", "svc:" + SERVICE.id),
            ("iss", "LKA"),
            ("sub", str(OTHER_SERVICE)),
            ("jti", "00000000-0000-4000-8000-000000000000"),
            ("jti", None),
        ],
    )
    def test_wrong_audience_issuer_subject_or_jti(
        self, genuine: HttpResponse, claim: str, value: object
    ) -> None:
        """Each binding claim must equal, in type and value, what we expect."""
        with pytest.raises(JWTValidationFailure) as err:
            check(peer.reforge_response(genuine, set_claim(claim, value)))
        assert err.value.check == claim

    def test_answer_to_another_request(self) -> None:
        """A genuine answer to a different request (other jti) does not answer ours."""
        other = peer.sign_request(
            "POST",
            "/service/v3/auths",
            issuer=SERVICE,
            subject=SERVICE,
            keyring=peer.ring(),
            platform_key=peer.platform().public,
            payload=b"{}",
            now=NOW,
            jti="another-jti",
        )
        with pytest.raises(JWTValidationFailure) as err:
            check(peer.response(other))
        assert err.value.check == "jti"

    def test_status_claim_must_match_the_http_status(
        self, genuine: HttpResponse
    ) -> None:
        """A signed 400 cannot be served as a 201 (and so read as success)."""
        relabelled = HttpResponse(
            status=200, headers=genuine.headers, body=genuine.body
        )
        with pytest.raises(JWTValidationFailure) as err:
            check(relabelled)
        assert err.value.check == "response.status"

    def test_unbound_location_header(self, genuine: HttpResponse) -> None:
        """A Location header the JWT does not bind was added in transit."""
        headers = peer.Headers([*genuine.headers, ("Location", "https://evil")])
        moved = HttpResponse(status=201, headers=headers, body=genuine.body)
        with pytest.raises(JWTValidationFailure) as err:
            check(moved)
        assert err.value.check == "response.location"


class TestBodyBinding:
    def test_body_swapped_between_two_genuine_responses(
        self, genuine: HttpResponse
    ) -> None:
        """Headers of one real answer with the body of another real answer."""
        second = peer.response(peer.request(), payload=b'{"auth_request":"x"}')
        swapped = HttpResponse(status=201, headers=genuine.headers, body=second.body)
        with pytest.raises(JWTValidationFailure) as err:
            check(swapped)
        assert err.value.check == "response.hash"

    def test_hash_of_another_body(self, genuine: HttpResponse) -> None:
        """The signed hash names a different body than the one delivered."""

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            claims["response"]["hash"] = peer.sha256_hex(b"another body")

        with pytest.raises(JWTValidationFailure) as err:
            check(peer.reforge_response(genuine, edit))
        assert err.value.check == "response.hash"

    def test_body_without_a_hash(self, genuine: HttpResponse) -> None:
        """A body the JWT does not mention at all is refused."""

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            del claims["response"]["hash"], claims["response"]["func"]

        with pytest.raises(JWTValidationFailure) as err:
            check(peer.reforge_response(genuine, edit))
        assert err.value.check == "response.func"

    def test_body_added_to_an_empty_answer(self) -> None:
        """A 204 that is signed as empty cannot grow a body in transit."""
        empty = peer.response(peer.request(), status=204, payload=None)
        grown = HttpResponse(status=204, headers=empty.headers, body=b"x")
        with pytest.raises(JWTValidationFailure) as err:
            check(grown)
        assert err.value.check == "response.func"

    def test_weak_hash_function_name(self, genuine: HttpResponse) -> None:
        """func must be one of S256/S384/S512; MD5 or lower case is not."""

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            claims["response"]["func"] = "MD5"

        with pytest.raises(JWTValidationFailure) as err:
            check(peer.reforge_response(genuine, edit))
        assert err.value.check == "response.func"


def _raw_claims(genuine: HttpResponse, raw_claims: bytes) -> HttpResponse:
    header, _ = peer.response_claims(genuine)
    token = peer.forge_jws(header, raw_claims, peer.platform())
    return HttpResponse(
        status=201, headers=peer.Headers([("X-IOV-JWT", token)]), body=genuine.body
    )


class TestHostileJSONInTokens:
    def test_duplicate_claim_keys(self, genuine: HttpResponse) -> None:
        """Two aud claims: parsers disagree on which wins, so neither may."""
        _, claims = peer.response_claims(genuine)
        raw = peer.dumps(claims)[:-1] + b',"aud":"svc:evil"}'
        with pytest.raises(InvalidJWTResponse, match="duplicate key 'aud'"):
            check(_raw_claims(genuine, raw))

    def test_duplicate_header_keys(self, genuine: HttpResponse) -> None:
        """Two alg values in the header."""
        header, claims = peer.response_claims(genuine)
        raw_header = peer.dumps(header)[:-1] + b',"alg":"none"}'
        token = peer.forge_jws(raw_header, claims, peer.platform())
        forged = HttpResponse(
            status=201, headers=peer.Headers([("X-IOV-JWT", token)]), body=genuine.body
        )
        with pytest.raises(InvalidJWTResponse, match="duplicate key 'alg'"):
            check(forged)

    def test_non_utf8_claims(self, genuine: HttpResponse) -> None:
        """Claims bytes that are not UTF-8 (an invalid two-byte sequence)."""
        _, claims = peer.response_claims(genuine)
        raw = peer.dumps(claims)[:-1] + b',"x":"\xc3\x28"}'
        with pytest.raises(InvalidJWTResponse, match="UTF-8"):
            check(_raw_claims(genuine, raw))

    def test_non_ascii_token_text(self, genuine: HttpResponse) -> None:
        """A header value with non-ASCII characters is not a compact JWS."""
        token = (genuine.headers.get("X-IOV-JWT") or "") + "\u00e9"
        forged = HttpResponse(
            status=201, headers=peer.Headers([("X-IOV-JWT", token)]), body=genuine.body
        )
        with pytest.raises(InvalidJWTResponse, match="ASCII"):
            check(forged)

    def test_deeply_nested_claims(self, genuine: HttpResponse) -> None:
        """Nesting that would exhaust the stack of a recursive parser."""
        raw = b'{"x":' + b"[" * 5000 + b"]" * 5000 + b"}"
        with pytest.raises(InvalidJWTResponse, match="nested too deeply"):
            check(_raw_claims(genuine, raw))

    @pytest.mark.parametrize("constant", [b"NaN", b"Infinity", b"-Infinity"])
    def test_non_json_numbers(self, genuine: HttpResponse, constant: bytes) -> None:
        """NaN and Infinity are not JSON, whatever Python's parser accepts."""
        _, claims = peer.response_claims(genuine)
        raw = peer.dumps(claims)[:-1] + b',"x":' + constant + b"}"
        with pytest.raises(InvalidJWTResponse, match="not JSON"):
            check(_raw_claims(genuine, raw))

    def test_claims_not_an_object(self, genuine: HttpResponse) -> None:
        """A JSON array is not a claims set."""
        with pytest.raises(InvalidJWTResponse, match="not a JSON object"):
            check(_raw_claims(genuine, b"[1,2,3]"))


class TestOversized:
    def test_token_over_the_cap(self, genuine: HttpResponse) -> None:
        """A JWT over 16 KiB is refused before it is decoded."""
        _, claims = peer.response_claims(genuine)
        claims["pad"] = "a" * MAX_TOKEN_BYTES
        with pytest.raises(InvalidJWTResponse, match=f"at most {MAX_TOKEN_BYTES}"):
            check(_raw_claims(genuine, peer.dumps(claims)))

    def test_header_over_the_cap(self, genuine: HttpResponse) -> None:
        """A JWS header over 2 KiB is refused."""
        header, claims = peer.response_claims(genuine)
        header["pad"] = "a" * MAX_HEADER_BYTES
        token = peer.forge_jws(header, claims, peer.platform())
        forged = HttpResponse(
            status=201, headers=peer.Headers([("X-IOV-JWT", token)]), body=genuine.body
        )
        with pytest.raises(InvalidJWTResponse, match="header too large"):
            check(forged)


class TestWebhookTokens:
    def test_genuine_webhook_passes(
        self, genuine_hook: tuple[list[tuple[str, str]], bytes]
    ) -> None:
        """The unedited webhook verifies and decrypts."""
        headers, body = genuine_hook
        assert hook(headers, body).encrypted

    def test_no_jwt(self, genuine_hook: tuple[list[tuple[str, str]], bytes]) -> None:
        """A POST without X-IOV-JWT or Authorization."""
        _, body = genuine_hook
        with pytest.raises(WebhookAuthorizationError):
            hook([("Content-Type", "application/jose")], body)

    @pytest.mark.parametrize(
        ("header_edit", "match"),
        [
            ({"alg": "none"}, "alg 'none'"),
            ({"alg": "HS256"}, "HS256"),
            ({"kid": "00:11"}, "unknown platform key"),
        ],
    )
    def test_forged_webhook_headers(
        self,
        genuine_hook: tuple[list[tuple[str, str]], bytes],
        header_edit: dict[str, str],
        match: str,
    ) -> None:
        """alg none, HMAC, and an unknown kid, on the webhook path."""
        headers, body = genuine_hook

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            header.update(header_edit)

        with pytest.raises(UnexpectedWebhookRequest, match=match):
            hook(peer.reforge_webhook(headers, edit), body)

    @pytest.mark.parametrize(
        ("claim", "value", "match"),
        [
            ("aud", str(OTHER_SERVICE), "aud"),
            ("sub", str(OTHER_SERVICE), "sub"),
            ("iss", "evil", "iss"),
            ("exp", NOW - 60, "exp"),
            ("exp", NOW + 86400 * 365, "exp"),
            ("nbf", NOW + 60, "nbf"),
        ],
    )
    def test_webhook_claims(
        self,
        genuine_hook: tuple[list[tuple[str, str]], bytes],
        claim: str,
        value: object,
        match: str,
    ) -> None:
        """A webhook for another service, from another issuer, or outside its time."""
        headers, body = genuine_hook
        with pytest.raises(UnexpectedWebhookRequest, match=match):
            hook(peer.reforge_webhook(headers, set_claim(claim, value)), body)

    def test_webhook_for_another_path_or_method(
        self, genuine_hook: tuple[list[tuple[str, str]], bytes]
    ) -> None:
        """A webhook signed for /webhook replayed at another receiver endpoint."""
        headers, body = genuine_hook
        with pytest.raises(UnexpectedWebhookRequest, match=r"request\.path"):
            hook(headers, body, path="/admin/webhook")
        with pytest.raises(UnexpectedWebhookRequest, match=r"request\.meth"):
            peer.check_webhook(headers, body, "PUT", "/webhook")

    def test_webhook_body_swapped(
        self, genuine_hook: tuple[list[tuple[str, str]], bytes]
    ) -> None:
        """Headers of one genuine webhook with the body of another."""
        headers, _ = genuine_hook
        _, other_body = peer.webhook(
            b'{"service_user_hash":"x","api_time":"y"}', encrypt=False
        )
        with pytest.raises(UnexpectedWebhookRequest, match=r"request\.hash"):
            hook(headers, other_body)
