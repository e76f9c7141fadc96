"""append_selected: one event per row of the caller's own statement, built by PostgreSQL, with the
same envelopes and the same conflict rules as append_many."""

from __future__ import annotations

import uuid
from dataclasses import replace

import asyncpg
import pytest

from dtks_contracts.envelope import Actor, EventEnvelope
from dtks_contracts.vocabulary import Role
from dtks_runtime.event_store import (
    NOTIFY_CHANNEL,
    Causation,
    ConcurrencyConflict,
    EventStore,
    SelectedAppend,
)
from dtks_runtime.testing import append_one

pytestmark = pytest.mark.infra

# The caller's statement: it records each thing it announces in a table of its own, in the same
# statement as the events.
HAPPENINGS = SelectedAppend(
    aggregate_type="thing",
    event_type="test.happened",
    schema_version=1,
    ctes="""
    wanted AS (SELECT * FROM unnest($1::text[], $2::int[], $3::int[]) AS w(id, version, n)),
    recorded AS (INSERT INTO effects (event_id, aggregate_id) SELECT gen_random_uuid(), id FROM wanted),
    happenings AS (
        SELECT id AS aggregate_id, version AS aggregate_version, id AS partition_key,
               jsonb_build_object('n', n) AS payload
        FROM wanted
    )""",
    source="happenings",
    result="(SELECT max(n) FROM wanted) AS highest",
)


async def _select(
    conn: asyncpg.Connection, store: EventStore, rows: list[tuple[str, int, int]], causation: Causation
) -> dict[str, object]:
    return await store.append_selected(
        conn,
        HAPPENINGS,
        [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
        causation=causation,
    )


async def _log(pool: asyncpg.Pool) -> list[tuple[str, int, str, str, EventEnvelope]]:
    rows = await pool.fetch(
        "SELECT stream_id, stream_version, topic, partition_key, envelope::text AS e FROM events ORDER BY seq"
    )
    return [
        (
            r["stream_id"],
            r["stream_version"],
            r["topic"],
            r["partition_key"],
            EventEnvelope.from_bytes(r["e"]),
        )
        for r in rows
    ]


async def test_each_selected_row_becomes_the_next_event_of_its_stream_with_the_callers_changes(
    pool: asyncpg.Pool, store: EventStore, topic: str
) -> None:
    await append_one(pool, store, "b", 0)
    actor = Actor(subject="scan-1", role=Role.AUDITOR, region="ID")
    causation = Causation(actor=actor, causation_id="command-7")
    async with pool.acquire() as conn, conn.transaction():
        result = await _select(conn, store, [("a", 1, 1), ("a", 2, 2), ("b", 2, 3)], causation)
    assert result == {"appended": 3, "highest": 3}

    log = await _log(pool)
    assert [(s, v, t, k) for s, v, t, k, _ in log] == [
        ("thing:b", 1, topic, "b"),
        ("thing:a", 1, topic, "a"),
        ("thing:a", 2, topic, "a"),
        ("thing:b", 2, topic, "b"),
    ]
    for stream_id, version, _, _, envelope in log[1:]:
        assert (envelope.event_type, envelope.schema_version) == ("test.happened", 1)
        assert f"{envelope.aggregate_type}:{envelope.aggregate_id}" == stream_id
        assert envelope.aggregate_version == version
        assert envelope.actor == actor
        assert (envelope.correlation_id, envelope.causation_id) == (causation.correlation_id, "command-7")
        assert envelope.occurred_at.tzinfo is not None
    assert [e.payload for *_, e in log[1:]] == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert len({e.event_id for *_, e in log}) == 4
    assert await pool.fetchval("SELECT count(*) FROM effects") == 3


async def test_a_row_for_a_stream_that_moved_on_refuses_the_whole_statement(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    await append_one(pool, store, "b", 0)
    await append_one(pool, store, "b", 1)
    for stale in ([("c", 1, 1), ("b", 2, 2)], [("c", 1, 1), ("b", 1, 2)]):
        with pytest.raises(ConcurrencyConflict) as refused:
            async with pool.acquire() as conn, conn.transaction():
                await _select(conn, store, stale, Causation())
        assert refused.value.stream_id == "thing:b"
    assert await pool.fetchval("SELECT count(*) FROM events") == 2
    assert await pool.fetchval("SELECT count(*) FROM effects") == 0  # the caller's changes went too


async def test_a_row_that_would_leave_a_gap_in_its_stream_is_refused(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    await append_one(pool, store, "b", 0)
    for gap in ([("b", 3, 1)], [("d", 2, 1)], [("e", 1, 1), ("e", 3, 2)]):
        with pytest.raises(ConcurrencyConflict) as refused:
            async with pool.acquire() as conn, conn.transaction():
                await _select(conn, store, gap, Causation())
        assert refused.value.stream_id == f"thing:{gap[-1][0]}"
    assert await pool.fetchval("SELECT count(*) FROM events") == 1


async def test_rows_keyed_otherwise_than_the_store_keys_them_are_refused(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    wrongly_keyed = SelectedAppend(
        aggregate_type="thing",
        event_type="test.happened",
        schema_version=1,
        ctes="""keyed AS (SELECT $1::text AS aggregate_id, 1 AS aggregate_version,
                                 'elsewhere' AS partition_key, '{"n": 1}'::jsonb AS payload)""",
        source="keyed",
    )
    with pytest.raises(ValueError, match="key 'elsewhere'"):
        async with pool.acquire() as conn, conn.transaction():
            await store.append_selected(conn, wrongly_keyed, [str(uuid.uuid4())], causation=Causation())
    assert await pool.fetchval("SELECT count(*) FROM events") == 0


async def test_selected_rows_are_appended_only_inside_a_transaction(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="inside a transaction"):
            await _select(conn, store, [("a", 1, 1)], Causation())
    assert await pool.fetchval("SELECT count(*) FROM events") == 0


async def test_a_statement_that_selects_nothing_appends_nothing(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        assert await _select(conn, store, [], Causation()) == {"appended": 0, "highest": None}
    assert await pool.fetchval("SELECT count(*) FROM events") == 0


async def test_a_selected_append_wakes_the_relay_at_commit_unless_told_it_can_wait_for_its_poll(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    woken: list[str] = []

    def wake(*_: object) -> None:
        woken.append("woken")

    listener = await pool.acquire()
    await listener.add_listener(NOTIFY_CHANNEL, wake)
    try:
        for selected, expected in ((HAPPENINGS, ["woken"]), (replace(HAPPENINGS, wake_relay=False), [])):
            woken.clear()
            async with pool.acquire() as conn, conn.transaction():
                await store.append_selected(
                    conn, selected, [[str(uuid.uuid4())], [1], [1]], causation=Causation()
                )
            await listener.execute("SELECT 1")  # a round trip: a notification sent is delivered by now
            assert woken == expected
    finally:
        await listener.remove_listener(NOTIFY_CHANNEL, wake)
        await pool.release(listener)
