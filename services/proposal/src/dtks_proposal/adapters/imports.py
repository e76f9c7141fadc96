"""Bulk imports in PostgreSQL: the staged file, its households, their outcome and rejected rows.

Staging writes every row at upload, in one transaction with the import (a chunk of rows at a time,
as they are read from the uploaded file), so once the upload is answered no row can be lost. The worker then takes households in chunks; each chunk's proposals,
events, rejections and progress commit together, so a killed process redoes at most the chunk it
was in, and nothing twice.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from dtks_contracts.text import storable
from dtks_proposal.domain.bulk_file import RowRejection, StagingPlan, StagingPlanner

# An import the worker still has to work off; 'completed', 'failed' and 'cancelled' are final.
UNFINISHED = ("staged", "processing")


class ImportStopped(Exception):
    """The import was cancelled or parked while a chunk of it was being worked: the chunk rolls back."""


async def find_by_hash(
    conn: asyncpg.Connection | asyncpg.Pool, region: str, content_hash: str
) -> uuid.UUID | None:
    value = await conn.fetchval(
        "SELECT import_id FROM imports WHERE uploader_region = $1 AND content_hash = $2", region, content_hash
    )
    return value if isinstance(value, uuid.UUID) else None


async def begin_stage(
    conn: asyncpg.Connection,
    *,
    import_id: uuid.UUID,
    content_hash: str,
    region: str,
    uploaded_by: dict[str, Any],
    correlation_id: str,
    filename: str | None,
    file_format: str,
    defaults: dict[str, Any],
) -> bool:
    """The import's row, its totals still zero (see :func:`finish_stage`); False if the same file
    was staged meanwhile (nothing written). In the transaction that stages the file's rows."""
    created = await conn.fetchval(
        """INSERT INTO imports (import_id, content_hash, uploader_region, uploaded_by, correlation_id, filename,
                                format, defaults, status, rows_total, households_total, rows_processed)
           VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, $8::jsonb, 'staged', 0, 0, 0)
           ON CONFLICT (uploader_region, content_hash) DO NOTHING RETURNING 1""",
        import_id,
        content_hash,
        region,
        json.dumps(uploaded_by),
        correlation_id,
        storable(filename) if filename is not None else None,
        file_format,
        json.dumps(defaults),
    )
    return created is not None


async def stage_rows(conn: asyncpg.Connection, import_id: uuid.UUID, plan: StagingPlan) -> None:
    """One chunk of the file's rows, and the rejections of those that belong to no household."""
    await conn.copy_records_to_table(
        "import_rows",
        records=[(import_id, number, group, json.dumps(data)) for number, group, data in plan.rows],
        columns=["import_id", "row_number", "group_no", "data"],
    )
    await add_rejections(conn, import_id, plan.rejections)


async def finish_stage(conn: asyncpg.Connection, import_id: uuid.UUID, planner: StagingPlanner) -> None:
    """The file's households and totals, once every row is staged."""
    households = planner.households()
    await conn.copy_records_to_table(
        "import_households",
        records=[(import_id, group, kk, count) for group, kk, count in households],
        columns=["import_id", "group_no", "kk_number", "row_count"],
    )
    await conn.execute(
        """UPDATE imports SET rows_total = $2, households_total = $3, rows_processed = $4,
                              status = CASE WHEN $3 = 0 THEN 'completed' ELSE status END,
                              finished_at = CASE WHEN $3 = 0 THEN now() ELSE finished_at END
           WHERE import_id = $1""",
        import_id,
        planner.rows_total,
        len(households),
        planner.rejected_total,
    )


async def add_rejections(
    conn: asyncpg.Connection, import_id: uuid.UUID, rejections: list[RowRejection]
) -> None:
    if rejections:
        await conn.copy_records_to_table(
            "import_rejections",
            # A rejected row is reported with what it held (an unknown column's name, a KK number):
            # a character PostgreSQL cannot store is written as its code instead.
            records=[
                (
                    import_id,
                    r.row,
                    storable(r.field),
                    storable(r.reason),
                    storable(r.kk_number) if r.kk_number is not None else None,
                    r.code,
                    storable(json.dumps(r.params, default=str)) if r.params else None,
                )
                for r in rejections
            ],
            columns=["import_id", "row_number", "field", "reason", "kk_number", "code", "params"],
        )


@dataclass(frozen=True)
class ImportJob:
    import_id: uuid.UUID
    uploader_region: str
    uploaded_by: dict[str, Any]
    correlation_id: str
    defaults: dict[str, Any]


@dataclass(frozen=True)
class PendingHousehold:
    group_no: int
    kk_number: str
    rows: list[tuple[int, dict[str, Any]]]


async def claim_job(conn: asyncpg.Connection) -> ImportJob | None:
    """The oldest unfinished import not waiting to be retried. Not locked: several chunks of one
    import may be worked at once, each holding only its own households (see
    :func:`pending_households`)."""
    row = await conn.fetchrow(
        """SELECT import_id, uploader_region, uploaded_by, correlation_id, defaults FROM imports
           WHERE status IN ('staged', 'processing') AND (retry_at IS NULL OR retry_at <= now())
           ORDER BY created_at LIMIT 1"""
    )
    if row is None:
        return None
    return ImportJob(
        row["import_id"],
        row["uploader_region"],
        json.loads(row["uploaded_by"]),
        row["correlation_id"],
        json.loads(row["defaults"]),
    )


async def pending_households(
    conn: asyncpg.Connection, import_id: uuid.UUID, limit: int
) -> list[PendingHousehold] | None:
    """The next ``limit`` unfinished households nobody else is working on, with their rows, in file
    order (one statement), locked until commit. None if every unfinished household is being worked
    on by another chunk; an empty list if none is left."""
    rows = await conn.fetch(
        """WITH h AS (SELECT group_no, kk_number FROM import_households
                      WHERE import_id = $1 AND NOT done ORDER BY group_no LIMIT $2
                      FOR UPDATE SKIP LOCKED)
           SELECT h.group_no, h.kk_number, r.row_number, r.data
           FROM h JOIN import_rows r ON r.import_id = $1 AND r.group_no = h.group_no
           ORDER BY h.group_no, r.row_number""",
        import_id,
        limit,
    )
    if not rows:
        busy = await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM import_households WHERE import_id = $1 AND NOT done)", import_id
        )
        return None if busy else []
    households: list[PendingHousehold] = []
    for r in rows:
        if not households or households[-1].group_no != r["group_no"]:
            households.append(PendingHousehold(r["group_no"], r["kk_number"], []))
        households[-1].rows.append((r["row_number"], json.loads(r["data"])))
    return households


async def finish_households(
    conn: asyncpg.Connection,
    import_id: uuid.UUID,
    outcomes: dict[int, str | None],
    *,
    rows_done: int,
    accepted: int,
    rejected: int,
) -> None:
    """Mark a chunk's households done (with the proposal each became) and move the progress.

    Raises :class:`ImportStopped` if the import was cancelled or parked meanwhile: the import's row
    is the chunk's last write, so a cancellation that committed first is seen here (the update
    waits for it and then finds the import no longer unfinished) and the whole chunk rolls back.
    """
    updated = await conn.fetchval(
        """WITH done AS (
               UPDATE import_households h SET done = true, proposal_id = x.pid
               FROM unnest($2::int[], $3::text[]) AS x(g, pid)
               WHERE h.import_id = $1 AND h.group_no = x.g
           )
           UPDATE imports SET status = 'processing', started_at = coalesce(started_at, now()),
                  rows_processed = rows_processed + $4, households_done = households_done + $5,
                  households_accepted = households_accepted + $6,
                  households_rejected = households_rejected + $7,
                  attempts = 0, last_error = NULL, retry_at = NULL, progress_at = now()
           WHERE import_id = $1 AND status IN ('staged', 'processing')
           RETURNING 1""",
        import_id,
        list(outcomes),
        list(outcomes.values()),
        rows_done,
        len(outcomes),
        accepted,
        rejected,
    )
    if updated is None:
        raise ImportStopped(import_id)


async def complete(conn: asyncpg.Connection, import_id: uuid.UUID) -> None:
    await conn.execute(
        """UPDATE imports SET status = 'completed', finished_at = now(), progress_at = now()
           WHERE import_id = $1 AND status IN ('staged', 'processing')""",
        import_id,
    )


@dataclass(frozen=True)
class FailedAttempt:
    status: str
    attempts: int


async def record_failure(
    conn: asyncpg.Connection | asyncpg.Pool,
    import_id: uuid.UUID,
    reason: str,
    *,
    max_attempts: int,
    retry_seconds: float,
) -> FailedAttempt | None:
    """Count a failed attempt at a chunk of the import: retried after ``retry_seconds`` times the
    attempts so far (a minute at most), or parked as failed, with ``reason``, once
    ``max_attempts`` attempts in a row have failed."""
    row = await conn.fetchrow(
        """UPDATE imports SET attempts = attempts + 1, last_error = $2,
                  retry_at = now() + make_interval(secs => least(60.0, $4::float8 * (attempts + 1))),
                  status = CASE WHEN attempts + 1 >= $3 THEN 'failed' ELSE status END,
                  finished_at = CASE WHEN attempts + 1 >= $3 THEN now() ELSE finished_at END
           WHERE import_id = $1 AND status IN ('staged', 'processing')
           RETURNING status, attempts""",
        import_id,
        storable(reason)[:1000],
        max_attempts,
        retry_seconds,
    )
    return FailedAttempt(row["status"], row["attempts"]) if row is not None else None


@dataclass(frozen=True)
class Cancellation:
    status: str  # the status the import had when asked
    uploader_region: str


async def cancel(
    conn: asyncpg.Connection, import_id: uuid.UUID, cancelled_by: dict[str, Any], may_cancel: Any
) -> Cancellation | None:
    """Cancel an unfinished or failed import; None if there is no such import.

    ``may_cancel(uploader_region)`` raises if the caller may not (scope), before anything changes.
    The import's row is locked first: a chunk in progress commits before (and is kept) or finds the
    import cancelled at its end and rolls back (see :func:`finish_households`).
    """
    row = await conn.fetchrow(
        "SELECT status, uploader_region FROM imports WHERE import_id = $1 FOR UPDATE", import_id
    )
    if row is None:
        return None
    may_cancel(row["uploader_region"])
    if row["status"] in (*UNFINISHED, "failed"):
        await conn.execute(
            """UPDATE imports SET status = 'cancelled', finished_at = now(), cancelled_by = $2::jsonb,
                      retry_at = NULL
               WHERE import_id = $1""",
            import_id,
            json.dumps(cancelled_by),
        )
    return Cancellation(row["status"], row["uploader_region"])


@dataclass(frozen=True)
class Backlog:
    """The imports waiting to be worked off, as /healthz reports them."""

    unfinished: int
    seconds_without_progress: float | None  # since the newest progress of any waiting import
    oldest_waiting_seconds: float | None
    failed: int


async def backlog(conn: asyncpg.Connection | asyncpg.Pool) -> Backlog:
    row = await conn.fetchrow(
        """SELECT count(*) FILTER (WHERE status IN ('staged', 'processing')) AS unfinished,
                  extract(epoch FROM now() - max(coalesce(progress_at, created_at))
                          FILTER (WHERE status IN ('staged', 'processing'))) AS idle,
                  extract(epoch FROM now() - min(created_at)
                          FILTER (WHERE status IN ('staged', 'processing'))) AS oldest,
                  count(*) FILTER (WHERE status = 'failed') AS failed
           FROM imports"""
    )
    assert row is not None
    return Backlog(
        unfinished=row["unfinished"],
        seconds_without_progress=float(row["idle"]) if row["idle"] is not None else None,
        oldest_waiting_seconds=float(row["oldest"]) if row["oldest"] is not None else None,
        failed=row["failed"],
    )


RejectionCursor = tuple[int, str, int]  # row number, field, id of the last rejection of a page


def encode_rejection_cursor(after: RejectionCursor) -> str:
    return base64.urlsafe_b64encode(json.dumps(list(after)).encode()).decode().rstrip("=")


def decode_rejection_cursor(cursor: str) -> RejectionCursor:
    """Raises ValueError for a cursor this service did not hand out."""
    try:
        row, field, ident = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return int(row), str(field), int(ident)
    except (TypeError, ValueError, binascii.Error) as exc:
        raise ValueError("not a cursor of this service") from exc


async def import_view(
    conn: asyncpg.Connection | asyncpg.Pool,
    import_id: uuid.UUID,
    *,
    rejected_after: RejectionCursor | None = None,
    rejected_limit: int = 0,
) -> dict[str, Any] | None:
    """An import's progress and one page of its rejected rows (in row order, ``rejected_limit`` of
    them after ``rejected_after``), with the cursor of the next page if there is one.

    Over 60 lines because it is two SQL reads (the import and the page of its rows) and the view
    assembled from them field by field, as the API answers it."""
    row = await conn.fetchrow(
        """SELECT *, (SELECT count(DISTINCT row_number) FROM import_rejections r
                      WHERE r.import_id = imports.import_id) AS rows_rejected
           FROM imports WHERE import_id = $1""",
        import_id,
    )
    if row is None:
        return None
    rejected = []
    if rejected_limit > 0:
        rejected = await conn.fetch(
            """SELECT row_number, field, reason, kk_number, code, params, id FROM import_rejections
               WHERE import_id = $1
                 AND ($2::int IS NULL OR (row_number, field, id) > ($2, $3::text, $4::bigint))
               ORDER BY row_number, field, id LIMIT $5""",
            import_id,
            *(rejected_after or (None, None, None)),
            rejected_limit + 1,
        )
    more = len(rejected) > rejected_limit
    rejected = rejected[:rejected_limit]
    last = rejected[-1] if rejected else None
    return {
        "import_id": str(row["import_id"]),
        "status": row["status"],
        "filename": row["filename"],
        "format": row["format"],
        "uploader_region": row["uploader_region"],
        "rows_total": row["rows_total"],
        "rows_processed": row["rows_processed"],
        "households_total": row["households_total"],
        "households_processed": row["households_done"],
        "households_accepted": row["households_accepted"],
        "households_rejected": row["households_rejected"],
        "rows_rejected": row["rows_rejected"],
        "created_at": row["created_at"].isoformat(),
        "started_at": row["started_at"].isoformat() if row["started_at"] else None,
        "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
        # Failed attempts in a row at the chunk being worked, and why the last one failed (for a
        # 'failed' import: why it was stopped).
        "attempts": row["attempts"],
        "failure_reason": row["last_error"],
        "cancelled_by": json.loads(row["cancelled_by"])["subject"] if row["cancelled_by"] else None,
        "rejected_rows": [
            {
                "row": r["row_number"],
                "field": r["field"],
                "code": r["code"],
                "params": json.loads(r["params"]) if r["params"] else {},
                "reason": r["reason"],
                "kk_number": r["kk_number"],
            }
            for r in rejected
        ],
        "next_cursor": encode_rejection_cursor((last["row_number"], last["field"], last["id"]))
        if more and last is not None
        else None,
    }
