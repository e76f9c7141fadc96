"""A large upload is staged from the spooled file a chunk of rows at a time: the service's memory
does not grow with the file.

The service runs as its own process (as ``make run`` starts it), its import worker off so that only
the upload and its staging are measured, and its RSS is sampled throughout. Before the upload was
read row by row, the whole file was read into memory, decoded, and parsed into one list of rows:
a 24 MB file (20,000 households) took the process up by some 300 MB, a 100,000-household file by
more than a GB. ``DTKS_IMPORT_MEMORY_HOUSEHOLDS`` sets the file's size (100000 for the figure the
README reports).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import threading
import time
from typing import Any

import httpx
import psutil
import pytest

from dtks_proposal.testing import IMPORT_FORM, csv_bytes, operator, village_rows
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import Infra, wait_until

pytestmark = pytest.mark.infra

HOUSEHOLDS = int(os.environ.get("DTKS_IMPORT_MEMORY_HOUSEHOLDS", "20000"))
# What staging may add to the process whatever the file's size: a chunk of rows as Python objects,
# the households' numbers, the database client's buffers.
GROWTH_LIMIT_MB = 120


def many_households(households: int) -> bytes:
    """A CSV of ``households`` distinct households (KK numbers), made of a few hundred generated
    families repeated with fresh KK numbers: what one large regency's file looks like to staging."""
    base = village_rows(300, seed=7)
    index = {kk: i for i, kk in enumerate(dict.fromkeys(r["kk_number"] for r in base))}
    rows: list[dict[str, Any]] = []
    for copy in range(-(-households // len(index))):
        for row in base:
            i = index[row["kk_number"]]
            if copy * len(index) + i < households:
                rows.append({**row, "kk_number": f"{row['kk_number'][:6]}{copy:04d}{i:06d}"})
    return csv_bytes(rows)


class PeakRss:
    """Samples a process's RSS in a thread: the largest since :meth:`reset`."""

    def __init__(self, pid: int) -> None:
        self.process = psutil.Process(pid)
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def now(self) -> int:
        return int(self.process.memory_info().rss)

    def reset(self) -> None:
        self.peak = self.now()

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            with contextlib.suppress(psutil.NoSuchProcess):
                self.peak = max(self.peak, self.now())

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-c", "from dtks_proposal.main import run; run()"], env=env)


async def test_a_large_upload_is_staged_without_the_service_holding_the_file_in_memory(
    infra: Infra, topic_prefix: str, database_url: str
) -> None:
    data = await asyncio.to_thread(many_households, HOUSEHOLDS)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DTKS_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "DTKS_DATABASE_URL": infra.database_url,
        "DTKS_DATABASE_NAME": database_url.rpartition("/")[2],
        "DTKS_TOPIC_PREFIX": topic_prefix,
        "DTKS_PROPOSAL_PORT": str(port),
        "DTKS_JWT_SECRET": LOCAL_JWT_SECRET,
        "DTKS_IMPORT_WORKER_ENABLED": "false",  # staging alone is measured
        "DTKS_LOG_LEVEL": "warning",
    }
    process = _start(env)
    rss = PeakRss(process.pid)

    async def ready() -> bool:
        try:
            async with httpx.AsyncClient() as client:
                return (await client.get(f"{base}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        await wait_until(ready, within=90, what="the proposal service up")
        async with httpx.AsyncClient(base_url=base, timeout=600) as client:

            async def upload(name: str, body: bytes) -> dict[str, Any]:
                files = {"file": (name, body, "text/csv")}
                answer = await client.post("/imports", files=files, data=IMPORT_FORM, headers=operator())
                assert answer.status_code == 202, answer.text
                view: dict[str, Any] = answer.json()
                return view

            await upload("warm-up.csv", csv_bytes(village_rows(5, seed=8)))  # the route's first use
            rss.reset()
            before = rss.now()
            started = time.monotonic()
            view = await upload("regency.csv", data)
            took = time.monotonic() - started
        growth_mb = (rss.peak - before) / 2**20
        print(
            f"\n{HOUSEHOLDS} households, {len(data) / 2**20:.1f} MiB, staged in {took:.1f} s: "
            f"RSS {before / 2**20:.0f} MiB before, peak {rss.peak / 2**20:.0f} MiB (+{growth_mb:.0f} MiB)"
        )
        assert view["households_total"] == HOUSEHOLDS
        assert view["rows_total"] == data.count(b"\n") - 1 and view["rows_processed"] == 0  # none refused
        assert growth_mb < GROWTH_LIMIT_MB, f"staging a {len(data) / 2**20:.0f} MiB file grew the service"
    finally:
        rss.stop()
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
