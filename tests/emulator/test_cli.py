"""The `lk` command: demo, emulator and device sub-commands, over real sockets."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from lk_core import RequestTimedOut
from lk_io import ServiceFactory
from lk_io._cli import _parser, _write_credentials, main
from lk_io.emulator import DirectoryCalls, Emulator
from lk_io.emulator._demo import StepFailed, Transcript, run_demo
from lk_io.testing import EmulatorSession, lk_emulator, running_emulator

__all__ = ["lk_emulator"]  # the opt-in fixture, imported for the test below


def test_demo_passes() -> None:
    """The main job runs every step and says so."""
    out = io.StringIO()
    assert run_demo(out) == 0
    transcript = out.getvalue()
    assert "All 8 steps passed" in transcript
    assert "FAIL" not in transcript


def test_device_commands(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """add-user, pending, deny --fraud and show work against a running emulator."""
    url = ["device", "--url", emulator.base_url]
    assert main([*url, "add-user", "cli-user", "--methods", "pin_code,face"]) == 0
    device = json.loads(capsys.readouterr().out)
    assert device["profile"]["methods"] == ["PIN_CODE", "FACE"]
    creds = emulator.credentials
    with ServiceFactory(
        creds.service_id, creds.service_key, url=creds.base_url
    ).make_service_client() as client:
        request = client.authorization_request("cli-user")
        assert main([*url, "pending", device["id"]]) == 0
        [pending] = json.loads(capsys.readouterr().out)
        assert pending["auth_request"] == request.auth_request
        assert main([*url, "deny", device["id"], "--fraud"]) == 0
        answered = json.loads(capsys.readouterr().out)
        assert answered["reason"] == "FRAUDULENT"
        response = client.get_advanced_authorization_response(request.auth_request)
        assert response is not None
        assert response.fraud is True
    assert main([*url, "auto", device["id"], "approve", "--after", "3"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["auto"]["after"] == 3


def test_device_territory_and_manual_unlink(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """--territory and --manual-unlink set the profile; ack-unlink removes."""
    url = ["device", "--url", emulator.base_url]
    args = ["--territory", "US,US-NV,89109", "--manual-unlink"]
    assert main([*url, "add-user", "cli-territory", *args]) == 0
    device = json.loads(capsys.readouterr().out)
    assert device["profile"]["territory"] == {
        "country": "US",
        "administrative_area": "US-NV",
        "postal_code": "89109",
    }
    assert device["profile"]["ack_unlink"] is False
    creds = emulator.credentials
    calls = DirectoryCalls(creds.directory_id, creds.directory_key, creds.base_url)
    try:
        calls.unlink_device("cli-territory", device["id"])
        assert main([*url, "ack-unlink", device["id"]]) == 0
        assert json.loads(capsys.readouterr().out)["removed"] is True
        assert calls.devices("cli-territory") == []
    finally:
        calls.close()


def test_device_command_errors(
    emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown device, or nothing to approve: a clean error and exit status 1."""
    url = ["device", "--url", emulator.base_url]
    assert main([*url, "show", "no-such-device"]) == 1
    assert "404" in capsys.readouterr().err
    assert main([*url, "add-user", "cli-idle"]) == 0
    idle = json.loads(capsys.readouterr().out)["id"]
    assert main([*url, "approve", idle]) == 1
    assert "no request is waiting" in one_error_line(capsys.readouterr().err)


def test_emulator_command(tmp_path: Path) -> None:
    """`lk emulator` serves, writes usable credentials, and stops on SIGTERM."""
    creds_dir = tmp_path / "creds"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lk_io",
            "emulator",
            "--port",
            "0",
            "--credentials-dir",
            str(creds_dir),
            "--state",
            str(tmp_path / "state.sqlite"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()
        assert first.startswith("LaunchKey emulator running at http://127.0.0.1:")
        summary = json.loads((creds_dir / "credentials.json").read_text())
        key_file = creds_dir / summary["service_key_file"]
        assert key_file.stat().st_mode & 0o777 == 0o600
        assert main(["device", "--url", summary["base_url"], "add-user", "x"]) == 0
        with ServiceFactory(
            summary["service_id"], key_file.read_text(), url=summary["base_url"]
        ).make_service_client() as client:
            request = client.authorization_request("x")
            assert request.auth_request
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        if proc.stdout is not None:
            proc.stdout.close()
    assert os.path.getsize(tmp_path / "state.sqlite") > 0


def test_running_emulator() -> None:
    """The context manager hands back a client, a user and a working device."""
    with running_emulator(user="ctx@example.com") as lk:
        request = lk.client.authorization_request(lk.user, context="ctx")
        lk.device.approve()
        response = lk.client.get_advanced_authorization_response(request.auth_request)
        assert response is not None
        assert response.authorized is True
        assert lk.credentials.base_url == lk.emulator.base_url


def test_running_emulator_client_follows_the_emulator_clock() -> None:
    """After control.advance(...) the ready client still signs valid requests, and a
    request left pending past its ttl reads as timed out."""
    with running_emulator(user="clock@example.com") as lk:
        request = lk.client.authorization_request(lk.user, ttl=60)
        lk.control.advance(61)
        with pytest.raises(RequestTimedOut):
            lk.client.get_advanced_authorization_response(request.auth_request)
        request = lk.client.authorization_request(lk.user)
        lk.device.approve()
        lk.control.advance(120)
        response = lk.client.get_advanced_authorization_response(request.auth_request)
        assert response is not None
        assert response.authorized is True


def test_fixture(lk_emulator: EmulatorSession) -> None:
    """The opt-in pytest fixture gives the same ready-made session."""
    request = lk_emulator.client.authorization_request(lk_emulator.user)
    lk_emulator.device.deny()
    response = lk_emulator.client.get_advanced_authorization_response(
        request.auth_request
    )
    assert response is not None
    assert response.authorized is False


def test_transcript_stops_at_first_failure() -> None:
    """A failing step is printed as FAIL with its error and stops the run."""
    out = io.StringIO()
    transcript = Transcript(out)
    with transcript.step("fine") as say:
        say("detail line")
    with pytest.raises(StepFailed), transcript.step("broken"):
        raise ValueError("the platform said no")
    text = out.getvalue()
    assert "[ 1] ok    fine" in text
    assert "       detail line" in text
    assert "[ 2] FAIL  broken" in text
    assert "ValueError: the platform said no" in text


def test_no_command_prints_help(capsys: pytest.CaptureFixture[str]) -> None:
    """`lk` alone explains itself and exits 2."""
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_device_totp(
    emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`lk device totp` sets a user up for TOTP; the code it prints verifies."""
    folder = tmp_path / "creds"
    _write_credentials(emulator, folder)
    url = ["device", "--url", emulator.base_url, "--credentials-dir", str(folder)]
    assert main([*url, "add-user", "totp-user"]) == 0
    capsys.readouterr()
    assert main([*url, "totp", "totp-user"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["identifier"] == "totp-user"
    assert len(shown["secret"]) == 32
    assert len(shown["code"]) == 6
    creds = emulator.credentials
    with ServiceFactory(
        creds.service_id, creds.service_key, url=creds.base_url
    ).make_service_client() as client:
        assert client.verify_totp("totp-user", shown["code"]) is True
    assert main([*url, "totp", "nobody"]) == 1
    assert capsys.readouterr().err.startswith("error: ")


def one_error_line(err: str) -> str:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def test_emulator_failures_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A busy port or an unusable state file: one `error:` line and status 1."""
    creds = ["--credentials-dir", str(tmp_path / "creds")]
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        assert main(["emulator", "--port", port, *creds]) == 1
    assert "Address already in use" in one_error_line(capsys.readouterr().err)
    not_a_database = tmp_path / "bad.db"
    not_a_database.write_text("not a database\n" * 100)
    missing = tmp_path / "no-such-dir" / "x.db"
    for state in (not_a_database, missing):
        assert main(["emulator", "--port", "0", "--state", str(state), *creds]) == 1
        assert str(state) in one_error_line(capsys.readouterr().err)
    assert not missing.parent.exists()


def test_usage_and_set_up_errors_are_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bad arguments exit 2, missing credentials 1; each is one `error:` line."""
    for argv in (
        ["emulator", "--port", "99999"],
        ["device", "add-user", "u", "--location", "north"],
        # The unusable state file keeps a missed check from starting to serve.
        ["emulator", "--callback-url", "host:8000/hook", "--state", "/no/dir/x.db"],
        ["device", "--url", "127.0.0.1:8090", "show", "d"],
        ["device", "--url", "http://127.0.0.1:port", "show", "d"],
        ["device"],
    ):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2
        one_error_line(capsys.readouterr().err)
    missing = ["device", "--credentials-dir", str(tmp_path / "none"), "totp", "u"]
    assert main(missing) == 1
    assert "credentials.json" in one_error_line(capsys.readouterr().err)


def test_documented_commands_parse() -> None:
    """Each `lk` line in the emulator guide and the quick start is a valid command."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    parser = _parser()
    seen = 0
    for name in ("emulator.md", "quickstart.md"):
        text = (docs / name).read_text()
        for lang, block in re.findall(r"```(\w*)\n(.*?)```", text, flags=re.DOTALL):
            for line in block.splitlines() if lang == "" else ():
                command = line.split("#", 1)[0].strip()
                if command.startswith("lk "):
                    filled = command.replace("<device id>", "some-device")
                    parser.parse_args(shlex.split(filled)[1:])
                    seen += 1
    assert seen >= 14
