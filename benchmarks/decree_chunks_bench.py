"""Chunked decrees (#21): issuing (split + append in one transaction) and consuming (keep chunks, then assemble or check at the manifest) at several sizes.

``python -m benchmarks decree_chunks``; not in the default ``make bench`` (a million households takes
minutes and a few GB). Sizes in households from ``DTKS_BENCH_DECREE_SIZES`` (default
``10000,100000,1000000``); each decree registers that many households, so it lists twice as many
records (an id and a leaf each). Issuing here splits a decree held whole (as tools and tests do) and
appends chunks and manifest to the event store in one transaction; the registry itself no longer
holds a decree's lists to issue it (it cuts the chunks as it reads the lists back from its change
rows, with ``DecreeSplitter``: see the national benchmark for its memory). Consuming keeps the chunks
(in batches of 100, as a consumer's batches bring them), then at the manifest either assembles and
checks the whole decree (``assemble_held``, what the services' consumers did until 7 December) or only
checks it a chunk at a time (``check_held``: the registry's projection, and every consumer through
``checked_decrees``), and then pages through its changed households a chunk at a time
(``next_held_slice``, pages of 250 as DCI's notify reads them). Peak memory is
Python's own allocations during each phase (tracemalloc), the decree itself included, beside the
size of the decree's largest record on the topic and what the single event would have been.

What it shows (2 cores, 6 December, sizes 100,000 / 1,000,000 / 2,500,000): the largest record stays
262 KiB at any size (the single event grows about 100 bytes a household: 10 MiB at 100,000, 253
MiB at 2,500,000, past Kafka's 1 MB limit at about 10,000). Issuing peaks at 59 / 636 / 1,598 MiB,
about 0.6 KiB a household, the decree held whole with its lists; keeping
the chunks peaks at 52 / 171 / 172 MiB (a consumer's batches, not the decree); assembling the whole decree, as the
services that act on its lists did until 7 December, peaks at 40 / 388 / 943 MiB; checking it a chunk at a
time, as the registry's projection does, at 4.2 MiB at every size. The whole decree as one jsonb
value, as the registry recorded every decree before it recorded a chunked one as its manifest, is
taken at 1,000,000 (103 MiB stored) and refused at 2,500,000: "total size of jsonb object elements
exceeds the maximum of 268435455 bytes". Time is linear: issuing some 40,000-49,000 households/s,
keeping 170,000-190,000/s, assembling and checking 125,000-190,000/s.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import os
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

from benchmarks.figures import Figure
from benchmarks.scratch import scratch_connection
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


PAGE = 250  # DCI's notify page (DTKS_DCI_NOTIFY_PAGE_HOUSEHOLDS)


def sizes() -> list[int]:
    return [int(s) for s in os.environ.get("DTKS_BENCH_DECREE_SIZES", "10000,100000,1000000").split(",")]


def synthetic_decree(number: str, households: int, *, unpredictable: bool = False) -> DeterminationIssued:
    """A decree over ``households`` new households. Its ids and leaves count up, unless
    ``unpredictable``: random, as a real decree's are, so that nothing in them compresses (what a
    table's size on disk depends on)."""
    ids = (uuid.uuid4() if unpredictable else uuid.UUID(int=n) for n in range(households))
    leaves = (
        hashlib.sha256(n.to_bytes(8, "big")).hexdigest() if unpredictable else f"{n:064x}"
        for n in range(households)
    )
    return DeterminationIssued(
        decree_number=number,
        period=Period(year=2026, quarter=1),
        cut_off=dt.datetime(2026, 3, 31, 17, 0, tzinfo=dt.UTC),
        issued_at=dt.datetime(2026, 4, 2, 3, 0, tzinfo=dt.UTC),
        register_hash="ab" * 32,
        hash_algorithm=REGISTER_HASH_ALGORITHM,
        counts={"households": households, "people": 4 * households},
        issued_by=DETERMINER,
        registered=tuple(str(i) for i in ids),  # ids as long as the registry's
        changed_leaves=tuple(leaves),
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


async def keep_chunks(conn: asyncpg.Connection, number: str) -> None:
    """Read the decree's events back a batch at a time, as a consumer gets them from the topic, and
    keep its chunks."""
    async with conn.transaction():
        batch: list[EventEnvelope] = []
        query = "SELECT envelope::text AS e FROM events WHERE envelope->>'aggregate_id' = $1 ORDER BY stream_version"
        async for row in conn.cursor(query, number, prefetch=CONSUMER_BATCH):
            batch.append(EventEnvelope.from_bytes(row["e"]))
            if len(batch) == CONSUMER_BATCH:
                await _keep(conn, batch)
                batch = []
        await _keep(conn, batch)


async def _keep(conn: asyncpg.Connection, batch: list[EventEnvelope]) -> None:
    chunks = [e.payload_as(DeterminationChunk) for e in batch if e.event_type == decree_assembly.CHUNK]
    await decree_assembly.hold_chunks(conn, chunks)


async def _manifest(conn: asyncpg.Connection, number: str) -> DeterminationManifest:
    envelope = await conn.fetchval(
        "SELECT envelope::text FROM events WHERE envelope->>'aggregate_id' = $1 AND event_type = $2",
        number,
        decree_assembly.MANIFEST,
    )
    return EventEnvelope.from_bytes(envelope).payload_as(DeterminationManifest)


async def assemble(conn: asyncpg.Connection, number: str) -> int:
    """The whole decree, assembled and checked (what the services that act on a decree's lists did at
    its manifest until they paged through it; tools that want a decree whole still do)."""
    whole = await decree_assembly.assemble_held(conn, await _manifest(conn, number))
    return len(whole.registered)


async def check(conn: asyncpg.Connection, number: str) -> None:
    """What the registry's projection does at the manifest: check the decree whole a chunk at a time
    (check_held) and record its manifest."""
    await decree_assembly.check_held(conn, await _manifest(conn, number))


async def page_through(conn: asyncpg.Connection, number: str) -> int:
    """What DCI's notify reads: the decree's changed households, a page of 250 at a time."""
    fields, households, at, item = ("registered", "corrected", "deactivated"), 0, 0, 0
    while (page := await decree_assembly.next_held_slice(conn, number, at, fields, item, PAGE)) is not None:
        households += len(page.items)
        at, item = (
            (page.chunk_index, item + PAGE) if item + PAGE < page.chunk_length else (page.chunk_index + 1, 0)
        )
    return households


async def record_whole(conn: asyncpg.Connection, households: int) -> str:
    """The whole decree as one jsonb value, as the registry recorded decrees before it recorded a
    chunked one as its manifest: whether PostgreSQL takes it."""
    try:
        size = await conn.fetchval(
            "INSERT INTO whole_decrees VALUES ($1::jsonb) RETURNING pg_column_size(payload)",
            synthetic_decree(f"whole-{households}", households).model_dump_json(),
        )
    except asyncpg.PostgresError as refused:
        return f"refused: {refused}"
    return f"taken ({size / MiB:,.1f} MiB stored)"


async def run(infra: Infra) -> list[Figure]:
    async with scratch_connection(infra) as conn:
        return await _measure(conn)


async def _measure(conn: asyncpg.Connection) -> list[Figure]:
    figures: list[Figure] = []
    await event_store.install(conn)
    await migrate(conn, decree_assembly.COMPONENT, decree_assembly.MIGRATIONS)
    store = EventStore(lambda _e: "bench.registry.events")
    await conn.execute("CREATE TABLE whole_decrees (payload jsonb)")
    for households in sizes():
        number = f"{households}/HUK/2026"
        single = len(synthetic_decree("x", households).model_dump_json())
        (events, largest), issue_s, issue_peak = await measured(
            functools.partial(issue, conn, store, households)
        )
        _, keep_s, keep_peak = await measured(functools.partial(keep_chunks, conn, number))
        assembled, assemble_s, assemble_peak = await measured(functools.partial(assemble, conn, number))
        assert assembled == households
        _, check_s, check_peak = await measured(functools.partial(check, conn, number))
        paged, page_s, page_peak = await measured(functools.partial(page_through, conn, number))
        assert paged == households
        whole = await record_whole(conn, households)
        figures += [
            Figure(f"issue {households:,} households", households / issue_s, "households/s",
                   f"{issue_s:.2f} s, peak {issue_peak:,.0f} MiB; {events:,} events, largest "
                   f"{largest / 1024:,.0f} KiB (one event would be {single / MiB:,.1f} MiB)"),
            Figure(f"keep its chunks, {households:,}", households / keep_s, "households/s",
                   f"{keep_s:.2f} s, peak {keep_peak:,.0f} MiB (read a consumer's batch at a time)"),
            Figure(f"assemble it, {households:,}", households / assemble_s, "households/s",
                   f"{assemble_s:.2f} s, peak {assemble_peak:,.0f} MiB (assemble_held: the decree held whole)"),
            Figure(f"check it, {households:,}", households / check_s, "households/s",
                   f"{check_s:.2f} s, peak {check_peak:,.1f} MiB (check_held, the registry's "
                   f"projection: a chunk at a time); the whole decree as one jsonb: {whole}"),
            Figure(f"page through its households, {households:,}", households / page_s, "households/s",
                   f"{page_s:.2f} s, peak {page_peak:,.1f} MiB (next_held_slice, DCI's notify pages of 250)"),
        ]  # fmt: skip
    return figures
