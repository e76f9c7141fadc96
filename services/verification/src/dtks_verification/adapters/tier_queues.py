"""What waits where: the tiers' queues and their statistics, read from `proposals` and
`pending_checks`."""

from __future__ import annotations

import datetime as dt

import asyncpg

from dtks_contracts.vocabulary import Tier, is_tier_region
from dtks_runtime.paging import MomentCursor
from dtks_runtime.region_reads import region_filter


async def queue(
    conn: asyncpg.Connection,
    tier: Tier,
    scope: str,
    limit: int,
    after: MomentCursor | None,
    *,
    newest_first: bool = False,
) -> list[asyncpg.Record]:
    """One page of what waits at `tier` in `scope`, after the cursor in the order asked.

    The cursor is the last item's (entered_at, proposal_id) (dtks_runtime.paging): proposals forwarded
    together enter the next tier at one moment."""
    direction, compare = ("DESC", "<") if newest_first else ("ASC", ">")
    # An officer's scope is one queue, read in the index's order from its cursor: a page reads its
    # own rows. A wider scope (an auditor's) is a range of queues, sorted.
    region = "tier_region = $2" if is_tier_region(tier, scope) else region_filter("tier_region", 2)
    return await conn.fetch(
        f"""SELECT proposal_id, round, village_code, kind, tier_region, entered_at,
                   content->'household'->>'kk_number' AS kk_number,
                   jsonb_array_length(COALESCE(content->'household'->'members', '[]'::jsonb)) AS members
            FROM proposals
            WHERE status = 'in_tier' AND tier = $1 AND {region}
              AND ($4::timestamptz IS NULL OR (entered_at, proposal_id) {compare} ($4, $5::text))
            ORDER BY entered_at {direction}, proposal_id {direction} LIMIT $3""",
        tier.value,
        scope,
        limit,
        after.at if after else None,
        after.id if after else "",
    )


async def queue_stats(conn: asyncpg.Connection, scope: str, age_limit: dt.timedelta) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT tier, tier_region, count(*) AS count, min(entered_at) AS oldest,
                   count(*) FILTER (WHERE entered_at < now() - $2::interval) AS past_age_limit
            FROM proposals
            WHERE status = 'in_tier' AND {region_filter("tier_region", 1)}
            GROUP BY tier, tier_region ORDER BY tier, tier_region""",
        scope,
        age_limit,
    )


async def checks_waiting(conn: asyncpg.Connection, scope: str) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""SELECT count(*) AS count, min(c.queued_at) AS oldest,
                   count(*) FILTER (WHERE c.last_error IS NOT NULL) AS waiting_for_civil_registry
            FROM pending_checks c JOIN proposals p USING (proposal_id)
            WHERE {region_filter("p.village_code", 1)}""",
        scope,
    )


async def waiting_regencies(conn: asyncpg.Connection, scope: str) -> list[tuple[Tier, str]]:
    """The (tier, regency of the village) pairs something waits at, in scope."""
    rows = await conn.fetch(
        f"""SELECT DISTINCT tier, left(village_code, 5) AS regency FROM proposals
            WHERE status = 'in_tier' AND {region_filter("tier_region", 1)}""",
        scope,
    )
    return [(Tier(r["tier"]), r["regency"]) for r in rows]


async def overdue_counts(
    conn: asyncpg.Connection, scope: str, cutoffs: list[tuple[Tier, str, dt.datetime]]
) -> dict[tuple[str, str], int]:
    """Items overdue per (tier, tier_region): those that entered before their (tier, regency)'s cutoff."""
    rows = await conn.fetch(
        f"""SELECT p.tier, p.tier_region, count(*) AS overdue
            FROM proposals p
            JOIN unnest($2::text[], $3::text[], $4::timestamptz[]) AS c(tier, regency, cutoff)
              ON c.tier = p.tier AND c.regency = left(p.village_code, 5)
            WHERE p.status = 'in_tier' AND {region_filter("p.tier_region", 1)} AND p.entered_at < c.cutoff
            GROUP BY p.tier, p.tier_region""",
        scope,
        [t.value for t, _, _ in cutoffs],
        [r for _, r, _ in cutoffs],
        [c for _, _, c in cutoffs],
    )
    return {(r["tier"], r["tier_region"]): r["overdue"] for r in rows}
