"""Rebuild a projection from offset zero into fresh tables.

Domain topics keep their events forever, so any projection a consumer builds can be built again:
the replay creates a new schema, installs the runtime's tables and the projection's migrations in
it, reads the topics from the beginning to the end they had when the replay started, and applies
every event once (the inbox in the new schema drops the duplicates a relay restart may have
published). The live projection is never touched; callers compare, report or swap.

Speed. A replay reads millions of events, so three things are kept off its critical path:
- Kafka and PostgreSQL overlap: a reader task fetches and decodes the next batches while the
  writer's transaction for the current ones runs in the database (a small queue between them; the
  writer merges what has queued up into one transaction).
- A projection that reads only some event types says which (``event_types``); the others are
  recognised from their bytes (:func:`sniff_event_type`) and never parsed, validated or put in the
  inbox. Parsing an envelope costs some 25 µs, the sniff under 1 µs, and in the verification
  stream most events are tier decisions the register does not read.
- The inbox then holds only the events handed to the projection, which is all it must guard.
"""

from __future__ import annotations

import asyncio
import re
import time
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import asyncpg
import pydantic
from aiokafka import AIOKafkaConsumer, TopicPartition

from dtks_contracts.envelope import EventEnvelope
from dtks_runtime import event_store
from dtks_runtime.consumer import BatchHandler, claim
from dtks_runtime.db import migrate


@dataclass(frozen=True)
class ReplayReport:
    schema: str
    events_read: int
    events_applied: int  # handed to the projection: of its event types, each event once
    seconds: float
    # Records no consumer could decode (dead-lettered live): (topic, partition, offset), passed over.
    undecodable: tuple[tuple[str, int, int], ...] = ()


def fresh_schema_name(prefix: str = "replay") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


_TYPE_KEY = b'"event_type"'
_TYPE_FIELD = re.compile(rb'"event_type"[ \t\n\r]*:[ \t\n\r]*"([a-z_.]+)"')


def sniff_event_type(value: bytes) -> str | None:
    """The envelope's ``event_type`` read from its bytes without parsing them, or None when the bytes
    alone do not prove it (then the caller parses the envelope).

    Sound because a JSON string cannot hold an unescaped quote: the bytes ``"event_type"`` occur
    only as a key or as a whole string value, unless a ``\\u`` escape spells them otherwise. So if
    they occur exactly once and nothing is \\u-escaped, that occurrence is the envelope's own key (a
    valid envelope has it at the top level) and the value read is the one a parser would read. An
    envelope without that key is invalid; the live consumer dead-letters it and applies nothing, and
    a replay that skips it as "not of my types" applies nothing either.
    """
    if value.count(_TYPE_KEY) != 1 or b"\\u" in value:
        return None
    match = _TYPE_FIELD.search(value)
    return match.group(1).decode() if match else None


async def replay_into_schema(
    *,
    database_url: str,
    schema: str,
    migrations: Sequence[tuple[str, Sequence[str]]],
    kafka_bootstrap: str,
    topics: Sequence[str],
    handler: BatchHandler,
    batch_size: int = 5000,
    event_types: Collection[str] | None = None,
) -> ReplayReport:
    """Replay ``topics`` from offset zero through ``handler`` into ``schema`` (created if missing).

    ``event_types``: the only types the handler reads (None: all). Events of other types are counted
    as read but neither decoded nor applied; the handler must ignore them anyway, so the tables come
    out the same.
    """
    started = time.monotonic()
    wanted = frozenset(event_types) if event_types is not None else None
    conn = await asyncpg.connect(database_url, server_settings={"search_path": f'"{schema}"'})
    reader = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await event_store.install(conn)
        for component, steps in migrations:
            await migrate(conn, component, steps)
        await reader.start()
        await reader._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in topics for p in sorted(reader.partitions_for_topic(t) or ())]
        if not tps:
            return ReplayReport(schema, 0, 0, time.monotonic() - started)
        undecodable: list[tuple[str, int, int]] = []
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        end = await reader.end_offsets(tps)
        # A few batches in flight: enough to keep both sides busy, bounded memory.
        queue: asyncio.Queue[list[EventEnvelope] | None] = asyncio.Queue(maxsize=4)
        try:
            async with asyncio.TaskGroup() as tasks:
                reading = tasks.create_task(_read(reader, end, wanted, batch_size, queue, undecodable))
                writing = tasks.create_task(_write(conn, handler, queue, max_events=4 * batch_size))
        except ExceptionGroup as failed:
            # Callers see the failure itself (an undecodable event, a lost connection), as before
            # the reader and the writer became two tasks.
            raise failed.exceptions[0] from None
        read, applied = reading.result(), writing.result()
    finally:
        await reader.stop()
        await conn.close()
    return ReplayReport(schema, read, applied, time.monotonic() - started, tuple(undecodable))


async def _read(
    reader: AIOKafkaConsumer,
    end: dict[TopicPartition, int],
    wanted: frozenset[str] | None,
    batch_size: int,
    queue: asyncio.Queue[list[EventEnvelope] | None],
    undecodable: list[tuple[str, int, int]],
) -> int:
    """Fetch up to the end offsets taken at the start, decode the wanted events, queue them."""
    remaining = {tp for tp, offset in end.items() if offset > 0}
    read = 0
    while remaining:
        batches = await reader.getmany(*remaining, timeout_ms=2000, max_records=batch_size)
        if not batches:
            # Transaction markers can leave the last offsets without records: check positions.
            for tp in list(remaining):
                if await reader.position(tp) >= end[tp]:
                    remaining.discard(tp)
            continue
        events: list[EventEnvelope] = []
        for tp, records in batches.items():
            last = end[tp]
            for r in records:
                if r.offset >= last or r.value is None:
                    continue
                read += 1
                if wanted is not None:
                    sniffed = sniff_event_type(r.value)
                    if sniffed is not None and sniffed not in wanted:
                        continue
                try:
                    event = EventEnvelope.from_bytes(r.value)
                except (ValueError, pydantic.ValidationError):
                    # The live consumers dead-lettered this record and applied nothing; the log
                    # keeps it forever, so the replay passes it too (and counts it) rather than
                    # failing every audit from now on.
                    undecodable.append((tp.topic, tp.partition, r.offset))
                    continue
                if wanted is None or event.event_type in wanted:
                    events.append(event)
            if records[-1].offset >= last - 1:
                remaining.discard(tp)
        if events:
            await queue.put(events)
    await queue.put(None)
    return read


async def _write(
    conn: asyncpg.Connection,
    handler: BatchHandler,
    queue: asyncio.Queue[list[EventEnvelope] | None],
    max_events: int,
) -> int:
    """Apply queued batches, each event once (inbox), merging what has queued up meanwhile."""
    applied = 0
    done = False
    while not done:
        batch = await queue.get()
        if batch is None:
            break
        events = list(batch)
        while len(events) < max_events and not queue.empty():
            more = queue.get_nowait()
            if more is None:
                done = True
                break
            events.extend(more)
        async with conn.transaction():
            fresh_indexes = await claim(conn, "replay", [(e, "", 0, 0) for e in events])
            await handler(conn, [events[k] for k in fresh_indexes])
        applied += len(fresh_indexes)
    return applied
