"""The error hierarchy: every documented error exists, has a code, and leaks nothing."""

from __future__ import annotations

import pytest

import lk_core
from lk_core import (
    EntityKeyNotFound,
    JWTValidationFailure,
    KeyRing,
    LaunchKeyAPIException,
    LaunchKeyError,
    PrivateKey,
    ProtocolError,
    TransportError,
    UsageError,
    jwe_encrypt,
    private_key_pem,
)

# errors.md section 4, by hand (the internal XiovJWT wrappers and raw
# AttributeErrors of the vendor SDK are deliberately not reproduced).
CLIENT_SIDE = {
    "InvalidEntityID": UsageError,
    "InvalidIssuer": UsageError,
    "InvalidPrivateKey": UsageError,
    "InvalidAlgorithm": UsageError,
    "NoIssuerKey": UsageError,
    "UnexpectedAPIResponse": ProtocolError,
    "JWTValidationFailure": ProtocolError,
    "InvalidJWTResponse": ProtocolError,
    "EntityKeyNotFound": ProtocolError,
    "UnexpectedKeyID": ProtocolError,
    "UnexpectedDeviceResponse": ProtocolError,
    "InvalidDeviceStatus": ProtocolError,
    "WebhookAuthorizationError": ProtocolError,
    "UnexpectedWebhookRequest": ProtocolError,
    "UnableToDecryptWebhookRequest": ProtocolError,
    "UnexpectedAuthorizationResponse": ProtocolError,
    "UnknownPolicyException": UsageError,
    "InvalidFenceType": UsageError,
    "InvalidPolicyAttributes": UsageError,
    "InvalidPolicyFormat": UsageError,
    "DuplicateGeoFenceName": UsageError,
    "InvalidGeoFenceName": UsageError,
    "DuplicateTimeFenceName": UsageError,
    "InvalidTimeFenceName": UsageError,
    "InvalidTimeFenceStartTime": UsageError,
    "InvalidTimeFenceEndTime": UsageError,
    "MismatchedTimeFenceTimezones": UsageError,
}


CORE_MODULES = ("lk_core._errors", "lk_core._jose")


def _all_error_classes() -> list[type[LaunchKeyError]]:
    """Every error class the protocol core defines (other packages add their own)."""
    found = [LaunchKeyError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return [cls for cls in found if cls.__module__ in CORE_MODULES]


class TestHierarchy:
    @pytest.mark.parametrize(("name", "family"), sorted(CLIENT_SIDE.items()))
    def test_documented_client_errors_exist(self, name: str, family: type) -> None:
        """Every client-side exception in errors.md exists in its family."""
        cls = getattr(lk_core, name)
        assert issubclass(cls, family)
        assert name in lk_core.__all__

    def test_families_are_disjoint(self) -> None:
        """No class belongs to two of usage, protocol, API and transport errors."""
        families = (UsageError, ProtocolError, LaunchKeyAPIException, TransportError)
        for cls in _all_error_classes()[1:]:
            assert sum(issubclass(cls, f) for f in families) == 1, cls

    def test_every_error_has_code_and_hint(self) -> None:
        """Each error class carries a short code and inherits or sets a hint."""
        for cls in _all_error_classes():
            assert 0 < len(cls.code) <= 24
            assert " " not in cls.code
            if cls is not LaunchKeyError:
                assert cls.hint, cls

    def test_default_message_is_the_docstring(self) -> None:
        """An error raised without a message explains itself with its docstring."""
        assert (
            str(lk_core.NoIssuerKey()) == "Signing was attempted without a signing key."
        )

    def test_transport_error_retryable_flag(self) -> None:
        """TransportError records whether retrying makes sense."""
        assert TransportError("reset").retryable is True
        assert TransportError("tls", retryable=False).retryable is False


class TestMessages:
    def test_claim_failure_names_check_expected_found(self) -> None:
        """JWTValidationFailure says which check failed, what was expected and found."""
        err = JWTValidationFailure("aud", "svc:a", "svc:b")
        assert str(err) == "aud: expected 'svc:a', found 'svc:b'"
        assert (err.check, err.expected, err.found) == ("aud", "svc:a", "svc:b")

    def test_entity_key_not_found_names_kid(self) -> None:
        """EntityKeyNotFound names the missing kid and keeps it as an attribute."""
        err = EntityKeyNotFound("aa:bb")
        assert "aa:bb" in str(err)
        assert err.kid == "aa:bb"

    def test_failures_never_show_key_material(
        self, client_key: PrivateKey, client_key2: PrivateKey
    ) -> None:
        """Errors from decrypting and looking up keys show kids, never key material."""
        secrets = [
            line[:24] for line in private_key_pem(client_key).splitlines()[1:-1]
        ] + [str(client_key.key.private_numbers().d)[:24]]
        errors: list[Exception] = []
        for token, ring in (
            (jwe_encrypt(b"x", client_key2.public), KeyRing(client_key)),
            (jwe_encrypt(b"x", client_key.public)[:-4] + "AAAA", KeyRing(client_key)),
        ):
            try:
                lk_core.jwe_decrypt(token, ring)
            except ProtocolError as exc:
                errors.append(exc)
        assert len(errors) == 2
        for error in errors:
            text = str(error) + repr(error) + repr(error.args)
            assert not any(s in text for s in secrets)
