"""The scenario suite: each story runs through the sync and the async client.

Real sockets on 127.0.0.1: the emulator serves the platform, a WebhookReceiver stands
in for the service's callback endpoint, virtual devices answer.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
from collections.abc import Iterator

import pytest
from service_drivers import World

from lk_core import (
    AdvancedAuthorizationResponse,
    AuthorizationInProgress,
    AuthorizationRequestCanceled,
    AuthorizationResponseExists,
    AuthPolicy,
    AuthResponseReason,
    AuthResponseType,
    DenialReason,
    EntityNotFound,
    InvalidArgument,
    PolicyFailure,
    RequestTimedOut,
    SessionEndRequest,
    UnexpectedWebhookRequest,
)
from lk_io.emulator import VirtualDevice, WebhookReceiver

_names = itertools.count(1)


@pytest.fixture
def device(world: World) -> VirtualDevice:
    """A fresh user with one linked device (PIN and fingerprint)."""
    return world.emulator.add_user(f"scenario-{world.kind}-{next(_names)}")


@pytest.fixture(scope="module")
def receiver(world: World) -> Iterator[WebhookReceiver]:
    """The service's callback endpoint for this module's emulator."""
    with WebhookReceiver() as r:
        world.emulator.control.set_callback(world.emulator.service_id, r.url)
        yield r
        world.emulator.control.set_callback(world.emulator.service_id, None)


def _answer(world: World, request_id: str) -> AdvancedAuthorizationResponse:
    response = world.service_client.get_advanced_authorization_response(request_id)
    assert response is not None
    return response


def test_approve(world: World, device: VirtualDevice) -> None:
    """Pending polls give None; after approval every attribute is filled."""
    client = world.service_client
    request = client.authorization_request(device.identifier, context="Log in")
    assert client.get_advanced_authorization_response(request.auth_request) is None
    device.approve()
    response = _answer(world, request.auth_request)
    assert (response.authorized, response.type, response.reason) == (
        True,
        AuthResponseType.AUTHORIZED,
        AuthResponseReason.APPROVED,
    )
    assert response.authorization_request_id == request.auth_request
    assert response.device_id == device.id
    assert response.service_user_hash
    assert response.organization_user_hash
    assert response.auth_methods


def test_deny_with_reason(world: World, device: VirtualDevice) -> None:
    """A non-fraud denial carries the chosen reason id."""
    reasons = [DenialReason("f", "Not me", True), DenialReason("x", "Oops", False)]
    client = world.service_client
    request = client.authorization_request(device.identifier, denial_reasons=reasons)
    device.deny(reason="x")
    response = _answer(world, request.auth_request)
    assert (response.type, response.reason) == (
        AuthResponseType.DENIED,
        AuthResponseReason.DISAPPROVED,
    )
    assert (response.denial_reason, response.fraud) == ("x", False)


def test_fail(world: World, device: VirtualDevice) -> None:
    """A failed answer is not authorized and says why."""
    request = world.service_client.authorization_request(device.identifier)
    device.fail(reason="AUTHENTICATION")
    response = _answer(world, request.auth_request)
    assert response.type is AuthResponseType.FAILED
    assert response.reason is AuthResponseReason.AUTHENTICATION
    assert response.authorized is False


def test_push_id_as_username(world: World, device: VirtualDevice) -> None:
    """The user_push_id of an answer addresses the same user later."""
    client = world.service_client
    first = client.authorization_request(device.identifier)
    device.approve()
    push_id = _answer(world, first.auth_request).user_push_id
    assert push_id is not None
    second = client.authorization_request(push_id)
    assert second.device_ids == (device.id,)
    device.approve()


def test_cancel_and_answered(world: World, device: VirtualDevice) -> None:
    """Canceled requests stay canceled; answered ones cannot be canceled."""
    client = world.service_client
    request = client.authorization_request(device.identifier)
    client.cancel_authorization_request(request.auth_request)
    with pytest.raises(AuthorizationRequestCanceled):
        client.get_advanced_authorization_response(request.auth_request)
    with pytest.raises(AuthorizationRequestCanceled):
        client.cancel_authorization_request(request.auth_request)
    answered = client.authorization_request(device.identifier)
    device.approve()
    with pytest.raises(AuthorizationResponseExists):
        client.cancel_authorization_request(answered.auth_request)


def test_expiry(world: World, device: VirtualDevice) -> None:
    """A request that expired polls as RequestTimedOut."""
    request = world.service_client.authorization_request(device.identifier, ttl=30)
    world.emulator.control.expire(request.auth_request)
    with pytest.raises(RequestTimedOut):
        world.service_client.get_advanced_authorization_response(request.auth_request)


def test_in_progress(world: World, device: VirtualDevice) -> None:
    """A second request while one is pending names the first and its expiry."""
    client = world.service_client
    first = client.authorization_request(device.identifier, ttl=120)
    with pytest.raises(AuthorizationInProgress) as info:
        client.authorization_request(device.identifier)
    assert info.value.authorization_request_id == first.auth_request
    assert info.value.from_same_service is True
    assert info.value.expires is not None
    assert info.value.expires.tzinfo is dt.UTC
    device.approve()


def test_policy_failure(world: World, device: VirtualDevice) -> None:
    """A policy the user's device cannot meet is PolicyFailure."""
    with pytest.raises(PolicyFailure):
        world.service_client.authorization_request(
            device.identifier, policy=AuthPolicy(possession=True)
        )


def test_unknown_user_and_bad_ttl(world: World) -> None:
    """Unknown users are EntityNotFound; a bad ttl never leaves the client."""
    with pytest.raises(EntityNotFound):
        world.service_client.authorization_request("nobody-at-all")
    with pytest.raises(InvalidArgument):
        world.service_client.authorization_request("nobody-at-all", ttl=10)


def test_webhook_equals_poll(
    world: World, receiver: WebhookReceiver, device: VirtualDevice
) -> None:
    """The delivered auth-response webhook decodes to the polled answer."""
    client = world.service_client
    before = len(receiver.received)
    request = client.authorization_request(device.identifier)
    device.deny(fraud=True)
    [hook] = receiver.wait_for(before + 1)[before:]
    event = client.handle_webhook(hook.body, hook.headers, hook.method, hook.path)
    assert isinstance(event, AdvancedAuthorizationResponse)
    assert event == _answer(world, request.auth_request)
    assert event.fraud is True
    with pytest.raises(UnexpectedWebhookRequest):
        client.handle_webhook(hook.body, hook.headers, hook.method, "/elsewhere")


def test_session_end_webhook(
    world: World, receiver: WebhookReceiver, device: VirtualDevice
) -> None:
    """A logout on the device arrives as a session-end webhook with the user hash."""
    client = world.service_client
    request = client.authorization_request(device.identifier)
    device.approve()
    user_hash = _answer(world, request.auth_request).service_user_hash
    world.emulator.wait_webhooks()
    before = len(receiver.received)
    client.session_start(device.identifier, request.auth_request)
    assert device.logout() == 1
    [hook] = receiver.wait_for(before + 1)[before:]
    event = client.handle_webhook(hook.body, hook.headers, hook.method, hook.path)
    assert isinstance(event, SessionEndRequest)
    assert event.service_user_hash == user_hash
    assert event.logout_requested.tzinfo is not None


def test_platform_key_rotation(world: World, device: VirtualDevice) -> None:
    """After the platform rotates its key, calls keep working."""
    client = world.service_client
    client.authorization_request(device.identifier)
    new_kid = world.emulator.control.rotate_key()
    device.approve()
    request = client.authorization_request(device.identifier)
    assert new_kid in client.platform_view.keys
    device.approve()
    assert _answer(world, request.auth_request).authorized is True


def test_one_client_shared_by_threads(world: World, device: VirtualDevice) -> None:
    """Eight threads sharing one client all succeed; the platform view stays whole."""
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(5):
                world.service_client.session_start(device.identifier)
        except BaseException as exc:  # collected and asserted on below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert world.service_client.platform_view.current_kid is not None
