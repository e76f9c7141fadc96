"""The register's region reads: planned for the region asked, and a page reads its own rows only.

At a million households PostgreSQL switched the district page's prepared statement to a generic
plan after five runs: the primary key walked in id order, every household tested against the
district (736 ms against 0.4 ms planned for the district; benchmarks/partitioning_bench.py). Here
each pooled connection's session asks for generic plans outright, as PostgreSQL's own choice would
at that size; the service's reads must still run custom plans only."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_registry.api import HOUSEHOLD_PAGE_SQL
from dtks_runtime.testing import every_pooled_connection, plans_run

pytestmark = pytest.mark.infra

REGIONS = ["17", "17.71", "17.71.01", "17.71.01.1001", "17.71.02", "17.71.03", "ID", "17.71"]


async def test_pages_and_counts_of_a_region_run_no_generic_plan(small_pool_registry: Any) -> None:
    pool = small_pool_registry.pool
    async with every_pooled_connection(pool) as connections:
        for conn in connections:  # session-wide: stays on the pooled connection
            await conn.execute("SET plan_cache_mode = force_generic_plan")
    headers = small_pool_registry.auth(Role.AUDITOR)
    for region in REGIONS:
        for path in ("/households", "/stats", "/institutions"):
            answer = await small_pool_registry.client.get(path, params={"region": region}, headers=headers)
            assert answer.status_code == 200, answer.text

    assert await plans_run(pool, "ORDER BY h.household_id LIMIT") == (len(REGIONS), 0)
    custom, generic = await plans_run(pool, "count(*) AS households")
    assert custom >= len(REGIONS) and generic == 0, (custom, generic)
    assert await plans_run(pool, "ORDER BY institution_id LIMIT") == (len(REGIONS), 0)
    # The connections keep their own setting: the reads changed it only while they ran.
    async with every_pooled_connection(pool) as connections:
        for conn in connections:
            assert await conn.fetchval("SELECT current_setting('plan_cache_mode')") == "force_generic_plan"


async def test_a_districts_page_reads_its_ids_from_the_index_and_only_its_own_rows(
    registry_schema: asyncpg.Connection,
) -> None:
    """The page's ids come from the village index alone (an index-only scan), and only the page's
    households are read: as one query in id order, a district's page at 200,000 households walked
    the register by its key, 21,732 pages for its 100 households, or read every household of the
    district to sort them, each on its own page, which at a national size are not all in memory."""
    conn = registry_schema
    # 40,000 households in 2,000 villages of 100 districts, ids unrelated to the village.
    await conn.execute(
        """INSERT INTO households (household_id, kk_number, village_code, active, snapshot, digest,
                                   programs, people, registered_in, last_decree)
           SELECT md5(n::text), lpad(n::text, 16, '0'),
                  format('17.%s.%s.%s', 10 + n % 5, 10 + n % 100, 1000 + n % 2000), n % 7 <> 0,
                  jsonb_build_object('notes', repeat('x', 800)), md5(n::text), '{PKH}', 3, '1/HUK', '1/HUK'
           FROM generate_series(1, 40000) AS n"""
    )
    # What autovacuum does after a load: the visibility map lets the index answer alone.
    await conn.execute("VACUUM ANALYZE households")
    district = "17.11.11"
    inside = await conn.fetchval(
        "SELECT count(*) FROM households WHERE village_code LIKE '17.11.11.%' AND active"
    )
    assert inside > 100

    await conn.execute("SET plan_cache_mode = force_custom_plan")
    await conn.execute(
        f"PREPARE page(text, text[], text, int, int, boolean, text, int) AS {HOUSEHOLD_PAGE_SQL}"
    )
    [[plan]] = await conn.fetch(
        f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) EXECUTE page('{district}', NULL, NULL, NULL, NULL, true, NULL, 100)"
    )
    nodes = list(_nodes(json.loads(plan)[0]["Plan"]))
    ids = [n for n in nodes if n.get("Index Name") == "households_village_page"]
    assert [n["Node Type"] for n in ids] == ["Index Only Scan"], nodes
    assert ids[0]["Heap Fetches"] == 0 and ids[0]["Actual Rows"] == inside
    # The households themselves: the page's 100 by their key, nothing else of the table.
    rows = [n for n in nodes if n.get("Relation Name") == "households" and n is not ids[0]]
    assert [(n["Index Name"], n["Actual Rows"] * n["Actual Loops"]) for n in rows] == [
        ("households_pkey", 100)
    ]

    page = await conn.fetch("EXECUTE page('17.11.11', NULL, NULL, NULL, NULL, true, NULL, 100)")
    expected = await conn.fetch(
        """SELECT household_id FROM households WHERE village_code LIKE '17.11.11.%' AND active
           ORDER BY household_id LIMIT 100"""
    )
    assert [r["household_id"] for r in page] == [r["household_id"] for r in expected]


def _nodes(plan: dict[str, Any]) -> Any:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)
