"""Whole pipeline: bulk import of one regency's households through every tier to a decree, and a replay.

Every service runs as its own process (deploy/local/services.py, free ports, this run's own topics
and databases) and is driven over HTTP only, as deploy/local/demo.py drives it:

1. the civil-registry simulator is loaded with the regency's synthetic population (timed apart:
   not a stage of the pipeline);
2. import: each village's operator uploads one CSV (POST /imports); the stage ends when every import
   has staged and submitted all its households;
3. integrity checks: the verification service checks every submission against the civil registry
   and the register; the stage ends when nothing waits to be checked (it overlaps the import);
4. the tiers, one after the other, each emptying its queues in lists of up to 1000 decisions per
   POST /decisions: district (every district's verifier at once), regency, the mayor's
   ratification (POST /ratifications, one decree per 5000), province, ministry (the acceptance
   re-runs the integrity standard, with the civil-registry look-ups of a whole list batched);
5. the registry receives the acceptances (it consumes them while the Ministry decides; done when its
   consumers have caught up and a sample confirms with GET /candidates/{id}), and the determination
   decree is issued (POST /determinations); the decree must register every accepted household;
6. replay: the auditor rebuilds the register from the log (POST /audit/replays, mode rebuild).

Consumer and outbox lag of every service and the resident memory of every service process are
sampled each second. A table is printed and a PNG of throughput and lag over time is written to
DTKS_BENCH_OUTPUT (default .dtks/bench/). DTKS_BENCH_PIPELINE_HOUSEHOLDS sets the size (default
2,000: about 5 minutes on a busy 2-core machine; the issue's full size is 50,000, and the output
says what that would take at the measured rate). DTKS_BENCH_PIPELINE_KEEP=1 keeps the databases.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from benchmarks.figures import Figure
from benchmarks.pipeline_data import PipelineInput, VillageFile, build_input, civil_registry_batches
from benchmarks.pipeline_monitor import Monitor, plot
from dtks_contracts.regions import children, region_name
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.testing import Infra

ROOT = Path(__file__).resolve().parents[1]
SERVICES_SCRIPT = ROOT / "deploy" / "local" / "services.py"
HOUSEHOLDS = int(os.environ.get("DTKS_BENCH_PIPELINE_HOUSEHOLDS", "2000"))
FULL_SIZE = 50_000
REGENCY = os.environ.get("DTKS_BENCH_PIPELINE_REGENCY", "17.71")
PROVINCE = REGENCY.split(".")[0]
OUTPUT = Path(os.environ.get("DTKS_BENCH_OUTPUT", str(ROOT / ".dtks" / "bench")))
DECISIONS_PER_REQUEST = 1000  # the most POST /decisions takes
RATIFICATION_BATCH = 5000  # proposals per decree (POST /ratifications takes up to 10,000)
UPLOADS_AT_ONCE = 4
CONFIRM_SAMPLE = 200  # acceptances confirmed with GET /candidates/{id}; one GET each for 50,000 is slow
STAGE_LIMIT = float(os.environ.get("DTKS_BENCH_PIPELINE_STAGE_LIMIT", "3600"))


class PipelineFailed(RuntimeError):
    pass


@dataclass
class Stage:
    name: str
    start: float
    end: float
    items: int
    unit: str
    note: str = ""

    @property
    def seconds(self) -> float:
        return self.end - self.start

    @property
    def rate(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else 0.0


def _ok(answer: httpx.Response, *codes: int) -> Any:
    if answer.status_code not in (codes or (200, 201, 202)):
        raise PipelineFailed(
            f"{answer.request.method} {answer.request.url} -> {answer.status_code}: {answer.text[:800]}"
        )
    return answer.json()


async def _until(what: str, done: Callable[[], Awaitable[bool]], every: float = 0.5) -> None:
    deadline = time.monotonic() + STAGE_LIMIT
    while not await done():
        if time.monotonic() > deadline:
            raise PipelineFailed(f"timed out after {STAGE_LIMIT:.0f} s waiting for {what}")
        await asyncio.sleep(every)


class Pipeline:
    def __init__(
        self, system: LocalSystem, data: PipelineInput, http: httpx.AsyncClient, monitor: Monitor
    ) -> None:
        self.system, self.data, self.http, self.monitor = system, data, http, monitor
        self.urls = system.urls
        self.stages: list[Stage] = []
        self.districts = sorted(children(REGENCY))
        self.auditor = self.system.headers(Role.AUDITOR, "ID")
        self.progress = monitor.progress
        self.progress.update(imported=0, decisions=0)
        self.uploads_seconds = 0.0
        self.sweeps: list[tuple[float, int]] = []
        self.excluded = 0.0  # seconds of the benchmark's own checking, not the system's work

    def stage(
        self, name: str, start: float, items: int, unit: str, note: str = "", end: float | None = None
    ) -> Stage:
        if end is None:
            end = self.monitor.now()
        self.monitor.marks.append((end, name.split(" ")[0]))
        done = Stage(name, start, end, items, unit, note)
        self.stages.append(done)
        print(
            f"  [{end:7.1f} s] {name}: {items:,} in {done.seconds:.1f} s ({done.rate:,.1f} {unit})",
            flush=True,
        )
        return done

    # --- the civil registry (before the clock starts) ---------------------------------------

    async def load_civil_registry(self) -> tuple[int, float]:
        batches = await asyncio.to_thread(lambda: list(civil_registry_batches(self.data.population)))
        t0 = time.perf_counter()
        loaded = 0
        for people in batches:
            answer = _ok(
                await self.http.post(
                    f"{self.urls['civil-registry']}/people", json={"people": people}, timeout=600
                )
            )
            loaded += int(answer["loaded"])
        return loaded, time.perf_counter() - t0

    # --- import -----------------------------------------------------------------------------

    async def upload(self, imports: list[tuple[str, str]]) -> None:
        """Every village's operator uploads its file; a few at once, as operators of a regency would."""
        sem = asyncio.Semaphore(UPLOADS_AT_ONCE)

        async def one(file: VillageFile) -> None:
            async with sem:
                answer = await self.http.post(
                    f"{self.urls['proposal']}/imports",
                    files={"file": (f"{file.village_code}.csv", file.data, "text/csv")},
                    headers=self.system.headers(Role.VILLAGE_OPERATOR, file.village_code),
                    timeout=600,
                )
            imports.append((file.village_code, _ok(answer, 202)["import_id"]))

        t0 = time.perf_counter()
        await asyncio.gather(*(one(f) for f in self.data.files))
        self.uploads_seconds = time.perf_counter() - t0

    async def wait_imports(
        self, imports: list[tuple[str, str]], uploading: asyncio.Task[None]
    ) -> dict[str, int]:
        """Follow the imports (GET /imports/{id}) while they are uploaded and until all are completed."""
        views: dict[str, dict[str, Any]] = {}

        async def finished() -> bool:
            for village, import_id in list(imports):
                if views.get(import_id, {}).get("status") == "completed":
                    continue
                views[import_id] = _ok(
                    await self.http.get(
                        f"{self.urls['proposal']}/imports/{import_id}",
                        headers=self.system.headers(Role.VILLAGE_OPERATOR, village),
                    )
                )
            self.progress["imported"] = sum(int(v["households_processed"]) for v in views.values())
            if uploading.done():
                uploading.result()  # an upload refused: stop here with its answer
                return all(v["status"] == "completed" for v in views.values())
            return False

        await _until("the imports to complete", finished, every=1.0)
        totals = {
            key: sum(int(v[key]) for v in views.values())
            for key in ("rows_total", "households_accepted", "households_rejected", "rows_rejected")
        }
        if totals["households_rejected"]:
            sample = next(v for v in views.values() if v["households_rejected"])
            print(f"  import rejections, e.g.: {sample['rejected_rows'][:3]}", flush=True)
        return totals

    # --- checks -----------------------------------------------------------------------------

    async def health(self, name: str) -> dict[str, Any]:
        # 503 is a degraded service's report, with the same fields: lag is what is read here.
        return dict(_ok(await self.http.get(f"{self.urls[name]}/healthz", timeout=30), 200, 503))

    async def settled(self, *names: str) -> bool:
        """No event waits in these services' outboxes nor in their consumers."""
        for name in names:
            health = await self.health(name)
            # != 0: a lag unknown (None, the database or broker away) is not a settled one.
            if health["outbox_lag"] != 0 or any(c["lag"] != 0 for c in health["consumers"].values()):
                return False
        return True

    async def queue_stats(self) -> dict[str, Any]:
        return dict(
            _ok(await self.http.get(f"{self.urls['verification']}/queues/stats", headers=self.auditor))
        )

    async def wait_checks(self) -> tuple[int, int]:
        """(waiting at the district, still queued for checks) once every submission was checked."""
        stats: dict[str, Any] = {}

        async def checked() -> bool:
            nonlocal stats
            if not await self.settled("proposal", "verification"):
                return False
            stats = await self.queue_stats()
            return int(stats["integrity_checks"]["queued"]) == 0

        await _until("the integrity checks", checked)
        at_district = sum(q["count"] for q in stats["queues"] if q["tier"] == "district")
        return at_district, int(stats["integrity_checks"]["queued"])

    # --- the tiers --------------------------------------------------------------------------

    async def _queue(
        self, tier: str, role: Role, region: str, after: str | None = None, limit: int = DECISIONS_PER_REQUEST
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        return dict(
            _ok(
                await self.http.get(
                    f"{self.urls['verification']}/queues/{tier}",
                    params=params,
                    headers=self.system.headers(role, region),
                )
            )
        )

    async def decide_queue(
        self, tier: str, role: Role, region: str
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Forward everything waiting at `tier` in `region`, a page at a time: (successes, refusals)."""
        succeeded: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        skip: set[str] = set()
        size = DECISIONS_PER_REQUEST
        while True:
            page = await self._queue(tier, role, region, limit=size)
            ids = [i["proposal_id"] for i in page["items"] if i["proposal_id"] not in skip]
            if not ids:
                return succeeded, refused
            items = [{"proposal_id": pid, "tier": tier, "decision": "forward"} for pid in ids]
            answer = _ok(
                await self.http.post(
                    f"{self.urls['verification']}/decisions",
                    json=items,
                    headers=self.system.headers(role, region),
                    timeout=600,
                )
            )
            self.progress["decisions"] += int(answer["succeeded"])
            for pid, result in zip(ids, answer["results"], strict=True):
                if result.get("ok"):
                    succeeded.append(result)
                else:
                    # A refused item stays in the queue: leave it there rather than loop on it.
                    refused.append(result)
                    skip.add(pid)

    async def tier(self, tier: str, actors: list[tuple[Role, str]]) -> list[dict[str, Any]]:
        start = self.monitor.now()
        outcomes = await asyncio.gather(*(self.decide_queue(tier, role, region) for role, region in actors))
        succeeded = [r for rs, _ in outcomes for r in rs]
        refused = [r for _, rs in outcomes for r in rs]
        note = f"{len(actors)} verifiers at once" if len(actors) > 1 else ""
        if refused:
            note += f"; {len(refused)} refused, e.g. {refused[0].get('problem')}"
        self.stage(f"{tier} decisions", start, len(succeeded), "decisions/s", note.strip("; "))
        return succeeded

    async def ratify(self) -> Stage:
        start = self.monitor.now()
        role, region = Role.REGENT, REGENCY
        ids: list[str] = []
        after = None
        while True:
            page = await self._queue("regent", role, region, after)
            ids += [i["proposal_id"] for i in page["items"]]
            after = page["next_after"]
            if not after:
                break
        today = dt.date.today().isoformat()
        for n, first in enumerate(range(0, len(ids), RATIFICATION_BATCH), start=1):
            body = {
                "regency_code": REGENCY,
                "decree_number": f"400/{n:03d}/KPTS/BENCH-{self.system.run_id}",
                "decree_date": today,
                "proposal_ids": ids[first : first + RATIFICATION_BATCH],
            }
            _ok(
                await self.http.post(
                    f"{self.urls['verification']}/ratifications",
                    json=body,
                    headers=self.system.headers(role, region),
                    timeout=600,
                )
            )
            self.progress["decisions"] += len(body["proposal_ids"])
        batches = -(-len(ids) // RATIFICATION_BATCH)
        return self.stage("ratification by the mayor", start, len(ids), "proposals/s", f"{batches} decree(s)")

    # --- the registry -----------------------------------------------------------------------

    async def wait_candidates(self, expected: list[str]) -> float:
        """Registry consumers caught up, then a sample of the acceptances (the latest ones and some
        drawn at random) confirmed one by one; the decree's count confirms the rest."""
        await _until(
            "the registry to consume the acceptances", lambda: self.settled("verification", "registry")
        )
        caught_up = self.monitor.now()
        ministry = self.system.headers(Role.MINISTRY_DETERMINER, "ID")
        latest = expected[-CONFIRM_SAMPLE // 2 :]
        missing = latest + random.Random(1).sample(expected, min(len(expected), CONFIRM_SAMPLE // 2))
        sem = asyncio.Semaphore(8)

        async def present(pid: str) -> bool:
            async with sem:
                answer = await self.http.get(f"{self.urls['registry']}/candidates/{pid}", headers=ministry)
            return answer.status_code == 200

        sweeps: list[tuple[float, int]] = []

        async def all_present() -> bool:
            nonlocal missing
            found = await asyncio.gather(*(present(p) for p in missing))
            missing = [p for p, ok in zip(missing, found, strict=True) if not ok]
            sweeps.append((self.monitor.now() - caught_up, len(missing)))
            return not missing

        await _until("the registry to hold every acceptance", all_present, every=1.0)
        self.sweeps = sweeps
        return caught_up

    async def determine(self) -> dict[str, Any]:
        body = {
            "decree_number": f"1/HUK/BENCH-{self.system.run_id}",
            "period": "2026-10",
            "cutoff": dt.datetime.now(dt.UTC).isoformat(),
        }
        return dict(
            _ok(
                await self.http.post(
                    f"{self.urls['registry']}/determinations",
                    json=body,
                    headers=self.system.headers(Role.MINISTRY_DETERMINER, "ID"),
                    timeout=1800,
                ),
                200,
                201,
            )
        )

    async def replay(self) -> dict[str, Any]:
        return dict(
            _ok(
                await self.http.post(
                    f"{self.urls['registry']}/audit/replays",
                    json={"mode": "rebuild"},
                    headers=self.auditor,
                    timeout=1800,
                )
            )
        )

    # --- the whole run ----------------------------------------------------------------------

    async def run(self) -> list[Figure]:
        n = self.data.households
        self.monitor.restart_clock()
        start = self.monitor.now()
        imports: list[tuple[str, str]] = []
        uploading = asyncio.create_task(self.upload(imports))
        totals = await self.wait_imports(imports, uploading)
        self.stage(
            "import (upload to every household submitted)",
            start,
            totals["households_accepted"],
            "households/s",
            f"{totals['rows_total']:,} rows, {len(imports)} files, uploads took {self.uploads_seconds:.1f} s; "
            f"{totals['households_rejected']} households rejected",
        )
        at_district, _ = await self.wait_checks()
        self.stage(
            "integrity checks (overlap the import)",
            start,
            at_district,
            "proposals/s",
            f"{totals['households_accepted'] - at_district} failed the checks; "
            f"{self.stages[-1].end:.1f} s after the first upload",
        )
        await self.tier("district", [(Role.DISTRICT_VERIFIER, d) for d in self.districts])
        await self.tier("regency", [(Role.REGENCY_OPERATOR, REGENCY)])
        await self.ratify()
        await self.tier("province", [(Role.PROVINCE_VERIFIER, PROVINCE)])
        ministry = await self.tier("ministry", [(Role.MINISTRY_VERIFIER, "ID")])
        ministry_start, start = self.stages[-1].start, self.monitor.now()
        # The registry is told of exactly the proposals the Ministry accepted (or is accepting: the
        # re-check waits for the civil registry); a re-check that finds a fault returns the proposal.
        accepted = [r["proposal_id"] for r in ministry if r.get("status") in ("accepted", "accepting")]
        if len(accepted) < len(ministry):
            print(f"  {len(ministry) - len(accepted)} returned by the Ministry's re-check", flush=True)
        caught_up = await self.wait_candidates(accepted)
        # The registry held everything when the consumers had caught up, if the first sweep found
        # nothing missing, else when the last sweep began. The sweeps themselves are the benchmark's
        # own checking, kept out of the stage and the end-to-end time. The registry consumes the
        # acceptances while the Ministry decides, so its stage overlaps the Ministry's.
        held = caught_up
        if len(self.sweeps) > 1:
            held = caught_up + self.sweeps[-2][0]
        self.excluded += self.monitor.now() - held
        self.stage(
            "registry holds the acceptances (overlaps ministry)",
            ministry_start,
            len(accepted),
            "acceptances/s",
            f"consumers caught up {caught_up - start:.1f} s after the last acceptance; confirming "
            f"{CONFIRM_SAMPLE} with GET /candidates/{{id}} took {self.sweeps[-1][0]:.1f} s (not counted): "
            + ", ".join(f"{missing} missing at +{at:.1f} s" for at, missing in self.sweeps),
            end=held,
        )
        start = self.monitor.now()
        decree = await self.determine()
        determined = len(decree.get("registered", []))
        self.stage(
            "determination decree", start, determined, "households/s", f"register now {decree['counts']}"
        )
        end_to_end = self.monitor.now() - self.excluded
        figures = [
            Figure(f"stage: {s.name}", s.rate, s.unit, f"{s.seconds:.1f} s; {s.note}".strip("; "))
            for s in self.stages
        ]
        figures.append(
            Figure(
                "end to end: first upload to decree",
                determined / end_to_end if end_to_end else 0.0,
                "households/s",
                f"{determined:,} of {n:,} households determined in {end_to_end:.1f} s "
                f"(the benchmark's own {self.excluded:.1f} s of checking left out)",
            )
        )
        if determined != n:
            print(f"  NOTE: {n - determined} households did not reach the decree", flush=True)
        # The decree's household events go to Kafka through the registry's outbox; a rebuild that
        # starts before the relay has published them replays a shorter log (and another hash).
        await _until("the registry's outbox to drain", lambda: self.settled("registry"))
        t0 = time.perf_counter()
        replay = await self.replay()
        replay_wall = time.perf_counter() - t0
        figures.append(
            Figure(
                "replay of the log (rebuild)",
                float(replay.get("events_per_second") or 0.0),
                "events/s",
                f"{replay['events_read']:,} events in {replay['seconds']:.1f} s ({replay_wall:.1f} s with the "
                "answer); "
                f"hash {'equals' if replay['register_hash'] == decree['register_hash'] else 'DIFFERS FROM'} the decree's",
            )
        )
        return figures


def _table(stages: list[Stage], figures: list[Figure], monitor: Monitor, n: int) -> str:
    lines = [f"\nPipeline benchmark: {n:,} households of {region_name(REGENCY)} ({REGENCY})"]
    lines.append(f"{'stage':<54} {'start s':>8} {'end s':>8} {'secs':>7} {'items':>8} {'rate':>10}  unit")
    for s in stages:
        lines.append(
            f"{s.name:<54} {s.start:>8.1f} {s.end:>8.1f} {s.seconds:>7.1f} {s.items:>8,} {s.rate:>10,.1f}  {s.unit}"
        )
    for f in figures:
        if not f.name.startswith("stage:"):
            lines.append(f"{f.name:<54} {'':>8} {'':>8} {'':>7} {'':>8} {f.rate:>10,.1f}  {f.unit}  {f.note}")
    lines.append(f"{'service':<16} {'peak RSS MB':>12} {'peak consumer lag':>18}")
    for name, rss in monitor.peak_rss.items():
        lag = monitor.peak_lag.get(name)
        lines.append(f"{name:<16} {rss / 2**20:>12.0f} {'' if lag is None else f'{lag:,}':>18}")
    return "\n".join(lines)


async def run(infra: Infra) -> list[Figure]:
    n = HOUSEHOLDS
    t = time.perf_counter()
    data = await asyncio.to_thread(build_input, REGENCY, n)
    print(
        f"  input: {n:,} households, {data.rows:,} member rows in {len(data.files)} village files; "
        f"{data.population.people:,} people in the civil registry (generated in {time.perf_counter() - t:.1f} s)",
        flush=True,
    )
    system = prepare(infra, SERVICES_SCRIPT, label="pipe")
    await asyncio.to_thread(system.command, "start")
    monitor = Monitor(system)
    watcher = asyncio.create_task(monitor.run())
    figures: list[Figure] = []
    try:
        limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
        async with httpx.AsyncClient(timeout=120, limits=limits) as http:
            pipeline = Pipeline(system, data, http, monitor)
            loaded, seconds = await pipeline.load_civil_registry()
            print(f"  civil registry: {loaded:,} people loaded in {seconds:.1f} s", flush=True)
            figures.append(Figure("civil registry load (not in the pipeline)", loaded / seconds, "people/s",
                                  f"{loaded:,} people, {seconds:.1f} s"))  # fmt: skip
            load_before = os.getloadavg()[0]
            figures += await pipeline.run()
            figures.append(
                Figure(
                    "machine load (1-minute average) after the pipeline",
                    os.getloadavg()[0],
                    "runnable",
                    f"{load_before:.1f} before it; {os.cpu_count()} cores, shared with whatever else runs",
                )
            )
        monitor.stop()
        await watcher
        for name in sorted(monitor.peak_rss):
            lag = monitor.peak_lag.get(name)
            figures.append(Figure(f"peak memory: {name}", monitor.peak_rss[name] / 2**20, "MB RSS",
                                  "" if lag is None else f"peak consumer lag {lag:,} events"))  # fmt: skip
        end_to_end = next(f for f in figures if f.name.startswith("end to end"))
        if n < FULL_SIZE and end_to_end.rate:
            figures.append(Figure(f"full size ({FULL_SIZE:,} households), extrapolated", FULL_SIZE / end_to_end.rate / 60,
                                  "minutes", "at this run's end-to-end rate; set DTKS_BENCH_PIPELINE_HOUSEHOLDS=50000 to measure"))  # fmt: skip
        print(_table(pipeline.stages, figures, monitor, n), flush=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        png = plot(monitor, OUTPUT / f"pipeline-{n}-{stamp}.png",
                   f"DTKS pipeline: {n:,} households of {region_name(REGENCY)}")  # fmt: skip
        print(f"  plot: {png}", flush=True)
    finally:
        monitor.stop()
        if not watcher.done():
            watcher.cancel()
        await asyncio.to_thread(system.command, "stop")
        if os.environ.get("DTKS_BENCH_PIPELINE_KEEP") != "1":
            await system.drop_databases_and_topics(infra)
    return figures
