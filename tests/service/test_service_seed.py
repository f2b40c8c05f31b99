"""The seed's Python examples, run against the emulator through both clients."""

from __future__ import annotations

import logging
from typing import Any

import pytest
import seed_examples as seed
from service_drivers import World

from lk_core import EntityNotFound


def run(world: World, example: str) -> dict[str, Any]:
    """Execute one example with ``service_client`` bound; return its globals."""
    scope: dict[str, Any] = {"service_client": world.service_client, "__name__": "seed"}
    exec(compile(example, "<seed example>", "exec"), scope)
    return scope


@pytest.mark.parametrize(
    "example",
    [seed.CREATE, seed.CONTEXT, seed.TITLE_AND_PUSH, seed.TTL, seed.DENIAL_REASONS],
    ids=["create", "context", "title-and-push", "ttl", "denial-reasons"],
)
def test_create_examples(settled: World, example: str) -> None:
    """Each create example makes one pending request on myuser's device."""
    scope = run(settled, example)
    request_id = scope["authorization_request"].auth_request
    pending = settled.myuser.pending()
    assert [p["auth_request"] for p in pending] == [request_id]
    assert list(scope["authorization_request"].device_ids) == [settled.myuser.id]


def test_create_example_sends_the_options(settled: World) -> None:
    """Title, push texts and denial reasons reach the platform."""
    run(settled, seed.TITLE_AND_PUSH)
    assert settled.myuser.pending()[0]["title"] == "Custom Request"
    settled.settle()
    run(settled, seed.DENIAL_REASONS)
    reasons = settled.myuser.pending()[0]["denial_reasons"]
    assert [r["id"] for r in reasons] == ["a", "b", "c"]


@pytest.mark.parametrize(
    "example",
    [seed.POLICY_ANY, seed.POLICY_TYPES, seed.POLICY_GEOFENCE],
    ids=["any", "types", "geofence"],
)
def test_policy_examples(settled: World, example: str) -> None:
    """The three AuthPolicy examples create a request carrying their policy."""
    run(settled, example)
    assert settled.myuser.pending()[0]["policy"] is not None


def test_in_progress_example(
    settled: World, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a request pending, the example prints the in-progress details."""
    first = settled.service_client.authorization_request("myuser")
    run(settled, seed.IN_PROGRESS)
    out = capsys.readouterr().out
    assert "Authorization Request already in progress" in out
    assert "From Same Service : True" in out
    assert f"Existing Auth ID : {first.auth_request}" in out
    assert "UTC" in out.splitlines()[-1]


def test_cancel_example(settled: World) -> None:
    """The seed cancels a fixed id the emulator never issued: EntityNotFound."""
    with pytest.raises(EntityNotFound):
        run(settled, seed.CANCEL)


def test_polling_example(settled: World) -> None:
    """The polling loop ends once the device answers."""
    settled.other.auto("approve")
    scope = run(settled, seed.POLLING)
    assert scope["response"].authorized is True


def test_type_and_reason_example(
    settled: World, caplog: pytest.LogCaptureFixture
) -> None:
    """A fraud denial takes the DENIED branch and logs the fraud."""
    settled.myuser.auto("deny", fraud=True)
    with caplog.at_level(logging.INFO):
        scope = run(settled, seed.TYPE_AND_REASON)
    assert scope["response"].fraud is True
    assert "Fraud" in caplog.messages


def test_session_examples(settled: World) -> None:
    """Session start (with the seed's fixed request id) and end both succeed."""
    run(settled, seed.SESSION_START)
    run(settled, seed.SESSION_END)


def test_totp_example(settled: World) -> None:
    """Without TOTP set up the platform says EntityNotFound; with it, a bool."""
    with pytest.raises(EntityNotFound):
        run(settled, seed.VERIFY_TOTP)
    creds = settled.emulator.credentials
    from lk_io.emulator import DirectoryCalls

    directory = DirectoryCalls(creds.directory_id, creds.directory_key, creds.base_url)
    directory.generate_totp("myuser")
    assert run(settled, seed.VERIFY_TOTP)["valid"] in (True, False)
    directory.remove_totp("myuser")
    directory.close()
