"""Cross-checks with the vendor SDK (launchkey 4.0.1) and its JOSE library, pyjwkest.

Each direction is tested: what our core writes, the vendor's code accepts; what the
vendor's code writes, our core accepts. The vendor SDK reads the real clock, so these
tests pass the real time to our core as ``now`` (its checks allow 30 s either way).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from jwkest.jwe import JWE
from jwkest.jwk import RSAKey, import_rsa_key
from jwkest.jws import JWS
from launchkey.clients import ServiceClient
from launchkey.entities.service import SessionEndRequest
from launchkey.exceptions import (
    InvalidParameters as VendorInvalidParameters,
)
from launchkey.exceptions import (
    JWTValidationFailure as VendorJWTValidationFailure,
)
from launchkey.exceptions import (
    UnexpectedWebhookRequest as VendorUnexpectedWebhookRequest,
)
from launchkey.transports.base import APIErrorResponse, APIResponse
from launchkey.transports.jose_auth import JOSETransport
from launchkey.utils.shared import XiovJWTService
from requests.structures import CaseInsensitiveDict

from lk_core import (
    Entity,
    Headers,
    HttpRequest,
    HttpResponse,
    JWTValidationFailure,
    KeyRing,
    PrivateKey,
    UnexpectedWebhookRequest,
    private_key_pem,
    sign_response,
    sign_webhook,
    verify_request,
    verify_response,
    verify_webhook,
)

from .support import ORG, PAYLOAD, SVC, bearer, response_claims, signed


def _now() -> int:
    return int(time.time())


# The vendor's key import runs primality tests on private keys (~0.1 s each), so keys
# and client transports are built once per key and reused.
@functools.cache
def _vendor_public(key: PrivateKey) -> RSAKey:
    return RSAKey(key=import_rsa_key(key.public.pem), kid=key.kid)


@functools.cache
def _vendor_private(key: PrivateKey) -> RSAKey:
    return RSAKey(key=import_rsa_key(private_key_pem(key)), kid=key.kid)


def _platform_verifier(client: PrivateKey, expected_iss: Entity) -> JOSETransport:
    """A vendor transport that checks a client's request the way it checks webhooks.

    The vendor compares the token's iss with its ``audience`` and aud with its
    ``issuer``; for a request we sign, iss is our entity and aud is ``lka``.
    """
    transport = JOSETransport()
    transport.issuer = "lka"
    transport.audience = str(expected_iss)
    transport._public_key_cache[client.kid] = _vendor_public(client)
    return transport


@functools.cache
def _vendor_client(client: PrivateKey, issuer: Entity) -> JOSETransport:
    transport = JOSETransport()
    transport.set_issuer(issuer.type, issuer.id, private_key_pem(client))
    transport.add_encryption_private_key(private_key_pem(client))
    return transport


def _client_transport(
    client: PrivateKey, platform: PrivateKey, issuer: Entity = SVC
) -> JOSETransport:
    """A vendor client transport holding our client key and knowing the platform key."""
    transport = _vendor_client(client, issuer)
    now = _now()
    transport._server_time_difference = (0, now)
    transport._current_kid = (platform.kid, now)
    transport._public_key_cache = {platform.kid: _vendor_public(platform)}
    return transport


class TestOurRequestInVendor:
    @pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
    @pytest.mark.parametrize("func", ["S256", "S384", "S512"])
    def test_request_passes_vendor_verification(
        self, client_key: PrivateKey, platform_key: PrivateKey, alg: str, func: str
    ) -> None:
        """A request we sign passes the vendor's verify_jwt_request, hash included."""
        req = signed(client_key, platform_key, now=_now(), alg=alg, func=func)
        vendor = _platform_verifier(client_key, SVC)
        claims = vendor.verify_jwt_request(
            bearer(req.http.headers),
            str(SVC),
            "POST",
            "/service/v3/auths",
            req.http.body.decode(),
        )
        assert claims["request"]["func"] == func

    @pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
    def test_every_method_with_body(
        self, client_key: PrivateKey, platform_key: PrivateKey, method: str
    ) -> None:
        """PUT, PATCH and DELETE with a body pass with the method signed as sent."""
        path = "/service/v3/sessions"
        req = signed(client_key, platform_key, method.lower(), path, now=_now())
        vendor = _platform_verifier(client_key, SVC)
        token = bearer(req.http.headers)
        vendor.verify_jwt_request(token, str(SVC), method, path, req.http.body.decode())

    def test_bodiless_request(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A bodiless request passes with an empty body and no hash."""
        req = signed(
            client_key, platform_key, "GET", "/service/v3/auths/x", None, now=_now()
        )
        vendor = _platform_verifier(client_key, SVC)
        vendor.verify_jwt_request(
            bearer(req.http.headers), str(SVC), "GET", "/service/v3/auths/x", ""
        )

    def test_parent_acting_for_child(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """An org-signed request for a service passes with iss org and sub svc."""
        req = signed(client_key, platform_key, issuer=ORG, subject=SVC, now=_now())
        vendor = _platform_verifier(client_key, ORG)
        vendor.verify_jwt_request(
            bearer(req.http.headers),
            str(SVC),
            "POST",
            "/service/v3/auths",
            req.http.body.decode(),
        )

    def test_vendor_catches_a_wrong_path(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """The vendor check is live: the same request under another path is refused."""
        req = signed(client_key, platform_key, now=_now())
        vendor = _platform_verifier(client_key, SVC)
        with pytest.raises(VendorJWTValidationFailure):
            vendor.verify_jwt_request(
                bearer(req.http.headers),
                str(SVC),
                "POST",
                "/service/v3/other",
                req.http.body.decode(),
            )

    def test_body_decrypts_with_vendor(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """Our JWE request body decrypts with the vendor's decrypt_response."""
        req = signed(client_key, platform_key, now=_now())
        vendor = JOSETransport()
        vendor.add_encryption_private_key(private_key_pem(platform_key))
        assert vendor.decrypt_response(req.http.body.decode()) == PAYLOAD.decode()


class TestVendorRequestInOurs:
    def test_vendor_request_passes_our_platform_side(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A request the vendor client builds passes our verify_request and decrypts."""
        vendor = _client_transport(client_key, platform_key)
        body = vendor._encrypt_request({"username": "u", "ttl": 300})
        digest = vendor._get_content_hash(body, "S256")
        auth = vendor._build_jwt_signature(
            "POST", "/service/v3/auths", "jti-1", str(SVC), content_hash=digest
        )
        got = verify_request(
            "POST",
            "/service/v3/auths",
            {"Authorization": auth, "content-type": "application/jwe"},
            body.encode(),
            key_lookup=lambda entity, kid: (
                client_key.public if kid == client_key.kid else None
            ),
            platform_keys=KeyRing(platform_key),
            now=_now(),
        )
        assert got.jti == "jti-1"
        assert json.loads(got.payload or b"") == {"username": "u", "ttl": 300}


def _vendor_response(
    sent: Any,
    client: PrivateKey,
    platform: PrivateKey,
    *,
    payload: dict[str, Any] | None,
    status: int = 200,
    headers: tuple[tuple[str, str], ...] = (),
    now: int | None = None,
) -> HttpResponse:
    """A platform answer built with pyjwkest, the vendor's JOSE library."""
    now = _now() if now is None else now
    body = ""
    bound: dict[str, Any] = {"status": status}
    if payload is not None:
        jwe = JWE(
            json.dumps(payload), alg="RSA-OAEP", enc="A256CBC-HS512", kid=client.kid
        )
        body = jwe.encrypt(keys=[_vendor_public(client)])
        bound["hash"] = hashlib.sha256(body.encode()).hexdigest()
        bound["func"] = "S256"
    for name, value in headers:
        bound[{"location": "location", "cache-control": "cache"}[name.lower()]] = value
    claims = response_claims(sent, now=now, status=status, bound=bound)
    token = JWS(json.dumps(claims), alg="RS256").sign_compact(
        keys=[_vendor_private(platform)]
    )
    return HttpResponse(
        status=status,
        headers=Headers([*headers, ("X-IOV-JWT", token)]),
        body=body.encode(),
    )


class TestVendorResponseInOurs:
    def _verify(
        self,
        response: HttpResponse,
        sent: Any,
        client: PrivateKey,
        platform: PrivateKey,
    ) -> bytes | None:
        return verify_response(
            response,
            sent,
            platform_keys={platform.kid: platform.public},
            keyring=KeyRing(client),
            now=_now(),
        )

    def test_pyjwkest_response_passes(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A JWS + JWE answer made by pyjwkest verifies and decrypts with our core."""
        sent = signed(client_key, platform_key, now=_now())
        answer = {"auth_request": str(uuid.uuid4()), "push_package": "pp"}
        response = _vendor_response(
            sent,
            client_key,
            platform_key,
            payload=answer,
            status=201,
            headers=(
                ("Location", "/service/v3/auths/1"),
                ("Cache-Control", "no-cache"),
            ),
        )
        body = self._verify(response, sent, client_key, platform_key)
        assert json.loads(body or b"") == answer

    def test_pyjwkest_empty_answer(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A bodiless pyjwkest-signed 204 verifies to None."""
        sent = signed(client_key, platform_key, "GET", "/x", None, now=_now())
        response = _vendor_response(
            sent, client_key, platform_key, payload=None, status=204
        )
        assert self._verify(response, sent, client_key, platform_key) is None

    def test_pyjwkest_response_for_other_request_refused(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """The pyjwkest answer to one request does not pass as the answer to another."""
        sent = signed(client_key, platform_key, now=_now())
        other = signed(client_key, platform_key, now=_now(), jti=str(uuid.uuid4()))
        response = _vendor_response(sent, client_key, platform_key, payload={"a": 1})
        with pytest.raises(JWTValidationFailure, match="jti"):
            self._verify(response, other, client_key, platform_key)


class TestOurResponseInVendor:
    def test_vendor_verifies_and_decrypts_our_answer(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """An answer from our sign_response passes the vendor's verify_jwt_response."""
        req = signed(client_key, platform_key, now=_now(), jti=str(uuid.uuid4()))
        got = verify_request(
            req.http.method,
            req.http.path,
            req.http.headers,
            req.http.body,
            key_lookup=lambda e, k: client_key.public,
            platform_keys=KeyRing(platform_key),
            now=_now(),
        )
        response = sign_response(
            201,
            b'{"auth_request": "r"}',
            request=got,
            platform_key=platform_key,
            encrypt_to=client_key.public,
            now=_now(),
            extra_headers=(("Location", "/service/v3/auths/r"),),
        )
        vendor = _client_transport(client_key, platform_key)
        claims = vendor.verify_jwt_response(
            CaseInsensitiveDict(dict(response.headers)),
            req.jti,
            response.body.decode(),
            str(SVC),
            201,
        )
        assert claims["response"]["status"] == 201
        assert (
            vendor.decrypt_response(response.body.decode()) == '{"auth_request": "r"}'
        )


class TestUpperCaseIds:
    def test_vendor_client_with_upper_case_id(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A vendor client configured with an upper-case id accepts our answers."""
        service_id = SVC.id.upper()
        vendor = JOSETransport()
        vendor.set_issuer("svc", service_id, private_key_pem(client_key))
        now = _now()
        vendor._server_time_difference = (0, now)
        vendor._current_kid = (platform_key.kid, now)
        vendor._public_key_cache = {platform_key.kid: _vendor_public(platform_key)}
        auth = vendor._build_jwt_signature("GET", "/x", "j-up", f"svc:{service_id}")
        got = verify_request(
            "GET",
            "/x",
            {"Authorization": auth},
            b"",
            key_lookup=lambda entity, kid: client_key.public,
            platform_keys=KeyRing(platform_key),
            now=now,
        )
        assert got.issuer == SVC
        response = sign_response(
            204, None, request=got, platform_key=platform_key, encrypt_to=None, now=now
        )
        headers = CaseInsensitiveDict(dict(response.headers))
        vendor.verify_jwt_response(headers, "j-up", "", f"svc:{service_id}", 204)


class _InMemoryHttp:
    """The vendor's HTTP-client interface, answered by a platform made of our core."""

    def __init__(self, client: PrivateKey, platform: PrivateKey) -> None:
        self.client, self.platform = client, platform
        self.answer: tuple[int, bytes | None] = (201, b'{"auth_request": "r-1"}')
        self.paths: list[str] = []

    def set_url(self, url: str, testing: bool) -> None:
        pass

    def _respond(
        self, method: str, path: str, headers: dict[str, str] | None, data: Any
    ) -> APIResponse:
        self.paths.append(path)
        now = _now()
        if path == "/public/v3/ping":
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
            return self._parse(
                HttpResponse(
                    status=200,
                    headers=Headers(),
                    body=json.dumps({"api_time": stamp}).encode(),
                )
            )
        if path == "/public/v3/public-key":
            return self._parse(
                HttpResponse(
                    status=200,
                    headers=Headers({"X-IOV-KEY-ID": self.platform.kid}),
                    body=self.platform.public.pem.encode(),
                )
            )
        body = data.encode() if isinstance(data, str) else b""
        request = HttpRequest(
            method=method, path=path, headers=tuple((headers or {}).items()), body=body
        )
        got = verify_request(
            request.method,
            request.path,
            request.headers,
            request.body,
            key_lookup=lambda e, k: (
                self.client.public if k == self.client.kid else None
            ),
            platform_keys=KeyRing(self.platform),
            now=now,
        )
        status, payload = self.answer
        return self._parse(
            sign_response(
                status,
                payload,
                request=got,
                platform_key=self.platform,
                encrypt_to=self.client.public,
                now=now,
                reason="Bad Request" if status == 400 else "",
            )
        )

    @staticmethod
    def _parse(response: HttpResponse) -> APIResponse:
        text = response.body.decode()
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = text
        headers = CaseInsensitiveDict(dict(response.headers))
        if response.status >= 400:
            return APIErrorResponse(
                data, headers, response.status, response.reason, text
            )
        return APIResponse(data, headers, response.status, raw_data=text)

    def __getattr__(self, verb: str) -> Callable[..., APIResponse]:
        # get, post, put, delete, patch: the vendor calls them as (path, data, headers).
        if verb not in ("get", "post", "put", "delete", "patch"):
            raise AttributeError(verb)

        def call(
            path: str, headers: dict[str, str] | None = None, data: Any = None
        ) -> APIResponse:
            return self._respond(verb.upper(), path, headers, data)

        return call


class TestVendorClientAgainstCorePlatform:
    def _client(
        self, client: PrivateKey, platform: PrivateKey
    ) -> tuple[ServiceClient, _InMemoryHttp]:
        http = _InMemoryHttp(client, platform)
        transport = _vendor_client(client, SVC)
        # Start from nothing learned: the vendor must ping and fetch the key itself.
        transport._http_client = http
        transport._server_time_difference = (None, None)
        transport._current_kid = (None, None)
        transport._public_key_cache = {}
        return ServiceClient(SVC.id, transport), http

    def test_authorization_request_round_trip(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """The vendor's own client completes a call against our core's platform side."""
        service, http = self._client(client_key, platform_key)
        result = service.authorization_request("alice", context="Log in")
        assert result.auth_request == "r-1"
        assert sorted(http.paths) == [
            "/public/v3/ping",
            "/public/v3/public-key",
            "/service/v3/auths",
        ]

    def test_bodiless_answer(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A signed bodiless answer (session start, 204) satisfies the vendor client."""
        service, http = self._client(client_key, platform_key)
        http.answer = (204, None)
        service.session_start("alice", "11111111-2222-4333-8444-555555555555")

    def test_error_body_readable_by_vendor(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A coded error our core encrypts maps to the vendor's InvalidParameters."""
        service, http = self._client(client_key, platform_key)
        http.answer = (
            400,
            b'{"error_code": "ARG-001", "error_detail": {"username": "bad"}}',
        )
        with pytest.raises(VendorInvalidParameters):
            service.authorization_request("alice")


class TestWebhooks:
    AUTH = b'{"type": "AUTHORIZATION_RESPONSE", "auth_jwe": "x"}'
    SESSION_END = b'{"service_user_hash": "abc", "api_time": "2027-01-15T08:00:00Z"}'

    def _webhook(
        self, platform: PrivateKey, client: PrivateKey | None, payload: bytes
    ) -> HttpRequest:
        return sign_webhook(
            payload,
            path="/webhook",
            audience=SVC,
            subject=SVC,
            platform_key=platform,
            encrypt_to=client.public if client else None,
            now=_now(),
            jti=str(uuid.uuid4()),
        )

    def _ours(
        self, req: HttpRequest, client: PrivateKey, platform: PrivateKey
    ) -> bytes:
        return verify_webhook(
            req.headers,
            req.body,
            req.method,
            req.path,
            audience=SVC,
            subject=SVC,
            platform_keys={platform.kid: platform.public},
            keyring=KeyRing(client),
            now=_now(),
        ).body

    def test_encrypted_webhook_passes_both(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """An auth-response webhook verifies and decrypts with the vendor and us."""
        req = self._webhook(platform_key, client_key, self.AUTH)
        vendor = XiovJWTService(_client_transport(client_key, platform_key), str(SVC))
        decrypted = vendor.decrypt_jwe(
            req.body.decode(), dict(req.headers), "POST", "/webhook"
        )
        assert decrypted == self.AUTH.decode()
        assert self._ours(req, client_key, platform_key) == self.AUTH

    def test_session_end_webhook_passes_both(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A plain-JSON session-end webhook passes the vendor's handler and ours."""
        req = self._webhook(platform_key, None, self.SESSION_END)
        service = ServiceClient(SVC.id, _client_transport(client_key, platform_key))
        event = service.handle_advanced_webhook(
            req.body.decode(), dict(req.headers), "POST", "/webhook"
        )
        assert isinstance(event, SessionEndRequest)
        assert event.service_user_hash == "abc"
        assert self._ours(req, client_key, platform_key) == self.SESSION_END

    def test_tampered_webhook_refused_by_both(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """Changing the body after signing is refused by the vendor and by us."""
        req = self._webhook(platform_key, None, self.SESSION_END)
        body = self.SESSION_END.replace(b"abc", b"abd")
        service = ServiceClient(SVC.id, _client_transport(client_key, platform_key))
        with pytest.raises(VendorUnexpectedWebhookRequest):
            service.handle_advanced_webhook(
                body.decode(), dict(req.headers), "POST", "/webhook"
            )
        forged = HttpRequest(
            method="POST", path="/webhook", headers=req.headers, body=body
        )
        with pytest.raises(UnexpectedWebhookRequest, match=r"request\.hash"):
            self._ours(forged, client_key, platform_key)

    def test_pyjwkest_webhook_passes_ours(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """A webhook shaped by hand from the spec and signed by pyjwkest passes ours."""
        body = JWE(
            self.AUTH.decode(), alg="RSA-OAEP", enc="A256CBC-HS512", kid=client_key.kid
        ).encrypt(keys=[_vendor_public(client_key)])
        now = _now()
        claims = {
            "iss": "lka",
            "aud": str(SVC),
            "sub": str(SVC),
            "iat": now,
            "nbf": now,
            "exp": now + 5,
            "jti": str(uuid.uuid4()),
            "request": {
                "meth": "POST",
                "path": "/webhook",
                "hash": hashlib.sha256(body.encode()).hexdigest(),
                "func": "S256",
            },
        }
        token = JWS(json.dumps(claims), alg="RS256").sign_compact(
            keys=[_vendor_private(platform_key)]
        )
        req = HttpRequest(
            method="POST",
            path="/webhook",
            headers=(("x-iov-jwt", token),),
            body=body.encode(),
        )
        assert self._ours(req, client_key, platform_key) == self.AUTH
