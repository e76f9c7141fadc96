"""Re-verification rounds: issuing a province's prelist, and visits recorded by 50 officers at once.

Set-up (not timed): the verification service runs as its own process (deploy/local/services.py).
DTKS_BENCH_REVERIFICATION_HOUSEHOLDS registered households (default 500,000, the issue's size),
spread over every village of the province of Bengkulu (17), are written straight into the service's
register copy (`registered_households`, with the village and the record its consumer keeps from the
registry's `household_registered`) with COPY: the prelist is drawn from that table alone, and half a
million households through the registry's events would take most of an hour before the round began.

Figures:
- issuing the prelist: POST /reverification-rounds over the province (every household: the prelist
  drawn and recorded in the service's database), then GET .../prelist.csv of the whole province read
  to its end; seconds for each, and the service process's peak resident memory (VmHWM, reset before
  the round) against its resident memory before: the prelist streams from a server-side cursor, so
  the peak should not grow with the prelist's size;
- visits: DTKS_BENCH_REVERIFICATION_VISITS visits (default 1,000) of a second round's households (the
  province's round closed before it opens: open rounds never overlap) by
  DTKS_BENCH_REVERIFICATION_OFFICERS concurrent officers (default 50), each its district's verifier;
  one in ten a changed household (a correction pre-filled from the record), one in ten moved, the rest
  unchanged; each visit preceded by the upload of its own 2 MB photo (PUT /evidence/{sha256}), which
  the visit names; p50/p99 of the visit alone and of photo upload plus visit.
Targets (issue 23): the prelist under 60 s with memory independent of its size; visit p99 under
150 ms including a 2 MB photo upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import hashlib
import io
import itertools
import json
import os
import shutil
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from PIL import Image

from benchmarks import profiling
from benchmarks.cpu import postgres_cpu_seconds, process_cpu_seconds
from benchmarks.figures import Figure
from dtks_contracts import regions
from dtks_contracts.vocabulary import Role
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.testing import Infra
from dtks_synthetic import generate_population, register_households

HOUSEHOLDS = int(os.environ.get("DTKS_BENCH_REVERIFICATION_HOUSEHOLDS", "500000"))
# Each visit's photo is its own 2 MB on disk: 1,000 visits keep 2 GB until the run's state is removed.
VISITS = int(os.environ.get("DTKS_BENCH_REVERIFICATION_VISITS", "1000"))
OFFICERS = int(os.environ.get("DTKS_BENCH_REVERIFICATION_OFFICERS", "50"))
PHOTO_BYTES = 2 * 1024 * 1024
PROVINCE = "17"
SERVICES = Path(__file__).resolve().parent.parent / "deploy" / "local" / "services.py"


def _villages() -> list[str]:
    return [v for r in regions.children(PROVINCE) for d in regions.children(r) for v in regions.children(d)]


def _rows(villages: list[str]) -> Iterator[tuple[Any, ...]]:
    """Registered households: generated records, copied under new ids into every village in turn."""
    templates = [
        h.model_dump(mode="json") for h in register_households(generate_population("17.71", 4000, seed=23))
    ]
    for i, village, template in zip(
        range(HOUSEHOLDS), itertools.cycle(villages), itertools.cycle(templates), strict=False
    ):
        household_id = str(uuid.UUID(int=i + 1))
        kk = f"{village[:2]}{village[3:5]}{village[6:8]}{i % 10**10:010d}"
        snapshot = {**template, "household_id": household_id, "kk_number": kk, "village_code": village}
        yield (household_id, kk, True, village, json.dumps(snapshot))


def _status_kb(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def _reset_peak(pid: int) -> None:
    with contextlib.suppress(OSError), open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")  # VmHWM back to the current RSS (Linux 4.0+)


def _photo(seed: int) -> bytes:
    """A JPEG of about 2 MB, its own bytes (and so hash) per seed."""
    out = io.BytesIO()
    Image.new("RGB", (64, 64), (seed % 256, (seed // 256) % 256, 90)).save(out, "JPEG")
    body = out.getvalue()
    return body + seed.to_bytes(8, "big") * ((PHOTO_BYTES - len(body)) // 8)


def _cuts(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


async def _load(db_url: str) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.copy_records_to_table(
            "registered_households",
            columns=["household_id", "kk_number", "active", "village_code", "snapshot"],
            records=_rows(_villages()),
        )
        await conn.execute("ANALYZE registered_households")
    finally:
        await conn.close()


async def _open(
    http: httpx.AsyncClient, system: LocalSystem, region: str, selection: dict[str, Any]
) -> dict[str, Any]:
    today = dt.date.today()
    body = {"region": region, "period_start": str(today), "period_end": str(today + dt.timedelta(days=90)),
            "selection": selection}  # fmt: skip
    r = await http.post(
        "/reverification-rounds", json=body, headers=system.headers(Role.MINISTRY_VERIFIER, "ID")
    )
    r.raise_for_status()
    return dict(r.json())


async def _visits(
    http: httpx.AsyncClient, system: LocalSystem, round_id: str
) -> tuple[list[float], list[float]]:
    """(visit alone, photo upload plus visit) latencies of VISITS visits by OFFICERS concurrent officers."""
    auditor = system.headers(Role.AUDITOR, "ID")
    async with http.stream("GET", f"/reverification-rounds/{round_id}/prelist.csv", headers=auditor) as r:
        lines = [line async for line in r.aiter_lines()]
    rows = csv.reader([line.lstrip("\ufeff") for line in lines if line])
    header = next(rows)
    entries = [dict(zip(header, row, strict=False)) for row in rows]
    work = iter(enumerate(entries[:VISITS]))
    alone: list[float] = []
    together: list[float] = []
    auth = {d: system.headers(Role.DISTRICT_VERIFIER, d) for d in {e["village_code"][:8] for e in entries}}

    async def officer() -> None:
        for i, entry in work:
            photo = _photo(i)
            sha = hashlib.sha256(photo).hexdigest()
            headers = auth[entry["village_code"][:8]]
            outcome = "changed" if i % 10 == 0 else "moved" if i % 10 == 1 else "unchanged"
            body: dict[str, Any] = {
                "household_id": entry["household_id"], "outcome": outcome, "officer": "Bench Officer",
                "visit_date": str(dt.date.today()), "latitude": -3.8, "longitude": 102.3,
                "photos": [{"subject": "roof", "sha256": sha, "location": f"evidence/{sha}"}],
            }  # fmt: skip
            if outcome == "changed":
                body["changes"] = {"address": {"street": f"Jl. Bench No. {i}"}}
            start = time.perf_counter()
            up = await http.put(f"/evidence/{sha}", content=photo, headers=headers)
            middle = time.perf_counter()
            r = await http.post(f"/reverification-rounds/{round_id}/visits", json=body, headers=headers)
            end = time.perf_counter()
            if up.status_code != 201 or r.status_code != 200:
                raise RuntimeError(f"visit refused: {up.status_code} {r.status_code} {r.text[:300]}")
            alone.append(end - middle)
            together.append(end - start)

    await asyncio.gather(*(officer() for _ in range(OFFICERS)))
    return alone, together


async def run(infra: Infra) -> list[Figure]:
    system = prepare(infra, SERVICES, label="rvbench")
    system.env["DTKS_EVIDENCE_DIR"] = str(system.state / "evidence")  # removed with the run's state
    db_url = infra.database_url.rpartition("/")[0] + f"/rvbench{system.run_id}_verification"
    await asyncio.to_thread(system.command, "start", only=("verification",))
    try:
        started = time.perf_counter()
        await _load(db_url)
        print(
            f"reverification: {HOUSEHOLDS:,} households written in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        pid = system.pid("verification")
        assert pid is not None
        limits = httpx.Limits(max_connections=OFFICERS + 5)
        async with httpx.AsyncClient(
            base_url=system.urls["verification"], timeout=600, limits=limits
        ) as http:
            rss_before = _status_kb(pid, "VmRSS") / 1024
            _reset_peak(pid)
            started = time.perf_counter()
            province = await _open(http, system, PROVINCE, {"mode": "all"})
            opened = time.perf_counter() - started
            started = time.perf_counter()
            size = 0
            auditor = system.headers(Role.AUDITOR, "ID")
            async with http.stream(
                "GET", f"/reverification-rounds/{province['round_id']}/prelist.csv", headers=auditor
            ) as r:
                async for chunk in r.aiter_bytes():
                    size += len(chunk)
            streamed = time.perf_counter() - started
            peak = _status_kb(pid, "VmHWM") / 1024
            # Said now: a failure in the visits below must not lose the prelist's figures.
            print(f"reverification: round opened in {opened:.1f} s, prelist streamed in {streamed:.1f} s "
                  f"({size / 1e6:.1f} MB), peak RSS {peak:.0f} MB", flush=True)  # fmt: skip
            # The visits' round covers the same households: the province's round is closed first (two
            # open rounds never overlap). Not timed.
            closing = await http.post(
                f"/reverification-rounds/{province['round_id']}/closing",
                headers=system.headers(Role.MINISTRY_VERIFIER, "ID"),
            )
            closing.raise_for_status()
            sample = await _open(http, system, PROVINCE, {"mode": "sample", "sample_size": VISITS, "seed": 1})
        # Fresh connections for the officers: the pool's have idled through the long opening, and the
        # server may close an idle keep-alive connection just as a client reuses it (httpx.ReadError).
        async with httpx.AsyncClient(
            base_url=system.urls["verification"], timeout=600, limits=limits
        ) as http:
            cpu0, pg0, own0 = (
                process_cpu_seconds(pid),
                postgres_cpu_seconds(infra.database_url),
                time.process_time(),
            )
            profilers = profiling.start({"verification": pid}, "visits")
            started = time.perf_counter()
            alone, together = await _visits(http, system, sample["round_id"])
            visiting = time.perf_counter() - started
            profiling.stop(profilers)
            per_visit = {"the service": process_cpu_seconds(pid) - cpu0,
                         "PostgreSQL": postgres_cpu_seconds(infra.database_url) - pg0,
                         "the officers (this process)": time.process_time() - own0}  # fmt: skip
        load = f"load {os.getloadavg()[0]:.1f} of 2 cores"
        alone_p50, alone_p99 = _cuts(alone)
        both_p50, both_p99 = _cuts(together)
        return [
            Figure("round opened, prelist drawn", opened, "s",
                   f"{province['households']:,} households in {province['villages']:,} villages of province 17"),
            Figure("prelist streamed as CSV", streamed, "s", f"{size / 1e6:.1f} MB; {load}"),
            Figure("prelist total", opened + streamed, "s", "target under 60 s"),
            Figure("service peak RSS, round + CSV", peak, "MB",
                   f"{rss_before:.0f} MB before the round; should not grow with the prelist's size"),
            Figure("visit p50", alone_p50, "ms", f"{len(alone):,} visits, {OFFICERS} officers at once"),
            Figure("visit p99", alone_p99, "ms", ""),
            Figure("2 MB photo + visit p50", both_p50, "ms", ""),
            Figure("2 MB photo + visit p99", both_p99, "ms", f"target under 150 ms; {load}"),
            Figure("visits recorded", len(together) / visiting, "visits/s", "each with its photo uploaded first"),
            *(Figure(f"CPU per visit, {name}", seconds / len(together) * 1000, "ms", "user + system")
              for name, seconds in per_visit.items()),
        ]  # fmt: skip
    except Exception:
        # The service's own account of a failure, before its state folder (and log) is removed.
        print(system.log("verification").read_text(errors="replace")[-4000:], flush=True)
        raise
    finally:
        await asyncio.to_thread(system.command, "stop")
        await system.drop_databases_and_topics(infra)
        shutil.rmtree(system.state, ignore_errors=True)  # the visits' photos among it
