"""A decree's cost does not depend on when the statistics were last gathered.

The decree reads its pending acceptances through a cursor planned before it writes a change row.
Where ``household_changes`` had been analysed while empty (by hand, or by a database-wide ANALYZE
after a restore or an upgrade, before the first decree), that plan scanned the whole table once per
candidate, over every row the decree had written by then: 30,000 candidates took 32 s instead of 13.
The count of sequential scans of the table shows it without timing anything.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.topics import partition_key, topic_for
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.adapters import register
from dtks_registry.adapters.projection import apply_events
from dtks_registry.adapters.schema import MIGRATIONS
from dtks_registry.deps import RegistryDeps
from dtks_registry.domain.periods import parse_period
from dtks_registry.handlers import DeterminationRequest, issue_determination, load_determination
from dtks_registry.testing import acceptance, make_household
from dtks_runtime import event_store
from dtks_runtime.db import migrate
from dtks_runtime.event_store import EventStore
from dtks_runtime.testing import Infra
from dtks_runtime.unit_of_work import on_connection

pytestmark = pytest.mark.infra

HOUSEHOLDS = 2_000
CHUNK = 100  # many small chunks, as a national decree has many large ones
T = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=150)


async def _decree(conn: asyncpg.Connection, chunk: int = register.CHUNK) -> tuple[dict[str, Any], bool]:
    """The first quarter's decree by the real handler on ``conn``, deciding ``chunk`` candidates at a
    time, and its document as read back whole."""
    store = EventStore(lambda e: topic_for(e.event_type).name, lambda e: partition_key(e).decode())
    request = DeterminationRequest("1/2027", parse_period("2027-01"), T + dt.timedelta(days=30))
    determiner = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")
    recorded, created = await issue_determination(
        RegistryDeps(on_connection(conn, store)), request, determiner, "corr", chunk=chunk
    )
    document = await load_determination(conn, recorded.decree.decree_number)  # a chunked one assembled
    assert document is not None
    return document, created


async def _sequential_scans(conn: asyncpg.Connection, table: str) -> int:
    """Sequential scans of ``table`` in this schema so far, this connection's included: its pending
    statistics are flushed when it goes idle after asking for it."""
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    scans = await conn.fetchval(
        "SELECT seq_scan FROM pg_stat_user_tables WHERE schemaname = current_schema() AND relname = $1",
        table,
    )
    return int(scans)


async def test_a_first_decree_after_the_changes_were_analysed_empty_reads_them_by_index(
    registry_schema: asyncpg.Connection,
) -> None:
    conn = registry_schema
    registrations = [
        acceptance(f"p-{i}", accepted_at=T + dt.timedelta(seconds=i), household=make_household(i))
        for i in range(HOUSEHOLDS)
    ]
    async with conn.transaction():
        await apply_events(conn, registrations)
    await conn.execute("ANALYZE household_changes")  # still empty: no decree yet
    before = await _sequential_scans(conn, "household_changes")

    document, created = await _decree(conn, chunk=CHUNK)

    assert created
    assert len(document["registered"]) == HOUSEHOLDS
    # The quadratic plan scans the table once per candidate (2,000 here). The decree's statements
    # per chunk may read it whole while it is small (planned for each chunk, they switch to its
    # indexes as it grows): some per chunk, never per candidate.
    scans = await _sequential_scans(conn, "household_changes") - before
    chunks = HOUSEHOLDS // CHUNK
    assert scans <= 2 * chunks, f"household_changes was scanned sequentially {scans} times in {chunks} chunks"


async def test_the_setting_holds_only_while_the_cursor_is_planned(
    registry_schema: asyncpg.Connection,
) -> None:
    conn = registry_schema
    await apply_events(conn, [acceptance("p-1", accepted_at=T, household=make_household(1))])
    async with conn.transaction():
        pending = [
            c async for chunk in register.pending_by_household(conn, T) for c in await chunk.candidates()
        ]
        # The rest of the decree's transaction (its writes, the register's hash) is planned as usual.
        assert await conn.fetchval("SELECT current_setting('enable_seqscan')") == "on"
    assert [c.proposal_id for c in pending] == ["p-1"]


async def _plans(conn: asyncpg.Connection) -> dict[str, tuple[int, int]]:
    """Custom and generic plans run so far by each statement prepared on ``conn`` with parameters
    (one without, a FETCH, has one plan whatever it is called)."""
    rows = await conn.fetch(
        """SELECT statement, custom_plans, generic_plans FROM pg_prepared_statements
           WHERE cardinality(parameter_types) > 0"""
    )
    return {r["statement"]: (r["custom_plans"], r["generic_plans"]) for r in rows}


async def test_a_decree_plans_each_statement_for_its_own_chunk(registry_schema: asyncpg.Connection) -> None:
    """No cached generic plan in a decree. The decree runs the same statements once per chunk while
    it fills the tables they read; a generic plan made when one of them was small or empty scanned it
    whole for every chunk, matching each row against the chunk's ids one by one: on a connection
    whose plans were made before the tables were emptied, 100,000 households took 190-266 s against
    31-42 s. PostgreSQL counts, per prepared statement, the generic plans it ran."""
    conn = registry_schema
    households = [
        acceptance(f"p-{i}", accepted_at=T + dt.timedelta(seconds=i), household=make_household(i))
        for i in range(600)
    ]
    await apply_events(conn, households)

    before = await _plans(conn)

    document, _ = await _decree(conn, chunk=50)

    assert len(document["registered"]) == 600
    after = await _plans(conn)
    ran = {sql: (custom - before.get(sql, (0, 0))[0], generic - before.get(sql, (0, 0))[1])
           for sql, (custom, generic) in after.items()}  # fmt: skip
    per_chunk = {sql: plans for sql, plans in ran.items() if sum(plans) >= 12}  # once per chunk at least
    assert any("members" in sql for sql in per_chunk), list(ran)
    generic = {sql[:120]: plans[1] for sql, plans in per_chunk.items() if plans[1]}
    assert not generic, generic


async def test_a_decree_sorts_its_events_in_memory(infra: Infra) -> None:
    """Each chunk's events are sorted in their insert (keeping their order); at the server's default
    4 MB the sort of a chunk of thousands of households spilled to temporary files (346 MB over
    100,000 households). In a database of its own, whose temporary bytes are this decree's alone."""
    name = f"sorts_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    conn = await asyncpg.connect(infra.database_url.rsplit("/", 1)[0] + f"/{name}")
    try:
        assert await conn.fetchval("SELECT current_setting('work_mem')") == "4MB"  # the default
        await event_store.install(conn)
        await migrate(conn, "registry", MIGRATIONS)
        await apply_events(
            conn, [acceptance(f"p-{i}", accepted_at=T, household=make_household(i)) for i in range(3000)]
        )
        before = await _temporary_bytes(conn)

        document, _ = await _decree(conn)

        assert len(document["registered"]) == 3000
        assert await _temporary_bytes(conn) == before
    finally:
        await conn.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


async def _temporary_bytes(conn: asyncpg.Connection) -> int:
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    return int(
        await conn.fetchval("SELECT temp_bytes FROM pg_stat_database WHERE datname = current_database()")
    )
