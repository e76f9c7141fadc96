"""Reading and writing complaint rows; the events go through the unit of work beside them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import asyncpg

from dtks_complaints.domain.complaints import ComplaintIn, ComplaintStatus, ProposalStage
from dtks_runtime.errors import DomainError
from dtks_runtime.paging import MomentCursor

_COLUMNS = """seq, complaint_id, kind, channel, village_code, district_code, complainant_nik,
    complainant_name, phone, description, subject_nik, subject_household_id, subject_proposal_id,
    status, proposal_id, proposal_stage, closing_reason, decree_number, filed_at, due_at,
    escalated_at, closed_at, version"""


async def insert(
    conn: asyncpg.Connection,
    *,
    complaint_id: str,
    digest: bytes,
    complaint: ComplaintIn,
    channel: str,
    filed_at: dt.datetime,
    due_at: dt.datetime,
) -> None:
    await conn.execute(
        """INSERT INTO complaints (complaint_id, tracking_digest, kind, channel, village_code,
               district_code, complainant_nik, complainant_name, phone, description, subject_nik,
               subject_household_id, subject_proposal_id, status, filed_at, due_at, version)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, 'open', $14, $15, 1)""",
        complaint_id,
        digest,
        complaint.kind.value,
        channel,
        complaint.village_code,
        complaint.village_code.rsplit(".", 1)[0],
        complaint.nik,
        complaint.name,
        complaint.phone,
        complaint.description,
        complaint.subject_nik,
        complaint.subject_household_id,
        complaint.subject_proposal_id,
        filed_at,
        due_at,
    )


async def load_for_update(conn: asyncpg.Connection, complaint_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_COLUMNS} FROM complaints WHERE complaint_id = $1 FOR UPDATE", complaint_id
    )


async def load(conn: asyncpg.Connection | asyncpg.Pool, complaint_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT {_COLUMNS} FROM complaints WHERE complaint_id = $1", complaint_id)


async def by_tracking(conn: asyncpg.Connection | asyncpg.Pool, digest: bytes) -> asyncpg.Record | None:
    return await conn.fetchrow(
        """SELECT status, proposal_stage, closing_reason, filed_at, due_at
           FROM complaints WHERE tracking_digest = $1""",
        digest,
    )


async def mark_linked(conn: asyncpg.Connection, complaint_id: str, proposal_id: str) -> None:
    await conn.execute(
        """UPDATE complaints SET status = 'in_proposal', proposal_id = $2, proposal_stage = 'submitted',
               version = version + 1 WHERE complaint_id = $1""",
        complaint_id,
        proposal_id,
    )


async def mark_closed(
    conn: asyncpg.Connection,
    complaint_id: str,
    *,
    reason: str,
    at: dt.datetime,
    decree_number: str | None = None,
) -> None:
    # The phone number was kept to give the answer; a closed complaint has had it.
    await conn.execute(
        """UPDATE complaints SET status = 'closed', closing_reason = $2, closed_at = $3,
               decree_number = $4, phone = NULL, version = version + 1 WHERE complaint_id = $1""",
        complaint_id,
        reason,
        at,
        decree_number,
    )


async def due_for_update(conn: asyncpg.Connection, now: dt.datetime, limit: int) -> list[asyncpg.Record]:
    """Open complaints past their deadline, locked; another process's are skipped, not waited for."""
    return list(
        await conn.fetch(
            f"""SELECT {_COLUMNS} FROM complaints WHERE status = 'open' AND due_at <= $1
                ORDER BY due_at LIMIT $2 FOR UPDATE SKIP LOCKED""",
            now,
            limit,
        )
    )


async def mark_escalated(conn: asyncpg.Connection, complaint_ids: Sequence[str], at: dt.datetime) -> None:
    await conn.execute(
        """UPDATE complaints SET status = 'escalated', escalated_at = $2, version = version + 1
           WHERE complaint_id = ANY($1::text[])""",
        list(complaint_ids),
        at,
    )


async def linked_to(conn: asyncpg.Connection, proposal_ids: Sequence[str]) -> list[asyncpg.Record]:
    return list(
        await conn.fetch(
            f"""SELECT {_COLUMNS} FROM complaints
                WHERE proposal_id = ANY($1::text[]) AND status = 'in_proposal' FOR UPDATE""",
            list(proposal_ids),
        )
    )


async def set_stage(conn: asyncpg.Connection, complaint_id: str, stage: ProposalStage) -> None:
    await conn.execute(
        "UPDATE complaints SET proposal_stage = $2 WHERE complaint_id = $1", complaint_id, stage.value
    )


async def waiting_in(
    conn: asyncpg.Pool, region: str, *, escalated_only: bool, limit: int, after: MomentCursor | None
) -> list[dict[str, Any]]:
    """Complaints not closed in a region (a village, or a district's escalated ones), oldest first,
    one page after the cursor (dtks_runtime.paging)."""
    rows = await conn.fetch(
        f"""SELECT {_COLUMNS} FROM complaints
            WHERE status <> 'closed' AND (village_code = $1 OR district_code = $1)
              AND (NOT $2 OR status = 'escalated')
              AND ($4::timestamptz IS NULL OR (filed_at, seq) > ($4, $5::bigint))
            ORDER BY filed_at, seq LIMIT $3""",
        region,
        escalated_only,
        limit,
        after.at if after else None,
        cursor_seq(after.id) if after else 0,
    )
    return [dict(r) for r in rows]


def cursor_seq(text: str) -> int:
    """A cursor's tie-breaker: the last row's `seq`, its place in the order rows were written (see
    dtks_runtime.paging)."""
    try:
        return int(text or 0)
    except ValueError:
        raise DomainError(
            "invalid_cursor",
            "The page cursor is not one this list gave; start again from the first page.",
            errors=[{"field": "after", "message": "not a next_after of this list", "type": "invalid_cursor"}],
        ) from None


def status_of(row: asyncpg.Record) -> ComplaintStatus:
    return ComplaintStatus(row["status"])


async def record_progress(
    conn: asyncpg.Connection, progress: Sequence[tuple[str, str | None, str | None]]
) -> None:
    """(proposal, stage, decree) as the latest events say; a decree once recorded stays."""
    await conn.executemany(
        """INSERT INTO proposal_progress (proposal_id, stage, decree_number) VALUES ($1, $2, $3)
           ON CONFLICT (proposal_id) DO UPDATE SET stage = COALESCE(EXCLUDED.stage, proposal_progress.stage),
               decree_number = COALESCE(proposal_progress.decree_number, EXCLUDED.decree_number)""",
        progress,
    )


async def progress_for_update(conn: asyncpg.Connection, proposal_id: str) -> asyncpg.Record:
    """The proposal's progress row, locked (made if none): the consumer recording an event for it
    waits, so a link and the proposal's events are never missed by each other."""
    await conn.execute(
        "INSERT INTO proposal_progress (proposal_id) VALUES ($1) ON CONFLICT DO NOTHING", proposal_id
    )
    row = await conn.fetchrow(
        "SELECT stage, decree_number FROM proposal_progress WHERE proposal_id = $1 FOR UPDATE", proposal_id
    )
    assert row is not None
    return row


async def counts_in(pool: asyncpg.Pool, region: str) -> list[asyncpg.Record]:
    """Complaints under ``region`` (a prefix of the village code, or ID) by kind, village and outcome."""
    within = "" if region == "ID" else region
    return list(
        await pool.fetch(
            """SELECT kind, village_code, COALESCE(closing_reason, status) AS outcome, count(*) AS count
               FROM complaints WHERE village_code = $1 OR village_code LIKE $2
               GROUP BY kind, village_code, outcome ORDER BY village_code, kind, outcome""",
            within,
            f"{within}.%" if within else "%",
        )
    )
