"""HTTP routes of decree proofs and the Ministry's published decree keys (see decree_proofs)."""

from __future__ import annotations

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from dtks_contracts.vocabulary.roles import Role
from dtks_registry.adapters import decree_chain, register
from dtks_registry.adapters.public_check_limit import PublicCheckLimit
from dtks_registry.decree_proofs import DecreeTrees, changes
from dtks_registry.domain.masking import mask_name, normalize_name
from dtks_registry.institutions_api import may_read_institution
from dtks_runtime.auth.deps import CurrentPrincipal, require_role
from dtks_runtime.auth.principal import Principal
from dtks_runtime.errors import DomainError
from dtks_runtime.problems import Problem, problem_response

router = APIRouter()

WELL_KNOWN_KEYS = "/.well-known/dtks-decree-keys"

# The codes these routes raise, and their statuses (create_app's error table).
ERROR_STATUSES = {
    "decree_not_found": 404,
    "household_not_in_decree": 404,
    "institution_not_in_decree": 404,
    "decree_without_merkle_root": 409,
    "register_differs_from_decree": 500,
}

_NATIONAL = (Role.AUDITOR, Role.MINISTRY_VERIFIER, Role.MINISTRY_DETERMINER)


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool | None = request.app.state.runtime.pool
    assert pool is not None
    return pool


def _trees(request: Request) -> DecreeTrees:
    trees: DecreeTrees = request.app.state.decree_trees
    return trees


@router.get(WELL_KNOWN_KEYS, tags=["decree proofs"], summary="The Ministry's decree signing keys (public)")
async def decree_keys(request: Request) -> dict[str, Any]:
    signer = request.app.state.decree_signer
    async with _pool(request).acquire() as conn:
        recorded = await decree_chain.recorded_keys(conn)
    return {
        "algorithm": "ed25519",
        "signed_bytes": "see dtks_contracts.tree_head",
        "current": {"key_id": signer.key_id, "public_key": signer.public_key.hex()},
        "development_key": signer.development,
        "recorded": recorded,
    }


async def _in_scope(conn: asyncpg.Connection, principal: Principal, household_id: str) -> bool:
    row = await conn.fetchrow(
        "SELECT village_code, programs FROM households WHERE household_id = $1", household_id
    )
    if row is None or not principal.covers(row["village_code"]):
        return False
    if principal.role is Role.AGENCY and principal.programs:
        return bool(set(principal.programs) & set(row["programs"]))
    return True


@router.get(
    "/decree-proofs/inclusion",
    tags=["decree proofs"],
    summary="Proof that a household is in a decree's register (by household id, or NIK within your scope)",
)
async def inclusion_proof(
    request: Request,
    principal: CurrentPrincipal,
    decree: str = Query(min_length=1, max_length=120, description="Decree number, e.g. 1/HUK/2026"),
    household_id: str | None = Query(default=None, max_length=200),
    nik: str | None = Query(default=None, pattern=r"^[0-9]{16}$"),
) -> dict[str, Any]:
    if (household_id is None) == (nik is None):
        raise Problem(422, "household_or_nik", "Give either household_id or nik, not both and not neither.")
    async with _pool(request).acquire() as conn:
        tree = await _trees(request).get(conn, decree)
        if nik is not None:
            ids = [
                r["household_id"]
                for r in await conn.fetch("SELECT household_id FROM members WHERE nik = $1", nik)
            ]
            household_id = next((h for h in sorted(ids) if tree.index_of(h) is not None), None)
        visible = household_id is not None and await _in_scope(conn, principal, household_id)
    if not visible:
        # Out of scope reads as absent: the answer must not confirm that someone is registered.
        raise DomainError(
            "household_not_in_decree",
            f"No household {household_id or 'with this NIK'} in the register of decree {decree} "
            "within your scope.",
        )
    assert household_id is not None
    return tree.inclusion(household_id)


@router.get(
    "/decree-proofs/institution-inclusion",
    tags=["decree proofs"],
    summary="Proof that an institution (LKS) is in a decree's register, within your scope",
)
async def institution_inclusion_proof(
    request: Request,
    principal: CurrentPrincipal,
    decree: str = Query(min_length=1, max_length=120, description="Decree number, e.g. 1/HUK/2026"),
    institution_id: str = Query(min_length=1, max_length=200),
) -> dict[str, Any]:
    async with _pool(request).acquire() as conn:
        tree = await _trees(request).get(conn, decree)
        village = await conn.fetchval(
            "SELECT village_code FROM institutions WHERE institution_id = $1", institution_id
        )
    # Scoped as GET /institutions/{id} is; out of scope reads as absent, as for households.
    if village is None or not may_read_institution(principal, institution_id, village):
        raise DomainError(
            "institution_not_in_decree",
            f"No institution {institution_id} in the register of decree {decree} within your scope.",
        )
    return tree.institution_inclusion(institution_id)


@router.get(
    "/decree-proofs/changes",
    tags=["decree proofs"],
    summary="Which households entered, changed and left between two decrees, each with its proofs",
)
async def changes_proof(
    request: Request,
    principal: Annotated[Principal, Depends(require_role(*_NATIONAL))],
    from_decree: str = Query(alias="from", min_length=1, max_length=120),
    to_decree: str = Query(alias="to", min_length=1, max_length=120),
) -> dict[str, Any]:
    async with _pool(request).acquire() as conn:
        old = await _trees(request).get(conn, from_decree)
        new = await _trees(request).get(conn, to_decree)
    return changes(old, new)


@router.get(
    "/public/registration-proof",
    tags=["citizens"],
    summary="Without login: the proof that your household is in the latest decree (masked)",
    description=(
        "For a member of a household of the register: its leaf (household id and digest) and path to the "
        "decree's signed root. For a resident of an institution of the register: the leaf's hash only "
        "(format `dtks-leaf-inclusion-proof-v1`) and its path, so the proof names no institution."
    ),
    response_model=None,
)
async def registration_proof(
    request: Request,
    nik: str = Query(pattern=r"^[0-9]{16}$", description="NIK as on the identity card"),
    name: str = Query(min_length=1, max_length=200, description="Full name as on the identity card"),
) -> dict[str, Any] | Response:
    limit: PublicCheckLimit = request.app.state.public_check_limit
    async with _pool(request).acquire() as conn:
        wait = await limit.take(conn, request.client.host if request.client else "unknown")
    if wait > 0:
        problem = Problem(
            429, "too_many_requests",
            f"Too many checks from your address; try again in {int(wait) + 1} seconds.",
        )  # fmt: skip
        return problem_response(problem, request, headers={"retry-after": str(int(wait) + 1)})
    async with _pool(request).acquire() as conn:
        rows = await conn.fetch(
            """SELECT m.name, m.household_id FROM members m JOIN households h USING (household_id)
               WHERE m.nik = $1 AND h.active ORDER BY m.household_id""",
            nik,
        )
        latest = await conn.fetchval(
            "SELECT decree_number FROM determinations ORDER BY period_start DESC LIMIT 1"
        )
        wanted = normalize_name(name)
        match = next((r for r in rows if normalize_name(r["name"]) == wanted), None)
        # A resident of an institution (#19) is in the register through it, as the registration
        # status answers; asked only when no household of the register has the person.
        residencies = [] if match is not None else await register.current_residencies(conn, nik)
        residency = next((r for r in residencies if normalize_name(r["name"]) == wanted), None)
        found = match is not None or residency is not None
        tree = await _trees(request).get(conn, latest) if found and latest else None
    answer: dict[str, Any] = {"nik": nik[:6] + "*" * 10, "name": mask_name(name), "decree": latest}
    if tree is not None and match is not None and tree.index_of(match["household_id"]) is not None:
        # Masked: the household's digest and path, never its snapshot; the citizen can check it offline
        # against the Ministry's public key, and nobody learns who the household's members are.
        return {**answer, "in_decree": True, "proof": tree.inclusion(match["household_id"])}
    if (
        tree is not None
        and residency is not None
        and tree.institution_index(residency["institution_id"]) is not None
    ):
        # The institution's leaf by its hash only: neither its id nor its digest, either of which would
        # let a reader find which institution (a drug rehabilitation home, say) the person lives in.
        return {**answer, "in_decree": True, "proof": tree.resident_inclusion(residency["institution_id"])}
    # The same shape whether the NIK is unknown or the name wrong (as the registration status).
    return {**answer, "in_decree": False, "proof": None}
