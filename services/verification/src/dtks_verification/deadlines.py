"""Deadlines as the queues show them: each item's due date and whether it is overdue, and the
overdue items per tier and region in the queue statistics (see domain.deadlines for the rules)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from dtks_contracts.vocabulary import Tier
from dtks_verification.adapters import governance, tier_queues
from dtks_verification.domain.deadlines import deadline_of, overdue_cutoff

# Freezes older than this cannot pause a deadline still running (the longest is 365 working days).
_FREEZE_HORIZON = dt.timedelta(days=800)


async def with_deadlines(
    conn: asyncpg.Connection, tier: Tier, rows: Sequence[asyncpg.Record], now: dt.datetime
) -> list[dict[str, Any]]:
    """Each queue row's deadline: working days, due date (WIB), overdue."""
    if not rows:
        return []
    policies = await governance.deadline_policies(conn)
    freezes = await governance.freezes_between(conn, min(r["entered_at"] for r in rows), now)
    out = []
    for r in rows:
        deadline = deadline_of(policies, freezes, tier, r["village_code"], r["entered_at"], now)
        out.append(
            {
                "working_days": deadline.working_days,
                "due_date": deadline.due_date.isoformat(),
                "overdue": deadline.overdue,
            }
        )
    return out


async def overdue_by_queue(
    conn: asyncpg.Connection, scope: str, now: dt.datetime
) -> dict[tuple[str, str], int]:
    """Overdue items per (tier, tier_region) in scope: one cutoff per tier and regency, computed
    here from the calendar, and one counting query (no calendar per row)."""
    pairs = await tier_queues.waiting_regencies(conn, scope)
    if not pairs:
        return {}
    policies = await governance.deadline_policies(conn)
    freezes = await governance.freezes_between(conn, now - _FREEZE_HORIZON, now)
    cutoffs = [(t, regency, overdue_cutoff(policies, freezes, t, regency, now)) for t, regency in pairs]
    return await tier_queues.overdue_counts(conn, scope, cutoffs)
