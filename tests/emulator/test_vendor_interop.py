"""The vendor SDK (launchkey 4.0.1), unchanged, against the emulator over 127.0.0.1.

It is the reference for what the real platform must look like to a client: every
Service call, both webhook kinds, and the Directory calls used to set users up.
"""

from __future__ import annotations

import time
import warnings
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from lk_core import generate_private_key, load_private_key
from lk_core.platform import _totp
from lk_io.emulator import Emulator, Received, VirtualDevice, WebhookReceiver

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from launchkey.entities.directory import DeviceLinkCompletionResponse
    from launchkey.entities.service import (
        AdvancedAuthorizationResponse,
        AuthPolicy,
        AuthResponseReason,
        AuthResponseType,
        DenialReason,
        ServiceSecurityPolicy,
        SessionEndRequest,
    )
    from launchkey.entities.service.policy import (
        ConditionalGeoFencePolicy,
        FactorsPolicy,
        MethodAmountPolicy,
        Requirement,
        TerritoryFence,
    )
    from launchkey.exceptions import (
        AuthorizationInProgress,
        AuthorizationRequestCanceled,
        AuthorizationResponseExists,
        EntityNotFound,
        InvalidSDKKey,
        LastRemainingKey,
        LastRemainingSDKKey,
        PublicKeyDoesNotExist,
        RequestTimedOut,
    )
    from launchkey.factories import (
        DirectoryFactory,
        OrganizationFactory,
        ServiceFactory,
    )

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def vendor(emulator: Emulator) -> Any:
    creds = emulator.credentials
    factory = ServiceFactory(
        creds.service_id, creds.service_key, url=creds.base_url, testing=True
    )
    return factory.make_service_client()


@pytest.fixture(scope="module")
def vendor_directory(emulator: Emulator) -> Any:
    creds = emulator.credentials
    factory = DirectoryFactory(
        creds.directory_id, creds.directory_key, url=creds.base_url, testing=True
    )
    return factory.make_directory_client()


def _hook(vendor: Any, hook: Received) -> Any:
    return vendor.handle_webhook(
        hook.body.decode(), dict(hook.headers), hook.method, hook.path
    )


def _next_hook(receiver: WebhookReceiver, emulator: Emulator, before: int) -> Received:
    assert emulator.wait_webhooks()
    hooks = receiver.wait_for(before + 1)
    assert len(hooks) == before + 1
    return hooks[before]


@pytest.fixture
def answered(vendor: Any, device: VirtualDevice) -> Any:
    """Create a request, let the test answer it, then fetch the vendor's view."""

    def run(action: str, **options: Any) -> AdvancedAuthorizationResponse:
        request = vendor.authorization_request(
            device.identifier,
            context="Interop",
            denial_reasons=[
                DenialReason("F1", "Not me", True),
                DenialReason("N1", "Changed mind", False),
            ],
        )
        assert vendor.get_advanced_authorization_response(request.auth_request) is None
        device.answer(action, request.auth_request, **options)  # type: ignore[arg-type]
        response = vendor.get_advanced_authorization_response(request.auth_request)
        assert response.authorization_request_id == request.auth_request
        return response

    return run


def test_approve(answered: Any, device: VirtualDevice) -> None:
    """Approval: authorized, APPROVED, pins, hashes, device id, methods."""
    response = answered("approve")
    assert response.authorized is True
    assert response.type is AuthResponseType.AUTHORIZED
    assert response.reason is AuthResponseReason.APPROVED
    assert response.device_id == device.id
    assert len(response.service_pins) == 5
    assert response.service_user_hash
    assert response.organization_user_hash
    assert response.user_push_id
    assert len(response.auth_methods) == 7


def test_deny(answered: Any) -> None:
    """Denial with a non-fraud reason."""
    response = answered("deny", denial_reason="N1")
    assert response.authorized is False
    assert response.type is AuthResponseType.DENIED
    assert response.reason is AuthResponseReason.DISAPPROVED
    assert response.denial_reason == "N1"
    assert response.fraud is False


def test_fraud(answered: Any) -> None:
    """Denial with a fraud reason."""
    response = answered("deny", denial_reason="F1")
    assert response.reason is AuthResponseReason.FRAUDULENT
    assert response.fraud is True


def test_fail(answered: Any) -> None:
    """A failed authentication."""
    response = answered("fail", fail_reason="AUTHENTICATION")
    assert response.type is AuthResponseType.FAILED
    assert response.reason is AuthResponseReason.AUTHENTICATION


def test_policy_is_reported(vendor: Any, device: VirtualDevice) -> None:
    """An amount policy comes back in the response's policy."""
    request = vendor.authorization_request(device.identifier, policy=AuthPolicy(any=2))
    device.approve()
    response = vendor.get_advanced_authorization_response(request.auth_request)
    assert response.authorized is True
    assert response.policy.amount == 2


def test_timeout(vendor: Any, emulator: Emulator, device: VirtualDevice) -> None:
    """An expired request raises RequestTimedOut."""
    request = vendor.authorization_request(device.identifier, ttl=30)
    emulator.control.expire(request.auth_request)
    with pytest.raises(RequestTimedOut):
        vendor.get_advanced_authorization_response(request.auth_request)


def test_cancel(vendor: Any, device: VirtualDevice) -> None:
    """Cancel works once; then cancel and poll say cancelled; answered is final."""
    request = vendor.authorization_request(device.identifier)
    vendor.cancel_authorization_request(request.auth_request)
    with pytest.raises(AuthorizationRequestCanceled):
        vendor.cancel_authorization_request(request.auth_request)
    with pytest.raises(AuthorizationRequestCanceled):
        vendor.get_advanced_authorization_response(request.auth_request)
    answered = vendor.authorization_request(device.identifier)
    device.approve()
    with pytest.raises(AuthorizationResponseExists):
        vendor.cancel_authorization_request(answered.auth_request)


def test_in_progress(vendor: Any, device: VirtualDevice) -> None:
    """AuthorizationInProgress carries the blocking id, expiry and same-service flag."""
    first = vendor.authorization_request(device.identifier)
    with pytest.raises(AuthorizationInProgress) as err:
        vendor.authorization_request(device.identifier)
    assert err.value.authorization_request_id == first.auth_request
    assert err.value.from_same_service is True
    assert err.value.expires is not None


def test_unknown_user(vendor: Any) -> None:
    """Unknown usernames are EntityNotFound."""
    with pytest.raises(EntityNotFound):
        vendor.authorization_request("no-such-user")


def test_sessions(vendor: Any, vendor_directory: Any, device: VirtualDevice) -> None:
    """session_start shows in the directory's session list; session_end removes it."""
    request = vendor.authorization_request(device.identifier)
    device.approve()
    vendor.session_start(device.identifier, request.auth_request)
    [session] = vendor_directory.get_all_service_sessions(device.identifier)
    assert session.auth_request == request.auth_request
    vendor.session_end(device.identifier)
    assert vendor_directory.get_all_service_sessions(device.identifier) == []


def test_totp(vendor: Any, vendor_directory: Any, device: VirtualDevice) -> None:
    """A code from the generated secret verifies; a wrong one does not."""
    with pytest.raises(EntityNotFound):
        vendor.verify_totp(device.identifier, "123456")
    totp = vendor_directory.generate_user_totp(device.identifier)
    code = _totp.code_at(totp.secret, int(time.time()))
    assert vendor.verify_totp(device.identifier, code) is True
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert vendor.verify_totp(device.identifier, wrong) is False
    vendor_directory.remove_user_totp(device.identifier)


def test_auth_webhook(
    vendor: Any,
    emulator: Emulator,
    receiver: WebhookReceiver,
    device: VirtualDevice,
) -> None:
    """The authorization-response webhook is accepted and matches the poll."""
    emulator.wait_webhooks()
    before = len(receiver.received)
    request = vendor.authorization_request(device.identifier)
    device.approve()
    event = _hook(vendor, _next_hook(receiver, emulator, before))
    assert isinstance(event, AdvancedAuthorizationResponse)
    polled = vendor.get_advanced_authorization_response(request.auth_request)
    assert event.authorization_request_id == request.auth_request
    assert event.service_user_hash == polled.service_user_hash
    assert event.service_pins == polled.service_pins


def test_session_end_webhook(
    vendor: Any,
    emulator: Emulator,
    receiver: WebhookReceiver,
    device: VirtualDevice,
) -> None:
    """A device logout reaches the vendor as a SessionEndRequest."""
    request = vendor.authorization_request(device.identifier)
    device.approve()
    polled = vendor.get_advanced_authorization_response(request.auth_request)
    vendor.session_start(device.identifier, request.auth_request)
    emulator.wait_webhooks()
    before = len(receiver.received)
    device.logout()
    event = _hook(vendor, _next_hook(receiver, emulator, before))
    assert isinstance(event, SessionEndRequest)
    assert event.service_user_hash == polled.service_user_hash


def test_directory_devices(vendor_directory: Any, emulator: Emulator) -> None:
    """Link through the Directory API, complete on the device, list, unlink."""
    link = vendor_directory.link_device("linked-by-directory")
    assert len(link.code) >= 7
    device = emulator.control.link(link.code)
    [listed] = vendor_directory.get_linked_devices("linked-by-directory")
    assert listed.id == device.id
    assert listed.status.is_active is True
    vendor_directory.unlink_device("linked-by-directory", device.id)
    assert vendor_directory.get_linked_devices("linked-by-directory") == []


def test_unlink_pending_device(vendor_directory: Any, emulator: Emulator) -> None:
    """The vendor SDK reads status 2 as UNLINK_PENDING, still active."""
    device = emulator.add_user("vendor-slow-unlink", ack_unlink=False)
    vendor_directory.unlink_device("vendor-slow-unlink", device.id)
    [listed] = vendor_directory.get_linked_devices("vendor-slow-unlink")
    assert listed.status.status_code == "UNLINK_PENDING"
    assert listed.status.is_active is True
    device.acknowledge_unlink()
    assert vendor_directory.get_linked_devices("vendor-slow-unlink") == []


def test_device_link_webhook(
    vendor_directory: Any, emulator: Emulator, receiver: WebhookReceiver
) -> None:
    """The Directory's device-link webhook is accepted by the vendor SDK."""
    emulator.control.update_directory(emulator.directory_id, webhook_url=receiver.url)
    try:
        emulator.wait_webhooks()
        before = len(receiver.received)
        link = vendor_directory.link_device("webhook-linked")
        device = emulator.control.link(link.code)
        event = _hook(vendor_directory, _next_hook(receiver, emulator, before))
    finally:
        emulator.control.update_directory(emulator.directory_id, webhook_url=None)
    assert isinstance(event, DeviceLinkCompletionResponse)
    assert event.device_id == device.id
    assert event.device_public_key_id == device.info()["public_key_id"]
    assert event.device_public_key.startswith("-----BEGIN PUBLIC KEY-----")


def test_older_calls_and_all_create_fields(vendor: Any, device: VirtualDevice) -> None:
    """authorize / get_authorization_response, and every create field, still work."""
    auth_id = vendor.authorize(device.identifier, context="Old style")
    device.deny()
    old = vendor.get_authorization_response(auth_id)
    assert old.authorized is False
    request = vendor.authorization_request(
        device.identifier,
        context="All fields",
        title="Custom Request",
        ttl=60,
        push_title="You have a pending request",
        push_body="Do you wish to authorize this request?",
    )
    [pending] = device.pending()
    assert pending["title"] == "Custom Request"
    device.approve()
    response = vendor.get_advanced_authorization_response(request.auth_request)
    assert response.authorized is True


def test_directory_service_management(vendor_directory: Any) -> None:
    """Directory service, key and policy calls of the vendor SDK all work."""
    d = vendor_directory
    service_id = d.create_service("Managed", description="d", callback_url=None)
    assert str(service_id) in [str(s.id) for s in d.get_all_services()]
    d.update_service(service_id, name="Managed 2", active=False)
    [service] = d.get_services([service_id])
    assert (service.name, service.active) == ("Managed 2", False)
    assert d.get_service(service_id).description == "d"

    first = generate_private_key().public.pem
    second = generate_private_key().public.pem
    first_id = d.add_service_public_key(service_id, first)
    second_id = d.add_service_public_key(
        service_id, second, expires=datetime(2099, 1, 1, tzinfo=UTC)
    )
    keys = {k.id: k for k in d.get_service_public_keys(service_id)}
    assert set(keys) == {first_id, second_id}
    assert keys[second_id].expires.year == 2099
    d.update_service_public_key(service_id, first_id, active=False)
    keys = {k.id: k for k in d.get_service_public_keys(service_id)}
    assert keys[first_id].active is False
    d.remove_service_public_key(service_id, first_id)
    with pytest.raises(LastRemainingKey):
        d.remove_service_public_key(service_id, second_id)
    with pytest.raises(PublicKeyDoesNotExist):
        d.remove_service_public_key(service_id, first_id)

    d.set_advanced_service_policy(
        service_id, MethodAmountPolicy(amount=2, deny_rooted_jailbroken=True)
    )
    policy = d.get_advanced_service_policy(service_id)
    assert isinstance(policy, MethodAmountPolicy)
    assert (policy.amount, policy.deny_rooted_jailbroken) == (2, True)
    legacy = ServiceSecurityPolicy(any=1, jailbreak_protection=True)
    legacy.add_geofence(36.1, -115.1, 150.0, name="office")
    d.set_service_policy(service_id, legacy)
    back = d.get_service_policy(service_id)
    assert back.minimum_amount == 1
    assert back.jailbreak_protection is True
    assert [g.name for g in back.geofences] == ["office"]
    d.remove_service_policy(service_id)
    assert d.get_advanced_service_policy(service_id).amount == 0


def _push_certificate() -> bytes:
    """A throwaway password-less PKCS#12 like an APNs push certificate."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "push")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return pkcs12.serialize_key_and_certificates(
        b"push", key, cert, None, serialization.NoEncryption()
    )


def test_organization_calls(emulator: Emulator) -> None:
    """Organization directory, key, SDK-key and service calls of the vendor SDK."""
    creds = emulator.credentials
    factory = OrganizationFactory(
        creds.organization_id, creds.organization_key, url=creds.base_url, testing=True
    )
    org = factory.make_organization_client()
    directory_id = org.create_directory("Second Directory")
    assert str(directory_id) in [str(d.id) for d in org.get_all_directories()]
    org.update_directory(
        directory_id,
        ios_p12=_push_certificate(),
        android_key="fcm-key",
        denial_context_inquiry_enabled=True,
        webhook_url="http://127.0.0.1:9/dir",
    )
    directory = org.get_directory(directory_id)
    assert directory.android_key == "fcm-key"
    assert directory.ios_certificate_fingerprint
    assert directory.denial_context_inquiry_enabled is True
    [directory] = org.get_directories([directory_id])
    assert directory.webhook_url == "http://127.0.0.1:9/dir"

    first = org.add_directory_public_key(
        directory_id, generate_private_key().public.pem
    )
    assert [k.id for k in org.get_directory_public_keys(directory_id)] == [first]
    with pytest.raises(LastRemainingKey):
        org.remove_directory_public_key(directory_id, first)
    org.update_directory_public_key(directory_id, first, active=True)

    [initial] = org.get_all_directory_sdk_keys(directory_id)
    added = org.generate_and_add_directory_sdk_key(directory_id)
    assert set(org.get_all_directory_sdk_keys(directory_id)) == {initial, added}
    org.remove_directory_sdk_key(directory_id, initial)
    with pytest.raises(LastRemainingSDKKey):
        org.remove_directory_sdk_key(directory_id, added)
    with pytest.raises(InvalidSDKKey):
        org.remove_directory_sdk_key(directory_id, initial)

    service_id = org.create_service("Org Service")
    assert org.get_service(service_id).name == "Org Service"


def test_organization_acts_for_children(emulator: Emulator) -> None:
    """An Organization key drives its Directory and its Directory's Service."""
    creds = emulator.credentials
    factory = OrganizationFactory(
        creds.organization_id, creds.organization_key, url=creds.base_url, testing=True
    )
    directory = factory.make_directory_client(creds.directory_id)
    link = directory.link_device("org-driven")
    device = emulator.control.link(link.code)
    service = factory.make_service_client(creds.service_id)
    request = service.authorization_request("org-driven")
    device.approve()
    response = service.get_advanced_authorization_response(request.auth_request)
    assert response.authorized is True


def test_conditional_geofence_policy(emulator: Emulator, vendor_directory: Any) -> None:
    """A COND_GEO policy set by the vendor SDK picks its branch by the device's
    territory, and the vendor reads requirement COND_GEO and the TERRITORY fence."""
    control = emulator.control
    service_id, key = control.add_service(name="Cond geo")
    vendor_directory.set_advanced_service_policy(
        service_id,
        ConditionalGeoFencePolicy(
            inside=MethodAmountPolicy(amount=2),
            outside=FactorsPolicy(possession_required=True),
            fences=[TerritoryFence("US", administrative_area="US-NV", name="NV")],
        ),
    )
    vendor = ServiceFactory(
        service_id, key, url=emulator.credentials.base_url, testing=True
    ).make_service_client()
    device = emulator.add_user(
        "cond-geo-interop",
        territory={"country": "US", "administrative_area": "US-NV"},
    )
    request = vendor.authorization_request(device.identifier)
    device.approve()
    response = vendor.get_advanced_authorization_response(request.auth_request)
    assert response.authorized is True
    assert response.policy.requirement is Requirement.COND_GEO
    (fence,) = response.policy.fences
    assert isinstance(fence, TerritoryFence)
    assert (fence.country, fence.administrative_area) == ("US", "US-NV")
    request = vendor.authorization_request(device.identifier)
    device.approve(territory={"country": "CA"})
    response = vendor.get_advanced_authorization_response(request.auth_request)
    assert response.reason is AuthResponseReason.POLICY


def test_signature_and_encryption_keys(emulator: Emulator) -> None:
    """The vendor SDK signs with a signature-only key and decrypts the answer with
    its added encryption-only key."""
    control = emulator.control
    service_id, both = control.add_service(name="Vendor split keys")
    _, sign_key = control.add_service_key(service_id, key_type=2)
    _, enc_key = control.add_service_key(service_id, key_type=1)
    control.set_service_key_active(service_id, load_private_key(both).kid, active=False)
    factory = ServiceFactory(
        service_id, sign_key, url=emulator.credentials.base_url, testing=True
    )
    factory.add_encryption_private_key(enc_key)
    vendor = factory.make_service_client()
    device = emulator.add_user("vendor-split-keys")
    request = vendor.authorization_request(device.identifier)
    device.approve()
    response = vendor.get_advanced_authorization_response(request.auth_request)
    assert response.authorized is True
