"""docs/quickstart.md followed literally: its `lk` commands and Python blocks, in order.

Only what a reader fills in changes: port 8090 becomes a free port, `<service id>` and
`<device id>` the values the commands printed, and the example one-time code the code
`lk device totp` printed. Nothing is set up behind the guide's back.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lk_io._cli import main

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"
FENCE = re.compile(r"```(\w*)\n(.*?)```", flags=re.DOTALL)
EXAMPLE_OTP = '"569874"'


def steps(text: str) -> list[tuple[str, str]]:
    """("lk", command line) and ("python", block) in document order."""
    out: list[tuple[str, str]] = []
    for lang, body in FENCE.findall(text):
        if lang == "python":
            out.append(("python", body))
        elif lang == "":
            for line in body.splitlines():
                command = line.split("#", 1)[0].strip()
                if command.startswith("lk "):
                    out.append(("lk", command))
    return out


def test_quickstart_as_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The login the guide asks for is approved and its TOTP code verifies."""
    monkeypatch.chdir(tmp_path)
    todo = steps(QUICKSTART.read_text())
    kind, first = todo.pop(0)
    assert kind == "lk"
    assert first.startswith("lk emulator --port 8090")
    argv = shlex.split(first.replace("--port 8090", "--port 0"))[1:]
    proc = subprocess.Popen(
        [sys.executable, "-m", "lk_io", *argv],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stderr is not None
    try:
        assert proc.stdout.readline().startswith("LaunchKey emulator running at")
        creds = json.loads(Path("lk-emulator-credentials/credentials.json").read_text())
        fill = {
            "http://127.0.0.1:8090": creds["base_url"],
            "<service id>": creds["service_id"],
        }
        scope: dict[str, object] = {"__name__": "quickstart"}
        for kind, text in todo:
            for placeholder, value in fill.items():
                text = text.replace(placeholder, value)
            if kind == "python":
                exec(compile(text, str(QUICKSTART), "exec"), scope)
                continue
            capsys.readouterr()  # what the Python blocks printed
            assert main(shlex.split(text)[1:]) == 0, text
            printed = json.loads(capsys.readouterr().out)
            if text.startswith("lk device add-user"):
                fill["<device id>"] = printed["id"]
            elif text.startswith("lk device totp"):
                fill[EXAMPLE_OTP] = json.dumps(printed["code"])
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        proc.stdout.close()
        errors = proc.stderr.read()
        proc.stderr.close()
    response = scope["response"]
    assert getattr(response, "authorized", None) is True
    assert scope["valid"] is True
    assert "Traceback" not in errors
