"""The ``dtks-registry`` command's module is all that a process the service spawns imports of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

# What multiprocessing's spawn method does in each child (a replay's worker) before its job: run the
# parent's main script again, under another name. The parent here is the installed command.
_AS_A_SPAWNED_CHILD = """
import multiprocessing.spawn, sys
multiprocessing.spawn.import_main_path(sys.argv[1])
print(sorted(m for m in ("fastapi", "dtks_registry.main", "dtks_registry.api") if m in sys.modules))
"""


def test_a_spawned_worker_imports_neither_the_app_nor_fastapi() -> None:
    command = Path(sys.executable).parent / "dtks-registry"
    assert command.exists(), command
    seen = subprocess.run(
        [sys.executable, "-c", _AS_A_SPAWNED_CHILD, str(command)],
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    assert seen.stdout.strip() == "[]", seen.stdout + seen.stderr
