"""A tiny run of benchmarks/load.py: the script works and its invariants hold.

The full run (200 users for 60 s) is a script, not a test; this one takes seconds.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "load.py"
LOAD = re.compile(
    r"^LOAD users=(\d+) seconds=(\S+) flows=(\d+) flows_per_s=(\S+) p50_ms=(\d+) "
    r"p99_ms=(\d+) lost=(\d+) duplicated=(\d+) crossed=(\d+)$"
)
HOOKS = re.compile(r"^WEBHOOKS expected=(\d+) delivered=(\d+) handled_twice=(\d+)$")


def test_small_load_run_loses_crosses_and_repeats_nothing() -> None:
    """5 users for 3 s with 30% failing webhook deliveries: every invariant is 0."""
    args = ["--users", "5", "--seconds", "3", "--drain", "30"]
    done = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = done.stdout.splitlines()
    assert len(lines) == 2, done.stdout + done.stderr
    load, hooks = LOAD.match(lines[0]), HOOKS.match(lines[1])
    assert load is not None, lines[0]
    assert hooks is not None, lines[1]
    users, _, flows, _, _, _, lost, duplicated, crossed = load.groups()
    assert users == "5"
    assert int(flows) > 0
    assert (lost, duplicated, crossed) == ("0", "0", "0"), done.stderr
    expected, delivered, twice = hooks.groups()
    assert int(expected) >= int(flows)
    assert delivered == expected
    assert twice == "0", done.stderr
    assert done.returncode == 0, done.stderr
