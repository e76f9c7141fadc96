"""What waits in a region is read through an index on the region, not by walking all that waits.

Every read of the tiers' queues by region (an officer's page, the queues' figures, the regencies with
waiting items, the overdue counts) keeps its region with region_filter's range of the byte order.
Over an index of the default collation that range was only a filter: at 1,000,000 waiting items a
district's page took 0.45 s and its figures 0.19 s, each walking the whole queue of the country.
Here the plans are asked for with sequential scans priced out, so the test holds at any table size:
a region that is not an index condition fails it whatever the planner would choose. The pages
themselves are checked against the rows written."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from dtks_contracts.vocabulary import Tier, tier_region
from dtks_runtime import event_store
from dtks_runtime.db import migrate
from dtks_runtime.paging import MomentCursor
from dtks_verification.adapters import tier_queues
from dtks_verification.adapters.schema import MIGRATIONS

pytestmark = pytest.mark.infra

START = dt.datetime(2026, 11, 2, 1, 0, tzinfo=dt.UTC)
# Three districts of regency 17.71 and one of 17.02, among many more items waiting in province 11:
# a read that does not find its region through an index walks those too.
VILLAGES = ["17.71.01.1001", "17.71.01.1002", "17.71.02.1001", "17.71.03.1001", "17.02.01.2001"]
ELSEWHERE = ["11.01.01.2001", "11.01.02.2001", "11.02.01.2001"]


def _items() -> list[tuple[str, str, Tier, dt.datetime]]:
    """2,000 waiting items a minute apart: one in ten in the regions read; a quarter of them, and of
    the others, at the regency tier and the rest at the district tier."""
    items = []
    for n in range(2000):
        village = VILLAGES[n // 10 % len(VILLAGES)] if n % 10 == 0 else ELSEWHERE[n % len(ELSEWHERE)]
        tier = Tier.REGENCY if (n // 10 if n % 10 == 0 else n) % 4 == 3 else Tier.DISTRICT
        items.append((f"p{n:04d}", village, tier, START + dt.timedelta(minutes=n)))
    return items


class _Statement:
    """Stands in for the connection to take the statement a read would send."""

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.sql, self.args = sql, args
        return []


@pytest.fixture
async def waiting(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The items of :func:`_items`, with the table's statistics."""
    conn = await asyncpg.connect(database_url)
    await event_store.install(conn)
    await migrate(conn, "verification", MIGRATIONS)
    rows = []
    for pid, village, tier, entered in _items():
        content = json.dumps(
            {"household": {"kk_number": pid.replace("p", "1").ljust(16, "0"), "members": [{}]}}
        )
        rows.append((pid, 1, village, "new_household", content, "in_tier", tier.value,
                     tier_region(tier, village), entered, 0))  # fmt: skip
    await conn.copy_records_to_table(
        "proposals",
        columns=["proposal_id", "round", "village_code", "kind", "content", "status", "tier", "tier_region",
                 "entered_at", "stream_version"],
        records=rows,
    )  # fmt: skip
    await conn.execute("ANALYZE proposals")
    yield conn
    await conn.close()


async def _plan(conn: asyncpg.Connection, statement: _Statement) -> str:
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        await conn.execute("SET LOCAL plan_cache_mode = force_custom_plan")
        rows = await conn.fetch("EXPLAIN " + statement.sql, *statement.args)
    return "\n".join(r[0] for r in rows)


def _index_conditions(plan: str) -> str:
    return "\n".join(line for line in plan.splitlines() if "Index Cond" in line)


@pytest.mark.parametrize("scope", ["17.71.01", "17.71"])
async def test_every_read_of_what_waits_in_a_region_finds_it_through_an_index(
    waiting: asyncpg.Connection, scope: str
) -> None:
    reads = {
        "queue page": lambda c: tier_queues.queue(c, Tier.DISTRICT, scope, 50, None),
        "queue figures": lambda c: tier_queues.queue_stats(c, scope, dt.timedelta(days=3)),
        "waiting regencies": lambda c: tier_queues.waiting_regencies(c, scope),
        "overdue counts": lambda c: tier_queues.overdue_counts(
            c, scope, [(Tier.DISTRICT, "17.71", START + dt.timedelta(days=2))]
        ),
    }
    for name, read in reads.items():
        statement = _Statement()
        await read(statement)
        plan = await _plan(waiting, statement)
        assert "tier_region" in _index_conditions(plan), f"{name} in {scope} walks all that waits:\n{plan}"


async def test_an_officers_page_and_a_wider_scopes_page_hold_the_items_of_their_regions_in_order(
    waiting: asyncpg.Connection,
) -> None:
    def expected(prefix: str, tier: Tier) -> list[str]:
        return [
            pid for pid, village, t, _ in _items() if t is tier and tier_region(t, village).startswith(prefix)
        ]

    async def every_page(tier: Tier, scope: str, *, newest_first: bool = False) -> list[str]:
        ids: list[str] = []
        after = None
        while True:
            rows = await tier_queues.queue(waiting, tier, scope, 7, after, newest_first=newest_first)
            if not rows:
                return ids
            ids += [r["proposal_id"] for r in rows]
            after = MomentCursor(rows[-1]["entered_at"], rows[-1]["proposal_id"])

    # A district's officer: the district's own queue (two of its villages), oldest first and newest.
    assert await every_page(Tier.DISTRICT, "17.71.01") == expected("17.71.01", Tier.DISTRICT)
    assert len(expected("17.71.01", Tier.DISTRICT)) == 60
    newest = await every_page(Tier.DISTRICT, "17.71.01", newest_first=True)
    assert newest == expected("17.71.01", Tier.DISTRICT)[::-1]
    # A regency's queue at its own tier, and an auditor's regency over its districts' queues.
    assert await every_page(Tier.REGENCY, "17.71") == expected("17.71", Tier.REGENCY)
    assert await every_page(Tier.DISTRICT, "17.71") == expected("17.71", Tier.DISTRICT)
    assert len(expected("17.71", Tier.DISTRICT)) == 120
    # Another regency's district holds its own items only; the Ministry's scope holds them all.
    assert await every_page(Tier.DISTRICT, "17.02.01") == expected("17.02.01", Tier.DISTRICT)
    assert await every_page(Tier.DISTRICT, "ID") == expected("", Tier.DISTRICT)
