"""The rows every request records (its message id, its exchange-log entry), written for concurrent
requests in one statement: fewer statements than requests, each request told whether its message is
new, a replay caught inside one group as well as across groups, the log in the requests' order."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator

import asyncpg
import pytest

from dtks_dci.adapters.grouped_writes import RequestWrites
from dtks_dci.adapters.schema import MIGRATIONS
from dtks_runtime.db import migrate

pytestmark = pytest.mark.infra
AT = dt.datetime(2027, 1, 5, 9, 0, tzinfo=dt.UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=5)
    assert pool is not None
    async with pool.acquire() as conn:
        await migrate(conn, "dci", MIGRATIONS)
    yield pool
    await pool.close()


@pytest.fixture
def writes(pool: asyncpg.Pool) -> RequestWrites:
    return RequestWrites(pool)


async def test_concurrent_message_ids_are_recorded_in_fewer_statements_and_replays_are_told(
    writes: RequestWrites,
):
    ids = [f"m-{i}" for i in range(40)]
    # m-1 twice in the group that waits behind the first statement; m-0 again in a later group.
    asked = [ids[0], ids[1], ids[1], *ids[2:], ids[0]]
    fresh = await asyncio.gather(*(writes.first_time(("agency-a", m, AT)) for m in asked))
    assert fresh == [True, True, False, *[True] * 38, False]
    assert writes.first_time.statements < len(asked) / 4
    assert await writes.first_time(("agency-a", "m-7", AT)) is False  # a replay later, alone
    assert await writes.first_time(("agency-b", "m-7", AT)) is True  # ids are per sender


async def test_concurrent_exchange_log_entries_are_written_together_in_the_requests_order(
    writes: RequestWrites, pool: asyncpg.Pool
):
    entries = [
        (
            "/registry/sync/search",
            "agency-a",
            "agency-a",
            f"m-{i}",
            f"t-{i}",
            None,
            "search",
            200,
            "succ",
            i,
            None,
        )
        for i in range(30)
    ]
    await asyncio.gather(*(writes.log(e) for e in entries))
    assert writes.log.statements < len(entries) / 4
    rows = await pool.fetch(
        "SELECT direction, message_id, records, http_status FROM dci_exchanges ORDER BY id"
    )
    assert [(r["direction"], r["message_id"], r["records"], r["http_status"]) for r in rows] == [
        ("in", f"m-{i}", i, 200) for i in range(30)
    ]
