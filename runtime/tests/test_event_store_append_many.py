"""append_many: many streams in one transaction, all or nothing, same conflict rules as append."""

from __future__ import annotations

import pytest

from dtks_runtime.event_store import Causation, ConcurrencyConflict, PreparedAppend, StreamAppend
from dtks_runtime.testing import append_one, happened

pytestmark = pytest.mark.infra


async def test_append_many_writes_every_stream_in_order_and_refuses_a_moved_stream(pool, store):
    await append_one(pool, store, "b", 0)
    async with pool.acquire() as conn, conn.transaction():
        envelopes = await store.append_many(
            conn,
            [
                StreamAppend("thing", "a", 0, [happened(1), happened(2)]),
                StreamAppend("thing", "b", 1, [happened(3)]),
            ],
            causation=Causation(),
        )
    assert [(e.aggregate_id, e.aggregate_version) for e in envelopes] == [("a", 1), ("a", 2), ("b", 2)]
    async with pool.acquire() as conn:
        assert [e.payload["n"] for _, e in await store.read_all(conn)] == [0, 1, 2, 3]
        with pytest.raises(ConcurrencyConflict):
            async with conn.transaction():
                await store.append_many(
                    conn,
                    [
                        StreamAppend("thing", "c", 0, [happened(4)]),
                        StreamAppend("thing", "a", 1, [happened(5)]),
                    ],
                    causation=Causation(),
                )
        assert await conn.fetchval("SELECT count(*) FROM events") == 4  # nothing of the refused call


async def test_prepared_parts_join_into_one_insert_in_their_order_and_keep_the_version_check(pool, store):
    # What a decree does per chunk: slices prepared in turn (nothing written yet), then one insert.
    await append_one(pool, store, "b", 0)
    first = store.prepare_many(
        [StreamAppend("thing", "a", 0, [happened(1), happened(2)])], causation=Causation()
    )
    second = store.prepare_many([StreamAppend("thing", "b", 1, [happened(3)])], causation=Causation())
    async with pool.acquire() as conn:
        assert await conn.fetchval("SELECT count(*) FROM events") == 1  # preparing writes nothing
        async with conn.transaction():
            await store.insert_prepared(conn, PreparedAppend.joined([first, second]))
        assert [(e.aggregate_id, e.payload["n"]) for _, e in await store.read_all(conn)] == [
            ("b", 0), ("a", 1), ("a", 2), ("b", 3),
        ]  # fmt: skip
        moved = store.prepare_many([StreamAppend("thing", "b", 1, [happened(4)])], causation=Causation())
        with pytest.raises(ConcurrencyConflict):
            async with conn.transaction():
                await store.insert_prepared(conn, moved)
        with pytest.raises(RuntimeError, match="inside a transaction"):
            await store.insert_prepared(conn, moved)
        assert await conn.fetchval("SELECT count(*) FROM events") == 4


def test_joined_parts_still_name_each_stream_once(store):
    part = store.prepare_many([StreamAppend("thing", "a", 0, [happened(1)])], causation=Causation())
    other = store.prepare_many([StreamAppend("thing", "b", 0, [happened(2)])], causation=Causation())
    assert len(PreparedAppend.joined([part, other]).envelopes) == 2
    with pytest.raises(ValueError, match="each stream may appear once"):
        PreparedAppend.joined([part, other, part])
