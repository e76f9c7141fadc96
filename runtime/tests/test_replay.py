"""A projection rebuilt from offset zero into fresh tables equals the live one."""

import asyncio
import json
import uuid

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from dtks_contracts.envelope import EventEnvelope
from dtks_runtime.consumer import EventConsumer
from dtks_runtime.event_sniff import sniff_event_type
from dtks_runtime.event_store import Causation, EventStore, NewEvent
from dtks_runtime.outbox_relay import OutboxRelay
from dtks_runtime.replay import fresh_schema_name, make_durable, replay_into_schema
from dtks_runtime.testing import append_one, make_consumer_topics, new_id, record_effect, wait_until

EFFECTS_TABLE = """CREATE TABLE effects (event_id uuid PRIMARY KEY, aggregate_id text NOT NULL,
                                          applied integer NOT NULL DEFAULT 1)"""
EFFECTS_INDEX = "CREATE INDEX effects_aggregate ON effects (aggregate_id)"


def _envelope(payload: dict[str, object]) -> EventEnvelope:
    return EventEnvelope(
        event_id=uuid.uuid4(), event_type="test.happened", schema_version=1, aggregate_type="thing",
        aggregate_id="h1", aggregate_version=1, occurred_at="2026-01-01T00:00:00Z", correlation_id="c",
        payload=payload,
    )  # fmt: skip


def test_the_event_type_is_read_from_the_bytes_as_a_parser_reads_it() -> None:
    compact = _envelope({"n": 1}).to_bytes()
    # PostgreSQL's jsonb text (what the relay publishes) puts a space after each colon.
    spaced = json.dumps(json.loads(compact)).encode()
    for value in (compact, spaced):
        assert sniff_event_type(value) == EventEnvelope.from_bytes(value).event_type == "test.happened"


@pytest.mark.parametrize(
    "payload",
    [
        {"event_type": "other.thing"},  # the key again, nested: which one is the envelope's?
        {"note": "event_type"},  # the bytes again, as a value
        {"note": "bell\x07"},  # written as a \u escape, and an escape could spell the key otherwise
    ],
)
def test_bytes_that_do_not_prove_the_event_type_are_left_to_the_parser(payload: dict[str, object]) -> None:
    assert sniff_event_type(_envelope(payload).to_bytes()) is None


def test_an_escaped_key_is_never_mistaken_for_another() -> None:
    # The envelope's own key spelled with an escape: the only literal one left is the payload's.
    spelled = b'"\\u0065vent_type"'
    value = _envelope({"event_type": "other.thing"}).to_bytes().replace(b'"event_type"', spelled, 1)
    assert value.count(b'"event_type"') == 1
    assert EventEnvelope.from_bytes(value).event_type == "test.happened"
    assert sniff_event_type(value) is None


@pytest.mark.infra
@pytest.mark.parametrize(
    ("event_types", "workers"),
    [(None, 1), ({"test.happened"}, 1), ({"test.happened"}, 2)],
    ids=["all types", "only its types", "two worker processes"],
)
async def test_a_replay_rebuilds_the_projection_without_touching_the_live_one(
    event_types: set[str] | None,
    workers: int,
    pool: asyncpg.Pool,
    store: EventStore,
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    topic_prefix: str,
) -> None:
    for i in range(120):
        await append_one(pool, store, f"h{i % 12}", i // 12, i)
    # The relay restarts once, so some events reach Kafka twice: the replay must still apply them once.
    await _relay_until(database_url, kafka_bootstrap, published=1, what="a first batch published")
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
        event_types=event_types,
        workers=workers,
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


@pytest.mark.infra
async def test_a_replay_of_some_event_types_leaves_the_others_unapplied(
    pool: asyncpg.Pool, store: EventStore, database_url: str, kafka_bootstrap: str, topic: str
) -> None:
    for i in range(30):
        await append_one(pool, store, f"h{i}", 0, i)
        async with pool.acquire() as conn, conn.transaction():
            other = NewEvent("test.other", 1, {"n": i})
            await store.append(conn, aggregate_type="other", aggregate_id=f"o{i}", expected_version=0,
                               events=[other], causation=Causation())  # fmt: skip
    await _relay_until(database_url, kafka_bootstrap, published=60, what="everything published")

    schema = fresh_schema_name()
    report = await replay_into_schema(
        database_url=database_url, schema=schema, migrations=[("effects", [EFFECTS_TABLE, EFFECTS_INDEX])],
        kafka_bootstrap=kafka_bootstrap, topics=[topic], handler=record_effect, event_types={"test.happened"},
        deferred_indexes=["effects_aggregate"],
    )  # fmt: skip
    assert (report.events_read, report.events_applied) == (60, 30)
    # The deferred index, dropped while the events were applied, is there again as the migration made it.
    definition = await pool.fetchval(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = 'effects_aggregate'", schema
    )
    assert definition == f"CREATE INDEX effects_aggregate ON {schema}.effects USING btree (aggregate_id)"
    async with pool.acquire() as conn:
        applied = await conn.fetch(f'SELECT aggregate_id, applied FROM "{schema}".effects')
    assert sorted(r["aggregate_id"] for r in applied) == sorted(f"h{i}" for i in range(30))
    assert {r["applied"] for r in applied} == {1}
    # Scratch until kept: the rebuilt tables (the projection's and the runtime's) write no WAL.
    assert await _persistence(pool, schema) == {"effects": "u", "events": "u", "inbox": "u"}
    await make_durable(database_url, schema)
    assert await _persistence(pool, schema) == {"effects": "p", "events": "p", "inbox": "p"}


@pytest.mark.infra
async def test_a_deferred_index_the_schema_does_not_have_is_refused(
    database_url: str, kafka_bootstrap: str
) -> None:
    with pytest.raises(ValueError, match=r"deferred indexes not in schema .*: effects_agregate"):
        await replay_into_schema(
            database_url=database_url, schema=fresh_schema_name(), migrations=[("effects", [EFFECTS_TABLE])],
            kafka_bootstrap=kafka_bootstrap, topics=["unread"], handler=record_effect,
            deferred_indexes=["effects_agregate"],
        )  # fmt: skip


async def _persistence(pool: asyncpg.Pool, schema: str) -> dict[str, str]:
    """Some of ``schema``'s tables and their persistence (p: logged, u: unlogged)."""
    rows = await pool.fetch(
        """SELECT c.relname, c.relpersistence::text AS relpersistence FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relname IN ('effects', 'events', 'inbox')""",
        schema,
    )
    return {r["relname"]: r["relpersistence"] for r in rows}


@pytest.mark.infra
async def test_an_undecodable_record_is_passed_over_and_reported_as_the_live_consumers_dead_lettered_it(
    pool: asyncpg.Pool, store: EventStore, database_url: str, kafka_bootstrap: str, topic: str
) -> None:
    for i in range(3):
        await append_one(pool, store, f"h{i}", 0, i)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b'{"event_type": "test.other"}')  # not its type: skipped
        await producer.send_and_wait(topic, b'{"event_type": "test.happened"}')  # its type, broken
    finally:
        await producer.stop()
    await _relay_until(database_url, kafka_bootstrap, published=3, what="the good events published")
    report = await replay_into_schema(
        database_url=database_url, schema=fresh_schema_name(), migrations=[("effects", [EFFECTS_TABLE])],
        kafka_bootstrap=kafka_bootstrap, topics=[topic], handler=record_effect, event_types={"test.happened"},
    )  # fmt: skip
    assert report.events_applied == 3  # the good events around it are all applied
    assert len(report.undecodable) == 1 and report.undecodable[0][0] == topic


async def _relay_until(database_url: str, kafka_bootstrap: str, *, published: int, what: str) -> None:
    """Runs an outbox relay until it has published ``published`` events, then stops it."""
    stop = asyncio.Event()
    relay = OutboxRelay(database_url, kafka_bootstrap)
    task = asyncio.create_task(relay.run(stop))

    async def enough() -> bool:
        return relay.published >= published

    try:
        await wait_until(enough, what=what)
    finally:
        stop.set()
        await task


async def _effects(pool: asyncpg.Pool, n: int) -> bool:
    async with pool.acquire() as conn:
        return int(await conn.fetchval("SELECT count(*) FROM effects")) >= n
