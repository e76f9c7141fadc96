"""py-spy beside a benchmark's measured phase, on request: DTKS_BENCH_PYSPY (a py-spy executable) and
DTKS_BENCH_PROFILE_DIR set. Each service process (with its worker processes) is sampled during the
phase only, into collapsed stacks ``<dir>/<name>-<tag>.txt``: the set-up before it (loading a
register, opening a round) would otherwise drown the requests measured."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Mapping
from pathlib import Path


def start(pids: Mapping[str, int | None], tag: str) -> list[subprocess.Popen[bytes]]:
    spy, folder = os.environ.get("DTKS_BENCH_PYSPY"), os.environ.get("DTKS_BENCH_PROFILE_DIR")
    if not spy or not folder:
        return []
    Path(folder).mkdir(parents=True, exist_ok=True)
    profilers = []
    for name, pid in pids.items():
        if pid is not None:
            out = f"{folder}/{name}-{tag}.txt"
            command = f"record --nonblocking --subprocesses -r 200 -p {pid} -f raw -o {out}".split()
            profilers.append(subprocess.Popen([spy, *command]))
    return profilers


def stop(profilers: list[subprocess.Popen[bytes]]) -> None:
    for profiler in profilers:
        profiler.send_signal(signal.SIGINT)  # py-spy writes its output on an interrupt, not on SIGTERM
        profiler.wait()
