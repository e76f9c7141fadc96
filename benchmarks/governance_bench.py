"""Governance: the overdue scan over a backlog of waiting items, and decision latency while it runs.

Set-up (not timed): the verification service runs as its own process (deploy/local/services.py),
first with its overdue scan off. DTKS_BENCH_GOVERNANCE_ITEMS items (default 1,000,000, the size of
issue 18) waiting at the district tier, spread over every village of the country's list, are then
written straight into the service's own `proposals` table with COPY, in the shape its migrations
define (adapters/schema.py) and as its intake leaves them (status `in_tier`, `tier_region` the
district, content a generated proposal's round, `stream_version` 0: no event yet on the stream).
Why not through events: a million proposals submitted, checked against the civil registry and
forwarded would take hours before the scan could begin; the scan reads only this table (with
`overdue_days`, `deadline_policies` and `freezes`) and appends to the event store, so the rows are
all it needs. They are dated past one district deadline (10 working days) but not two, so each
gets exactly one announcement. Beside them, recent (not overdue) items in a few districts wait for
the decisions below; the scan never touches them.

Figures:
- decision p50/p99 without the scan: DTKS_BENCH_GOVERNANCE_DECISIONS decisions (default 5,000: the
  p99 of 2,000 varied from 29.9 to 50.3 ms between runs of one code),
  one forward per POST /decisions, from 10 concurrent verifiers of their districts;
- the overdue scan: the service restarted with its scan on; items announced per second (in
  `verification.items_overdue` notices per district, batches of about DTKS_OVERDUE_SCAN_BATCH items,
  default 2,000), over the pass that announced them all, from its start to its end as it recorded
  them in `overdue_passes`; the wall time from the restart beside it, and the notices' count and size;
- decision p50/p99 while the scan runs: the same decisions, sent from the restart until the scan
  has announced every item (only those answered before it finished are counted).
Target (issue 18): the scan finishes in under 30 s and raises decision p99 by no more than 20%.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import os
import statistics
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from benchmarks import profiling
from benchmarks.cpu import service_and_postgres
from benchmarks.figures import Figure
from benchmarks.http_load import Connection, get_request, post_request, timed
from dtks_contracts import regions
from dtks_contracts.vocabulary import Role, Tier, tier_region
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.testing import Infra, wait_until
from dtks_synthetic import generate_population, proposals
from dtks_verification.domain.working_days import WorkingCalendar
from dtks_verification.testing import submitted

ITEMS = int(os.environ.get("DTKS_BENCH_GOVERNANCE_ITEMS", "1000000"))
DECISIONS = int(os.environ.get("DTKS_BENCH_GOVERNANCE_DECISIONS", "5000"))
QUEUE_READS = int(os.environ.get("DTKS_BENCH_GOVERNANCE_QUEUE_READS", "2000"))  # of each kind, after WARM_UP
# Recent items for the decisions while the scan runs: enough to last it (the note says if they ran out).
DURING_POOL = max(5 * DECISIONS, ITEMS // 10)
WARM_UP = 200
CLIENTS = 10
DISTRICT_DAYS = 10  # the district tier's default deadline (domain/deadlines.py)
SERVICES = Path(__file__).resolve().parent.parent / "deploy" / "local" / "services.py"
_COLUMNS = ["proposal_id", "round", "village_code", "kind", "content", "status", "tier", "tier_region",
            "entered_at", "stream_version"]  # fmt: skip


def _villages() -> list[str]:
    return [
        v for r in regions.regency_populations() for d in regions.children(r) for v in regions.children(d)
    ]


def _templates() -> list[dict[str, object]]:
    """Rounds' contents as the intake stores them, from generated new-household proposals."""
    population = generate_population("17.71", people=3000, seed=18)
    return [json.loads(submitted(g.body).model_dump_json()) for g in proposals(population, 100, seed=18)]


def _rows(
    ids: list[str], villages: list[str], templates: list[dict[str, object]], entered: Iterator[dt.datetime]
) -> Iterator[tuple[object, ...]]:
    for pid, village, template, at in zip(
        ids, itertools.cycle(villages), itertools.cycle(templates), entered, strict=False
    ):
        content = json.dumps({**template, "proposal_id": pid, "village_code": village})
        region = tier_region(Tier.DISTRICT, village)
        yield (pid, 1, village, template["kind"], content, "in_tier", "district", region, at, 0)


async def _load(db_url: str, now: dt.datetime) -> dict[str, list[str]]:
    """The backlog and the decisions' items written into the service's table; the latter by district."""
    calendar = WorkingCalendar()
    # Between one deadline and two: overdue at level 1 only.
    newest, oldest = (
        calendar.overdue_before(DISTRICT_DAYS, now),
        calendar.overdue_before(2 * DISTRICT_DAYS, now),
    )
    span = (newest - oldest).total_seconds() - 7200

    def overdue() -> Iterator[dt.datetime]:
        for i in itertools.count():
            yield oldest + dt.timedelta(seconds=3600 + (i * 7919) % int(span))

    def recent() -> Iterator[dt.datetime]:
        for i in itertools.count():
            yield now - dt.timedelta(hours=2) + dt.timedelta(microseconds=i)

    villages, templates = _villages(), _templates()
    decision_villages = [v for v in villages if v.startswith("17.71.")]
    decision_ids = [str(uuid.uuid4()) for _ in range(WARM_UP + 2 * DECISIONS + DURING_POOL)]
    conn = await asyncpg.connect(db_url)
    try:
        await conn.copy_records_to_table(
            "proposals", columns=_COLUMNS,
            records=_rows([str(uuid.uuid4()) for _ in range(ITEMS)], villages, templates, overdue()),
        )  # fmt: skip
        await conn.copy_records_to_table(
            "proposals", columns=_COLUMNS, records=_rows(decision_ids, decision_villages, templates, recent())
        )
        # As autovacuum leaves a long-lived table: statistics, and its pages marked all-visible.
        await conn.execute("VACUUM (ANALYZE) proposals")
        # And written out: the calm decisions below would otherwise pay for the load's checkpoint.
        await conn.execute("CHECKPOINT")
        rows = await conn.fetch(
            "SELECT proposal_id, tier_region FROM proposals WHERE proposal_id = ANY($1)", decision_ids
        )
    finally:
        await conn.close()
    by_district: dict[str, list[str]] = {}
    for r in rows:
        by_district.setdefault(r["tier_region"], []).append(r["proposal_id"])
    return by_district


class _Decisions:
    """Single forwards at the district tier, prepared as bytes, handed out one item at a time."""

    def __init__(self, system: LocalSystem, by_district: dict[str, list[str]]) -> None:
        self.host, _, port = system.urls["verification"].removeprefix("http://").partition(":")
        self.port = int(port)
        self.auth = {d: system.headers(Role.DISTRICT_VERIFIER, d) for d in by_district}
        self.items = [(pid, d) for d, ids in by_district.items() for pid in ids]
        self.items.sort(key=lambda item: hash(item[0]))  # districts interleaved

    def take(self, count: int) -> list[bytes]:
        batch, self.items = self.items[:count], self.items[count:]
        body = {"tier": "district", "decision": "forward"}
        return [
            post_request(self.host, self.port, "/decisions", {**body, "proposal_id": p}, self.auth[d])
            for p, d in batch
        ]

    async def send(self, requests: list[bytes], until: asyncio.Event | None = None) -> list[float]:
        """Latencies of answered 200s; with `until`, only those answered before it was set."""
        queue = iter(requests)
        latencies: list[float] = []
        failures: dict[int, int] = {}

        async def client() -> None:
            connection = Connection(self.host, self.port)
            try:
                for request in queue:
                    if until is not None and until.is_set():
                        return
                    start = time.perf_counter()
                    status = await asyncio.wait_for(connection.send(request), 60)
                    if until is not None and until.is_set():
                        return
                    if status == 200:
                        latencies.append(time.perf_counter() - start)
                    else:
                        failures[status] = failures.get(status, 0) + 1
            finally:
                connection.close()

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        if failures:
            raise RuntimeError(f"decisions refused: {failures}")
        return latencies


async def _queue_reads(system: LocalSystem, districts: list[str]) -> list[Figure]:
    """District verifiers of districts across the country reading their queue's first page and the
    queues' figures over the backlog (every district holds its share of it)."""
    host, _, port = system.urls["verification"].removeprefix("http://").partition(":")
    figures = []
    for name, path, params in (("a district's queue page", "/queues/district", {"limit": "50"}),
                               ("a district's queue figures", "/queues/stats", {})):  # fmt: skip
        requests = [
            get_request(host, int(port), path, params, system.headers(Role.DISTRICT_VERIFIER, d))
            for d in (districts[(n * 7919) % len(districts)] for n in range(WARM_UP + QUEUE_READS))
        ]
        latencies = await timed(host, int(port), requests, CLIENTS)
        p50, p99 = _cuts(latencies[WARM_UP:])
        figures += [Figure(f"{name} p50", p50, "ms", f"{QUEUE_READS:,} from {CLIENTS} clients over {ITEMS:,} waiting"),
                    Figure(f"{name} p99", p99, "ms", "")]  # fmt: skip
    return figures


def _cuts(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49] * 1000, cuts[98] * 1000


def _cpu(system: LocalSystem, infra: Infra) -> tuple[float, float]:
    """CPU seconds used so far by the verification service's processes and by PostgreSQL."""
    return service_and_postgres(system.pid("verification"), infra.database_url)


async def run(infra: Infra) -> list[Figure]:
    system = prepare(infra, SERVICES, label="govbench", extra_env={"DTKS_OVERDUE_SCAN_ENABLED": "false"})
    db_url = infra.database_url.rpartition("/")[0] + f"/govbench{system.run_id}_verification"
    await asyncio.to_thread(system.command, "start", only=("verification",))
    try:
        started = time.perf_counter()
        by_district = await _load(db_url, dt.datetime.now(dt.UTC))
        loaded = time.perf_counter() - started
        print(f"governance: {ITEMS:,} overdue items written in {loaded:.0f} s", flush=True)
        reads = await _queue_reads(system, sorted({v[:8] for v in _villages()}))
        decisions = _Decisions(system, by_district)
        await decisions.send(decisions.take(WARM_UP))
        cpu0 = _cpu(system, infra)
        calm = await decisions.send(decisions.take(DECISIONS))
        # CPU per decision of the service and of PostgreSQL with no scan running, in ms.
        per_decision = [(b - a) / len(calm) * 1000 for a, b in zip(cpu0, _cpu(system, infra), strict=True)]
        calm_p50, calm_p99 = _cuts(calm)

        await asyncio.to_thread(system.command, "stop", only=("verification",))
        system.env.update(DTKS_OVERDUE_SCAN_ENABLED="true", DTKS_OVERDUE_SCAN_SECONDS="5")
        watcher = await asyncpg.connect(db_url)
        finished = asyncio.Event()
        try:
            restarted = time.perf_counter()
            await asyncio.to_thread(system.command, "start", only=("verification",))

            async def all_announced() -> bool:
                done = bool(
                    await watcher.fetchval("SELECT count(*) FROM overdue_passes WHERE announced >= $1", ITEMS)
                )
                if done:
                    finished.set()
                return done

            watching = asyncio.create_task(wait_until(all_announced, 1800, "the overdue scan"))
            cpu0 = _cpu(system, infra)
            profilers = profiling.start({"verification": system.pid("verification")}, "scan")
            busy = await decisions.send(decisions.take(DURING_POOL), until=finished)
            await watching
            profiling.stop(profilers)
            # Beyond what the decisions answered meanwhile cost at the calm rate: the scan's (and its
            # notices' relay to Kafka), in seconds.
            scan_cpu = [b - a - len(busy) * d / 1000
                        for a, b, d in zip(cpu0, _cpu(system, infra), per_decision, strict=True)]  # fmt: skip
            print(f"governance: CPU per decision, no scan: service {per_decision[0]:.2f} ms, PostgreSQL "
                  f"{per_decision[1]:.2f} ms; the scan's own: service {scan_cpu[0]:.1f} s, PostgreSQL "
                  f"{scan_cpu[1]:.1f} s", flush=True)  # fmt: skip
            wall = time.perf_counter() - restarted
            first, last = await watcher.fetchrow(
                "SELECT started_at, finished_at FROM overdue_passes WHERE announced >= $1", ITEMS
            )
            notices, size = await watcher.fetchrow(
                "SELECT count(*), sum(octet_length(envelope::text)) FROM events"
                " WHERE event_type = 'verification.items_overdue'"
            )
            print(f"governance: {notices:,} notices, {size / 1e6:.1f} MB of envelopes", flush=True)
        finally:
            await watcher.close()
        scan = (last - first).total_seconds()
        busy_p50, busy_p99 = _cuts(busy) if len(busy) >= 2 else (float("nan"), float("nan"))
        rise = (busy_p99 / calm_p99 - 1) * 100
        load = f"load {os.getloadavg()[0]:.1f} of 2 cores"
        return [
            *reads,
            Figure("overdue scan", ITEMS / scan, "items/s",
                   f"{ITEMS:,} items announced in {scan:.1f} s (target under 30 s); {wall:.1f} s from the "
                   f"service's restart; {load}"),
            Figure("decision p50, no scan", calm_p50, "ms", f"{len(calm):,} single forwards, {CLIENTS} clients"),
            Figure("decision p99, no scan", calm_p99, "ms", ""),
            Figure("decision p50, scan running", busy_p50, "ms",
                   f"{len(busy):,} single forwards during the scan" + (" (all there were: the scan outlasted them)"
                                                                     if len(busy) >= DURING_POOL else "")),
            Figure("decision p99, scan running", busy_p99, "ms",
                   f"{rise:+.0f}% against no scan (target: no more than +20%); {load}"),
        ]  # fmt: skip
    finally:
        await asyncio.to_thread(system.command, "stop")
        await system.drop_databases_and_topics(infra)
