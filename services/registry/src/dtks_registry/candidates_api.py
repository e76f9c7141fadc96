"""What the register has received and not yet determined: a preview for the Ministry and auditors.

Acceptances reach the registry asynchronously; before issuing a decree, the determiner (and the
demo driver) can see which accepted proposals the registry already holds.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from dtks_contracts.vocabulary.roles import Role
from dtks_registry.adapters.register import PENDING_SQL
from dtks_runtime.auth.deps import require_role
from dtks_runtime.auth.principal import Principal
from dtks_runtime.errors import DomainError
from dtks_runtime.service import ServiceRuntime

router = APIRouter()
_READERS = (Role.MINISTRY_DETERMINER, Role.MINISTRY_VERIFIER, Role.AUDITOR)


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    assert runtime.pool is not None
    return runtime


@router.get(
    "/candidates",
    tags=["determination"],
    summary="What a decree with this cut-off would take up: acceptances no decree has applied yet",
    description=(
        "The preview a determiner reads before issuing a decree: how many of the Ministry's acceptances "
        "up to `cutoff` are waiting, by kind, and the first `limit` of them (oldest first). The decree "
        "still decides each household by its rule (one it cannot apply is listed in its `not_applied`)."
    ),
)
async def pending_candidates(
    request: Request,
    _: Annotated[Principal, Depends(require_role(*_READERS))],
    cutoff: Annotated[dt.datetime, Query(description="The decree's cut-off, with its offset")],
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    if cutoff.tzinfo is None:
        raise DomainError(
            "invalid_cutoff", "Give the cut-off with its offset, e.g. 2026-12-31T23:59:59+07:00."
        )
    pool = _runtime(request).pool
    assert pool is not None
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        counts = await conn.fetch(
            f"SELECT kind, count(*) AS n FROM ({PENDING_SQL}) p GROUP BY kind ORDER BY kind", cutoff
        )
        rows = await conn.fetch(
            f"""SELECT p.proposal_id, p.kind, p.household_id, c.village_code, p.accepted_at
                FROM ({PENDING_SQL}) p JOIN candidates c USING (proposal_id)
                ORDER BY p.accepted_at, p.proposal_id LIMIT $2""",
            cutoff,
            limit,
        )
    by_kind = {r["kind"]: int(r["n"]) for r in counts}
    return {
        "cutoff": cutoff.isoformat(),
        "pending": sum(by_kind.values()),
        "by_kind": by_kind,
        "items": [{**dict(r), "accepted_at": r["accepted_at"].isoformat()} for r in rows],
    }


@router.get(
    "/candidates/{proposal_id}",
    tags=["determination"],
    summary="Has the register received this accepted proposal? (Ministry roles, auditors)",
)
async def candidate(
    proposal_id: str, request: Request, _: Annotated[Principal, Depends(require_role(*_READERS))]
) -> dict[str, Any]:
    pool = _runtime(request).pool
    assert pool is not None
    async with pool.acquire() as conn:
        row = await conn.fetchrow(
            """SELECT proposal_id, round, kind, household_id, village_code, accepted_at
               FROM candidates WHERE proposal_id = $1""",
            proposal_id,
        )
        if row is None:  # an institution's (#19) acceptance is kept beside the households'
            row = await conn.fetchrow(
                """SELECT proposal_id, round, kind, institution_id, village_code, accepted_at
                   FROM institution_candidates WHERE proposal_id = $1""",
                proposal_id,
            )
    if row is None:
        raise DomainError(
            "candidate_not_found",
            f"The register has not received an acceptance of proposal {proposal_id}.",
        )
    return {**dict(row), "accepted_at": row["accepted_at"].isoformat()}
