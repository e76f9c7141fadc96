"""A decree's cost does not depend on when the statistics were last gathered.

The decree reads its pending acceptances through a cursor planned before it writes a change row.
Where ``household_changes`` had been analysed while empty (by hand, or by a database-wide ANALYZE
after a restore or an upgrade, before the first decree), that plan scanned the whole table once per
candidate, over every row the decree had written by then: 30,000 candidates took 32 s instead of 13.
The count of sequential scans of the table shows it without timing anything.
"""

from __future__ import annotations

import datetime as dt

import asyncpg
import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.topics import partition_key, topic_for
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.adapters import register
from dtks_registry.adapters.projection import apply_events
from dtks_registry.deps import RegistryDeps
from dtks_registry.domain.periods import parse_period
from dtks_registry.handlers import DeterminationRequest, issue_determination
from dtks_registry.testing import acceptance, make_household
from dtks_runtime.event_store import EventStore
from dtks_runtime.unit_of_work import on_connection

pytestmark = pytest.mark.infra

HOUSEHOLDS = 2_000
T = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=150)


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

    store = EventStore(lambda e: topic_for(e.event_type).name, lambda e: partition_key(e).decode())
    request = DeterminationRequest("1/2027", parse_period("2027-01"), T + dt.timedelta(days=30))
    determiner = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")
    # Many small chunks, as a national decree has many large ones: each FETCH runs the cursor's plan on.
    document, created = await issue_determination(
        RegistryDeps(on_connection(conn, store)), request, determiner, "corr", chunk=100
    )

    assert created
    assert len(document["registered"]) == HOUSEHOLDS
    # The quadratic plan scans the table once per candidate (2,000 here); the decree's other
    # statements scan it a few times at most.
    scans = await _sequential_scans(conn, "household_changes") - before
    assert scans <= 10, f"household_changes was scanned sequentially {scans} times during the decree"


async def test_the_setting_holds_only_while_the_cursor_is_planned(
    registry_schema: asyncpg.Connection,
) -> None:
    conn = registry_schema
    await apply_events(conn, [acceptance("p-1", accepted_at=T, household=make_household(1))])
    async with conn.transaction():
        pending = [c async for chunk in register.pending_by_household(conn, T) for c in chunk]
        # The rest of the decree's transaction (its writes, the register's hash) is planned as usual.
        assert await conn.fetchval("SELECT current_setting('enable_seqscan')") == "on"
    assert [c.proposal_id for c in pending] == ["p-1"]
