"""A region's proposals are listed by a plan made for the region asked (dtks_runtime.region_reads):
one statement serves a village operator and the Ministry, with optional filters, and a generic plan
(PostgreSQL's choice after five runs once the table is large) knows neither the region nor the
filters. Each pooled connection's session asks for generic plans here, as PostgreSQL would."""

from __future__ import annotations

from typing import Any

import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.testing import headers
from dtks_runtime.testing import every_pooled_connection, plans_run

pytestmark = pytest.mark.infra

REGIONS = ["17", "17.71", "17.71.01", "17.71.01.1001", "17.71.02", "ID", "17.71", "17.71.01"]


async def test_listing_a_region_runs_no_generic_plan(service: Any) -> None:
    async with service(db_pool_max_size=3) as (app, client):
        pool = app.state.deps.pool
        async with every_pooled_connection(pool) as connections:
            for conn in connections:
                await conn.execute("SET plan_cache_mode = force_generic_plan")
        ministry = headers(Role.MINISTRY_VERIFIER, "ID")
        for region in REGIONS:
            for status in (None, "submitted"):
                params = {"region": region, **({"status": status} if status else {})}
                answer = await client.get("/proposals", params=params, headers=ministry)
                assert answer.status_code == 200, answer.text

        assert await plans_run(pool, "ORDER BY seq DESC LIMIT") == (2 * len(REGIONS), 0)
        async with every_pooled_connection(pool) as connections:
            for conn in connections:
                assert (
                    await conn.fetchval("SELECT current_setting('plan_cache_mode')") == "force_generic_plan"
                )
