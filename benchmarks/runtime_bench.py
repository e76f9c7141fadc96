"""Runtime benchmark: event store and outbox, commit-to-effect, and Kafka's own tools as the ceiling.

Figures printed, all measured in the same run on the same machine:
- appends/s through the event store (the outbox is the same table), concurrent writers;
- relay publish rate (events/s from the table to acknowledged Kafka records);
- commit-to-effect: events/s from committed in the store to committed effect in a consumer's database,
  relay and consumer running together;
- consume-and-apply: events/s a consumer reads from Kafka, deduplicates through its inbox and applies
  in PostgreSQL, on a topic already full;
- the ceiling: Kafka's ProducerPerformance and ConsumerPerformance with the same record size.
Our consume-and-apply rate is printed as a ratio of ConsumerPerformance (target: 20% or more), and the
relay's as a ratio of ProducerPerformance.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import time
import uuid
from collections.abc import Callable, Sequence

import asyncpg

from benchmarks.figures import Figure
from benchmarks.scratch import scratch_database
from dtks_contracts.envelope import EventEnvelope
from dtks_runtime import event_store
from dtks_runtime.consumer import EventConsumer
from dtks_runtime.event_store import Causation, EventStore, NewEvent
from dtks_runtime.gc_policy import tune_service_process
from dtks_runtime.outbox_relay import OutboxRelay
from dtks_runtime.testing import Infra
from dtks_runtime.topics import consumer_topics, ensure_topics, scratch_topic

EVENTS = int(os.environ.get("DTKS_BENCH_EVENTS", "100000"))
WRITERS = 8
EVENTS_PER_APPEND = 25
PARTITIONS = 6


async def _effect(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
    # A projection-shaped effect: one row per event, written in bulk.
    await conn.execute(
        """INSERT INTO effects (event_id, aggregate_id, n)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::int[])""",
        [e.event_id for e in events],
        [e.aggregate_id for e in events],
        [int(e.payload["n"]) for e in events],
    )


def _payload(n: int) -> dict[str, object]:
    # About the size of a small proposal event once wrapped in its envelope (~500 bytes).
    return {"n": n, "village_code": "17.71.01.1001", "note": "x" * 120}


async def _append_all(pool: asyncpg.Pool, store: EventStore) -> float:
    per_writer = EVENTS // WRITERS

    async def writer(w: int) -> None:
        # Each aggregate takes 1000 events (40 appends of 25), then the writer moves to the next one.
        for start in range(0, per_writer, EVENTS_PER_APPEND):
            batch = [NewEvent("bench.happened", 1, _payload(start + i)) for i in range(EVENTS_PER_APPEND)]
            async with pool.acquire() as conn, conn.transaction():
                await store.append(
                    conn,
                    aggregate_type="bench",
                    aggregate_id=f"w{w}-{start // 1000}",
                    expected_version=start % 1000,
                    events=batch,
                    causation=Causation(),
                )

    t0 = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(WRITERS)))
    return time.perf_counter() - t0


async def _wait_for(pool: asyncpg.Pool, sql: str, target: int, limit: float = 900) -> float:
    t0 = time.perf_counter()
    while True:
        async with pool.acquire() as conn:
            if int(await conn.fetchval(sql)) >= target:
                return time.perf_counter() - t0
        if time.perf_counter() - t0 > limit:
            raise TimeoutError(f"{sql} did not reach {target}")
        await asyncio.sleep(0.05)


async def _rates(progress: Callable[[], int], target: int, limit: float = 900) -> tuple[float, float]:
    """Seconds until ``progress()`` reaches ``target``, and the rate from the first progress seen
    to the end: the start (joining the consumer group) excluded, as Kafka's fetch.nMsg.sec excludes
    it. ``progress`` is read in-process: polling the database would compete with what is measured."""
    t0 = time.perf_counter()
    first: tuple[float, int] | None = None
    while True:
        n = progress()
        now = time.perf_counter()
        if n and first is None:
            first = (now, n)
        if n >= target:
            assert first is not None
            steady = (n - first[1]) / (now - first[0]) if now > first[0] and n > first[1] else float("nan")
            return now - t0, steady
        if now - t0 > limit:
            raise TimeoutError(f"progress stopped at {n} of {target}")
        await asyncio.sleep(0.005)


def _kafka_tool(infra: Infra, main: str, *args: str) -> str:
    if not infra.kafka_lib:
        raise RuntimeError("Kafka's jars are needed for the ceiling (run with the local stack)")
    log4j = os.environ.get("DTKS_KAFKA_TOOLS_LOG4J")
    cmd = ["java", "-Xmx512m", "-cp", f"{infra.kafka_lib}/*"]
    if log4j:
        cmd.insert(1, f"-Dlog4j2.configurationFile={log4j}")
    cmd += [main, *args]
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=600).stdout


def _ceiling(infra: Infra, topic: str, record_size: int) -> tuple[Figure, Figure, Figure]:
    out = _kafka_tool(
        infra, "org.apache.kafka.tools.ProducerPerformance",
        "--topic", topic, "--num-records", str(EVENTS), "--record-size", str(record_size),
        "--throughput", "-1", "--producer-props", f"bootstrap.servers={infra.kafka_bootstrap}",
        "acks=all", "enable.idempotence=true",
    )  # fmt: skip
    produced = float(re.findall(r"([\d.]+) records/sec", out)[-1])
    out = _kafka_tool(
        infra, "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", infra.kafka_bootstrap, "--topic", topic, "--messages", str(EVENTS),
        "--timeout", "60000",
    )  # fmt: skip
    # Columns: start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec,
    # rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec (the last: after joining the group).
    row = [line for line in out.splitlines() if line and line[0].isdigit()][-1].split(",")
    return (
        Figure("Kafka ProducerPerformance (acks=all, idempotent)", produced),
        Figure("Kafka ConsumerPerformance", float(row[5])),
        Figure("Kafka ConsumerPerformance, after joining (fetch.nMsg.sec)", float(row[9])),
    )


async def run(infra: Infra) -> list[Figure]:
    # The store, relay and consumer run inside service processes, which tune the collector when
    # they start (dtks_runtime.service.serve); measured here the same way. Untuned, the consumer
    # spent about a third of its CPU in the collector.
    tune_service_process()
    prefix = f"bench{uuid.uuid4().hex[:6]}."
    topic = f"{prefix}bench.events"
    ceiling_topic = f"{prefix}bench.ceiling"
    await ensure_topics(
        infra.kafka_bootstrap, [scratch_topic(topic, PARTITIONS), scratch_topic(ceiling_topic, PARTITIONS)]
    )
    figures: list[Figure] = []
    async with (
        scratch_database(infra) as url,
        asyncpg.create_pool(url, min_size=WRITERS, max_size=WRITERS + 4) as pool,
    ):
        async with pool.acquire() as conn:
            await event_store.install(conn)
            await conn.execute("CREATE TABLE effects (event_id uuid PRIMARY KEY, aggregate_id text, n int)")
        store = EventStore(lambda _e: topic)

        seconds = await _append_all(pool, store)
        total = await _count(pool, "SELECT count(*) FROM events")
        figures.append(
            Figure(f"store+outbox append ({WRITERS} writers, {EVENTS_PER_APPEND}/tx)", total / seconds)
        )
        size = await _count(pool, "SELECT avg(octet_length(envelope::text))::int FROM events")

        # Relay alone: table -> acknowledged Kafka records.
        stop = asyncio.Event()
        relay = OutboxRelay(url, infra.kafka_bootstrap, batch_size=5000)
        relay_task = asyncio.create_task(relay.run(stop))
        seconds = await _wait_for(pool, "SELECT count(*) FROM events WHERE position IS NOT NULL", total)
        figures.append(Figure("outbox relay publish", total / seconds))
        stop.set()
        await relay_task

        # Consume-and-apply on a full topic: Kafka -> inbox + effect in PostgreSQL, offsets committed.
        group = f"{prefix}bench-consumer"
        await ensure_topics(infra.kafka_bootstrap, consumer_topics(group, prefix))
        consumer = EventConsumer(
            name=group, topics=[topic], handler=_effect, pool=pool, kafka_bootstrap=infra.kafka_bootstrap,
            topic_prefix=prefix, max_records=10_000,
        )  # fmt: skip
        stop = asyncio.Event()
        task = asyncio.create_task(consumer.run(stop))
        # Counted after each batch's transaction committed (its offsets follow).
        seconds, steady = await _rates(lambda: consumer.stats.committed, total)
        stop.set()
        await task
        assert await _count(pool, "SELECT count(*) FROM effects") == total
        figures.append(Figure("consume-and-apply (inbox + effect, one tx per batch)", total / seconds))
        figures.append(Figure("consume-and-apply, after joining (first to last effect)", steady))
        figures.append(
            Figure("consume-and-apply: events per batch", total / max(consumer.stats.batches, 1), "events")
        )

        # Commit-to-effect with everything running: writers append while relay and a consumer apply.
        async with pool.acquire() as conn:
            await conn.execute("TRUNCATE effects")
            await conn.execute("DELETE FROM events")
        topic2 = f"{prefix}bench.pipeline"
        await ensure_topics(infra.kafka_bootstrap, [scratch_topic(topic2, PARTITIONS)])
        store2 = EventStore(lambda _e: topic2)
        group2 = f"{prefix}bench-pipeline"
        await ensure_topics(infra.kafka_bootstrap, consumer_topics(group2, prefix))
        consumer2 = EventConsumer(
            name=group2, topics=[topic2], handler=_effect, pool=pool, kafka_bootstrap=infra.kafka_bootstrap,
            topic_prefix=prefix, max_records=10_000,
        )  # fmt: skip
        stop = asyncio.Event()
        tasks = [
            asyncio.create_task(OutboxRelay(url, infra.kafka_bootstrap, batch_size=5000).run(stop)),
            asyncio.create_task(consumer2.run(stop)),
        ]
        t0 = time.perf_counter()
        await _append_all(pool, store2)
        await _wait_for(pool, "SELECT count(*) FROM effects", total)
        figures.append(
            Figure(
                "commit-to-effect (append, relay, consume, apply together)",
                total / (time.perf_counter() - t0),
            )
        )
        stop.set()
        await asyncio.gather(*tasks)

        producer_ceiling, consumer_ceiling, joined_ceiling = await asyncio.to_thread(
            _ceiling, infra, ceiling_topic, size
        )
        figures += [producer_ceiling, consumer_ceiling, joined_ceiling]
        for f in figures:
            if f.name.startswith("outbox relay"):
                f.note = f"{f.rate / producer_ceiling.rate:.0%} of ProducerPerformance"
            elif f.name.startswith("consume-and-apply, after joining"):
                f.note = f"{f.rate / joined_ceiling.rate:.0%} of ConsumerPerformance after joining"
            elif f.unit == "events/s" and f.name.startswith(("consume-and-apply", "commit-to-effect")):
                f.note = f"{f.rate / consumer_ceiling.rate:.0%} of ConsumerPerformance"
        figures.append(Figure("record size", size, unit="bytes"))
    return figures


async def _count(pool: asyncpg.Pool, sql: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(sql))
