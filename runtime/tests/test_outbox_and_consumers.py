"""Outbox relay and consumers together: nothing committed is lost, nothing is applied twice."""

import asyncio
import json
import os
import random
import subprocess
import sys
import uuid
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from dtks_contracts.envelope import EventEnvelope
from dtks_runtime.consumer import EventConsumer, PoisonEvent
from dtks_runtime.dead_letters import list_dead_letters, replay_dead_letters
from dtks_runtime.event_store import Causation, EventStore
from dtks_runtime.outbox_relay import OutboxRelay
from dtks_runtime.testing import append_one, happened, make_consumer_topics, new_id, record_effect, wait_until

pytestmark = pytest.mark.infra


async def count(pool: asyncpg.Pool, sql: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(sql))


def start(coro_factory, stop: asyncio.Event) -> asyncio.Task[None]:  # type: ignore[no-untyped-def]
    return asyncio.create_task(coro_factory(stop))


async def test_every_committed_event_is_applied_exactly_once_despite_slow_writers_and_a_relay_restart(
    pool: asyncpg.Pool,
    store: EventStore,
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    topic_prefix: str,
) -> None:
    group = f"c-{new_id()}"
    await make_consumer_topics(kafka_bootstrap, group, topic_prefix)
    consumer = EventConsumer(
        name=group, topics=[topic], handler=record_effect, pool=pool,
        kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
    )  # fmt: skip
    consumer_stop, relay_stop = asyncio.Event(), asyncio.Event()
    consumer_task = start(consumer.run, consumer_stop)
    relay = OutboxRelay(database_url, kafka_bootstrap, batch_size=50)
    relay_task = start(relay.run, relay_stop)
    rng = random.Random(7)
    # Writers append concurrently while the relay is stopped and replaced halfway through.
    writers = [asyncio.create_task(writer_simple(pool, store, w, rng)) for w in range(12)]
    await asyncio.sleep(0.5)
    relay_stop.set()
    await relay_task
    relay2_stop = asyncio.Event()
    relay2 = OutboxRelay(database_url, kafka_bootstrap, batch_size=50)
    relay2_task = start(relay2.run, relay2_stop)
    await asyncio.gather(*writers)

    committed = await count(pool, "SELECT count(*) FROM events")
    assert committed == 12 * 30
    await wait_until(lambda: _effects_reached(pool, committed), what="every committed event applied")
    async with pool.acquire() as conn:
        missing = await conn.fetchval(
            "SELECT count(*) FROM events e LEFT JOIN effects f USING (event_id) WHERE f.event_id IS NULL"
        )
        extra = await conn.fetchval(
            "SELECT count(*) FROM effects f LEFT JOIN events e USING (event_id) WHERE e.event_id IS NULL"
        )
        doubled = await conn.fetchval("SELECT count(*) FROM effects WHERE applied <> 1")
    assert (missing, extra, doubled) == (0, 0, 0)
    relay2_stop.set()
    consumer_stop.set()
    await asyncio.gather(relay2_task, consumer_task)


async def writer_simple(pool: asyncpg.Pool, store: EventStore, w: int, rng: random.Random) -> None:
    """30 events per writer, in 15 transactions; some commit late, some roll back and retry."""
    version = 0
    attempt = 0
    while version < 30:
        attempt += 1
        async with pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await store.append(
                        conn, aggregate_type="thing", aggregate_id=f"w{w}", expected_version=version,
                        events=[happened(version), happened(version + 1)], causation=Causation(),
                    )  # fmt: skip
                    if rng.random() < 0.15:
                        await asyncio.sleep(0.05)  # a slow transaction: commits late, holds later ones
                    if attempt % 7 == 0:
                        raise _Abort  # rolled back: its events must never be published
                version += 2
            except _Abort:
                pass


class _Abort(Exception):
    pass


async def _effects_reached(pool: asyncpg.Pool, n: int) -> bool:
    return await count(pool, "SELECT count(*) FROM effects") >= n


async def produce_raw(bootstrap: str, topic: str, values: list[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for v in values:
            await producer.send_and_wait(topic, value=v, key=b"same-key")
    finally:
        await producer.stop()


async def committed_envelopes(pool: asyncpg.Pool, n: int, store: EventStore) -> list[bytes]:
    for i in range(n):
        await append_one(pool, store, f"a{i}", 0, i)
    async with pool.acquire() as conn:
        return [e.model_dump_json().encode() for _, e in await store.read_all(conn)]


async def test_an_event_delivered_twice_is_applied_once(
    pool: asyncpg.Pool, store: EventStore, kafka_bootstrap: str, topic: str, topic_prefix: str
) -> None:
    group = f"c-{new_id()}"
    await make_consumer_topics(kafka_bootstrap, group, topic_prefix)
    bodies = await committed_envelopes(pool, 5, store)
    await produce_raw(kafka_bootstrap, topic, bodies + bodies[:3])  # three redeliveries
    consumer = EventConsumer(
        name=group, topics=[topic], handler=record_effect, pool=pool,
        kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
    )  # fmt: skip
    stop = asyncio.Event()
    task = start(consumer.run, stop)
    await wait_until(lambda: _seen(consumer, 8), what="all eight deliveries seen")
    stop.set()
    await task
    assert consumer.stats.applied == 5 and consumer.stats.duplicates == 3
    assert await count(pool, "SELECT count(*) FROM effects WHERE applied = 1") == 5
    assert await count(pool, "SELECT count(*) FROM effects WHERE applied <> 1") == 0


async def _seen(consumer: EventConsumer, n: int) -> bool:
    return consumer.stats.applied + consumer.stats.duplicates >= n


async def test_a_consumer_killed_between_effect_and_offset_commit_applies_once(
    pool: asyncpg.Pool,
    store: EventStore,
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    topic_prefix: str,
) -> None:
    group = f"c-{new_id()}"
    await make_consumer_topics(kafka_bootstrap, group, topic_prefix)
    bodies = await committed_envelopes(pool, 10, store)
    await produce_raw(kafka_bootstrap, topic, bodies)
    script = Path(__file__).with_name("crashing_consumer.py")
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(script), database_url, kafka_bootstrap, topic, group, topic_prefix],
        timeout=120,
        env={**os.environ},
    )
    assert proc.returncode == 137, "the consumer should have died right after its effect"
    assert await count(pool, "SELECT count(*) FROM effects") == 10  # the effect is in
    consumer = EventConsumer(
        name=group, topics=[topic], handler=record_effect, pool=pool,
        kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
    )  # fmt: skip
    stop = asyncio.Event()
    task = start(consumer.run, stop)
    # No offset was committed, so the restarted consumer is handed all ten again...
    await wait_until(lambda: _seen(consumer, 10), what="redelivery after the crash")
    stop.set()
    await task
    # ...and applies none of them a second time.
    assert consumer.stats.duplicates == 10 and consumer.stats.applied == 0
    assert await count(pool, "SELECT count(*) FROM effects WHERE applied <> 1") == 0


async def test_a_poison_event_is_dead_lettered_the_consumer_goes_on_and_a_replay_after_a_fix_applies_it(
    pool: asyncpg.Pool, store: EventStore, kafka_bootstrap: str, topic: str, topic_prefix: str
) -> None:
    group = f"c-{new_id()}"
    await make_consumer_topics(kafka_bootstrap, group, topic_prefix)
    fixed = False

    async def handler(conn: asyncpg.Connection, events) -> None:  # type: ignore[no-untyped-def]
        for e in events:
            if e.payload["n"] == 13 and not fixed:
                raise ValueError("cannot handle thirteen")
        await record_effect(conn, events)

    bodies = await committed_envelopes(pool, 20, store)  # n = 0..19
    await produce_raw(kafka_bootstrap, topic, [*bodies[:10], b"{not json", *bodies[10:]])
    consumer = EventConsumer(
        name=group, topics=[topic], handler=handler, pool=pool, kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, max_attempts=3, backoff_seconds=0.05,
    )  # fmt: skip
    stop = asyncio.Event()
    task = start(consumer.run, stop)
    await wait_until(lambda: _effects_reached(pool, 19), what="the nineteen good events")
    await wait_until(lambda: _dead(consumer, 2), what="two dead letters")

    letters = await list_dead_letters(kafka_bootstrap, group, topic_prefix)
    reasons = sorted(d.reason or "" for d in letters)
    assert len(letters) == 2
    assert reasons[0].startswith("failed after 3 attempts: ValueError: cannot handle thirteen")
    assert reasons[1].startswith("undecodable event")
    assert {d.value for d in letters} == {b"{not json", bodies[13]}  # the original bytes

    fixed = True
    thirteen = [d for d in letters if d.value == bodies[13]]
    assert await replay_dead_letters(kafka_bootstrap, group, thirteen, topic_prefix) == 1
    await wait_until(lambda: _effects_reached(pool, 20), what="the replayed event applied")
    stop.set()
    await task
    assert await count(pool, "SELECT count(*) FROM effects WHERE applied <> 1") == 0


async def _dead(consumer: EventConsumer, n: int) -> bool:
    return consumer.stats.dead_lettered >= n


async def test_poison_event_raised_by_handler_is_not_retried(
    pool: asyncpg.Pool, store: EventStore, kafka_bootstrap: str, topic: str, topic_prefix: str
) -> None:
    group = f"c-{new_id()}"
    await make_consumer_topics(kafka_bootstrap, group, topic_prefix)
    calls = 0

    async def handler(conn: asyncpg.Connection, events) -> None:  # type: ignore[no-untyped-def]
        nonlocal calls
        calls += 1
        raise PoisonEvent("refers to a proposal that does not exist")

    await produce_raw(kafka_bootstrap, topic, await committed_envelopes(pool, 1, store))
    consumer = EventConsumer(
        name=group, topics=[topic], handler=handler, pool=pool, kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, max_attempts=5, backoff_seconds=0.05,
    )  # fmt: skip
    stop = asyncio.Event()
    task = start(consumer.run, stop)
    await wait_until(lambda: _dead(consumer, 1), what="the dead letter")
    stop.set()
    await task
    assert calls == 2  # once in the batch, once alone: no retries for a poison event


async def test_a_consumer_of_some_types_passes_the_others_by_undecoded_and_commits_past_them(
    pool: asyncpg.Pool, store: EventStore, kafka_bootstrap: str, topic: str, topic_prefix: str
) -> None:
    """``event_types``: the handler sees only its types, each once; the topic's other records are
    consumed without being decoded, put in the inbox or dead-lettered (even one too broken to parse,
    when its bytes prove its type), and the consumer's offsets pass them."""
    group = f"c-{new_id()}"
    await make_consumer_topics(kafka_bootstrap, group, topic_prefix)
    seen: list[str] = []

    async def handler(conn: asyncpg.Connection, events) -> None:  # type: ignore[no-untyped-def]
        seen.extend(e.event_type for e in events)
        await record_effect(conn, events)

    wanted = await committed_envelopes(pool, 6, store)  # test.happened, n = 0..5
    others = []
    for body in wanted:
        other = EventEnvelope.from_bytes(body).model_copy(
            update={"event_type": "test.other", "event_id": uuid.uuid4()}
        )
        others.append(other.model_dump_json().encode())
    # Its type behind a \u escape: the bytes do not prove it, so it is decoded, then passed by.
    escaped = EventEnvelope.from_bytes(others[0]).model_copy(
        update={"event_id": uuid.uuid4(), "payload": {"n": 99, "note": "Désa"}}
    )
    escaped_body = json.dumps(escaped.model_dump(mode="json")).encode()
    assert b"\\u00e9" in escaped_body
    broken_other = b'{"event_type": "test.other", "payload": {'
    broken_wanted = b'{"event_type": "test.happened", "payload": {'
    records = [*wanted[:3], *others, escaped_body, broken_other, broken_wanted, *wanted[3:]]
    await produce_raw(kafka_bootstrap, topic, records)
    consumer = EventConsumer(
        name=group, topics=[topic], handler=handler, pool=pool, kafka_bootstrap=kafka_bootstrap,
        topic_prefix=topic_prefix, max_attempts=2, backoff_seconds=0.05, event_types={"test.happened"},
    )  # fmt: skip
    stop = asyncio.Event()
    task = start(consumer.run, stop)
    await wait_until(lambda: _effects_reached(pool, 6), what="the six wanted events")
    await wait_until(lambda: _dead(consumer, 1), what="the broken wanted record dead-lettered")
    await wait_until(lambda: _committed(consumer, len(records)), what="every record committed")
    stop.set()
    await task
    assert seen == ["test.happened"] * 6
    assert consumer.stats.passed_by == len(others) + 2  # the others, the escaped one, the broken other
    assert consumer.stats.applied == 6
    letters = await list_dead_letters(kafka_bootstrap, group, topic_prefix)
    assert [d.value for d in letters] == [broken_wanted]
    assert await count(pool, f"SELECT count(*) FROM inbox WHERE consumer = '{group}'") == 6
    assert await count(pool, "SELECT count(*) FROM effects WHERE applied <> 1") == 0


async def _committed(consumer: EventConsumer, n: int) -> bool:
    return consumer.stats.committed >= n
