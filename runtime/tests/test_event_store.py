"""Event store: optimistic concurrency surfaces every conflict; streams and the global order read back."""

import asyncio

import asyncpg
import pytest

from dtks_runtime.event_store import Causation, ConcurrencyConflict, EventStore
from dtks_runtime.outbox_relay import OutboxRelay
from dtks_runtime.testing import append_one, happened, wait_until

pytestmark = pytest.mark.infra


async def test_two_appends_at_the_same_expected_version_exactly_one_wins(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    await append_one(pool, store, "h1", 0)
    gate = asyncio.Event()

    async def writer(n: int) -> str:
        async with pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await store.append(
                        conn,
                        aggregate_type="thing",
                        aggregate_id="h1",
                        expected_version=1,
                        events=[happened(n)],
                        causation=Causation(),
                    )
                    await gate.wait()  # both read version 1 before either commits
                return "won"
            except ConcurrencyConflict:
                return "conflict"

    tasks = [asyncio.create_task(writer(n)) for n in (1, 2)]
    await asyncio.sleep(0.3)
    gate.set()
    results = sorted(await asyncio.gather(*tasks))
    assert results == ["conflict", "won"]
    async with pool.acquire() as conn:
        events = await store.read_stream(conn, "thing", "h1")
    assert [e.aggregate_version for e in events] == [1, 2]


async def test_append_at_a_stale_version_is_refused_not_overwritten(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    await append_one(pool, store, "h2", 0)
    await append_one(pool, store, "h2", 1)
    with pytest.raises(ConcurrencyConflict, match="expected version 1"):
        await append_one(pool, store, "h2", 1)
    with pytest.raises(ConcurrencyConflict):
        await append_one(pool, store, "h2", 5)  # ahead of the stream: also a conflict, never a gap


async def test_append_outside_a_transaction_is_refused(pool: asyncpg.Pool, store: EventStore) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError, match="inside a transaction"):
            await store.append(
                conn,
                aggregate_type="thing",
                aggregate_id="h3",
                expected_version=0,
                events=[happened()],
                causation=Causation(),
            )


async def test_a_transaction_that_inserts_first_but_commits_late_is_published_not_skipped(
    pool: asyncpg.Pool, store: EventStore, database_url: str, kafka_bootstrap: str
) -> None:
    slow_inserted = asyncio.Event()
    release_slow = asyncio.Event()

    async def slow() -> None:
        async with pool.acquire() as conn, conn.transaction():
            await store.append(
                conn, aggregate_type="thing", aggregate_id="slow", expected_version=0,
                events=[happened()], causation=Causation(),
            )  # fmt: skip
            slow_inserted.set()
            await release_slow.wait()

    async def published(n: int) -> bool:
        async with pool.acquire() as conn:
            return len(await store.read_published(conn)) >= n

    slow_task = asyncio.create_task(slow())
    await slow_inserted.wait()
    await append_one(pool, store, "quick", 0)  # commits while the slow one, inserted first, is open
    stop = asyncio.Event()
    relay = asyncio.create_task(OutboxRelay(database_url, kafka_bootstrap).run(stop))
    await wait_until(lambda: published(1), what="the quick event published")
    release_slow.set()
    await slow_task
    await wait_until(lambda: published(2), what="the late-committing event published too")
    stop.set()
    await relay
    async with pool.acquire() as conn:
        in_publication_order = await store.read_published(conn)
        in_insertion_order = await store.read_all(conn)
    assert [(p, e.aggregate_id) for p, e in in_publication_order] == [(1, "quick"), (2, "slow")]
    assert [e.aggregate_id for _, e in in_insertion_order] == ["slow", "quick"]
