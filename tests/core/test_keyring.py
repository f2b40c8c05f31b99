"""KeyRing: lookup by kid, rotation, and separate signing and encryption keys."""

from __future__ import annotations

import pickle

import pytest

from lk_core import (
    Credentials,
    EntityKeyNotFound,
    KeyRing,
    PlatformView,
    PrivateKey,
    jwe_decrypt,
    jwe_encrypt,
    private_key_pem,
)
from lk_core._jose import jws_parse, jws_sign

from .support import SVC


class TestKeyRing:
    def test_dual_purpose_key_signs_and_decrypts(self, client_key: PrivateKey) -> None:
        """A ring of one key signs with it and finds it by kid for decryption."""
        ring = KeyRing(client_key)
        assert ring.signing is client_key
        assert ring.decryption_key(client_key.kid) is client_key
        assert ring.kids == (client_key.kid,)

    def test_unknown_kid_raises_entity_key_not_found(
        self, client_key: PrivateKey, client_key2: PrivateKey
    ) -> None:
        """Asking for a kid the ring lacks raises EntityKeyNotFound naming the kid."""
        ring = KeyRing(client_key)
        with pytest.raises(EntityKeyNotFound) as info:
            ring.decryption_key(client_key2.kid)
        assert info.value.kid == client_key2.kid
        assert client_key2.kid in str(info.value)

    def test_rotation_keeps_old_key_for_decryption(
        self, client_key: PrivateKey, client_key2: PrivateKey
    ) -> None:
        """After rotating to a new signing key, messages to the old one decrypt."""
        old_message = jwe_encrypt(b"late webhook", client_key.public)
        ring = KeyRing(client_key2, [client_key])
        assert ring.signing is client_key2
        assert jwe_decrypt(old_message, ring) == b"late webhook"
        assert ring.keys()[0] is client_key2

    def test_separate_signing_and_encryption_keys(
        self, client_key: PrivateKey, client_key2: PrivateKey
    ) -> None:
        """A signature-only key signs and a separate encryption key decrypts."""
        ring = KeyRing(client_key, [client_key2])
        token = jws_sign(b"{}", ring.signing)
        assert jws_parse(token).kid == client_key.kid
        message = jwe_encrypt(b"to the encryption key", client_key2.public)
        assert jwe_decrypt(message, ring) == b"to the encryption key"

    def test_decryption_only_ring(self, client_key2: PrivateKey) -> None:
        """A ring without a signing key still decrypts, and has no signer."""
        ring = KeyRing(None, [client_key2])
        assert ring.signing is None
        assert ring.decryption_key(client_key2.kid) is client_key2

    def test_with_decryption_key_returns_new_ring(
        self, client_key: PrivateKey, client_key2: PrivateKey
    ) -> None:
        """Adding a key builds a new ring and leaves the original unchanged."""
        ring = KeyRing(client_key)
        bigger = ring.with_decryption_key(client_key2)
        assert bigger.kids == (client_key.kid, client_key2.kid)
        assert bigger.signing is client_key
        assert ring.kids == (client_key.kid,)

    def test_duplicate_keys_collapse(self, client_key: PrivateKey) -> None:
        """The same key given twice is held once."""
        assert KeyRing(client_key, [client_key]).kids == (client_key.kid,)


class TestKeyReprs:
    def test_reprs_show_kid_only(self, client_key: PrivateKey) -> None:
        """Key and ring reprs and strs show the kid and never key material."""
        pem_lines = private_key_pem(client_key).splitlines()[1:-1]
        ring = KeyRing(client_key)
        for text in (
            repr(client_key),
            str(client_key),
            repr(client_key.public),
            repr(ring),
            str(ring),
        ):
            assert client_key.kid in text
            assert not any(line[:20] in text for line in pem_lines)
            assert str(client_key.key.private_numbers().d)[:20] not in text

    def test_credentials_and_view_reprs(
        self, client_key: PrivateKey, platform_key: PrivateKey
    ) -> None:
        """Credentials and platform views print kids, never key material."""
        creds = Credentials(issuer=SVC, subject=SVC, keyring=KeyRing(client_key))
        view = PlatformView().with_key(platform_key.public, current_at=0.0)
        secret = str(client_key.key.private_numbers().d)[:20]
        pem_line = private_key_pem(client_key).splitlines()[3]
        for text in (repr(creds), str(creds), repr(view)):
            assert secret not in text
            assert pem_line not in text
        assert client_key.kid in repr(creds)

    def test_private_key_refuses_pickle(self, client_key: PrivateKey) -> None:
        """Pickling a private key raises instead of writing it out in clear."""
        with pytest.raises(TypeError, match="cannot be pickled"):
            pickle.dumps(client_key)

    def test_equality_by_kid(
        self, client_key: PrivateKey, client_key2: PrivateKey
    ) -> None:
        """Keys compare and hash by kid."""
        assert client_key == client_key
        assert client_key != client_key2
        assert len({client_key, client_key, client_key2}) == 2
        assert client_key.public == client_key.public
