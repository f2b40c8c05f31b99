"""The main job: one full Service Client session against an embedded emulator."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from lk_core.platform import RateLimit
from lk_core.platform._totp import code_at
from lk_io.emulator._directory import DirectoryCalls
from lk_io.emulator._emulator import Emulator
from lk_io.emulator._receiver import WebhookReceiver

USER = "demo-user@example.com"
OFFICE = (36.1147, -115.1728)  # where the virtual phone is, inside the geofence
ANSWER_AFTER = 1  # seconds the virtual device waits before approving
POLL_LIMIT = 20.0  # seconds the demo keeps polling before calling it a failure


class StepFailed(Exception):
    pass


class Transcript:
    """Numbered, timed steps; the first failure stops the run."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.count = 0
        self.started = time.monotonic()

    @contextmanager
    def step(self, title: str) -> Iterator[Callable[[str], None]]:
        self.count += 1
        lines: list[str] = []
        began = time.monotonic()
        try:
            yield lines.append
        except Exception as exc:
            self.out.write(f"[{self.count:2}] FAIL  {title}\n")
            self.out.write(f"       {type(exc).__name__}: {exc}\n")
            raise StepFailed(title) from exc
        ms = (time.monotonic() - began) * 1000
        self.out.write(f"[{self.count:2}] ok    {title}  ({ms:.0f} ms)\n")
        for line in lines:
            self.out.write(f"       {line}\n")
        self.out.flush()


def _check(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def run_demo(out: TextIO) -> int:
    """Run every step; 0 when all pass, 1 otherwise."""
    out.write("LaunchKey Service Client demo against the local emulator\n\n")
    transcript = Transcript(out)
    try:
        with WebhookReceiver(path="/launchkey/webhook") as receiver:
            _steps(transcript, receiver)
    except StepFailed:
        out.write(f"\nFAILED after {transcript.count} steps\n")
        return 1
    took = time.monotonic() - transcript.started
    out.write(f"\nAll {transcript.count} steps passed in {took:.1f} s\n")
    return 0


def _steps(t: Transcript, receiver: WebhookReceiver) -> None:
    # Imported here: the client is another part of lk_io, and a broken import should
    # show up as a failed step rather than a traceback.
    from lk_io._factory import ServiceFactory

    with t.step("start the emulator and a webhook receiver") as say:
        emulator = Emulator(callback_url=receiver.url, rate_limit=RateLimit()).start()
        creds = emulator.credentials
        say(f"platform  {creds.base_url}")
        say(f"service   {creds.service_id}")
        say(f"webhooks  {receiver.url}")
    try:
        directory = DirectoryCalls(
            creds.directory_id, creds.directory_key, creds.base_url
        )
        client = ServiceFactory(
            creds.service_id, creds.service_key, url=creds.base_url
        ).make_service_client()
        device = _link(t, directory, emulator)
        auth_id = _authorize(t, client, device)
        answer = _poll(t, client, auth_id)
        _webhook(t, client, receiver, emulator, answer)
        _sessions(t, client, directory, receiver, emulator, device, auth_id, answer)
        _totp(t, client, directory, emulator)
        client.close()
        directory.close()
    finally:
        emulator.stop()


def _link(t: Transcript, directory: DirectoryCalls, emulator: Emulator) -> Any:
    with t.step("link a device (Directory API + virtual authenticator)") as say:
        link = directory.link_device(USER)
        say(f"link code {link['code']}  qrcode {link['qrcode']}")
        device = emulator.control.link(
            link["code"], methods=["PIN_CODE", "FINGERPRINT"], location=list(OFFICE)
        )
        [listed] = directory.devices(USER)
        _check(listed["status"] == 1, f"device status {listed['status']}, not LINKED")
        say(f"device {device.id} LINKED for {USER}")
    return device


def _authorize(t: Transcript, client: Any, device: Any) -> str:
    from lk_core.service import AuthPolicy, DenialReason

    with t.step("create an authorization request with context and policy") as say:
        policy = AuthPolicy(knowledge=True, inherence=True)
        policy.add_geofence(latitude=OFFICE[0], longitude=OFFICE[1], radius=500.0)
        request = client.authorization_request(
            USER,
            context="Sign in to Example Bank from 127.0.0.1",
            policy=policy,
            ttl=120,
            denial_reasons=[
                DenialReason("NOTME", "I did not try to sign in", True),
                DenialReason("LATER", "Not now", False),
            ],
        )
        say(f"auth_request {request.auth_request}")
        say(f"sent to devices {list(request.device_ids or ())}")
        pending = client.get_advanced_authorization_response(request.auth_request)
        _check(pending is None, "a fresh request should still be pending")
        say("first poll: pending (HTTP 204)")
        device.auto("approve", after=ANSWER_AFTER)
        say(f"virtual device will approve in {ANSWER_AFTER} s (auto-answer rule)")
    return str(request.auth_request)


def _poll(t: Transcript, client: Any, auth_id: str) -> Any:
    with t.step("get the answer by polling") as say:
        deadline = time.monotonic() + POLL_LIMIT
        polls = 1
        response = None
        while response is None:
            _check(time.monotonic() < deadline, "no answer before the poll limit")
            time.sleep(0.25)
            polls += 1
            response = client.get_advanced_authorization_response(auth_id)
        _check(response.authorized is True, f"not authorized: {response.reason}")
        say(f"after {polls} polls: {response.type.value} / {response.reason.value}")
        say(f"device {response.device_id}  pins {list(response.service_pins)}")
        say(f"service_user_hash {response.service_user_hash[:16]}...")
        if response.policy is not None:
            say(f"policy requirement {response.policy.requirement.value}")
    return response


def _webhook(
    t: Transcript,
    client: Any,
    receiver: WebhookReceiver,
    emulator: Emulator,
    answer: Any,
) -> None:
    with t.step("get the same answer by webhook") as say:
        hooks = receiver.wait_for(1)
        _check(len(hooks) == 1, "no authorization webhook arrived")
        hook = hooks[0]
        event = client.handle_webhook(hook.body, hook.headers, hook.method, hook.path)
        _check(event == answer, "webhook answer differs from the polled one")
        say(f"POST {hook.path}: {type(event).__name__}, equal to the polled answer")
        say(f"delivery stats {emulator.sender.stats()}")


def _sessions(
    t: Transcript,
    client: Any,
    directory: DirectoryCalls,
    receiver: WebhookReceiver,
    emulator: Emulator,
    device: Any,
    auth_id: str,
    answer: Any,
) -> None:
    with t.step("start and end a session") as say:
        client.session_start(USER, auth_id)
        [session] = directory.sessions(USER)
        say(f"session started: {session['service_name']} at {session['date_created']}")
        client.session_end(USER)
        _check(directory.sessions(USER) == [], "session still listed after end")
        say("session ended by the service; the device no longer lists it")
    with t.step("user logs out from the device: session-end webhook") as say:
        client.session_start(USER, auth_id)
        ended = device.logout()
        _check(ended == 1, f"{ended} sessions ended from the device")
        hooks = receiver.wait_for(2)
        _check(len(hooks) == 2, "no session-end webhook arrived")
        hook = hooks[1]
        event = client.handle_webhook(hook.body, hook.headers, hook.method, hook.path)
        _check(
            event.service_user_hash == answer.service_user_hash,
            "session-end webhook names another user",
        )
        say(f"{type(event).__name__} for the same service_user_hash")


def _totp(
    t: Transcript, client: Any, directory: DirectoryCalls, emulator: Emulator
) -> None:
    with t.step("verify a TOTP code") as say:
        config = directory.generate_totp(USER)
        say(
            f"TOTP set up: {config['algorithm']}, {config['digits']} digits, "
            f"{config['period']} s"
        )
        # What the user's authenticator app would display right now.
        code = code_at(
            config["secret"],
            emulator.clock.seconds(),
            algorithm=config["algorithm"],
            digits=config["digits"],
            period=config["period"],
        )
        _check(client.verify_totp(USER, code) is True, "current code rejected")
        say("current code: valid")
        wrong = f"{(int(code) + 500_000) % 1_000_000:06d}"
        _check(client.verify_totp(USER, wrong) is False, "wrong code accepted")
        say("wrong code: invalid")
