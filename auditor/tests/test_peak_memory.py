"""dtks-audit's peak memory figure is its own, not that of the process that started it."""

from __future__ import annotations

import subprocess
import sys

BALLAST_MB = 300


def test_the_peak_memory_reported_is_the_auditors_own_not_its_parents() -> None:
    # On Linux, ru_maxrss of a program started by fork and exec keeps the parent's peak: run from a
    # benchmark holding a generated log, dtks-audit reported 1,179 MB for a fold of 26,483 events.
    ballast = b"\x01" * (BALLAST_MB * 1024 * 1024)  # written, so resident
    child = subprocess.run(
        [sys.executable, "-c", "from dtks_audit.cli import peak_memory_mb; print(peak_memory_mb())"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert len(ballast) and float(child.stdout) < BALLAST_MB
