"""The registry's live projection catching up on verification's stream, with and without passing by
the types it does not read (``EventConsumer(event_types=...)``).

The stream is the registry benchmark's realistic log (households through every tier: checks,
returns, tier decisions, ratifications, the Ministry's acceptances carrying the household), of
which the registry's projection reads the acceptances and little else. Two consumer groups, each
into a fresh database of its own, read verification's topic from offset zero with the projection's
live handler until every record is committed: first decoding every record (as before), then with
``event_types=PROJECTION_EVENT_TYPES``. Each: seconds, records/s, the benchmark process's CPU (the
consumer) and PostgreSQL's, the inbox rows written.
DTKS_BENCH_LIVE_PROJECTION_EVENTS sets the log's size (default 200,000 across both topics).
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Collection

from benchmarks.figures import Figure
from benchmarks.registry_bench import _cpu_seconds, _postgres_cpu_seconds, _produce
from benchmarks.scratch import scratch_database
from dtks_contracts.topics import VERIFICATION_EVENTS, with_prefix
from dtks_registry.adapters.projection import PROJECTION_EVENT_TYPES, apply_events
from dtks_registry.adapters.schema import MIGRATIONS
from dtks_runtime import event_store
from dtks_runtime.consumer import EventConsumer
from dtks_runtime.db import create_pool, migrate
from dtks_runtime.testing import Infra, make_consumer_topics
from dtks_runtime.topics import ensure_topics

EVENTS = int(os.environ.get("DTKS_BENCH_LIVE_PROJECTION_EVENTS", "200000"))


async def _catch_up(
    infra: Infra, prefix: str, records: int, event_types: Collection[str] | None
) -> tuple[float, float, float, int, int]:
    """(seconds, consumer CPU, PostgreSQL CPU, inbox rows, records passed by) to commit ``records``."""
    async with scratch_database(infra, "bench_live_projection") as url:
        pool = await create_pool(url)
        try:
            async with pool.acquire() as conn:
                await event_store.install(conn)
                await migrate(conn, "registry", MIGRATIONS)
            name = f"live-{uuid.uuid4().hex[:8]}"
            await make_consumer_topics(infra.kafka_bootstrap, name, prefix)
            consumer = EventConsumer(
                name=name, topics=[prefix + VERIFICATION_EVENTS.name], handler=apply_events, pool=pool,
                kafka_bootstrap=infra.kafka_bootstrap, topic_prefix=prefix, event_types=event_types,
            )  # fmt: skip
            stop = asyncio.Event()
            cpu, pg_cpu = _cpu_seconds(), await _postgres_cpu_seconds(infra.database_url)
            started = time.perf_counter()
            task = asyncio.create_task(consumer.run(stop))
            while consumer.stats.committed < records:
                if task.done():
                    task.result()  # its failure, if it failed
                    raise RuntimeError("the consumer stopped before it caught up")
                await asyncio.sleep(0.1)
            seconds = time.perf_counter() - started
            cpu, pg_cpu = _cpu_seconds() - cpu, await _postgres_cpu_seconds(infra.database_url) - pg_cpu
            stop.set()
            await task
            if consumer.stats.dead_lettered:
                raise RuntimeError(f"{consumer.stats.dead_lettered} records dead-lettered")
            async with pool.acquire() as conn:
                inbox = await conn.fetchval("SELECT count(*) FROM inbox")
        finally:
            await pool.close()
    return seconds, cpu, pg_cpu, inbox, consumer.stats.passed_by


async def run(infra: Infra) -> list[Figure]:
    prefix = f"lbench{uuid.uuid4().hex[:6]}."
    await ensure_topics(infra.kafka_bootstrap, with_prefix(prefix))
    _, per_topic = await _produce(infra.kafka_bootstrap, prefix, EVENTS)
    records = per_topic[VERIFICATION_EVENTS.name]
    figures = []
    for label, types in (
        ("every record decoded", None),
        ("event_types: the others passed by", PROJECTION_EVENT_TYPES),
    ):
        seconds, cpu, pg_cpu, inbox, passed = await _catch_up(infra, prefix, records, types)
        figures.append(Figure(
            f"live projection, {label}", records / seconds, "records/s",
            f"{records:,} records in {seconds:.1f} s; CPU consumer {cpu:.1f} s, PostgreSQL {pg_cpu:.1f} s; "
            f"{inbox:,} inbox rows; {passed:,} passed by",
        ))  # fmt: skip
    return figures
