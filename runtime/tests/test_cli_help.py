"""The operators' commands answer ``--help`` with their usage and touch nothing."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
# A broker address where nothing listens: a command that tried to reach it would fail or hang.
NOWHERE = {
    **os.environ,
    "DTKS_KAFKA_BOOTSTRAP": "127.0.0.1:9",
    "DTKS_DATABASE_URL": "postgresql://x@127.0.0.1:9/x",
}


@pytest.mark.parametrize(
    ("command", "says"),
    [
        ("dtks-topics", "Create the project's domain topics"),
        ("dtks-dead-letters", "dead letters"),
        ("dtks-replay", "verify"),  # the auditor's replay has a command of its own
    ],
)
def test_help_prints_the_usage_and_does_nothing_else(command: str, says: str) -> None:
    done = subprocess.run(
        [str(BIN / command), "--help"], env=NOWHERE, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage:") and says in done.stdout, done.stdout
    assert "created" not in done.stdout and not done.stderr
