"""Registry benchmark: replay of a realistic event log into a fresh projection, and a decree.

Figures, all from one run on this machine (with the load average beside each):
- replay: events/s from offset zero on dtks.verification.events and dtks.registry.events into fresh
  tables of the registry's projection, beside Kafka's own ConsumerPerformance over the same topics
  (the ceiling); target 50,000 events/s. The log is ``registry_stream``'s: three quarters of
  households through every tier (checks, returns, tier decisions, batch ratifications, Ministry
  acceptances carrying the household), two decrees with their household events, corrections and
  deactivations; about a quarter of the events carry a whole household;
- decree: seconds to issue one determination over N pending candidates (decide, write the register,
  append N household events and the decree to the outbox, hash the register), on the replayed
  tables with the register of the first two decrees in force, and the process's peak RSS during it.
  The third quarter's acceptances are the candidates; if fewer than N, copies under new proposal ids
  make up the rest (set-up, not timed).
Sizes: DTKS_BENCH_REGISTRY_EVENTS (default 300,000; the issue's full size 2,000,000) and
DTKS_BENCH_REGISTRY_CANDIDATES (default 20,000; full size 500,000).
"""

from __future__ import annotations

import asyncio
import contextlib
import cProfile
import datetime as dt
import glob
import os
import resource
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaProducer

from benchmarks.figures import Figure
from benchmarks.registry_stream import stream
from benchmarks.runtime_bench import _kafka_tool
from benchmarks.scratch import scratch_database
from dtks_contracts.actor import Actor
from dtks_contracts.topics import partition_key, topic_for, with_prefix
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.adapters import register
from dtks_registry.adapters.projection import (
    PROJECTION_EVENT_TYPES,
    PROJECTION_TOPICS,
    apply_projection_events,
    decode_projection_event,
)
from dtks_registry.adapters.schema import MIGRATIONS
from dtks_registry.deps import RegistryDeps
from dtks_registry.domain.identity import household_id_for
from dtks_registry.domain.periods import parse_period
from dtks_registry.handlers import DeterminationRequest, issue_determination, load_determination
from dtks_runtime.event_store import EventStore
from dtks_runtime.replay import replay_into_schema
from dtks_runtime.testing import Infra
from dtks_runtime.topics import ensure_topics
from dtks_runtime.unit_of_work import on_connection

EVENTS = int(os.environ.get("DTKS_BENCH_REGISTRY_EVENTS", "300000"))
CANDIDATES = int(os.environ.get("DTKS_BENCH_REGISTRY_CANDIDATES", "20000"))
# A path: the replay runs under cProfile and its stats are written there (pstats format).
PROFILE = os.environ.get("DTKS_BENCH_REGISTRY_PROFILE")
# Processes replaying disjoint partitions at once (the runtime replay's workers).
WORKERS = int(os.environ.get("DTKS_BENCH_REGISTRY_REPLAY_WORKERS", "2"))
DETERMINER = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")


async def _produce(bootstrap: str, prefix: str, events: int = EVENTS) -> tuple[int, dict[str, int]]:
    """Fill the verification and registry topics with the realistic log; returns (events, per topic)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=512 * 1024,
                                max_request_size=64 * 1024 * 1024, compression_type=None)  # fmt: skip
    await producer.start()
    per_topic: dict[str, int] = {}
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=2)
    try:
        pending = []
        for record in stream(events, start):
            per_topic[record.topic] = per_topic.get(record.topic, 0) + 1
            pending.append(await producer.send(prefix + record.topic, value=record.value, key=record.key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sum(per_topic.values()), per_topic


def _consumer_performance(infra: Infra, topic: str, messages: int) -> float:
    out = _kafka_tool(
        infra, "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", infra.kafka_bootstrap, "--topic", topic, "--messages", str(messages),
        "--timeout", "60000",
    )  # fmt: skip
    row = [line for line in out.splitlines() if line and line[0].isdigit()][-1].split(",")
    return float(row[5])


def _ceiling(infra: Infra, prefix: str, per_topic: dict[str, int]) -> float:
    """ConsumerPerformance over the replayed topics, one after the other: all records / total time."""
    seconds = sum(n / _consumer_performance(infra, prefix + t, n) for t, n in per_topic.items())
    return sum(per_topic.values()) / seconds


def _peak_rss_mb() -> float:
    """Peak resident set of this process since the last reset (VmHWM)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError), open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # resets VmHWM to the current RSS (Linux 4.0+)


# The bench's extra candidates: copies of the replayed pending acceptances under new proposal ids and
# KK numbers (the household id follows from the proposal id, as the projection derives it).
_TOP_UP_SQL = """
    INSERT INTO candidates (proposal_id, round, kind, household_id, household, deactivation_reason,
                            programs_requested, village_code, accepted_at, event_id)
    SELECT x.p, c.round, c.kind, x.h,
           jsonb_set(c.household, '{kk_number}', to_jsonb(left(c.household->>'kk_number', 6) || x.kk)),
           c.deactivation_reason, c.programs_requested, c.village_code, c.accepted_at, gen_random_uuid()
    FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x(source, p, h, kk)
    JOIN candidates c ON c.proposal_id = x.source
"""


async def _top_up(conn: asyncpg.Connection, wanted: int) -> None:
    sources = [r[0] for r in await conn.fetch(
        "SELECT proposal_id FROM candidates c WHERE kind = 'new_household' AND NOT EXISTS "
        "(SELECT 1 FROM household_changes hc WHERE hc.proposal_id = c.proposal_id) ORDER BY 1"
    )]  # fmt: skip
    missing = wanted - len(sources)
    for start in range(0, max(0, missing), 50_000):
        n = range(start, min(missing, start + 50_000))
        source = [sources[i % len(sources)] for i in n]
        pids = [f"{s}-x{i}" for s, i in zip(source, n, strict=True)]
        await conn.execute(_TOP_UP_SQL, source, pids, [household_id_for(p) for p in pids],
                           [f"{9_000_000_000 + i:010d}" for i in n])  # fmt: skip


async def run(infra: Infra) -> list[Figure]:
    prefix = f"rbench{uuid.uuid4().hex[:6]}."
    await ensure_topics(infra.kafka_bootstrap, with_prefix(prefix))
    figures: list[Figure] = []
    async with scratch_database(infra, "bench_registry") as url:
        t0 = time.perf_counter()
        events, per_topic = await _produce(infra.kafka_bootstrap, prefix)
        figures.append(Figure(f"fill topics with {events:,} envelopes (aiokafka, acks=1)",
                              events / (time.perf_counter() - t0), note=f"{_load()}"))  # fmt: skip
        ceiling = await asyncio.to_thread(_ceiling, infra, prefix, per_topic)

        schema = "replay_bench"
        _reset_peak_rss()
        load = _load()
        cpu, pg_cpu = _cpu_seconds(), await _postgres_cpu_seconds(infra.database_url)
        profile = cProfile.Profile() if PROFILE else None
        if profile:
            profile.enable()
        report = await replay_into_schema(
            database_url=url, schema=schema, migrations=[("registry", MIGRATIONS)],
            kafka_bootstrap=infra.kafka_bootstrap, topics=[f"{prefix}{t}" for t in PROJECTION_TOPICS],
            handler=apply_projection_events, event_types=PROJECTION_EVENT_TYPES, decode=decode_projection_event,
            workers=WORKERS,
        )  # fmt: skip
        if profile:
            profile.disable()
            profile.dump_stats(str(PROFILE))
        assert report.events_read == events, f"replay read {report.events_read} of {events}"
        cpu, pg_cpu = _cpu_seconds() - cpu, await _postgres_cpu_seconds(infra.database_url) - pg_cpu
        replay_rate = report.events_read / report.seconds
        figures.append(Figure(f"replay into a fresh projection ({events:,} events)", replay_rate,
                              note=f"{replay_rate / ceiling:.0%} of ConsumerPerformance; target 50,000; "
                                   f"{report.events_applied:,} applied; {WORKERS} worker(s); Python CPU "
                                   f"{cpu / report.events_read * 1e6:.1f} µs/event, PostgreSQL CPU "
                                   f"{pg_cpu / report.events_read * 1e6:.1f} µs/event; peak RSS {_peak_rss_mb():,.0f} MB; "
                                   f"{load} -> {_load()}"))  # fmt: skip
        figures.append(Figure("Kafka ConsumerPerformance (same topics)", ceiling))

        conn = await asyncpg.connect(url, server_settings={"search_path": schema})
        try:
            await _top_up(conn, CANDIDATES)
            candidates = await conn.fetchval(
                "SELECT count(*) FROM candidates c WHERE NOT EXISTS "
                "(SELECT 1 FROM household_changes hc WHERE hc.proposal_id = c.proposal_id)"
            )
            in_force = await conn.fetchval("SELECT count(*) FROM households WHERE active")
            await conn.execute("ANALYZE")
            store = EventStore(
                lambda e: topic_for(e.event_type, prefix).name, lambda e: partition_key(e).decode()
            )
            _reset_peak_rss()
            load = _load()
            profile = cProfile.Profile() if PROFILE else None
            if profile:
                profile.enable()
            cpu, pg_cpu = _cpu_seconds(), await _postgres_cpu_seconds(infra.database_url)
            t0 = time.perf_counter()
            recorded, _ = await issue_determination(
                RegistryDeps(on_connection(conn, store)), DeterminationRequest("3/HUK/2026", parse_period("2026-07"), dt.datetime.now(dt.UTC)),
                DETERMINER, "bench",
            )  # fmt: skip
            seconds = time.perf_counter() - t0
            cpu = _cpu_seconds() - cpu
            pg_cpu = await _postgres_cpu_seconds(infra.database_url) - pg_cpu
            if profile:
                profile.disable()
                profile.dump_stats(f"{PROFILE}.decree")
            rss = _peak_rss_mb()
            # Read back whole (a chunked decree's lists assembled from its chunks), after the peak.
            document = await load_determination(conn, recorded.decree.decree_number)
            assert document is not None
            summary = await register.current_summary(conn, recompute=CANDIDATES <= 50_000)
        finally:
            await conn.close()
        decided = sum(len(document[k]) for k in ("registered", "corrected", "deactivated", "not_applied"))
        assert decided == candidates, (decided, candidates)
        assert summary.register_hash == document["register_hash"], "decree hash differs from the register's"
        figures.append(Figure(f"decree over {candidates:,} candidates ({in_force:,} households in force)", seconds,
                              unit="seconds", note=f"{candidates / seconds:,.0f} households/s; Python CPU {cpu / candidates * 1e6:.0f} µs/household, PostgreSQL CPU {pg_cpu / candidates * 1e6:.0f}; peak RSS {rss:,.0f} MB; "
                                                   f"{load} -> {_load()}"))  # fmt: skip
    return figures


async def _postgres_cpu_seconds(url: str) -> float:
    """CPU of the benchmark's PostgreSQL server: the postmaster with its reaped backends, plus the
    live ones (so where a replay's time goes can be split between Python and SQL)."""
    conn = await asyncpg.connect(url)
    try:
        data = await conn.fetchval("SHOW data_directory")
    finally:
        await conn.close()
    return _server_cpu_seconds(data)


def _server_cpu_seconds(data_directory: str) -> float:
    with open(f"{data_directory}/postmaster.pid") as pidfile:
        postmaster = pidfile.readline().strip()
    ticks = 0
    for stat in glob.glob("/proc/[0-9]*/stat"):
        with contextlib.suppress(OSError), open(stat) as f:
            fields = f.read().rsplit(")", 1)[1].split()
            pid = stat.split("/")[2]
            if pid == postmaster:
                ticks += sum(int(x) for x in fields[11:15])  # utime, stime, cutime, cstime
            elif fields[1] == postmaster:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_seconds() -> float:
    """CPU of this process and its finished children (the replay's workers)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load() -> str:
    return "load " + " ".join(f"{x:.1f}" for x in os.getloadavg())
