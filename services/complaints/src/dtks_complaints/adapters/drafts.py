"""Reading and writing life-event draft rows; the village's decisions' events go through the unit
of work beside them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg

from dtks_complaints.adapters.complaints import cursor_seq
from dtks_complaints.domain.complaints import ProposalStage
from dtks_runtime.paging import MomentCursor

_COLUMNS = """seq, draft_id, life_event_id, event_type, nik, person_name, household_id, village_code,
    proposal_kind, deactivation_reason, note, details, to_village, status, proposal_id, proposal_stage,
    decree_number, dismissal_reason, dismissal_note, created_at, decided_at, version"""


async def load(conn: asyncpg.Connection | asyncpg.Pool, draft_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM life_event_drafts WHERE draft_id = $1", draft_id)


async def load_for_update(conn: asyncpg.Connection, draft_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM life_event_drafts WHERE draft_id = $1 FOR UPDATE", draft_id
    )


async def in_village(
    pool: asyncpg.Pool, village: str, status: str, *, limit: int, after: MomentCursor | None
) -> list[asyncpg.Record]:
    """A village's drafts of one status, oldest first, one page after the cursor (dtks_runtime.paging):
    a batch of life events opens many drafts at one moment."""
    return list(
        await pool.fetch(
            f"""SELECT {_COLUMNS} FROM life_event_drafts WHERE village_code = $1 AND status = $2
                  AND ($4::timestamptz IS NULL OR (created_at, seq) > ($4, $5::bigint))
                ORDER BY created_at, seq LIMIT $3""",
            village,
            status,
            limit,
            after.at if after else None,
            cursor_seq(after.id) if after else 0,
        )
    )


async def arriving_in(pool: asyncpg.Pool, village: str) -> list[asyncpg.Record]:
    """Registered people other villages' drafts say moved here, newest first: the receiving
    village's note (they may belong in its register now)."""
    return list(
        await pool.fetch(
            f"""SELECT {_COLUMNS} FROM life_event_drafts WHERE to_village = $1
                ORDER BY created_at DESC LIMIT 200""",
            village,
        )
    )


async def mark_confirmed(
    conn: asyncpg.Connection,
    draft_id: str,
    proposal_id: str,
    *,
    stage: ProposalStage,
    decree_number: str | None,
    at: dt.datetime,
) -> None:
    await conn.execute(
        """UPDATE life_event_drafts SET status = 'confirmed', proposal_id = $2, proposal_stage = $3,
               decree_number = $4, decided_at = $5, version = version + 1 WHERE draft_id = $1""",
        draft_id,
        proposal_id,
        stage.value,
        decree_number,
        at,
    )


async def mark_dismissed(
    conn: asyncpg.Connection, draft_id: str, reason: str, note: str | None, at: dt.datetime
) -> None:
    await conn.execute(
        """UPDATE life_event_drafts SET status = 'dismissed', dismissal_reason = $2, dismissal_note = $3,
               decided_at = $4, version = version + 1 WHERE draft_id = $1""",
        draft_id,
        reason,
        note,
        at,
    )


async def follow(conn: asyncpg.Connection, progress: Sequence[tuple[str, str | None, str | None]]) -> None:
    """Confirmed drafts take their proposal's stage and decree, as the proposal's events say (the
    same progress the complaints linked to proposals follow)."""
    await conn.executemany(
        """UPDATE life_event_drafts SET proposal_stage = COALESCE($2, proposal_stage),
               decree_number = COALESCE(decree_number, $3)
           WHERE proposal_id = $1 AND status = 'confirmed'""",
        progress,
    )
