"""Items past a deadline that have not been announced yet, and the marks that they have been."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

from dtks_contracts.vocabulary import Tier


async def unannounced(
    conn: asyncpg.Connection, cutoffs: Sequence[tuple[Tier, str, dt.datetime, int]], limit: int
) -> list[asyncpg.Record]:
    """Items waiting at a tier that entered before their (tier, regency, level) cutoff and have no
    mark for that level yet, oldest first, locked (others' locked rows are skipped, not waited for)."""
    if not cutoffs:
        return []
    return await conn.fetch(
        """SELECT p.proposal_id, p.round, p.village_code, p.tier, p.entered_at, p.stream_version, c.level
           FROM proposals p
           JOIN unnest($1::text[], $2::text[], $3::timestamptz[], $4::int[]) AS c(tier, regency, cutoff, level)
             ON c.tier = p.tier AND c.regency = left(p.village_code, 5)
           WHERE p.status = 'in_tier' AND p.entered_at < c.cutoff
             AND NOT EXISTS (SELECT 1 FROM overdue_marks m
                             WHERE m.proposal_id = p.proposal_id AND m.tier = p.tier
                               AND m.entered_at = p.entered_at AND m.level = c.level)
           ORDER BY p.entered_at, p.proposal_id, c.level
           LIMIT $5
           FOR UPDATE OF p SKIP LOCKED""",
        [t.value for t, _, _, _ in cutoffs],
        [r for _, r, _, _ in cutoffs],
        [c for _, _, c, _ in cutoffs],
        [level for _, _, _, level in cutoffs],
        limit,
    )


async def mark(
    conn: asyncpg.Connection, marks: Sequence[tuple[str, str, dt.datetime, int]], versions: dict[str, int]
) -> None:
    """Record the announced (proposal, tier, entry, level) and the proposals' new stream versions
    (entered_at stays: an overdue notice does not move the item)."""
    await conn.executemany(
        "INSERT INTO overdue_marks (proposal_id, tier, entered_at, level) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT DO NOTHING",
        marks,
    )
    await conn.execute(
        """UPDATE proposals p SET stream_version = x.version
           FROM unnest($1::text[], $2::int[]) AS x(proposal_id, version)
           WHERE p.proposal_id = x.proposal_id""",
        list(versions),
        list(versions.values()),
    )
