"""A projection rebuilt from offset zero into fresh tables equals the live one."""

import asyncio

import asyncpg
import pytest

from dtks_runtime.consumer import EventConsumer
from dtks_runtime.event_store import EventStore
from dtks_runtime.outbox_relay import OutboxRelay
from dtks_runtime.replay import fresh_schema_name, replay_into_schema
from dtks_runtime.testing import append_one, make_consumer_topics, new_id, record_effect, wait_until

pytestmark = pytest.mark.infra

EFFECTS_TABLE = """CREATE TABLE effects (event_id uuid PRIMARY KEY, aggregate_id text NOT NULL,
                                          applied integer NOT NULL DEFAULT 1)"""


async def test_a_replay_rebuilds_the_projection_without_touching_the_live_one(
    pool: asyncpg.Pool,
    store: EventStore,
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    topic_prefix: str,
) -> None:
    for i in range(120):
        await append_one(pool, store, f"h{i % 12}", i // 12, i)
    stop = asyncio.Event()
    relay = OutboxRelay(database_url, kafka_bootstrap)
    relay_task = asyncio.create_task(relay.run(stop))
    # The relay restarts once, so some events reach Kafka twice: the replay must still apply them once.
    await wait_until(lambda: _published(relay, 1), what="a first batch published")
    stop.set()
    await relay_task
    async with pool.acquire() as conn:
        # As if the relay had died before recording the second half of what it sent.
        await conn.execute(
            "UPDATE events SET position = NULL WHERE position > (SELECT max(position) / 2 FROM events)"
        )
    stop = asyncio.Event()
    relay_task = asyncio.create_task(OutboxRelay(database_url, kafka_bootstrap).run(stop))

    group = f"c-{new_id()}"
    await make_consumer_topics(kafka_bootstrap, group, topic_prefix)
    consumer = EventConsumer(
        name=group, topics=[topic], handler=record_effect, pool=pool,
        kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
    )  # fmt: skip
    consumer_task = asyncio.create_task(consumer.run(stop))
    await wait_until(lambda: _effects(pool, 120), what="the live projection")
    stop.set()
    await asyncio.gather(relay_task, consumer_task)

    schema = fresh_schema_name()
    report = await replay_into_schema(
        database_url=database_url,
        schema=schema,
        migrations=[("effects", [EFFECTS_TABLE])],
        kafka_bootstrap=kafka_bootstrap,
        topics=[topic],
        handler=record_effect,
    )
    assert report.events_applied == 120
    assert report.events_read > 120  # the duplicates the relay restart published were read and dropped
    async with pool.acquire() as conn:
        live = await conn.fetch(
            "SELECT event_id, aggregate_id, applied FROM public.effects ORDER BY event_id"
        )
        rebuilt = await conn.fetch(
            f'SELECT event_id, aggregate_id, applied FROM "{schema}".effects ORDER BY event_id'
        )
    assert [tuple(r) for r in rebuilt] == [tuple(r) for r in live]


async def _published(relay: OutboxRelay, n: int) -> bool:
    return relay.published >= n


async def _effects(pool: asyncpg.Pool, n: int) -> bool:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM effects")) >= n
