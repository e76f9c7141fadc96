"""The registry's replay writer over chunked decrees (#21), on a real database: a decree whose chunks
arrive across batches is recorded at its manifest, under its manifest's id, and read back exactly as
issued; a manifest whose chunk is missing records nothing, never a decree with part (or none) of its
lists. A chunked decree's row holds its manifest and its lists stay in its chunks (one jsonb value
cannot hold a national decree's lists); rows recorded whole before take that form on migration."""

from __future__ import annotations

import datetime as dt
import json

import asyncpg
import pytest

from dtks_contracts.decree_chunks import DeterminationManifest, split_decree
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.registry import DeterminationIssued, Period
from dtks_contracts.register_hash import REGISTER_HASH_ALGORITHM
from dtks_contracts.topics import partition_key, topic_for
from dtks_registry.adapters.projection import (
    apply_projection_events,
    decode_projection_event,
    read_determination,
)
from dtks_registry.adapters.schema import MIGRATIONS
from dtks_registry.testing import MINISTRY
from dtks_runtime import event_store
from dtks_runtime.db import migrate
from dtks_runtime.event_store import Causation, EventStore, NewEvent

pytestmark = pytest.mark.infra


def decree(number: int, households: int) -> DeterminationIssued:
    return DeterminationIssued(
        decree_number=f"{number}/HUK/2026",
        period=Period(year=2026, quarter=number),
        cut_off=dt.datetime(2026, 3, 31, 17, 0, tzinfo=dt.UTC),
        issued_at=dt.datetime(2026, 4, 2, 3, 0, tzinfo=dt.UTC),
        register_hash="ab" * 32,
        hash_algorithm=REGISTER_HASH_ALGORITHM,
        counts={"households": households, "people": 3 * households},
        issued_by=MINISTRY,
        registered=tuple(f"H-{number}-{n}" for n in range(households)),
        changed_leaves=tuple(f"{n:064x}" for n in range(households)),
    )


def published(issued: DeterminationIssued, leave_out: int | None = None) -> list[bytes]:
    manifest, chunks = split_decree(issued, records_per_chunk=3)
    payloads = [*(c for c in chunks if c.chunk_index != leave_out), manifest]
    return [
        EventEnvelope.new(p, aggregate_version=v, actor=MINISTRY).to_bytes()
        for v, p in enumerate(payloads, 1)
    ]


async def test_a_chunked_decree_is_written_whole_at_its_manifest_and_a_broken_one_not_at_all(database_url):
    conn = await asyncpg.connect(database_url)
    try:
        await event_store.install(conn)  # the registry's steps refer to its outbox
        await migrate(conn, "registry", MIGRATIONS)
        whole, broken = decree(1, 5), decree(2, 4)
        records = published(whole)
        # The replay's batches cut the decree anywhere: its first chunks in one, the rest in the next.
        await apply_projection_events(conn, [decode_projection_event(r) for r in records[:2]])
        assert await conn.fetchval("SELECT count(*) FROM determinations") == 0  # no manifest yet
        await apply_projection_events(conn, [decode_projection_event(r) for r in records[2:]])
        await apply_projection_events(
            conn, [decode_projection_event(r) for r in published(broken, leave_out=0)]
        )

        rows = await conn.fetch(
            "SELECT decree_number, event_id::text AS id, payload::text AS p FROM determinations"
        )
        assert [r["decree_number"] for r in rows] == ["1/HUK/2026"]
        assert rows[0]["id"] == json.loads(records[-1])["event_id"]
        # The row is the manifest, without the lists; the decree is read back whole from its chunks.
        assert DeterminationManifest.model_validate_json(rows[0]["p"]) == split_decree(whole, 3)[0]
        recorded = await read_determination(conn, "1/HUK/2026")
        assert recorded is not None and recorded.decree == whole
        head = await read_determination(conn, "1/HUK/2026", lists=False)
        assert head is not None and head.decree.registered == () and head.decree.signature == whole.signature
    finally:
        await conn.close()


async def test_a_chunked_decree_recorded_whole_before_takes_the_form_a_replay_records(database_url):
    """A registry upgraded with a chunked decree recorded whole (and its chunks perhaps not yet kept
    by its consumer): the migration leaves the row and the chunks as a replay of its events makes
    them, so the audit's table comparison still matches, and the decree still reads whole."""
    conn = await asyncpg.connect(database_url)
    try:
        await event_store.install(conn)
        step = next(n for n, sql in enumerate(MIGRATIONS) if "INSERT INTO decree_chunks" in sql)
        await migrate(conn, "registry", MIGRATIONS[:step])  # the registry before this step
        issued = decree(3, 7)
        manifest, chunks = split_decree(issued, records_per_chunk=3)
        store = EventStore(lambda e: topic_for(e.event_type).name, lambda e: partition_key(e).decode())
        async with conn.transaction():  # what the registry appended and recorded when it issued
            envelopes = await store.append(
                conn,
                aggregate_type="determination",
                aggregate_id=issued.decree_number,
                expected_version=0,
                events=[*(NewEvent.of(c) for c in chunks), NewEvent.of(manifest)],
                causation=Causation(actor=MINISTRY, correlation_id="c"),
            )
            await conn.execute(
                """INSERT INTO determinations (decree_number, period_start, cut_off, issued_at, register_hash,
                                               households, people, event_id, payload)
                   VALUES ($1, $2, $3, $4, $5, 7, 21, $6, $7::jsonb)""",
                issued.decree_number, issued.period.starts_on, issued.cut_off, issued.issued_at,
                issued.register_hash, envelopes[-1].event_id, issued.model_dump_json(),
            )  # fmt: skip

        await migrate(conn, "registry", MIGRATIONS)

        recorded = await read_determination(conn, issued.decree_number)
        assert recorded is not None and recorded.decree == issued
        # The same row, byte for byte as jsonb, as the replay's writer records from those events.
        await conn.execute('CREATE SCHEMA "replayed"; SET search_path = "replayed"')
        await event_store.install(conn)
        await migrate(conn, "registry", MIGRATIONS)
        await apply_projection_events(conn, [decode_projection_event(e.to_bytes()) for e in envelopes])
        assert (
            await conn.fetchval(
                """SELECT count(*) FROM public.determinations l JOIN replayed.determinations r
               USING (decree_number, event_id) WHERE l.payload = r.payload"""
            )
            == 1
        )
    finally:
        await conn.close()
