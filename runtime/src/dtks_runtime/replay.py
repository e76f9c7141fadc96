"""Rebuild a projection from offset zero into fresh tables.

Domain topics keep their events forever, so any projection a consumer builds can be built again:
the replay creates a new schema, installs the runtime's tables and the projection's migrations in
it, reads the topics from the beginning to the end they had when the replay started, and applies
every event once (the inbox in the new schema drops the duplicates a relay restart may have
published). The live projection is never touched; callers compare, report or swap.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from dtks_contracts.envelope import EventEnvelope
from dtks_runtime import event_store
from dtks_runtime.consumer import BatchHandler, claim
from dtks_runtime.db import migrate


@dataclass(frozen=True)
class ReplayReport:
    schema: str
    events_read: int
    events_applied: int
    seconds: float


def fresh_schema_name(prefix: str = "replay") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def replay_into_schema(
    *,
    database_url: str,
    schema: str,
    migrations: Sequence[tuple[str, Sequence[str]]],
    kafka_bootstrap: str,
    topics: Sequence[str],
    handler: BatchHandler,
    batch_size: int = 5000,
) -> ReplayReport:
    started = time.monotonic()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": f'"{schema}"'})
    reader = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap, enable_auto_commit=False, isolation_level="read_committed"
    )
    read = applied = 0
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
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        end = await reader.end_offsets(tps)
        remaining = {tp for tp in tps if end[tp] > 0}
        for tp in tps:
            if end[tp] == 0:
                remaining.discard(tp)
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
                for r in records:
                    if r.offset < end[tp] and r.value is not None:
                        events.append(EventEnvelope.from_bytes(r.value))
                if records[-1].offset >= end[tp] - 1:
                    remaining.discard(tp)
            read += len(events)
            async with conn.transaction():
                fresh_indexes = await claim(conn, "replay", [(e, "", 0, 0) for e in events])
                fresh = [events[k] for k in fresh_indexes]
                await handler(conn, fresh)
                applied += len(fresh)
    finally:
        await reader.stop()
        await conn.close()
    return ReplayReport(schema, read, applied, time.monotonic() - started)
