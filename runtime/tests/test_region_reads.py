"""A region's page is planned for the region it reads: inside ``planned_per_execution`` PostgreSQL runs
no generic plan of a prepared statement, and the setting ends with the read.

PostgreSQL chooses a generic plan by itself after five runs when it estimates it cheaper, which
depends on the table's size and spread (at a million households the registry's district page did,
at 200,000 it did not: benchmarks/partitioning_bench.py). Here the session asks for generic plans
outright, as PostgreSQL's own choice would, so the tests hold at any size."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from dtks_runtime.region_reads import planned_per_execution, region_filter

pytestmark = pytest.mark.infra

# A district's page, as the registry asks it: optional filters, in id order, a page at a time.
PAGE = f"""SELECT id FROM places WHERE {region_filter("village_code", 1)}
             AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3"""


async def _plans(conn: asyncpg.Connection) -> tuple[int, int]:
    """Custom and generic plans run so far on ``conn`` by the page's prepared statement."""
    row = await conn.fetchrow(
        "SELECT custom_plans, generic_plans FROM pg_prepared_statements WHERE statement = $1", PAGE
    )
    return (row["custom_plans"], row["generic_plans"]) if row else (0, 0)


@pytest.fixture
async def places(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(database_url)
    # 4,000 rows in 400 villages of 20 districts, ids unrelated to the village (as households' are).
    await conn.execute(
        """CREATE TABLE places (id text PRIMARY KEY, village_code text NOT NULL);
           INSERT INTO places
           SELECT md5(n::text), format('17.%s.01.%s', 10 + n % 20, 1000 + n % 400)
           FROM generate_series(1, 4000) AS n;
           CREATE INDEX ON places (village_code text_pattern_ops);
           ANALYZE places;
           SET plan_cache_mode = force_generic_plan"""
    )
    yield conn
    await conn.close()


async def test_a_generic_plan_walks_the_table_in_id_order(places: asyncpg.Connection) -> None:
    """What the helper prevents: the generic plan cannot use the region to find its rows."""
    rows = await places.fetch(PAGE, "17.12", None, 100)
    assert len(rows) == 100
    assert await _plans(places) == (0, 1)
    await places.execute(f"PREPARE page(text, text, int) AS {PAGE}")
    plan = "\n".join(r[0] for r in await places.fetch("EXPLAIN EXECUTE page('17.12', NULL, 100)"))
    assert "Index Scan using places_pkey" in plan, plan
    assert "places_village_code_idx" not in plan, plan


async def test_a_page_read_inside_the_block_is_planned_for_its_region(places: asyncpg.Connection) -> None:
    for _ in range(10):
        async with planned_per_execution(places):
            rows = await places.fetch(PAGE, "17.12", None, 100)
        assert len(rows) == 100
    assert await _plans(places) == (10, 0)
    # SET LOCAL: the connection's own setting is back after the read (it goes back to a pool).
    assert await places.fetchval("SELECT current_setting('plan_cache_mode')") == "force_generic_plan"
    assert not places.is_in_transaction()


async def test_inside_a_callers_transaction_the_setting_lasts_until_it_ends(
    places: asyncpg.Connection,
) -> None:
    async with places.transaction(isolation="repeatable_read", readonly=True):
        async with planned_per_execution(places):
            pass
        for _ in range(10):
            await places.fetch(PAGE, "17.12", None, 100)
    assert await _plans(places) == (10, 0)
    assert await places.fetchval("SELECT current_setting('plan_cache_mode')") == "force_generic_plan"
