"""The `pending_checks` queue: integrity checks waiting to run (always briefly; for as long as the
civil registry is down), leased by the checks worker."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from dtks_contracts.envelope import Actor


@dataclass(frozen=True)
class PendingCheck:
    """A check of one proposal's round at one stage: the entry check of a new round, or the
    Ministry's re-check; queued, or leased back from the queue with who asked for it and why."""

    proposal_id: str
    round: int
    stage: str
    requested_by: Actor | None = None
    note: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None


async def enqueue_checks(conn: asyncpg.Connection, requests: Sequence[PendingCheck]) -> None:
    """Queue checks of distinct proposals; a proposal's newer request replaces its queued one."""
    if not requests:
        return
    await conn.execute(
        """INSERT INTO pending_checks (proposal_id, round, stage, requested_by, note, correlation_id, causation_id)
           SELECT pid, rnd, stage, by::jsonb, note, corr, cause
           FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                AS x(pid, rnd, stage, by, note, corr, cause)
           ON CONFLICT (proposal_id) DO UPDATE SET round = EXCLUDED.round, stage = EXCLUDED.stage,
               requested_by = EXCLUDED.requested_by, note = EXCLUDED.note, queued_at = now(),
               correlation_id = EXCLUDED.correlation_id, causation_id = EXCLUDED.causation_id,
               not_before = now(), attempts = 0, last_error = NULL""",
        [r.proposal_id for r in requests],
        [r.round for r in requests],
        [r.stage for r in requests],
        [r.requested_by.model_dump_json() if r.requested_by else None for r in requests],
        [r.note for r in requests],
        [r.correlation_id for r in requests],
        [r.causation_id for r in requests],
    )


async def lease_checks(conn: asyncpg.Connection, limit: int, lease_seconds: float) -> list[PendingCheck]:
    """Take up to `limit` due checks, oldest first, hiding them from other workers for the lease."""
    rows = await conn.fetch(
        """UPDATE pending_checks SET not_before = now() + make_interval(secs => $2), attempts = attempts + 1
           WHERE proposal_id IN (SELECT proposal_id FROM pending_checks WHERE not_before <= now()
                                 ORDER BY queued_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING proposal_id, round, stage, requested_by::text AS requested_by, note,
                     correlation_id, causation_id""",
        limit,
        lease_seconds,
    )
    return [
        PendingCheck(
            r["proposal_id"],
            r["round"],
            r["stage"],
            Actor.model_validate_json(r["requested_by"]) if r["requested_by"] else None,
            r["note"],
            r["correlation_id"],
            r["causation_id"],
        )
        for r in rows
    ]


async def defer_checks(
    conn: asyncpg.Connection, proposal_ids: Sequence[str], seconds: float, error: str
) -> None:
    await conn.execute(
        """UPDATE pending_checks SET not_before = now() + make_interval(secs => $2), last_error = $3
           WHERE proposal_id = ANY($1::text[])""",
        list(proposal_ids),
        seconds,
        error,
    )


async def release_checks(conn: asyncpg.Connection, proposal_ids: Sequence[str]) -> None:
    """Hand leased checks back unrun: due again at once, for this or another worker."""
    await conn.execute(
        "UPDATE pending_checks SET not_before = now() WHERE proposal_id = ANY($1::text[])", list(proposal_ids)
    )


async def finish_checks(conn: asyncpg.Connection, checks: Sequence[PendingCheck]) -> None:
    """Remove concluded checks; a check queued again meanwhile (another round or stage) stays."""
    if not checks:
        return
    await conn.execute(
        """DELETE FROM pending_checks c
           USING unnest($1::text[], $2::int[], $3::text[]) AS x(pid, rnd, stage)
           WHERE c.proposal_id = x.pid AND c.round = x.rnd AND c.stage = x.stage""",
        [c.proposal_id for c in checks],
        [c.round for c in checks],
        [c.stage for c in checks],
    )


async def drop_checks(conn: asyncpg.Connection, proposal_ids: Sequence[str]) -> None:
    """Forget the queued checks of proposals whose current round was just checked: any queued one
    is of an earlier round (its worker would find the round moved on and drop it anyway)."""
    if proposal_ids:
        await conn.execute(
            "DELETE FROM pending_checks WHERE proposal_id = ANY($1::text[])", list(proposal_ids)
        )


async def pending_check_of(conn: asyncpg.Connection, proposal_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT stage, queued_at, attempts, last_error FROM pending_checks WHERE proposal_id = $1",
        proposal_id,
    )
    return None if row is None else dict(row)
