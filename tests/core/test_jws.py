"""jws_sign / jws_parse / jws_verify: compact JWS limited to RS256/384/512."""

from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from lk_core import InvalidAlgorithm, InvalidJWTResponse, NoIssuerKey, PrivateKey
from lk_core._jose import MAX_TOKEN_BYTES, jws_kid, jws_parse, jws_sign, jws_verify

from .support import b64d, b64e

CLAIMS = b'{"iss":"lka","n":1}'
HASHES: dict[str, type[hashes.SHA256 | hashes.SHA384 | hashes.SHA512]] = {
    "RS256": hashes.SHA256,
    "RS384": hashes.SHA384,
    "RS512": hashes.SHA512,
}


def _token(
    header: object, claims: object = None, signature: bytes = b"\0" * 256
) -> str:
    head = b64e(json.dumps(header).encode())
    body = b64e(json.dumps({} if claims is None else claims).encode())
    return f"{head}.{body}.{b64e(signature)}"


class TestJwsSign:
    @pytest.mark.parametrize("alg", ["RS256", "RS384", "RS512"])
    def test_signature_verifies_independently(
        self, client_key: PrivateKey, alg: str
    ) -> None:
        """The signature checks out with plain `cryptography` over header.payload."""
        token = jws_sign(CLAIMS, client_key, alg)
        head, body, sig = token.split(".")
        client_key.public.key.verify(
            b64d(sig), f"{head}.{body}".encode(), padding.PKCS1v15(), HASHES[alg]()
        )
        assert json.loads(b64d(head)) == {"alg": alg, "kid": client_key.kid}
        assert b64d(body) == CLAIMS

    def test_default_alg_is_rs512(self, client_key: PrivateKey) -> None:
        """Without an alg, tokens are RS512 (the SDK default)."""
        head = jws_sign(CLAIMS, client_key).split(".")[0]
        assert json.loads(b64d(head))["alg"] == "RS512"

    def test_no_key(self) -> None:
        """Signing without a key raises NoIssuerKey."""
        with pytest.raises(NoIssuerKey):
            jws_sign(CLAIMS, None)

    @pytest.mark.parametrize("alg", ["HS256", "none", "PS256", "rs256"])
    def test_unsupported_alg(self, client_key: PrivateKey, alg: str) -> None:
        """Signing with an algorithm outside the pinned set raises InvalidAlgorithm."""
        with pytest.raises(InvalidAlgorithm, match="RS512"):
            jws_sign(CLAIMS, client_key, alg)


class TestJwsParse:
    def test_parses_header_claims_and_kid(self, client_key: PrivateKey) -> None:
        """A valid token yields its header, claims, alg and kid."""
        jws = jws_parse(jws_sign(CLAIMS, client_key, "RS384"))
        assert jws.alg == "RS384"
        assert jws.kid == client_key.kid
        assert jws.claims == {"iss": "lka", "n": 1}
        assert repr(jws) == f"UnverifiedJWS(alg='RS384', kid={client_key.kid!r})"

    @pytest.mark.parametrize(
        ("token", "words"),
        [
            ("a.b", "2 parts"),
            ("a.b.c.d", "4 parts"),
            ("é.b.c", "not ASCII"),
            ("!!.e30.AA", "JWT header is not base64url JSON"),
            (f"{b64e(b'[1]')}.e30.AA", "JWT header is not a JSON object"),
            (f"{b64e(b'{}')}.e30.AA", "JWT alg None"),
        ],
    )
    def test_malformed_tokens(self, token: str, words: str) -> None:
        """Malformed tokens raise InvalidJWTResponse saying what is wrong."""
        with pytest.raises(InvalidJWTResponse, match=words):
            jws_parse(token)

    @pytest.mark.parametrize("alg", ["none", "HS256", "ES256", "PS512", None, 256])
    def test_disallowed_alg(self, alg: object) -> None:
        """Any alg outside RS256/384/512 (including none and HMAC) is refused."""
        with pytest.raises(InvalidJWTResponse, match="JWT alg"):
            jws_parse(_token({"alg": alg, "kid": "k"}))

    @pytest.mark.parametrize("alg", [[], {}, ["RS256"]])
    def test_unhashable_alg(self, alg: object) -> None:
        """A list or object as alg is refused like any other bad alg, not a crash."""
        with pytest.raises(InvalidJWTResponse, match="JWT alg"):
            jws_parse(_token({"alg": alg}))

    def test_crit_refused(self) -> None:
        """A crit header (extensions we do not implement) is refused."""
        with pytest.raises(InvalidJWTResponse, match="crit"):
            jws_parse(_token({"alg": "RS256", "crit": ["exp"]}))

    def test_claims_must_be_object(self) -> None:
        """Claims that are JSON but not an object are refused."""
        with pytest.raises(InvalidJWTResponse, match="JWT claims is not a JSON object"):
            jws_parse(_token({"alg": "RS256"}, [1, 2]))

    def test_duplicate_claim_refused(self) -> None:
        """A claim given twice (parser-differential smuggling) is refused."""
        head = b64e(b'{"alg":"RS256"}')
        body = b64e(b'{"aud":"lka","aud":"svc:x"}')
        with pytest.raises(InvalidJWTResponse, match="duplicate key"):
            jws_parse(f"{head}.{body}.AA")

    def test_bad_signature_encoding(self) -> None:
        """A signature part that is not canonical base64url is refused."""
        head, body, _ = _token({"alg": "RS256"}).split(".")
        with pytest.raises(InvalidJWTResponse, match="JWT signature"):
            jws_parse(f"{head}.{body}.A=")

    def test_size_caps(self) -> None:
        """Oversized tokens and headers are refused before decoding."""
        with pytest.raises(InvalidJWTResponse, match="at most"):
            jws_parse("a" * (MAX_TOKEN_BYTES + 1))
        big_head = b64e(json.dumps({"alg": "RS256", "x": "y" * 3000}).encode())
        with pytest.raises(InvalidJWTResponse, match="header too large"):
            jws_parse(f"{big_head}.e30.AA")

    def test_non_string_kid_is_none(self) -> None:
        """A kid that is not a string is reported as absent."""
        assert jws_parse(_token({"alg": "RS256", "kid": 5})).kid is None


class TestJwsKid:
    def test_kid_from_header_only(self, client_key: PrivateKey) -> None:
        """jws_kid reads the kid without needing valid claims."""
        head = jws_sign(CLAIMS, client_key).split(".")[0]
        assert jws_kid(f"{head}.!!.AA") == client_key.kid

    @pytest.mark.parametrize("kid", [None, 5, ["k"]])
    def test_absent_or_odd_kid(self, kid: object) -> None:
        """A missing or non-string kid is reported as None."""
        header = {"alg": "RS256"} if kid is None else {"alg": "RS256", "kid": kid}
        assert jws_kid(_token(header)) is None

    @pytest.mark.parametrize(
        "token", ["a.b", "!!.e30.AA", _token({"alg": "none", "kid": "k"})]
    )
    def test_malformed(self, token: str) -> None:
        """A token jws_parse would refuse by shape or header is refused here too."""
        with pytest.raises(InvalidJWTResponse):
            jws_kid(token)

    def test_parsed_headers_are_independent(self, client_key: PrivateKey) -> None:
        """Changing one parsed header never affects a later parse of the same token."""
        token = jws_sign(CLAIMS, client_key)
        first = jws_parse(token)
        first.header["kid"] = "changed"
        first.header["x"] = 1
        again = jws_parse(token)
        assert again.header == {"alg": "RS512", "kid": client_key.kid}
        assert jws_kid(token) == client_key.kid


class TestJwsVerify:
    def test_good_signature(self, client_key: PrivateKey) -> None:
        """A token verifies with the key that signed it."""
        jws_verify(jws_parse(jws_sign(CLAIMS, client_key)), client_key.public)

    def test_wrong_key(self, client_key: PrivateKey, client_key2: PrivateKey) -> None:
        """A token does not verify with another key; the message names that key."""
        jws = jws_parse(jws_sign(CLAIMS, client_key))
        with pytest.raises(InvalidJWTResponse, match=client_key2.kid):
            jws_verify(jws, client_key2.public)

    def test_alg_swapped_in_header(self, client_key: PrivateKey) -> None:
        """An RS512 signature presented under an RS256 header does not verify."""
        _, body, sig = jws_sign(CLAIMS, client_key, "RS512").split(".")
        head = b64e(json.dumps({"alg": "RS256", "kid": client_key.kid}).encode())
        with pytest.raises(InvalidJWTResponse, match="does not verify"):
            jws_verify(jws_parse(f"{head}.{body}.{sig}"), client_key.public)

    def test_claims_changed_after_signing(self, client_key: PrivateKey) -> None:
        """Claims edited after signing fail verification."""
        head, _, sig = jws_sign(CLAIMS, client_key).split(".")
        body = b64e(b'{"iss":"lka","n":2}')
        with pytest.raises(InvalidJWTResponse):
            jws_verify(jws_parse(f"{head}.{body}.{sig}"), client_key.public)

    def test_signature_length_checked(self, client_key: PrivateKey) -> None:
        """A signature of the wrong length for the key is refused as such."""
        head, body, sig = jws_sign(CLAIMS, client_key).split(".")
        short = b64e(b64d(sig)[:-1])
        with pytest.raises(InvalidJWTResponse, match="wrong length"):
            jws_verify(jws_parse(f"{head}.{body}.{short}"), client_key.public)
