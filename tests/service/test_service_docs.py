"""The Python blocks of docs/quickstart.md run, in order, against the emulator.

Only the placeholders change: the service id and base URL become the emulator's, and
the key file is written where the quick start reads it. Fragments that cannot run on
their own (the webhook call) are fenced as ``py`` rather than ``python`` and skipped.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lk_core.platform import RateLimit
from lk_io.emulator import DirectoryCalls, Emulator

QUICKSTART = Path(__file__).resolve().parents[2] / "docs" / "quickstart.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_quickstart_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every quick-start block runs; the answer polled is the device's approval."""
    blocks = python_blocks(QUICKSTART.read_text())
    assert len(blocks) == 5
    with Emulator(rate_limit=RateLimit(creates=100)) as emulator:
        creds = emulator.credentials
        keys = tmp_path / "lk-emulator-credentials"
        keys.mkdir()
        (keys / "service.pem").write_text(creds.service_key)
        monkeypatch.chdir(tmp_path)
        device = emulator.add_user("alice", location=(27.175, 78.0422))
        device.auto("approve", methods=["PIN_CODE", "FINGERPRINT"])
        directory = DirectoryCalls(
            creds.directory_id, creds.directory_key, creds.base_url
        )
        directory.generate_totp("alice")
        scope: dict[str, object] = {"__name__": "quickstart"}
        for block in blocks:
            code = block.replace("<service id>", creds.service_id).replace(
                "http://127.0.0.1:8090", creds.base_url
            )
            exec(compile(code, str(QUICKSTART), "exec"), scope)
        directory.close()
    response = scope["response"]
    assert getattr(response, "authorized", None) is True
    assert scope["valid"] in (True, False)
