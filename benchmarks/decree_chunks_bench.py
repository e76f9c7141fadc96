"""Chunked decrees (#21): issuing (split + append in one transaction) and consuming (keep chunks, assemble at the manifest) at several sizes.

``python -m benchmarks decree_chunks``; not in the default ``make bench`` (a million households takes
minutes and a few GB). Sizes in households from ``DTKS_BENCH_DECREE_SIZES`` (default
``10000,100000,1000000``); each decree registers that many households, so it lists twice as many
records (an id and a leaf each). Issuing is what the registry does once the decree is decided: split
it and append chunks and manifest to the event store in one transaction. Consuming is what
``dtks_runtime.decree_assembly.whole_decrees`` does: keep the chunks (in batches of 100, as a
consumer's batches bring them) and assemble and check the decree at its manifest. Peak memory is
Python's own allocations during each phase (tracemalloc), the decree itself included, beside the
size of the decree's largest record on the topic and what the single event would have been.

What it shows (2 cores shared with other runs, sizes 2,000/20,000/100,000): the largest record stays
262 KiB at any size (the single event grows about 84 bytes a household: 8 MiB at 100,000, past
Kafka's 1 MB limit at about 12,000); time is linear, about 30,000 households/s each way. Peak memory
is NOT independent of the decree: 1/9/50 MiB issuing and 1/13/55 MiB consuming, about 0.5 KiB a
household, because the registry decides a decree with its lists in memory and whole_decrees hands a
consumer the whole DeterminationIssued. Bounding that needs consumers that read the lists chunk by
chunk (a manifest plus an iterator of chunks) and a registry that appends chunks as it decides.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from benchmarks.figures import Figure
from dtks_contracts.actor import Actor
from dtks_contracts.decree_chunks import DeterminationChunk, DeterminationManifest, split_decree
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.registry import DeterminationIssued, Period
from dtks_contracts.register_hash import REGISTER_HASH_ALGORITHM
from dtks_contracts.vocabulary import Role
from dtks_runtime import decree_assembly, event_store
from dtks_runtime.db import migrate
from dtks_runtime.event_store import Causation, EventStore, NewEvent
from dtks_runtime.testing import Infra

DETERMINER = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")
CONSUMER_BATCH = 100  # chunks a consumer's batch brings at a time
MiB = 1024 * 1024
T = TypeVar("T")


def sizes() -> list[int]:
    return [int(s) for s in os.environ.get("DTKS_BENCH_DECREE_SIZES", "10000,100000,1000000").split(",")]


def synthetic_decree(number: str, households: int) -> DeterminationIssued:
    return DeterminationIssued(
        decree_number=number,
        period=Period(year=2026, quarter=1),
        cut_off=dt.datetime(2026, 3, 31, 17, 0, tzinfo=dt.UTC),
        issued_at=dt.datetime(2026, 4, 2, 3, 0, tzinfo=dt.UTC),
        register_hash="ab" * 32,
        hash_algorithm=REGISTER_HASH_ALGORITHM,
        counts={"households": households, "people": 4 * households},
        issued_by=DETERMINER,
        registered=tuple(f"H-{n:012d}" for n in range(households)),
        changed_leaves=tuple(f"{n:064x}" for n in range(households)),
    )


async def measured(work: Callable[[], Awaitable[T]]) -> tuple[T, float, float]:
    """``work``'s result, seconds and peak Python allocation (MiB) while it ran."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        result = await work()
        seconds = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, seconds, peak / MiB


async def issue(conn: asyncpg.Connection, store: EventStore, households: int) -> tuple[int, int]:
    """Build, split and append a decree; returns (events appended, largest envelope in bytes)."""
    decree = synthetic_decree(f"{households}/HUK/2026", households)
    manifest, chunks = split_decree(decree)
    async with conn.transaction():
        envelopes = await store.append(
            conn,
            aggregate_type="determination",
            aggregate_id=decree.decree_number,
            expected_version=0,
            events=[*(NewEvent.of(c) for c in chunks), NewEvent.of(manifest)],
            causation=Causation(actor=DETERMINER, correlation_id="bench"),
        )
    return len(envelopes), max(len(e.to_bytes()) for e in envelopes)


async def consume(conn: asyncpg.Connection, number: str) -> int:
    """Read the decree's events back a batch at a time, as a consumer gets them from the topic; keep
    the chunks, assemble and check the decree at its manifest."""
    assembled = 0
    async with conn.transaction():
        batch: list[EventEnvelope] = []
        query = "SELECT envelope::text AS e FROM events WHERE envelope->>'aggregate_id' = $1 ORDER BY stream_version"
        async for row in conn.cursor(query, number, prefetch=CONSUMER_BATCH):
            batch.append(EventEnvelope.from_bytes(row["e"]))
            if len(batch) == CONSUMER_BATCH:
                assembled += await _apply(conn, batch)
                batch = []
        assembled += await _apply(conn, batch)
    return assembled


async def _apply(conn: asyncpg.Connection, batch: list[EventEnvelope]) -> int:
    chunks = [e.payload_as(DeterminationChunk) for e in batch if e.event_type == decree_assembly.CHUNK]
    await decree_assembly.hold_chunks(conn, chunks)
    assembled = 0
    for e in batch:
        if e.event_type == decree_assembly.MANIFEST:
            whole = await decree_assembly.assemble_held(conn, e.payload_as(DeterminationManifest))
            assembled += len(whole.registered)
    return assembled


async def run(infra: Infra) -> list[Figure]:
    db = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.database_url)
    await admin.execute(f'CREATE DATABASE "{db}"')
    await admin.close()
    conn = await asyncpg.connect(infra.database_url.rsplit("/", 1)[0] + f"/{db}")
    figures: list[Figure] = []
    try:
        await event_store.install(conn)
        await migrate(conn, decree_assembly.COMPONENT, decree_assembly.MIGRATIONS)
        store = EventStore(lambda _e: "bench.registry.events")
        for households in sizes():
            single = len(synthetic_decree("x", households).model_dump_json())
            (events, largest), issue_s, issue_peak = await measured(
                functools.partial(issue, conn, store, households)
            )
            assembled, consume_s, consume_peak = await measured(
                functools.partial(consume, conn, f"{households}/HUK/2026")
            )
            assert assembled == households
            figures += [
                Figure(f"issue {households:,} households", households / issue_s, "households/s",
                       f"{issue_s:.2f} s, peak {issue_peak:,.0f} MiB; {events:,} events, largest "
                       f"{largest / 1024:,.0f} KiB (one event would be {single / MiB:,.1f} MiB)"),
                Figure(f"consume {households:,} households", households / consume_s, "households/s",
                       f"{consume_s:.2f} s, peak {consume_peak:,.0f} MiB (chunks kept, decree assembled and checked)"),
            ]  # fmt: skip
    finally:
        await conn.close()
        admin = await asyncpg.connect(infra.database_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
    return figures
