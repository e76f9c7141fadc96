"""Chunked decrees through a real consumer (#21): a handler sees each chunk as it comes and the
manifest only once the chunks kept make the decree whole; a manifest whose chunks are missing is
dead-lettered with the reason, and applied once a replay of the dead letter finds them all. The
decree's lists are then read from the chunks kept, a chunk at a time."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Sequence

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from dtks_contracts.actor import Actor
from dtks_contracts.decree_chunks import split_decree
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.registry import DeterminationIssued, Period
from dtks_contracts.register_hash import REGISTER_HASH_ALGORITHM
from dtks_contracts.vocabulary import Role
from dtks_runtime import decree_assembly
from dtks_runtime.consumer import EventConsumer
from dtks_runtime.db import migrate
from dtks_runtime.dead_letters import list_dead_letters, replay_dead_letters
from dtks_runtime.testing import make_consumer_topics, new_id, record_effect, wait_until

pytestmark = pytest.mark.infra

DETERMINER = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")


def decree(number: str, households: int) -> DeterminationIssued:
    return DeterminationIssued(
        decree_number=number,
        period=Period(year=2026, quarter=1),
        cut_off=dt.datetime(2026, 3, 31, 17, 0, tzinfo=dt.UTC),
        issued_at=dt.datetime(2026, 4, 2, 3, 0, tzinfo=dt.UTC),
        register_hash="ab" * 32,
        hash_algorithm=REGISTER_HASH_ALGORITHM,
        counts={"households": households, "people": 3 * households},
        issued_by=DETERMINER,
        registered=tuple(f"H-{number.split('/')[0]}-{n}" for n in range(households)),
        changed_leaves=tuple(f"{n:064x}" for n in range(households)),
    )


def chunked(issued: DeterminationIssued, leave_out: int | None = None) -> list[bytes]:
    """The decree's events as the registry publishes them: chunks, then the manifest, one stream."""
    manifest, chunks = split_decree(issued, records_per_chunk=3)
    payloads = [*(c for c in chunks if c.chunk_index != leave_out), manifest]
    return [
        EventEnvelope.new(p, aggregate_version=v, actor=DETERMINER).to_bytes()
        for v, p in enumerate(payloads, start=1)
    ]


async def produce(bootstrap: str, topic: str, values: Sequence[bytes]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for v in values:
            await producer.send_and_wait(topic, value=v, key=b"decrees")
    finally:
        await producer.stop()


async def test_a_consumer_takes_a_manifest_only_once_its_decree_is_whole_and_dead_letters_one_with_a_chunk_missing(
    pool: asyncpg.Pool, kafka_bootstrap: str, topic: str, topic_prefix: str
) -> None:
    async with pool.acquire() as conn:
        await migrate(conn, decree_assembly.COMPONENT, decree_assembly.MIGRATIONS)
    group = f"c-{new_id()}"
    await make_consumer_topics(kafka_bootstrap, group, topic_prefix)
    received: dict[str, list[str]] = {}

    async def handler(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        for e in events:
            number = e.payload["decree_number"]
            part = e.payload.get("chunk_index")
            received.setdefault(number, []).append(e.event_type if part is None else f"chunk {part}")
        await record_effect(conn, events)

    whole, broken, single = decree("1/HUK/2026", 5), decree("2/HUK/2026", 4), decree("3/HUK/2026", 1)
    broken_events = chunked(broken, leave_out=1)
    await produce(
        kafka_bootstrap,
        topic,
        [
            *chunked(whole),
            *broken_events,
            EventEnvelope.new(single, aggregate_version=1, actor=DETERMINER).to_bytes(),
        ],
    )
    consumer = EventConsumer(
        name=group, topics=[topic], handler=decree_assembly.checked_decrees(handler), pool=pool,
        kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, max_attempts=3, backoff_seconds=0.05,
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    try:
        await wait_until(lambda: _dead(consumer, 1), what="the broken decree's dead letter")
        await wait_until(lambda: _received(received, "3/HUK/2026"), what="the decree after it")

        # Five ids and five leaves in chunks of three: four chunks, each once, then the manifest.
        manifest = "registry.determination_manifest"
        assert received["1/HUK/2026"] == ["chunk 0", "chunk 1", "chunk 2", "chunk 3", manifest]
        assert received["3/HUK/2026"] == ["registry.determination_issued"]
        # The broken one's chunks came through, its manifest never did: a dead letter, with the reason.
        assert received["2/HUK/2026"] == ["chunk 0", "chunk 2", "chunk 3"]
        [letter] = await list_dead_letters(kafka_bootstrap, group, topic_prefix)
        assert letter.value == broken_events[-1]
        assert letter.reason is not None
        assert "PoisonEvent: decree 2/HUK/2026 is not whole: chunk 1 of 4 missing" in letter.reason

        # The missing chunk comes after all (say, restored from a mirror): the replayed manifest applies.
        await produce(kafka_bootstrap, topic, [chunked(broken)[1]])
        assert await replay_dead_letters(kafka_bootstrap, group, [letter], topic_prefix) == 1
        await wait_until(lambda: _took(received, "2/HUK/2026", manifest), what="the replayed manifest")
        assert received["2/HUK/2026"] == ["chunk 0", "chunk 2", "chunk 3", "chunk 1", manifest]
    finally:
        stop.set()
        await task
    async with pool.acquire() as conn:
        # One effect per event the handler took (10 chunks and manifests, the single decree), none twice.
        assert await conn.fetchval("SELECT count(*) FROM effects") == 11
        assert await conn.fetchval("SELECT count(*) FROM effects WHERE applied <> 1") == 0
        # The lists read back a chunk at a time from the chunks kept, in order, each list's own.
        ids = ("registered", "corrected", "deactivated")
        assert await decree_assembly.held_lengths(conn, "1/HUK/2026", ids) == [3, 2]
        # Two at a time, as DCI's notify pages through them: slices cut inside and across chunks.
        read, at, item = [], 0, 0
        while (
            held := await decree_assembly.next_held_slice(conn, "1/HUK/2026", at, ids, item, 2)
        ) is not None:
            read.append(held.items)
            at, item = (
                (held.chunk_index, item + 2) if item + 2 < held.chunk_length else (held.chunk_index + 1, 0)
            )
        registered = list(whole.registered)
        assert read == [registered[0:2], registered[2:3], registered[3:5]]
        leaves = await decree_assembly.next_held_slice(conn, "1/HUK/2026", 0, ("changed_leaves",), 1, 5)
        assert leaves == decree_assembly.HeldSlice(2, 3, list(whole.changed_leaves[1:3]))
        past = await decree_assembly.next_held_slice(conn, "1/HUK/2026", 2, ("changed_leaves",), 3, 5)
        assert past == decree_assembly.HeldSlice(2, 3, [])


async def _dead(consumer: EventConsumer, n: int) -> bool:
    return consumer.stats.dead_lettered >= n


async def _received(received: dict[str, object], number: str) -> bool:
    return number in received


async def _took(received: dict[str, list[str]], number: str, what: str) -> bool:
    return what in received.get(number, [])
