"""The register's region reads are planned for the region asked, through the service as deployed.

At a million households PostgreSQL switched the district page's prepared statement to a generic
plan after five runs: the primary key walked in id order, every household tested against the
district (736 ms against 0.4 ms planned for the district; benchmarks/partitioning_bench.py). Here
each pooled connection's session asks for generic plans outright, as PostgreSQL's own choice would
at that size; the service's reads must still run custom plans only."""

from __future__ import annotations

from typing import Any

import pytest

from dtks_contracts.vocabulary.roles import Role
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

    assert await plans_run(pool, "ORDER BY household_id LIMIT") == (len(REGIONS), 0)
    custom, generic = await plans_run(pool, "count(*) AS households")
    assert custom >= len(REGIONS) and generic == 0, (custom, generic)
    assert await plans_run(pool, "ORDER BY institution_id LIMIT") == (len(REGIONS), 0)
    # The connections keep their own setting: the reads changed it only while they ran.
    async with every_pooled_connection(pool) as connections:
        for conn in connections:
            assert await conn.fetchval("SELECT current_setting('plan_cache_mode')") == "force_generic_plan"
