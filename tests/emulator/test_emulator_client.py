"""Our Service client against the emulator over real 127.0.0.1 sockets."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from lk_core import (
    AuthorizationInProgress,
    AuthorizationRequestCanceled,
    AuthorizationResponseExists,
    EntityKeyNotFound,
    EntityNotFound,
    Forbidden,
    PolicyFailure,
    RequestTimedOut,
    Unauthorized,
    load_private_key,
)
from lk_core.platform._policy import DAYS
from lk_core.service import (
    AdvancedAuthorizationResponse,
    AuthPolicy,
    AuthResponseReason,
    AuthResponseType,
    DenialReason,
    Requirement,
    SessionEndRequest,
    TerritoryFence,
)
from lk_io import AsyncServiceClient, ServiceClient, ServiceFactory
from lk_io.emulator import ControlError, Emulator, VirtualDevice, WebhookReceiver

REASONS = [DenialReason("f", "Not me", True), DenialReason("ok", "Oops", False)]


@pytest.fixture(scope="module")
def client(emulator: Emulator) -> Iterator[ServiceClient]:
    creds = emulator.credentials
    factory = ServiceFactory(creds.service_id, creds.service_key, url=creds.base_url)
    with factory.make_service_client() as c:
        yield c


def _answer(client: ServiceClient, auth_id: str) -> AdvancedAuthorizationResponse:
    response = client.get_advanced_authorization_response(auth_id)
    assert response is not None
    return response


def test_approve_by_polling(client: ServiceClient, device: VirtualDevice) -> None:
    """Pending polls give None; after approval the answer is authorized."""
    request = client.authorization_request(device.identifier, context="Log in")
    assert list(request.device_ids or ()) == [device.id]
    assert client.get_advanced_authorization_response(request.auth_request) is None
    device.approve()
    response = _answer(client, request.auth_request)
    assert response.authorized is True
    assert response.type is AuthResponseType.AUTHORIZED
    assert response.device_id == device.id
    assert len(response.service_pins) == 5
    assert response.authorization_request_id == request.auth_request


def test_user_push_id_as_username(client: ServiceClient, device: VirtualDevice) -> None:
    """The user_push_id of an answer works as the username of the next request."""
    first = client.authorization_request(device.identifier)
    device.approve()
    push_id = _answer(client, first.auth_request).user_push_id
    second = client.authorization_request(push_id)
    assert list(second.device_ids or ()) == [device.id]


def test_deny_fraud_with_reason(client: ServiceClient, device: VirtualDevice) -> None:
    """A denial with a fraud reason comes back DENIED / FRAUDULENT with its id."""
    request = client.authorization_request(device.identifier, denial_reasons=REASONS)
    device.deny(reason="f")
    response = _answer(client, request.auth_request)
    assert response.type is AuthResponseType.DENIED
    assert response.reason is AuthResponseReason.FRAUDULENT
    assert response.fraud is True
    assert response.denial_reason == "f"


def test_fail(client: ServiceClient, device: VirtualDevice) -> None:
    """A failed answer carries its reason."""
    request = client.authorization_request(device.identifier)
    device.fail(reason="SENSOR")
    response = _answer(client, request.auth_request)
    assert response.type is AuthResponseType.FAILED
    assert response.reason is AuthResponseReason.SENSOR
    assert response.authorized is False


def test_policy_geofence(client: ServiceClient, device: VirtualDevice) -> None:
    """A geofence policy fails for a device elsewhere and reports the fence."""
    policy = AuthPolicy()
    policy.add_geofence(latitude=27.175, longitude=78.0422, radius=195)
    request = client.authorization_request(device.identifier, policy=policy)
    device.approve(location=(48.8584, 2.2945))
    response = _answer(client, request.auth_request)
    assert response.reason is AuthResponseReason.POLICY
    assert response.policy is not None


def test_unsatisfiable_policy(client: ServiceClient, device: VirtualDevice) -> None:
    """Asking for possession from a PIN+fingerprint device is PolicyFailure."""
    policy = AuthPolicy(possession=True)
    with pytest.raises(PolicyFailure):
        client.authorization_request(device.identifier, policy=policy)


def test_timeout(
    client: ServiceClient, emulator: Emulator, device: VirtualDevice
) -> None:
    """An expired request polls as RequestTimedOut."""
    request = client.authorization_request(device.identifier, ttl=30)
    emulator.control.expire(request.auth_request)
    with pytest.raises(RequestTimedOut):
        client.get_advanced_authorization_response(request.auth_request)


def test_cancel_rules(client: ServiceClient, device: VirtualDevice) -> None:
    """Cancel, then cancel again and poll: both AuthorizationRequestCanceled."""
    request = client.authorization_request(device.identifier)
    client.cancel_authorization_request(request.auth_request)
    with pytest.raises(AuthorizationRequestCanceled):
        client.cancel_authorization_request(request.auth_request)
    with pytest.raises(AuthorizationRequestCanceled):
        client.get_advanced_authorization_response(request.auth_request)
    answered = client.authorization_request(device.identifier)
    device.approve()
    with pytest.raises(AuthorizationResponseExists):
        client.cancel_authorization_request(answered.auth_request)


def test_in_progress(client: ServiceClient, device: VirtualDevice) -> None:
    """A second request while one is pending names the first one."""
    first = client.authorization_request(device.identifier)
    with pytest.raises(AuthorizationInProgress) as err:
        client.authorization_request(device.identifier)
    assert err.value.authorization_request_id == first.auth_request
    assert err.value.from_same_service is True
    assert err.value.expires is not None


def test_unknown_user(client: ServiceClient) -> None:
    """An unknown username is EntityNotFound."""
    with pytest.raises(EntityNotFound):
        client.authorization_request("nobody-here")


def test_totp_without_configuration(
    client: ServiceClient, device: VirtualDevice
) -> None:
    """verify_totp for a user with no TOTP set up says so in its EntityNotFound."""
    with pytest.raises(EntityNotFound, match="no TOTP configuration") as caught:
        client.verify_totp("nobody-with-totp", "123456")
    assert caught.value.status_code == 404


def test_unknown_request(client: ServiceClient) -> None:
    """Polling an unknown id is EntityNotFound."""
    with pytest.raises(EntityNotFound):
        client.get_advanced_authorization_response(
            "00000000-0000-4000-8000-000000000000"
        )


def test_webhook_matches_poll(
    client: ServiceClient,
    receiver: WebhookReceiver,
    device: VirtualDevice,
) -> None:
    """The auth-response webhook decodes to the same answer as polling."""
    before = len(receiver.received)
    request = client.authorization_request(device.identifier)
    device.deny(fraud=False)
    [hook] = receiver.wait_for(before + 1)[before:]
    event = client.handle_webhook(hook.body, hook.headers, hook.method, hook.path)
    assert isinstance(event, AdvancedAuthorizationResponse)
    assert event == _answer(client, request.auth_request)
    assert event.reason is AuthResponseReason.DISAPPROVED


def test_sessions_and_device_logout(
    client: ServiceClient,
    emulator: Emulator,
    receiver: WebhookReceiver,
    device: VirtualDevice,
) -> None:
    """Start a session, log out from the device, get the session-end webhook."""
    request = client.authorization_request(device.identifier)
    device.approve()
    user_hash = _answer(client, request.auth_request).service_user_hash
    emulator.wait_webhooks()
    before = len(receiver.received)
    client.session_start(device.identifier, request.auth_request)
    assert device.logout() == 1
    [hook] = receiver.wait_for(before + 1)[before:]
    event = client.handle_webhook(hook.body, hook.headers, hook.method, hook.path)
    assert isinstance(event, SessionEndRequest)
    assert event.service_user_hash == user_hash
    client.session_start(device.identifier, request.auth_request)
    client.session_end(device.identifier)
    assert device.logout() == 0


def test_session_unknown_user(client: ServiceClient) -> None:
    """Sessions for an unknown user are EntityNotFound."""
    with pytest.raises(EntityNotFound):
        client.session_start("nobody-here", None)


def test_key_rotation(emulator: Emulator) -> None:
    """Answers are sealed to the key that signed the create; retired keys are 401."""
    control = emulator.control
    service_id, old_pem = control.add_service()
    new_kid, new_pem = control.add_service_key(service_id)
    device = emulator.add_user("rotating")
    url = emulator.base_url
    with (
        ServiceClient(service_id, old_pem, url=url) as old,
        ServiceClient(service_id, new_pem, url=url, decryption_keys=[old_pem]) as new,
    ):
        request = new.authorization_request(device.identifier)
        device.approve()
        with pytest.raises(EntityKeyNotFound):
            old.get_advanced_authorization_response(request.auth_request)
        assert _answer(new, request.auth_request).authorized is True
        old_kid = load_private_key(old_pem).kid
        control.set_service_key_active(service_id, old_kid, False)
        with pytest.raises(Unauthorized):
            old.verify_totp(device.identifier, "123456")
        with pytest.raises(ControlError) as err:
            control.set_service_key_active(service_id, new_kid, False)
        assert err.value.status == 400


def test_async_client(emulator: Emulator, device: VirtualDevice) -> None:
    """The asyncio client runs the same flow over the same sockets."""
    creds = emulator.credentials

    async def flow() -> AdvancedAuthorizationResponse | None:
        async with AsyncServiceClient(
            creds.service_id, creds.service_key, url=creds.base_url
        ) as client:
            request = await client.authorization_request(device.identifier)
            pending = await client.get_advanced_authorization_response(
                request.auth_request
            )
            assert pending is None
            await asyncio.to_thread(device.approve)
            return await client.get_advanced_authorization_response(
                request.auth_request
            )

    response = asyncio.run(flow())
    assert response is not None
    assert response.authorized is True


def test_conditional_geofence_answer(emulator: Emulator) -> None:
    """Our client reads a COND_GEO answer: requirement, territory fence, verdict."""
    control = emulator.control
    service_id, key = control.add_service(name="Territory")
    control.set_service_policy(
        service_id,
        {
            "type": "COND_GEO",
            "fences": [
                {
                    "type": "TERRITORY",
                    "name": "Nevada",
                    "country": "US",
                    "administrative_area": "US-NV",
                    "postal_code": None,
                }
            ],
            "inside": {"type": "METHOD_AMOUNT", "fences": [], "amount": 2},
            "outside": {"type": "FACTORS", "fences": [], "factors": ["POSSESSION"]},
        },
    )
    device = emulator.add_user(
        "territory-user", territory={"country": "US", "administrative_area": "US-NV"}
    )
    factory = ServiceFactory(service_id, key, url=emulator.credentials.base_url)
    with factory.make_service_client() as c:
        request = c.authorization_request(device.identifier)
        device.approve()
        response = _answer(c, request.auth_request)
        assert response.authorized is True
        assert response.policy is not None
        assert response.policy.requirement is Requirement.COND_GEO
        # Inside Nevada the METHOD_AMOUNT branch applied, and the answer says so.
        assert response.policy.amount == 2
        assert response.policy.fences == (
            TerritoryFence(country="US", administrative_area="US-NV", name="Nevada"),
        )
        request = c.authorization_request(device.identifier)
        device.approve(territory={"country": "MX"})
        assert _answer(c, request.auth_request).reason is AuthResponseReason.POLICY


def test_time_fence_on_emulator_clock(emulator: Emulator) -> None:
    """A service time fence is checked at platform time, in its own zone."""
    control = emulator.control
    service_id, key = control.add_service(name="Office hours")
    local = datetime.fromtimestamp(control.now(), ZoneInfo("Asia/Kolkata"))
    minute = local.hour * 60 + local.minute

    def window(start: int, end: int) -> dict[str, object]:
        return {
            "name": "hours",
            "days": [day.title() for day in DAYS],
            "start hour": start // 60 % 24,
            "start minute": start % 60,
            "end hour": end // 60 % 24,
            "end minute": end % 60,
            "timezone": "Asia/Kolkata",
        }

    device = emulator.add_user("time-fenced")
    factory = ServiceFactory(service_id, key, url=emulator.credentials.base_url)
    with factory.make_service_client() as c:
        # Three hours either side of now: inside; the rest of the day: outside.
        for start, end, authorized in (
            (minute - 180 + 1440, minute + 180, True),
            (minute + 180, minute - 180 + 1440, False),
        ):
            fence = window(start, end)
            policy = {"type": "LEGACY", "amount": 0, "time_restrictions": [fence]}
            control.set_service_policy(service_id, policy)
            request = c.authorization_request(device.identifier)
            device.approve()
            assert _answer(c, request.auth_request).authorized is authorized


_names = itertools.count(1)


class TestKeyTypes:
    """Signature-only and encryption-only service keys (directory-api.md 3)."""

    def _service(self, emulator: Emulator) -> tuple[str, str, str, str]:
        """A service whose only usable keys are one of each single-use type."""
        control = emulator.control
        service_id, both = control.add_service(name=f"Split keys {next(_names)}")
        _, sign_key = control.add_service_key(service_id, key_type=2)
        enc_kid, enc_key = control.add_service_key(service_id, key_type=1)
        control.set_service_key_active(
            service_id, load_private_key(both).kid, active=False
        )
        return service_id, sign_key, enc_kid, enc_key

    def test_sign_with_one_decrypt_with_the_other(self, emulator: Emulator) -> None:
        """Requests signed with the signature key are answered to the encryption
        key; the auth package names it and the client reads it with that key."""
        service_id, sign_key, enc_kid, enc_key = self._service(emulator)
        device = emulator.add_user("split-keys")
        factory = ServiceFactory(
            service_id, sign_key, url=emulator.credentials.base_url
        )
        factory.add_encryption_private_key(enc_key)
        with factory.make_service_client() as c:
            request = c.authorization_request(device.identifier)
            device.approve()
            assert _answer(c, request.auth_request).authorized is True
        (auth,) = [a for a in emulator.control.auths() if a["service_id"] == service_id]
        package = emulator.server.package(emulator.platform.auths[auth["auth_request"]])
        assert package["public_key_id"] == enc_kid

    def test_encryption_key_does_not_verify(self, emulator: Emulator) -> None:
        """A request signed with an encryption-only key is 401."""
        service_id, _, _, enc_key = self._service(emulator)
        device = emulator.add_user("enc-signer")
        factory = ServiceFactory(service_id, enc_key, url=emulator.credentials.base_url)
        with factory.make_service_client() as c, pytest.raises(Unauthorized):
            c.authorization_request(device.identifier)

    def test_no_key_to_encrypt_to_is_refused(self, emulator: Emulator) -> None:
        """With only a signature key left, requests are refused before they act."""
        service_id, sign_key, enc_kid, _ = self._service(emulator)
        emulator.control.set_service_key_active(service_id, enc_kid, active=False)
        device = emulator.add_user("no-enc-key")
        factory = ServiceFactory(
            service_id, sign_key, url=emulator.credentials.base_url
        )
        with factory.make_service_client() as c, pytest.raises(Forbidden):
            c.authorization_request(device.identifier)
        assert device.pending() == []
