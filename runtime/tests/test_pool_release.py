"""The service pool returns connections without a reset round trip, and still never hands out a
connection inside someone else's transaction."""

from __future__ import annotations

import asyncpg
import pytest

from dtks_runtime.db import create_pool


@pytest.mark.infra
async def test_releasing_a_pooled_connection_sends_no_query(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
            raw = conn._con  # type: ignore[attr-defined]  # the proxy's connection, to count its queries
            before = raw._protocol.queries_count
        async with pool.acquire() as again:
            assert again._con is raw  # type: ignore[attr-defined]  # one connection in the pool
            assert raw._protocol.queries_count == before
    finally:
        await pool.close()


@pytest.mark.infra
async def test_a_transaction_left_open_is_rolled_back_before_the_next_borrower(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("CREATE TABLE IF NOT EXISTS pool_release_probe (n int)")
            await conn.execute("TRUNCATE pool_release_probe")
        conn = await pool.acquire()
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("INSERT INTO pool_release_probe VALUES (1)")
        await pool.release(conn)  # never committed: a handler that raised mid-transaction
        async with pool.acquire() as next_borrower:
            assert not next_borrower.is_in_transaction()
            assert await next_borrower.fetchval("SELECT count(*) FROM pool_release_probe") == 0
    finally:
        await pool.close()


@pytest.mark.infra
async def test_the_plain_asyncpg_pool_spends_a_query_on_release(database_url: str) -> None:
    """What the first test guards against: asyncpg's default reset is one more query per borrow."""
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    assert pool is not None
    try:
        async with pool.acquire() as conn:
            await conn.fetchval("SELECT 1")
            raw = conn._con  # type: ignore[attr-defined]
            before = raw._protocol.queries_count
        async with pool.acquire():
            assert raw._protocol.queries_count == before + 1
    finally:
        await pool.close()
