"""What the register has received and not yet determined: a preview for the Ministry and auditors.

Acceptances reach the registry asynchronously; before issuing a decree, the determiner (and the
demo driver) can see which accepted proposals the registry already holds.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from dtks_contracts.vocabulary.roles import Role
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
    if row is None:
        raise DomainError(
            "candidate_not_found",
            f"The register has not received an acceptance of proposal {proposal_id}.",
        )
    return {**dict(row), "accepted_at": row["accepted_at"].isoformat()}
