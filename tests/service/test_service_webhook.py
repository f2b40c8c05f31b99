"""handle_webhook against webhooks signed by the in-memory fake platform."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from service_fake import FakePlatform, key

from lk_core import (
    EntityKeyNotFound,
    HttpRequest,
    HttpResponse,
    InvalidArgument,
    UnableToDecryptWebhookRequest,
    UnexpectedAuthorizationResponse,
    UnexpectedWebhookRequest,
    WebhookAuthorizationError,
)
from lk_core.service import (
    AdvancedAuthorizationResponse,
    SessionEndRequest,
    read_webhook,
)
from lk_io import AsyncServiceClient, ServiceClient


def test_auth_response_equals_polled_value(
    fake: FakePlatform, client: ServiceClient
) -> None:
    """The webhook gives exactly the value polling gives for the same package."""
    package = fake.package()
    fake.route("GET", "/service/v3/auths/req-1", 200, package)
    polled = client.get_advanced_authorization_response("req-1")
    hook = fake.webhook(package)
    got = client.handle_webhook(hook.body, hook.headers, "POST", "/webhook")
    assert isinstance(got, AdvancedAuthorizationResponse)
    assert got == polled


def test_session_end(fake: FakePlatform, client: ServiceClient) -> None:
    """A plain-JSON body is the session-end event, with an aware UTC time."""
    hook = fake.webhook(
        {"service_user_hash": "suh", "api_time": "2017-10-03T22:50:15Z"}, encrypt=False
    )
    got = client.handle_webhook(
        hook.body.decode(), dict(hook.headers), "POST", "/webhook"
    )
    assert isinstance(got, SessionEndRequest)
    assert got.service_user_hash == "suh"
    assert got.api_time == dt.datetime(2017, 10, 3, 22, 50, 15, tzinfo=dt.UTC)
    assert got.logout_requested.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    "shape",
    ["dict", "dict-of-lists", "pairs", "upper", "lower", "authorization-only"],
)
def test_header_shapes(fake: FakePlatform, client: ServiceClient, shape: str) -> None:
    """Headers may come as a mapping or pairs, any case, single or list values."""
    hook = fake.webhook(fake.package())
    pairs = list(hook.headers)
    headers: object = {
        "dict": dict(pairs),
        "dict-of-lists": {name: [value] for name, value in pairs},
        "pairs": pairs,
        "upper": [(name.upper(), value) for name, value in pairs],
        "lower": {name.lower(): value for name, value in pairs},
        "authorization-only": [(n, v) for n, v in pairs if n != "X-IOV-JWT"],
    }[shape]
    got = client.handle_webhook(hook.body, headers, "POST", "/webhook")
    assert isinstance(got, AdvancedAuthorizationResponse)


def test_method_and_path_are_optional(
    fake: FakePlatform, client: ServiceClient
) -> None:
    """Without method and path only the signature, times and body hash are checked."""
    hook = fake.webhook(fake.package())
    assert isinstance(
        client.handle_webhook(hook.body, hook.headers), AdvancedAuthorizationResponse
    )


@pytest.mark.parametrize(("method", "path"), [("GET", "/webhook"), ("POST", "/other")])
def test_wrong_method_or_path(
    fake: FakePlatform, client: ServiceClient, method: str, path: str
) -> None:
    """A webhook replayed to another path or with another method is refused."""
    hook = fake.webhook(fake.package())
    with pytest.raises(UnexpectedWebhookRequest):
        client.handle_webhook(hook.body, hook.headers, method, path)


def test_no_jwt(fake: FakePlatform, client: ServiceClient) -> None:
    """Without X-IOV-JWT the webhook is refused as unauthorized."""
    hook = fake.webhook(fake.package())
    with pytest.raises(WebhookAuthorizationError):
        client.handle_webhook(hook.body, {"Content-Type": "application/jose"})


def test_tampered_body(fake: FakePlatform, client: ServiceClient) -> None:
    """A body that does not match the signed hash is refused."""
    hook = fake.webhook(
        {"service_user_hash": "a", "api_time": "2017-10-03T22:50:15Z"}, encrypt=False
    )
    body = hook.body.replace(b'"a"', b'"b"')
    with pytest.raises(UnexpectedWebhookRequest):
        client.handle_webhook(body, hook.headers, "POST", "/webhook")


def test_forged_signature(fake: FakePlatform, client: ServiceClient) -> None:
    """A webhook signed by a key the platform does not publish is refused."""
    hook = fake.webhook(fake.package(), signer=key("forger"))
    with pytest.raises(UnexpectedWebhookRequest):
        client.handle_webhook(hook.body, hook.headers, "POST", "/webhook")


def test_encrypted_to_someone_else(fake: FakePlatform, client: ServiceClient) -> None:
    """A body encrypted to a key we do not hold raises EntityKeyNotFound."""
    other = FakePlatform(service_key=key("other"))
    other.signer = fake.signer
    hook = other.webhook(other.package())
    with pytest.raises(EntityKeyNotFound):
        client.handle_webhook(hook.body, hook.headers, "POST", "/webhook")


def test_garbled_jwe_body(fake: FakePlatform, client: ServiceClient) -> None:
    """A signed body that is not a decryptable JWE raises UnableToDecrypt..."""
    hook = fake.webhook(fake.package())
    body = b"x" + hook.body[1:]
    resigned = fake.sign_raw(body)
    with pytest.raises(UnableToDecryptWebhookRequest):
        client.handle_webhook(resigned.body, resigned.headers, "POST", "/webhook")


def test_other_event_type(fake: FakePlatform, client: ServiceClient) -> None:
    """An encrypted event that is not an authorization response is refused."""
    hook = fake.webhook({"type": "DEVICE_LINK_COMPLETION", "device_id": "d"})
    with pytest.raises(UnexpectedAuthorizationResponse):
        client.handle_webhook(hook.body, hook.headers, "POST", "/webhook")


def test_lenient_outer_package(fake: FakePlatform, client: ServiceClient) -> None:
    """With auth_jwe, a webhook package may omit the user values (webhooks.md 3)."""
    hook = fake.webhook({"auth_jwe": fake.device_jwe()})
    got = client.handle_webhook(hook.body, hook.headers, "POST", "/webhook")
    assert isinstance(got, AdvancedAuthorizationResponse)
    assert got.service_user_hash is None


def test_bad_session_end_time(fake: FakePlatform, client: ServiceClient) -> None:
    """A session-end body with a garbled time is refused."""
    hook = fake.webhook(
        {"service_user_hash": "s", "api_time": "yesterday"}, encrypt=False
    )
    with pytest.raises(UnexpectedWebhookRequest):
        client.handle_webhook(hook.body, hook.headers, "POST", "/webhook")


class _AsyncFake:
    def __init__(self, fake: FakePlatform) -> None:
        self.fake = fake

    async def send(self, request: HttpRequest) -> HttpResponse:
        await asyncio.sleep(0)
        return self.fake.send(request)


def test_async_client_runs_the_same_plans(fake: FakePlatform) -> None:
    """The async client gives the same values as the sync one."""
    client = AsyncServiceClient(
        fake.service.id, fake.service_key, transport=_AsyncFake(fake), clock=fake.clock
    )
    fake.route("POST", "/service/v3/auths", 201, {"auth_request": "req-1"})
    fake.route("GET", "/service/v3/auths/req-1", 200, fake.package())
    hook = fake.webhook(fake.package())

    async def scenario() -> tuple[object, object, object]:
        created = await client.authorization_request("u")
        polled = await client.get_advanced_authorization_response(created.auth_request)
        hooked = await client.handle_webhook(
            hook.body, hook.headers, "POST", "/webhook"
        )
        return created.auth_request, polled, hooked

    request_id, polled, hooked = asyncio.run(scenario())
    assert request_id == "req-1"
    assert polled == hooked


def test_cold_client_fetches_once_then_reads_without_sending(
    fake: FakePlatform, client: ServiceClient
) -> None:
    """The first webhook syncs the clock and fetches the key; later ones send
    nothing and give the same value."""
    hook = fake.webhook(fake.package())
    first = client.handle_webhook(hook.body, hook.headers, "POST", "/webhook")
    paths = [request.path for request in fake.seen]
    assert paths == ["/public/v3/ping", "/public/v3/public-key"]
    second = client.handle_webhook(hook.body, hook.headers, "POST", "/webhook")
    assert len(fake.seen) == 2
    assert first == second


def test_read_webhook_needs_a_warm_view(fake: FakePlatform) -> None:
    """read_webhook gives None until the view holds a fresh clock, the current key and
    the signing key; then the value webhook_plan gives, and the same errors."""
    client = ServiceClient(
        fake.service.id, fake.service_key, transport=fake, clock=fake.clock
    )
    creds = client._creds
    hook = fake.webhook(fake.package())
    args = (creds, hook.body, hook.headers, "POST", "/webhook")
    assert read_webhook(client.platform_view, *args, now=fake.clock()) is None
    planned = client.handle_webhook(hook.body, hook.headers, "POST", "/webhook")
    view = client.platform_view
    assert read_webhook(view, *args, now=fake.clock()) == planned
    # 300 s later the clock offset and the current key are stale again.
    assert read_webhook(view, *args, now=fake.clock() + 300) is None
    fake.signer = key("rotated")
    fake.extra_keys[fake.signer.kid] = fake.signer
    rotated = fake.webhook(fake.package())
    assert (
        read_webhook(view, creds, rotated.body, rotated.headers, now=fake.clock())
        is None
    )
    with pytest.raises(UnexpectedWebhookRequest, match="hash"):
        read_webhook(view, creds, hook.body + b" ", hook.headers, now=fake.clock())


def test_one_shot_headers_on_a_cold_client(fake: FakePlatform) -> None:
    """Headers given as an iterator are read once, so a cold client's fetch path
    sees them too (sync and async)."""
    hook = fake.webhook(fake.package())
    sync = ServiceClient(
        fake.service.id, fake.service_key, transport=fake, clock=fake.clock
    )
    got = sync.handle_webhook(hook.body, iter(list(hook.headers)), "POST", "/webhook")
    assert isinstance(got, AdvancedAuthorizationResponse)
    assert [r.path for r in fake.seen][-2:] == [
        "/public/v3/ping",
        "/public/v3/public-key",
    ]
    cold = AsyncServiceClient(
        fake.service.id, fake.service_key, transport=_AsyncFake(fake), clock=fake.clock
    )
    hooked = asyncio.run(
        cold.handle_webhook(hook.body, iter(list(hook.headers)), "POST", "/webhook")
    )
    assert hooked == got


@pytest.mark.parametrize("bad", [{"method": 123}, {"path": 5}, {"method": b"POST"}])
def test_method_and_path_must_be_text(
    fake: FakePlatform, client: ServiceClient, bad: dict[str, object]
) -> None:
    """A method or path that is not a str is the caller's mistake, named as such, on
    the cold and the warm path alike."""
    hook = fake.webhook(fake.package())
    args = {"method": "POST", "path": "/webhook", **bad}
    for _ in range(2):  # the first call is cold, the second warm
        with pytest.raises(InvalidArgument) as caught:
            client.handle_webhook(hook.body, hook.headers, **args)  # type: ignore[arg-type]
        assert caught.value.field == next(iter(bad))
        client.handle_webhook(hook.body, hook.headers, "POST", "/webhook")
