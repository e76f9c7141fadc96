"""The `freezes` and `deadline_policies` tables: the Ministry's freeze periods and deadlines."""

from __future__ import annotations

import datetime as dt

import asyncpg

from dtks_contracts.vocabulary import Tier
from dtks_runtime.freezes import Freeze, row_to_freeze


async def save_freeze(
    conn: asyncpg.Connection, freeze: Freeze, version: int, *, lifted: bool = False
) -> None:
    await conn.execute(
        """INSERT INTO freezes (freeze_id, scope, actions, starts_at, ends_at, reason, lifted, stream_version)
           VALUES ($1, $2, $3::text[], $4, $5, $6, $7, $8)
           ON CONFLICT (freeze_id) DO UPDATE SET ends_at = EXCLUDED.ends_at, lifted = EXCLUDED.lifted,
                                                 stream_version = EXCLUDED.stream_version""",
        freeze.freeze_id,
        freeze.scope,
        sorted(a.value for a in freeze.actions),
        freeze.starts_at,
        freeze.ends_at,
        freeze.reason,
        lifted,
        version,
    )


async def load_freeze(conn: asyncpg.Connection, freeze_id: str) -> tuple[Freeze, int, bool] | None:
    """The freeze, its stream version and whether it was lifted; locked for the caller's change."""
    row = await conn.fetchrow("SELECT * FROM freezes WHERE freeze_id = $1 FOR UPDATE", freeze_id)
    return (row_to_freeze(row), row["stream_version"], row["lifted"]) if row else None


async def freezes_ending_after(conn: asyncpg.Connection, moment: dt.datetime) -> list[Freeze]:
    """Freezes that still hold or are still to come at `moment` (few: a handful a year)."""
    rows = await conn.fetch("SELECT * FROM freezes WHERE ends_at > $1 ORDER BY starts_at", moment)
    return [row_to_freeze(r) for r in rows]


async def freezes_between(conn: asyncpg.Connection, since: dt.datetime, until: dt.datetime) -> list[Freeze]:
    rows = await conn.fetch(
        "SELECT * FROM freezes WHERE ends_at > $1 AND starts_at < $2 ORDER BY starts_at", since, until
    )
    return [row_to_freeze(r) for r in rows]


async def save_deadline(
    conn: asyncpg.Connection, tier: Tier, regency_code: str | None, working_days: int
) -> int:
    """Set the policy; its new stream version (0 before: the first setting is version 1)."""
    version: int = await conn.fetchval(
        """INSERT INTO deadline_policies (tier, regency_code, working_days, stream_version)
           VALUES ($1, $2, $3, 1)
           ON CONFLICT (tier, regency_code) DO UPDATE SET working_days = EXCLUDED.working_days,
                                                          stream_version = deadline_policies.stream_version + 1
           RETURNING stream_version""",
        tier.value,
        regency_code or "",
        working_days,
    )
    return version


async def deadline_policies(conn: asyncpg.Connection) -> dict[tuple[str, str], int]:
    """Working days by (tier, regency_code or '' for the country's)."""
    rows = await conn.fetch("SELECT tier, regency_code, working_days FROM deadline_policies")
    return {(r["tier"], r["regency_code"]): r["working_days"] for r in rows}
