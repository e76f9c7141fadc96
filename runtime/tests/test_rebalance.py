"""Rebalances and shutdowns in the middle of a stream: nothing lost, nothing applied twice."""

import asyncio
from collections.abc import Sequence

import asyncpg
import pytest

from dtks_contracts.envelope import EventEnvelope
from dtks_runtime.consumer import EventConsumer
from dtks_runtime.event_store import EventStore
from dtks_runtime.outbox_relay import OutboxRelay
from dtks_runtime.testing import append_one, make_consumer_topics, new_id, record_effect, wait_until
from dtks_runtime.topics import ensure_topics, scratch_topic

pytestmark = pytest.mark.infra

EVENTS = 600


async def test_a_consumer_joining_and_one_leaving_mid_stream_apply_every_event_once(
    pool: asyncpg.Pool, database_url: str, kafka_bootstrap: str, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}rebalance.events"
    await ensure_topics(kafka_bootstrap, [scratch_topic(topic, partitions=6)])
    store = EventStore(lambda _e: topic)
    for i in range(EVENTS):
        await append_one(pool, store, f"agg{i % 60}", i // 60, i)
    group = f"c-{new_id()}"
    await make_consumer_topics(kafka_bootstrap, group, topic_prefix)

    async def slow_effect(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        await asyncio.sleep(0.05)  # slow enough that rebalances land mid-stream
        await record_effect(conn, events)

    def consumer() -> EventConsumer:
        return EventConsumer(
            name=group, topics=[topic], handler=slow_effect, pool=pool,
            kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, max_records=20,
        )  # fmt: skip

    relay_stop, a_stop, b_stop = asyncio.Event(), asyncio.Event(), asyncio.Event()
    relay = asyncio.create_task(OutboxRelay(database_url, kafka_bootstrap).run(relay_stop))
    a, b = consumer(), consumer()
    a_task = asyncio.create_task(a.run(a_stop))

    async def applied_at_least(n: int) -> bool:
        async with pool.acquire() as conn:
            return int(await conn.fetchval("SELECT count(*) FROM effects")) >= n

    await wait_until(lambda: applied_at_least(100), what="the first consumer under way")
    b_task = asyncio.create_task(b.run(b_stop))  # joins: the group rebalances
    await wait_until(lambda: applied_at_least(300), what="both consumers under way")
    a_stop.set()  # leaves: the group rebalances again, b takes everything
    await a_task
    await wait_until(lambda: applied_at_least(EVENTS), what="every event applied")
    b_stop.set()
    relay_stop.set()
    await asyncio.gather(b_task, relay)

    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM effects") == EVENTS
        assert await conn.fetchval("SELECT count(*) FROM effects WHERE applied <> 1") == 0
        missing = await conn.fetchval(
            "SELECT count(*) FROM events e LEFT JOIN effects f USING (event_id) WHERE f.event_id IS NULL"
        )
    assert missing == 0
    assert a.stats.applied > 0 and b.stats.applied > 0  # the work really was shared
    assert a.stats.applied + b.stats.applied == EVENTS
