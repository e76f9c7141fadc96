"""Reading the institutions section of the register (#19): by region, and one institution.

Scoped as the households' queries are: staff read the institutions of their region, national readers
all of them. An institution operator reads its own institution only (its token names it), never a
region's list. Residents' NIKs and names are personal data as household members' are: shown to
those who may read a household's members in that region, masked for a partner agency (its grant is
for programs, which an institution has none of) as the citizens' check masks them.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Query, Request

from dtks_contracts.regions import region_level
from dtks_contracts.timestamps import WIB
from dtks_contracts.vocabulary.institutions import AccreditationGrade, ServiceType
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.day_param import Day
from dtks_registry.domain.masking import masked_resident
from dtks_runtime.auth.deps import CurrentPrincipal, ensure_in_scope
from dtks_runtime.auth.principal import Principal
from dtks_runtime.errors import DomainError
from dtks_runtime.region_reads import planned_per_execution, region_filter

router = APIRouter()

ERROR_STATUSES = {"institution_not_found": 404}

INSTITUTION_PAGE_MAX = 1000

_COLUMNS = """institution_id, registration_number, name, service_type, village_code, open, residents,
              registered_in, last_decree, closure_reason, closed_in, snapshot::text AS snapshot"""


# The record's accreditation on a day ($7): valid through its last day, expired after it, or none.
_ACCREDITATION_FILTER = """(
    $6::text IS NULL
    OR ($6 = 'none' AND (snapshot->'accreditation' IS NULL OR snapshot->'accreditation' = 'null'::jsonb))
    OR ($6 = 'valid' AND (snapshot->'accreditation'->>'valid_until')::date >= $7::date)
    OR ($6 = 'expired' AND (snapshot->'accreditation'->>'valid_until')::date < $7::date))"""


def _pool(request: Request) -> asyncpg.Pool:
    pool = request.app.state.runtime.pool
    assert pool is not None
    return pool


def may_read_institution(principal: Principal, institution_id: str, village_code: str) -> bool:
    if principal.role is Role.INSTITUTION_OPERATOR:
        return principal.institution_id == institution_id
    return principal.covers(village_code)


def _document(row: asyncpg.Record, principal: Principal) -> dict[str, Any]:
    institution = json.loads(row["snapshot"])
    if principal.role is Role.AGENCY:
        institution["residents"] = [masked_resident(r) for r in institution.get("residents", [])]
    return {
        "institution_id": row["institution_id"],
        "status": "open" if row["open"] else "closed",
        "registration_number": row["registration_number"],
        "name": row["name"],
        "service_type": row["service_type"],
        "village_code": row["village_code"],
        "residents": row["residents"],
        "registered_in": row["registered_in"],
        "last_decree": row["last_decree"],
        "closure_reason": row["closure_reason"],
        "closed_in": row["closed_in"],
        # The record as the last decree fixed it (a closed institution's as it was when it closed).
        "institution": institution,
    }


@router.get(
    "/institutions",
    tags=["institutions"],
    summary="Social welfare institutions (LKS) of a region in the register, by type and status",
    description=(
        "The institutions of `region` (default: your scope) in institution id order, `limit` at a time; "
        "pass the answer's `next_after` as `after` for the next page. `service_type` keeps one type of "
        "service, `status` open or closed ones. `accreditation` keeps those whose accreditation is valid, "
        "expired or absent on `accreditation_on` (default today in WIB, the day the proposal door judges it by): a social service finds the "
        "homes whose accreditation runs out before a date by asking for expired ones on that date; "
        "`grade` keeps one accreditation grade. Residents' NIKs and names are masked for partner agencies."
    ),
)
async def list_institutions(
    request: Request,
    principal: CurrentPrincipal,
    region: str | None = Query(default=None, description="A region code inside your scope"),
    service_type: ServiceType | None = None,
    status: Literal["open", "closed", "all"] = "all",
    accreditation: Literal["valid", "expired", "none"] | None = None,
    accreditation_on: Annotated[Day | None, Query(description="The day `accreditation` is judged on")] = None,
    grade: AccreditationGrade | None = None,
    limit: int = Query(default=100, ge=1, le=INSTITUTION_PAGE_MAX),
    after: str | None = Query(default=None, max_length=200, description="next_after of the previous page"),
) -> dict[str, Any]:
    if principal.role is Role.INSTITUTION_OPERATOR:
        raise DomainError(
            "outside_region",
            "An institution operator reads its own institution (GET /institutions/{id}), not a region's list.",
        )
    region = region or principal.region
    try:
        region_level(region)
    except ValueError as exc:
        raise DomainError("invalid_region", f"{exc}.") from exc
    ensure_in_scope(principal, region)
    sql = f"""SELECT {_COLUMNS} FROM institutions
              WHERE {region_filter("village_code", 1)}
                AND ($2::text IS NULL OR service_type = $2)
                AND ($3::boolean IS NULL OR open = $3)
                AND ($4::text IS NULL OR institution_id > $4)
                AND {_ACCREDITATION_FILTER}
                AND ($8::text IS NULL OR snapshot->'accreditation'->>'grade' = $8)
              ORDER BY institution_id LIMIT $5"""
    open_ = None if status == "all" else status == "open"
    kind = service_type.value if service_type else None
    day = accreditation_on or dt.datetime.now(WIB).date()  # the day the proposal door judges it
    async with _pool(request).acquire() as conn, planned_per_execution(conn):
        rows = await conn.fetch(
            sql, region, kind, open_, after, limit, accreditation, day, grade.value if grade else None
        )
    return {
        "region": region,
        "institutions": [_document(r, principal) for r in rows],
        "next_after": rows[-1]["institution_id"] if len(rows) == limit else None,
    }


@router.get("/institutions/{institution_id}", tags=["institutions"], summary="An institution of the register")
async def get_institution(
    institution_id: str, request: Request, principal: CurrentPrincipal
) -> dict[str, Any]:
    async with _pool(request).acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {_COLUMNS} FROM institutions WHERE institution_id = $1", institution_id
        )
    # Out of scope reads as not found, as for households: the answer must not confirm it exists.
    if row is None or not may_read_institution(principal, row["institution_id"], row["village_code"]):
        raise DomainError(
            "institution_not_found", f"No institution {institution_id} in the register within your scope."
        )
    return _document(row, principal)


@router.get(
    "/institutions/{institution_id}/assistance",
    tags=["institutions"],
    summary="What decrees determined an institution is to receive",
    description=(
        "Every assistance the decrees determined for the institution, by period (newest first): program, "
        "period, per resident or per institution, residents counted, and the decree. Scoped as "
        "GET /institutions/{id}; `active_on` keeps the assistance whose period holds that day."
    ),
)
async def get_institution_assistance(
    institution_id: str,
    request: Request,
    principal: CurrentPrincipal,
    active_on: Annotated[Day | None, Query(description="Only assistance whose period holds this day")] = None,
) -> dict[str, Any]:
    async with _pool(request).acquire() as conn:
        row = await conn.fetchrow(
            "SELECT institution_id, village_code FROM institutions WHERE institution_id = $1", institution_id
        )
        if row is None or not may_read_institution(principal, row["institution_id"], row["village_code"]):
            raise DomainError(
                "institution_not_found", f"No institution {institution_id} in the register within your scope."
            )
        rows = await conn.fetch(
            """SELECT proposal_id, decree_number, program, starts_on, ends_on, basis, residents_counted
               FROM institution_assistance
               WHERE institution_id = $1 AND ($2::date IS NULL OR $2 BETWEEN starts_on AND ends_on)
               ORDER BY starts_on DESC, proposal_id""",
            institution_id,
            active_on,
        )
    return {
        "institution_id": institution_id,
        "assistance": [
            {
                "proposal_id": r["proposal_id"],
                "decree_number": r["decree_number"],
                "program": r["program"],
                "starts_on": r["starts_on"].isoformat(),
                "ends_on": r["ends_on"].isoformat(),
                "basis": r["basis"],
                "residents_counted": r["residents_counted"],
            }
            for r in rows
        ],
    }
