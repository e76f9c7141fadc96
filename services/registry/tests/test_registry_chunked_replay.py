"""The registry's replay writer over chunked decrees (#21), on a real database: a decree whose chunks
arrive across batches is written whole under its manifest's id, exactly as issued; a manifest whose
chunk is missing writes nothing, never a decree with part (or none) of its lists."""

from __future__ import annotations

import datetime as dt
import json

import asyncpg
import pytest

from dtks_contracts.decree_chunks import split_decree
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.registry import DeterminationIssued, Period
from dtks_contracts.register_hash import REGISTER_HASH_ALGORITHM
from dtks_registry.adapters.projection import apply_projection_events, decode_projection_event
from dtks_registry.adapters.schema import MIGRATIONS
from dtks_registry.testing import MINISTRY
from dtks_runtime import event_store
from dtks_runtime.db import migrate

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
        assert DeterminationIssued.model_validate_json(rows[0]["p"]) == whole
    finally:
        await conn.close()
