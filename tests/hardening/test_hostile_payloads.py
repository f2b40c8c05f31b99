"""Tampered JWEs, misdirected authorization packages, and hostile payload bytes.

The JWE checks are shown twice: against the decrypter directly, and through a response
or webhook whose signed hash was recomputed by a forger holding the platform key (the
only way a tampered body gets past the hash check), so the decrypter is what refuses.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from lk_core import (
    EntityKeyNotFound,
    HttpResponse,
    InvalidPolicyFormat,
    InvalidPrivateKey,
    InvalidPublicKeyFormat,
    JOSEDecryptError,
    KeyRing,
    UnableToDecryptWebhookRequest,
    UnexpectedAPIResponse,
    UnexpectedDeviceResponse,
    UnexpectedKeyID,
    UnexpectedWebhookRequest,
    jwe_decrypt,
    jwe_encrypt,
    load_private_key,
    load_public_key,
    private_key_pem,
    verify_response,
)
from lk_core._jose import MAX_JWE_BYTES
from lk_core._keys import MAX_PEM_BYTES
from lk_core.service import (
    decode_auth_response,
    decode_policy,
    parse_auth_package,
    parse_create_auth,
    parse_session_end,
)

from . import peer
from .peer import NOW, OTHER_REQUEST_ID, REQUEST_ID

PLAIN = b'{"auth_request":"' + REQUEST_ID.encode() + b'"}'


@pytest.fixture(scope="module")
def token() -> str:
    return jwe_encrypt(PLAIN, peer.service().public)


def parts(token: str) -> list[str]:
    return token.split(".")


def joined(items: list[str]) -> str:
    return ".".join(items)


def decrypt(token: str | bytes) -> bytes:
    return jwe_decrypt(token, peer.ring())


class TestJWEDirect:
    def test_genuine_round_trip(self, token: str) -> None:
        """The untouched token decrypts; every case below changes one thing."""
        assert decrypt(token) == PLAIN
        assert decrypt(peer.raw_jwe(PLAIN, peer.service().public, _header())) == PLAIN

    @pytest.mark.parametrize("cut", [1, 2, 5, 22])
    def test_truncated_ciphertext(self, token: str, cut: int) -> None:
        """Ciphertext shortened by a few characters (one block or less)."""
        items = parts(token)
        items[3] = items[3][:-cut]
        with pytest.raises(JOSEDecryptError):
            decrypt(joined(items))

    def test_truncated_to_fewer_parts(self, token: str) -> None:
        """The tag, or tag and ciphertext, cut off."""
        with pytest.raises(JOSEDecryptError, match="parts"):
            decrypt(joined(parts(token)[:4]))
        with pytest.raises(JOSEDecryptError, match="parts"):
            decrypt(token.rpartition(".")[0] + "..")

    @pytest.mark.parametrize("index", [1, 2, 3, 4])
    def test_re_padded(self, token: str, index: int) -> None:
        """Base64 '=' padding added to a part: another spelling of the same bytes."""
        items = parts(token)
        items[index] = items[index] + "=" * (-len(items[index]) % 4 or 4)
        with pytest.raises(JOSEDecryptError, match="base64url"):
            decrypt(joined(items))

    @pytest.mark.parametrize("index", [1, 3])
    def test_re_encoded_standard_alphabet(self, token: str, index: int) -> None:
        """The same bytes in the standard '+/' alphabet instead of '-_'."""
        items = parts(token)
        raw = peer.unb64(items[index])
        std = base64.b64encode(raw).rstrip(b"=").decode()
        if std == items[index]:  # no 62/63 digits in this part: force one
            std = items[index][:-1] + "+"
        items[index] = std
        with pytest.raises(JOSEDecryptError):
            decrypt(joined(items))

    def test_re_encoded_non_canonical_trailing_bits(self, token: str) -> None:
        """Unused low bits set in the last character: same bytes, other text."""
        items = parts(token)
        iv = items[2]  # 16 bytes -> 22 chars; the last char carries 4 unused bits
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        last = alphabet.index(iv[-1])
        items[2] = iv[:-1] + alphabet[last | 1]
        assert peer.unb64(items[2]) == peer.unb64(iv)
        with pytest.raises(JOSEDecryptError, match="non-canonical"):
            decrypt(joined(items))

    def test_wrong_authentication_tag(self, token: str) -> None:
        """One bit of the tag flipped."""
        items = parts(token)
        tag = bytearray(peer.unb64(items[4]))
        tag[0] ^= 0x80
        items[4] = peer.b64(bytes(tag))
        with pytest.raises(JOSEDecryptError, match="authentication tag"):
            decrypt(joined(items))

    def test_ciphertext_from_another_token(self, token: str) -> None:
        """Ciphertext and IV spliced in from another token to the same key."""
        other = parts(jwe_encrypt(b'{"auth_request":"other"}', peer.service().public))
        items = parts(token)
        items[2], items[3] = other[2], other[3]
        with pytest.raises(JOSEDecryptError, match="authentication tag"):
            decrypt(joined(items))

    def test_header_edited_after_encryption(self, token: str) -> None:
        """The protected header is authenticated: swapping it breaks the tag."""
        items = parts(token)
        header = json.loads(peer.unb64(items[0]))
        header["cty"] = "text/plain"
        items[0] = peer.b64(peer.dumps(header))
        with pytest.raises(JOSEDecryptError, match="authentication tag"):
            decrypt(joined(items))

    def test_compressed_jwe(self) -> None:
        """A zip header is refused even on an otherwise valid token (no inflation)."""
        forged = peer.raw_jwe(PLAIN, peer.service().public, _header(zip="DEF"))
        with pytest.raises(JOSEDecryptError, match="compressed"):
            decrypt(forged)

    @pytest.mark.parametrize(
        ("edit", "match"),
        [
            ({"alg": "RSA1_5"}, "alg"),
            ({"alg": "dir"}, "alg"),
            ({"alg": "none"}, "alg"),
            ({"enc": "A128GCM"}, "enc"),
            ({"enc": "A128CBC-HS256"}, "enc"),
            ({"crit": ["exp"]}, "crit"),
            ({"kid": 7}, "kid"),
        ],
    )
    def test_headers_outside_the_pinned_set(
        self, edit: dict[str, Any], match: str
    ) -> None:
        """Algorithms and header parameters we never agreed to."""
        forged = peer.raw_jwe(PLAIN, peer.service().public, _header(**edit))
        with pytest.raises(JOSEDecryptError, match=match):
            decrypt(forged)

    def test_kid_of_a_key_we_do_not_hold(self) -> None:
        """A token for another entity's key names a kid we lack."""
        forged = jwe_encrypt(PLAIN, peer.key("other-service").public)
        with pytest.raises(EntityKeyNotFound):
            decrypt(forged)

    def test_oversized(self) -> None:
        """A JWE over 1 MiB is refused before any base64 or RSA work."""
        huge = "a" * (MAX_JWE_BYTES + 1)
        with pytest.raises(JOSEDecryptError, match=f"at most {MAX_JWE_BYTES}"):
            decrypt(huge)

    def test_non_ascii(self, token: str) -> None:
        """Text that is not ASCII is not a compact JWE."""
        with pytest.raises(JOSEDecryptError, match="ASCII"):
            decrypt(token + "\u00e9")


def _header(**changes: object) -> dict[str, Any]:
    header: dict[str, Any] = {
        "alg": "RSA-OAEP",
        "enc": "A256CBC-HS512",
        "kid": peer.service().kid,
    }
    header.update(changes)
    return header


def _rehashed(resp: HttpResponse, body: bytes) -> HttpResponse:
    """``resp`` with a new body and a matching hash signed by the platform key."""

    def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
        claims["response"]["hash"] = peer.sha256_hex(body)

    return peer.reforge_response(resp, edit, body=body)


@pytest.fixture(scope="module")
def genuine() -> HttpResponse:
    return peer.response(peer.request())


class TestJWEInTransit:
    def check(self, resp: HttpResponse) -> bytes | None:
        return verify_response(
            resp,
            peer.request(),
            platform_keys=peer.platform_keys(),
            keyring=peer.ring(),
            now=NOW,
        )

    def test_truncated_response_body(self, genuine: HttpResponse) -> None:
        """A truncated body with a forger's matching hash still fails to decrypt."""
        with pytest.raises(JOSEDecryptError):
            self.check(_rehashed(genuine, genuine.body[:-3]))

    def test_wrong_tag_in_response_body(self, genuine: HttpResponse) -> None:
        """A flipped tag bit in the response body."""
        items = genuine.body.decode().split(".")
        items[4] = ("B" if items[4][0] == "A" else "A") + items[4][1:]
        with pytest.raises(JOSEDecryptError, match="authentication tag"):
            self.check(_rehashed(genuine, ".".join(items).encode()))

    def test_compressed_response_body(self, genuine: HttpResponse) -> None:
        """A zip JWE as the response body."""
        body = peer.raw_jwe(b"{}", peer.service().public, _header(zip="DEF")).encode()
        with pytest.raises(JOSEDecryptError, match="compressed"):
            self.check(_rehashed(genuine, body))

    def test_tampered_webhook_body(self) -> None:
        """A webhook JWE with a wrong tag, re-signed with a matching hash."""
        headers, body = peer.webhook(peer.outer_package())
        items = body.decode().split(".")
        items[4] = ("B" if items[4][0] == "A" else "A") + items[4][1:]
        tampered = ".".join(items).encode()

        def edit(header: dict[str, Any], claims: dict[str, Any]) -> None:
            claims["request"]["hash"] = peer.sha256_hex(tampered)

        with pytest.raises(UnableToDecryptWebhookRequest, match="authentication tag"):
            peer.check_webhook(
                peer.reforge_webhook(headers, edit), tampered, "POST", "/webhook"
            )


class TestAuthPackages:
    def test_genuine_packages(self) -> None:
        """The JWE and legacy packages for our request decode to an approval."""
        jwe = decode_auth_response(
            peer.outer_package(), peer.ring(), expected_id=REQUEST_ID
        )
        assert jwe.authorized
        assert jwe.authorization_request_id == REQUEST_ID
        legacy_plain = peer.dumps(
            {"auth_request": REQUEST_ID, "response": True, "device_id": "d"}
        )
        legacy = decode_auth_response(
            peer.outer_package(legacy=legacy_plain), peer.ring(), expected_id=REQUEST_ID
        )
        assert legacy.authorized

    def test_jwe_package_for_another_request(self) -> None:
        """An approval the user gave to another request cannot answer this one."""
        outer = peer.outer_package(peer.device_package(OTHER_REQUEST_ID))
        with pytest.raises(UnexpectedDeviceResponse, match="another request"):
            decode_auth_response(outer, peer.ring(), expected_id=REQUEST_ID)

    def test_legacy_package_for_another_request(self) -> None:
        """The same rule for the legacy RSA package."""
        plain = peer.dumps(
            {"auth_request": OTHER_REQUEST_ID, "response": True, "device_id": "d"}
        )
        with pytest.raises(UnexpectedDeviceResponse, match="another request"):
            decode_auth_response(
                peer.outer_package(legacy=plain), peer.ring(), expected_id=REQUEST_ID
            )

    def test_jwe_package_for_another_service(self) -> None:
        """A package encrypted to another service's key names a kid we lack."""
        outer = peer.outer_package(to=peer.key("other-service").public)
        with pytest.raises(EntityKeyNotFound):
            decode_auth_response(outer, peer.ring(), expected_id=REQUEST_ID)

    def test_legacy_package_for_another_service(self) -> None:
        """A legacy package sealed to another service's key id."""
        plain = peer.dumps({"auth_request": REQUEST_ID, "response": True})
        outer = peer.outer_package(legacy=plain, to=peer.key("other-service").public)
        with pytest.raises(UnexpectedKeyID):
            decode_auth_response(outer, peer.ring(), expected_id=REQUEST_ID)

    def test_package_sealed_to_another_key_under_our_kid(self) -> None:
        """Another service's legacy package relabelled with our key id."""
        plain = peer.dumps({"auth_request": REQUEST_ID, "response": True})
        outer = json.loads(
            peer.outer_package(legacy=plain, to=peer.key("other-service").public)
        )
        outer["public_key_id"] = peer.service().kid
        with pytest.raises(UnexpectedDeviceResponse, match="could not be decrypted"):
            decode_auth_response(peer.dumps(outer), peer.ring(), expected_id=REQUEST_ID)

    def test_compressed_device_package(self) -> None:
        """A zip auth_jwe inside the outer package."""
        inner = peer.raw_jwe(
            peer.device_package(), peer.service().public, _header(zip="DEF")
        )
        outer = json.loads(peer.outer_package())
        outer["auth_jwe"] = inner
        with pytest.raises(UnexpectedDeviceResponse, match="compressed"):
            decode_auth_response(peer.dumps(outer), peer.ring(), expected_id=REQUEST_ID)

    def test_webhook_for_another_service(self) -> None:
        """A genuine webhook addressed to another service, delivered to us."""
        req = peer.sign_webhook(
            peer.outer_package(),
            path="/webhook",
            audience=peer.OTHER_SERVICE,
            subject=peer.OTHER_SERVICE,
            platform_key=peer.platform(),
            encrypt_to=peer.service().public,
            now=NOW,
            jti=peer.JTI,
        )
        with pytest.raises(UnexpectedWebhookRequest, match="aud"):
            peer.check_webhook(list(req.headers), req.body, "POST", "/webhook")

    @pytest.mark.parametrize(
        "body",
        [
            b'{"auth_request":""}',
            b'{"auth_request":"x","push_package":""}',
            b'{"auth_request":"x","push_package":7}',
            b'{"auth_request":"x","device_ids":"d1"}',
            b'{"auth_request":["x"]}',
            b"[]",
            b"",
        ],
    )
    def test_malformed_create_answer_and_push_package(self, body: bytes) -> None:
        """Empty ids, an empty or non-string push package, wrong shapes."""
        with pytest.raises(UnexpectedAPIResponse):
            parse_create_auth(body)


DEEP = b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}"


class TestHostilePayloadBytes:
    @pytest.mark.parametrize(
        ("parser", "error"),
        [
            (parse_create_auth, UnexpectedAPIResponse),
            (parse_auth_package, UnexpectedAPIResponse),
            (parse_session_end, UnexpectedWebhookRequest),
            (decode_policy, InvalidPolicyFormat),
        ],
    )
    @pytest.mark.parametrize(
        "data",
        [
            DEEP,
            b'{"auth_request":"\xc3\x28"}',
            b'{"auth_request":"x"',
            b"\xef\xbb\xbf{}",
            b"\x00" * 64,
        ],
        ids=["deeply-nested", "non-utf8", "truncated", "bom", "nul-bytes"],
    )
    def test_parsers_refuse_with_their_documented_error(
        self, parser: Any, error: type[Exception], data: bytes
    ) -> None:
        """Deep nesting, invalid UTF-8, truncation, a BOM and NULs: typed errors."""
        with pytest.raises(error):
            parser(data)

    def test_deeply_nested_device_package(self) -> None:
        """Deep nesting inside the encrypted device package."""
        with pytest.raises(UnexpectedDeviceResponse):
            decode_auth_response(
                peer.outer_package(DEEP[:200_000]), peer.ring(), expected_id=None
            )

    def test_duplicate_key_in_device_package(self) -> None:
        """A repeated key inside the decrypted device package is refused, not merged."""
        good = peer.device_package()
        doubled = good.replace(b'"device_id"', b'"device_id":"other","device_id"', 1)
        assert doubled != good
        with pytest.raises(UnexpectedDeviceResponse, match="duplicate key"):
            decode_auth_response(
                peer.outer_package(doubled), peer.ring(), expected_id=None
            )

    def test_duplicate_key_in_session_end_body(self) -> None:
        """A repeated service_user_hash in a session-end body is refused."""
        body = (
            b'{"service_user_hash":"a","service_user_hash":"b",'
            b'"api_time":"2026-01-01T00:00:00Z"}'
        )
        with pytest.raises(UnexpectedWebhookRequest, match="duplicate key"):
            parse_session_end(body)

    def test_non_utf8_device_package(self) -> None:
        """Invalid UTF-8 inside the encrypted device package."""
        bad = peer.device_package().replace(b'"device-1"', b'"\xff\xfe"')
        with pytest.raises(UnexpectedDeviceResponse, match="UTF-8"):
            decode_auth_response(peer.outer_package(bad), peer.ring(), expected_id=None)


class TestKeys:
    def test_oversized_pem(self) -> None:
        """A PEM over 32 KiB is refused before it reaches the ASN.1 parser."""
        pem = private_key_pem(peer.service())
        padded = pem + "\n" * MAX_PEM_BYTES
        with pytest.raises(InvalidPrivateKey, match=f"at most {MAX_PEM_BYTES}"):
            load_private_key(padded)
        with pytest.raises(InvalidPublicKeyFormat, match=f"at most {MAX_PEM_BYTES}"):
            load_public_key(peer.service().public.pem + "\n" * MAX_PEM_BYTES)

    def test_non_ascii_pem(self) -> None:
        """A PEM with a non-ASCII character."""
        with pytest.raises(InvalidPrivateKey, match="ASCII"):
            load_private_key(private_key_pem(peer.service()).replace("A", "\u00c0", 1))

    def test_truncated_pem(self) -> None:
        """Half a key."""
        pem = private_key_pem(peer.service())
        with pytest.raises(InvalidPrivateKey):
            load_private_key(pem[: len(pem) // 2])
        with pytest.raises(InvalidPublicKeyFormat):
            load_public_key(peer.service().public.pem[:200])

    def test_private_key_where_public_expected(self) -> None:
        """Crossed key kinds are refused both ways."""
        with pytest.raises(InvalidPublicKeyFormat):
            load_public_key(private_key_pem(peer.service()))
        with pytest.raises(InvalidPrivateKey, match="public key"):
            load_private_key(peer.service().public.pem)

    def test_empty_ring_cannot_decrypt(self) -> None:
        """With no private key at all, decryption names the missing key."""
        with pytest.raises(EntityKeyNotFound):
            jwe_decrypt(jwe_encrypt(b"{}", peer.service().public), KeyRing(None))
