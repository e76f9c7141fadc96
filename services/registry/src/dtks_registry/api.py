"""HTTP routes of the registry: thin; parse, authorize, call the handlers or the read model, answer."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
)

from dtks_contracts.decree_chunks import DeterminationManifest
from dtks_contracts.identifiers import DecreeNumber, EntityId
from dtks_contracts.regions import contains, region_level
from dtks_contracts.text import Name, SafeStr
from dtks_contracts.timestamps import WIB
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.roles import Role
from dtks_registry import audit, handlers
from dtks_registry.adapters import audit_log, register
from dtks_registry.adapters.projection import RecordedDecree, read_determination
from dtks_registry.adapters.public_check_limit import PublicCheckLimit
from dtks_registry.day_param import Day
from dtks_registry.deps import RegistryDeps
from dtks_registry.domain.masking import mask_name, masked_resident, normalize_name
from dtks_registry.domain.periods import InvalidPeriod, parse_period
from dtks_registry.domain.welfare import DecileItem
from dtks_runtime.auth.deps import CurrentPrincipal, ensure_in_scope, require_role
from dtks_runtime.auth.principal import Principal
from dtks_runtime.errors import DomainError, status_of
from dtks_runtime.problems import Problem, problem_response
from dtks_runtime.region_reads import planned_per_execution, region_filter
from dtks_runtime.service import ServiceRuntime

router = APIRouter()

# The service's one table from a refusal's code to its HTTP status (dtks_runtime.errors): for the
# DomainErrors its handlers and routes raise, and for the per-item refusals of a decile batch, which
# are reported inside a 200 answer with the status they would have on their own.
ERROR_STATUSES = {
    # determination
    "invalid_period": 422,
    "cutoff_in_future": 422,
    "nothing_to_determine": 409,
    "register_changed": 409,
    "period_already_determined": 409,
    "period_out_of_order": 409,
    # A national freeze of decrees holds (dtks_runtime.freezes): refused for a while, not for good.
    "frozen": 423,
    "decree_not_found": 404,
    "candidate_not_found": 404,
    # welfare deciles, per item
    "decile_out_of_range": 422,
    "duplicate_in_batch": 422,
    "household_not_found": 404,
    "household_deactivated": 409,
    "older_ranking": 409,
    # queries and audit
    "invalid_region": 422,
    "invalid_decile_range": 422,
    "program_not_granted": 403,
    # An institution operator asking for the household register (its scope is one institution).
    "outside_region": 403,
    "person_not_found": 404,
    "invalid_request": 422,
}

NATIONAL_READERS = (Role.AUDITOR, Role.MINISTRY_VERIFIER, Role.MINISTRY_DETERMINER)
_CHILD_CODE_LENGTH = {"national": 2, "province": 5, "regency": 8, "district": 13, "village": None}


def _runtime(request: Request) -> ServiceRuntime:
    runtime: ServiceRuntime = request.app.state.runtime
    return runtime


async def _deps(request: Request) -> RegistryDeps:
    # async: FastAPI runs a plain function dependency in its thread pool, a thread hand-off on every
    # request for one attribute read (measured in complaints' public form, #17).
    deps: RegistryDeps = request.app.state.deps  # built by main.py once the runtime started
    return deps


Deps = Annotated[RegistryDeps, Depends(_deps)]


def _pool(request: Request) -> asyncpg.Pool:
    pool = _runtime(request).pool
    assert pool is not None
    return pool


def _may_read(principal: Principal, village_code: str, programs: list[str]) -> bool:
    """Personal data: only inside the reader's region, and for agencies only their granted programs.
    An institution operator's region is its institution's village, not a mandate over the village's
    households: it reads none of them."""
    if principal.role is Role.INSTITUTION_OPERATOR:
        return False
    if not principal.covers(village_code):
        return False
    if principal.role is Role.AGENCY and principal.programs:
        return bool(set(principal.programs) & set(programs))
    return True


def _household_document(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "household_id": row["household_id"],
        "status": "active" if row["active"] else "deactivated",
        "kk_number": row["kk_number"],
        "village_code": row["village_code"],
        "programs": list(row["programs"]),
        "registered_in": row["registered_in"],
        "last_decree": row["last_decree"],
        "deactivation_reason": row["deactivation_reason"],
        "deactivated_in": row["deactivated_in"],
        # Set centrally (registry.welfare_decile_set), beside the decreed record: ``household`` is the
        # snapshot as the last decree fixed it, and no decree's register hash includes this.
        "welfare_decile": None
        if row["decile"] is None
        else {
            "decile": row["decile"],
            "source": row["decile_source"],
            "as_of": row["decile_as_of"].isoformat(),
            "set_at": row["decile_set_at"].isoformat(),
        },
        "household": json.loads(row["snapshot"]),
    }


_HOUSEHOLD_COLUMNS = """household_id, active, kk_number, village_code, programs, registered_in, last_decree,
                       deactivation_reason, deactivated_in, snapshot::text AS snapshot, w.decile,
                       w.source AS decile_source, w.as_of AS decile_as_of, w.set_at AS decile_set_at"""
_HOUSEHOLDS = "households LEFT JOIN welfare_deciles w USING (household_id)"
LOOKUP_MAX = 1_000  # ids a POST /households/lookup takes (some 40 KB of body)


# A page of households (GET /households), of a region or a family card. The page's ids first, then only
# their rows: by region and status alone the ids come from the village index without reading a
# household (schema: households_village_page), where one query in id order read every household of
# the district to sort them, or walked the whole register in id order when PostgreSQL expected the
# district to be found soon that way (21,732 pages for a district's 100 at 200,000 households).
HOUSEHOLD_PAGE_SQL = f"""SELECT {_HOUSEHOLD_COLUMNS} FROM {_HOUSEHOLDS}
          WHERE household_id IN (
              SELECT h.household_id FROM households h
              WHERE {region_filter("h.village_code", 1)}
                AND ($2::text[] IS NULL OR h.programs && $2::text[])
                AND ($3::text IS NULL OR h.kk_number = $3)
                AND ($4::int IS NULL AND $5::int IS NULL OR EXISTS (
                    SELECT 1 FROM welfare_deciles d WHERE d.household_id = h.household_id
                      AND ($4::int IS NULL OR d.decile >= $4) AND ($5::int IS NULL OR d.decile <= $5)))
                AND ($6::boolean IS NULL OR h.active = $6)
                AND ($7::text IS NULL OR h.household_id > $7)
              ORDER BY h.household_id LIMIT $8)
          ORDER BY household_id"""


# --- determination -------------------------------------------------------------------------------


class DeterminationBody(BaseModel):
    decree_number: DecreeNumber = Field(examples=["12/HUK/2027"])
    period: SafeStr = Field(description="The decree's month: YYYY-01, -04, -07 or -10", examples=["2027-01"])
    cutoff: AwareDatetime = Field(
        description="Ministry acceptances up to this instant enter", examples=["2026-12-31T23:59:59+07:00"]
    )


# A page showing a decree wants its counts and first rows, not a national decree's every record.
ListLimit = Annotated[
    int | None,
    Query(
        ge=0,
        le=10_000,
        description="Cut each of the decree's lists to its first `list_limit` items; `list_counts` then "
        "gives each list's whole length. Unset: the whole document.",
    ),
]


@router.post(
    "/determinations",
    tags=["determination"],
    summary="Issue the decree fixing the register for a quarter (ministry_determiner)",
    response_model=None,
    responses={
        201: {"content": {"application/json": {}}, "description": "The decree issued: its document"},
        200: {"description": "This decree number was issued before: its first result"},
    },
    status_code=201,
)
async def issue_determination(
    body: DeterminationBody,
    request: Request,
    principal: Annotated[Principal, Depends(require_role(Role.MINISTRY_DETERMINER))],
    deps: Deps,
    list_limit: ListLimit = None,
) -> Response:
    try:
        period = parse_period(body.period)
    except InvalidPeriod as exc:
        raise DomainError("invalid_period", f"{exc}.") from exc
    request_ = handlers.DeterminationRequest(body.decree_number, period, body.cutoff)
    recorded, created = await handlers.issue_determination(
        deps,
        request_,
        principal.as_actor(),
        request.state.correlation_id,
        signer=request.app.state.decree_signer,
    )
    return await _decree_response(_pool(request), recorded, list_limit, status_code=201 if created else 200)


async def _decree_response(
    pool: asyncpg.Pool, recorded: RecordedDecree, list_limit: int | None, status_code: int = 200
) -> Response:
    """A decree's document; a chunked one's lists streamed from its chunks, never held whole."""
    if list_limit is not None:
        document = await handlers.listed_determination(pool, recorded, list_limit)
        return JSONResponse(document, status_code=status_code)
    if isinstance(recorded.decree, DeterminationManifest):
        return StreamingResponse(
            handlers.streamed_determination(pool, recorded),
            status_code=status_code,
            media_type="application/json",
        )
    return JSONResponse(handlers.determination_document(recorded), status_code=status_code)


async def _determination_or_404(conn: asyncpg.Connection, decree_number: str) -> RecordedDecree:
    """The decree as recorded, without a chunked one's lists (read on demand: a national decree's run
    to tens of millions of records)."""
    recorded = await read_determination(conn, decree_number, lists=False)
    if recorded is None:
        raise DomainError("decree_not_found", f"No decree numbered {decree_number} has been issued.")
    return recorded


@router.get(
    "/determinations/{decree_number:path}/export",
    tags=["partner agencies"],
    summary="The register as of a decree, filtered by program and region, as CSV or JSON Lines",
    description=(
        "`section=households` (the default): the households in force, one CSV row per member. "
        "`section=institutions` (#19): the social welfare institutions in force, one CSV row per resident "
        "(residents' NIKs and names masked for partner agencies, as GET /institutions shows them). "
        "`section=assistance`: what the decree and the earlier ones determined each institution is to "
        "receive (program, period, basis, residents counted, the decree that determined it), one row per "
        "assistance. The institutions' sections are filtered by region, not by program (an institution "
        "has no household program)."
    ),
)
async def export_determination(
    decree_number: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_role(Role.AGENCY, *NATIONAL_READERS))],
    format: Literal["csv", "jsonl"] = "csv",
    program: Program | None = None,
    region: str | None = Query(default=None, description="A region code inside your scope"),
    section: Literal["households", "institutions", "assistance"] = "households",
) -> StreamingResponse:
    region = region or principal.region
    _check_region(principal, region)
    if section != "households" and program is not None:
        raise DomainError(
            "invalid_request",
            f"program selects households; the {section} section is filtered by region only, leave program out.",
        )
    programs = _granted_programs(principal, program)
    async with _pool(request).acquire() as conn:
        await _determination_or_404(conn, decree_number)
    pool = _pool(request)
    if section != "households":
        masked = principal.role is Role.AGENCY
        rows = _institution_section(pool, section, decree_number, region, format, masked=masked)
        return _export_response(rows, f"{section}-{decree_number}", format)

    async def body() -> AsyncIterator[bytes]:
        async with (
            pool.acquire() as conn,
            conn.transaction(isolation="repeatable_read", readonly=True),
            planned_per_execution(conn),
        ):
            if format == "csv":
                yield _csv_line(CSV_COLUMNS)
            async for row in register.export_rows(conn, decree_number, region, programs):
                household = json.loads(row["snapshot"])
                changes = {"programs_added": list(row["programs_added"]),
                           "programs_removed": list(row["programs_removed"])}  # fmt: skip
                if format == "jsonl":
                    yield (json.dumps(household | changes, ensure_ascii=False) + "\n").encode()
                else:
                    for member in household["members"]:
                        yield _csv_line(_csv_row(household, member, changes))

    return _export_response(body(), f"register-{decree_number}", format)


def _export_response(body: AsyncIterator[bytes], name: str, format: str) -> StreamingResponse:
    media = "text/csv; charset=utf-8" if format == "csv" else "application/x-ndjson"
    filename = "".join(ch if ch.isalnum() else "-" for ch in name) + f".{format}"
    return StreamingResponse(
        body, media_type=media, headers={"content-disposition": f'attachment; filename="{filename}"'}
    )


# The institutions section: one row per resident (an institution without residents: one row with the
# resident's columns empty), as the households' export gives one per member.
INSTITUTION_CSV_COLUMNS = ["institution_id", "registration_number", "name", "service_type", "village_code",
                           "capacity", "accreditation_grade", "accreditation_valid_until", "last_decree",
                           "resident_nik", "resident_name", "resident_birth_date", "admitted_on",
                           "discharged_on"]  # fmt: skip
ASSISTANCE_CSV_COLUMNS = ["institution_id", "registration_number", "name", "service_type", "village_code",
                          "proposal_id", "program", "starts_on", "ends_on", "basis", "residents_counted",
                          "decree_number"]  # fmt: skip


async def _institution_section(
    pool: asyncpg.Pool, section: str, decree_number: str, region: str, format: str, *, masked: bool
) -> AsyncIterator[bytes]:
    """The institutions or assistance section of a decree's export (#19), streamed in one snapshot."""
    async with (
        pool.acquire() as conn,
        conn.transaction(isolation="repeatable_read", readonly=True),
        planned_per_execution(conn),
    ):
        if section == "assistance":
            if format == "csv":
                yield _csv_line(ASSISTANCE_CSV_COLUMNS)
            async for row in register.export_assistance_rows(conn, decree_number, region):
                entry = {
                    "institution_id": row["institution_id"], "registration_number": row["registration_number"],
                    "name": row["name"], "service_type": row["service_type"], "village_code": row["village_code"],
                    "proposal_id": row["proposal_id"], "program": row["program"],
                    "starts_on": row["starts_on"].isoformat(), "ends_on": row["ends_on"].isoformat(),
                    "basis": row["basis"], "residents_counted": row["residents_counted"],
                    "decree_number": row["decree_number"],
                }  # fmt: skip
                if format == "jsonl":
                    yield (json.dumps(entry, ensure_ascii=False) + "\n").encode()
                else:
                    yield _csv_line([_csv_cell(str(entry[c])) for c in ASSISTANCE_CSV_COLUMNS])
            return
        if format == "csv":
            yield _csv_line(INSTITUTION_CSV_COLUMNS)
        async for row in register.export_institution_rows(conn, decree_number, region):
            institution = json.loads(row["snapshot"])
            if masked:
                institution["residents"] = [masked_resident(r) for r in institution.get("residents", [])]
            if format == "jsonl":
                yield (
                    json.dumps(institution | {"last_decree": row["decree_number"]}, ensure_ascii=False) + "\n"
                ).encode()
                continue
            for line in _institution_csv_rows(institution, row["decree_number"]):
                yield _csv_line(line)


def _institution_csv_rows(institution: dict[str, Any], decree_number: str) -> list[list[str]]:
    accreditation = institution.get("accreditation") or {}
    common = [
        institution["institution_id"], institution["registration_number"], institution["name"],
        institution["service_type"], institution["village_code"], str(institution["capacity"]),
        accreditation.get("grade") or "", accreditation.get("valid_until") or "", decree_number,
    ]  # fmt: skip
    residents = institution.get("residents") or [{}]
    return [
        [_csv_cell(v) for v in (*common, r.get("nik", ""), r.get("name", ""), r.get("birth_date", ""),
                                r.get("admitted_on", ""), r.get("discharged_on") or "")]
        for r in residents
    ]  # fmt: skip


# programs_added / programs_removed: what the household gained and lost in this decree (empty when the
# decree did not change it); last, so readers of the earlier columns by position are unaffected.
CSV_COLUMNS = ["household_id", "kk_number", "village_code", "programs", "nik", "name", "birth_date", "sex",
               "relation_to_head", "programs_added", "programs_removed"]  # fmt: skip


def _csv_row(household: dict[str, Any], member: dict[str, Any], changes: dict[str, list[str]]) -> list[str]:
    return [
        _csv_cell(v)
        for v in (
            household["household_id"], household["kk_number"], household["village_code"],
            ";".join(household.get("programs", [])), member["nik"], member["name"], member["birth_date"],
            member["sex"], member["relation_to_head"], ";".join(changes["programs_added"]),
            ";".join(changes["programs_removed"]),
        )
    ]  # fmt: skip


# A spreadsheet runs a cell that begins with one of these as a formula (=HYPERLINK(...) sends the
# reader's click, and the row's data, wherever it points). OWASP's advice on CSV injection: prefix
# such a cell with a single quote, which makes it text. Only the CSV: JSON Lines is data, not a sheet.
# Their full-width forms too (＝＋－＠, U+FF1D, U+FF0B, U+FF0D, U+FF20): a spreadsheet may fold them
# to the ASCII ones (Unicode compatibility normalisation, or an East Asian input setting) and then
# read the cell as a formula.
_FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _csv_cell(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_LEADS) else value


def _csv_line(values: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue().encode()


def _granted_programs(principal: Principal, program: Program | None) -> list[str] | None:
    granted = list(principal.programs) if principal.role is Role.AGENCY else []
    if program is not None:
        if granted and program.value not in granted:
            raise DomainError(
                "program_not_granted",
                f"Your agency is granted {', '.join(granted)}, not {program.value}; ask the Ministry for access.",
            )  # fmt: skip
        return [program.value]
    return granted or None


def _check_region(principal: Principal, region: str) -> None:
    if principal.role is Role.INSTITUTION_OPERATOR:
        raise DomainError(
            "outside_region", "An institution operator reads no household register, only its institution's."
        )
    try:
        region_level(region)
    except ValueError as exc:
        raise DomainError("invalid_region", f"{exc}.") from exc
    ensure_in_scope(principal, region)


@router.get(
    "/determinations/{decree_number:path}",
    tags=["determination"],
    summary="A decree: what it registered, corrected and deactivated, its register hash and counts",
    response_model=None,
    responses={200: {"content": {"application/json": {}}, "description": "The decree's document"}},
)
async def get_determination(
    decree_number: str, request: Request, principal: CurrentPrincipal, list_limit: ListLimit = None
) -> Response:
    pool = _pool(request)
    async with pool.acquire() as conn:
        recorded = await _determination_or_404(conn, decree_number)
    return await _decree_response(pool, recorded, list_limit)


# --- welfare deciles ------------------------------------------------------------------------------

DECILE_BATCH_MAX = 10_000
DecileSource = Name


def _written_date(value: Any) -> Any:
    # Lax parsing would read a number as seconds since 1970: a ranking's date is written, never counted.
    if not isinstance(value, str):
        raise ValueError("write the date as YYYY-MM-DD")
    return value


WrittenDate = Annotated[dt.date, BeforeValidator(_written_date)]


class DecileItemIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    household_id: SafeStr = Field(min_length=1, max_length=200)
    # Range checked per item (1..10), so one bad row is reported and the rest of the file still
    # applies; strict, so "3" or 3.5 is a malformed request rather than a silently converted rank.
    decile: StrictInt


class DecileBatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: DecileSource = Field(examples=["BPS ranking 2026-Q4"], description="Who ranked, which round")
    as_of: WrittenDate = Field(examples=["2026-11-01"], description="The date the ranking describes")
    households: list[DecileItemIn] = Field(min_length=1, max_length=DECILE_BATCH_MAX)


@router.post(
    "/welfare-deciles",
    tags=["welfare deciles"],
    summary="Load the statistics agency's welfare ranking: set households' deciles (Ministry)",
    description=(
        f"At most {DECILE_BATCH_MAX:,} households per request; split a national ranking into several. "
        "Each item is judged on its own: an unknown or deactivated household, a decile outside 1..10, "
        "a household named twice, or a ranking older than the household's current one is reported with a "
        "`problem` (stable code) and the other items still apply. An item whose decile, source and "
        "as_of are already the household's is `ok` with `changed: false` and records nothing, so "
        "re-sending a batch is safe. Each change records one `registry.welfare_decile_set` on the "
        "household's stream, which agencies receive on the public topic."
    ),
)
async def set_welfare_deciles(
    body: DecileBatchIn,
    request: Request,
    principal: Annotated[Principal, Depends(require_role(Role.MINISTRY_VERIFIER, Role.MINISTRY_DETERMINER))],
    deps: Deps,
) -> dict[str, Any]:
    batch = handlers.DecileBatch(
        body.source,
        body.as_of,
        tuple(DecileItem(i, item.household_id, item.decile) for i, item in enumerate(body.households)),
    )
    outcomes = await handlers.set_welfare_deciles(
        deps, batch, principal.as_actor(), request.state.correlation_id
    )
    results: list[dict[str, Any]] = []
    for outcome, event_id in outcomes:
        item = outcome.item
        result: dict[str, Any] = {"index": item.index, "household_id": item.household_id, "ok": outcome.ok}
        if outcome.refusal is not None:
            r = outcome.refusal
            result["problem"] = {
                "code": r.code,
                "status": status_of(r.code, ERROR_STATUSES),
                "detail": r.detail,
            }
        else:
            result.update(decile=item.decile, changed=outcome.changed, event_id=event_id)
        results.append(result)
    changed = sum(1 for o, _ in outcomes if o.changed)
    failed = sum(1 for o, _ in outcomes if not o.ok)
    return {
        "source": body.source,
        "as_of": body.as_of.isoformat(),
        "changed": changed,
        "unchanged": len(outcomes) - changed - failed,
        "failed": failed,
        "results": results,
    }


# --- queries -------------------------------------------------------------------------------------


HOUSEHOLD_PAGE_MAX = 1000


@router.get(
    "/households",
    tags=["register"],
    summary="Households in your scope: of a family card (KK number), or of a region by welfare decile",
    description=(
        "With `kk`: the households of that family card. Without it: the households of `region` (default: "
        "your scope) in household id order, `limit` at a time; pass the answer's `next_after` as `after` "
        "for the next page. `decile_min`/`decile_max` keep households whose centrally set welfare decile "
        "lies in that range (a household without one is left out by either); `status` keeps active or "
        "deactivated ones. Agencies see only households of their granted programs."
    ),
)
async def list_households(
    request: Request,
    principal: CurrentPrincipal,
    kk: str | None = Query(default=None, pattern=r"^[0-9]{16}$", description="Family card number, 16 digits"),
    region: str | None = Query(default=None, description="A region code inside your scope"),
    decile_min: int | None = Query(default=None, ge=1, le=10, description="Lowest welfare decile kept"),
    decile_max: int | None = Query(default=None, ge=1, le=10, description="Highest welfare decile kept"),
    program: Program | None = None,
    status: Literal["active", "deactivated", "all"] = "all",
    limit: int = Query(default=100, ge=1, le=HOUSEHOLD_PAGE_MAX),
    after: str | None = Query(default=None, max_length=200, description="next_after of the previous page"),
) -> dict[str, Any]:
    region = region or principal.region
    _check_region(principal, region)
    if decile_min is not None and decile_max is not None and decile_min > decile_max:
        raise DomainError(
            "invalid_decile_range", f"decile_min {decile_min} is above decile_max {decile_max}."
        )  # fmt: skip
    programs = _granted_programs(principal, program)
    # Scope in SQL (region, and for agencies their programs: what _may_read checks row by row), so a
    # page is full whenever more households match.
    active = None if status == "all" else status == "active"
    async with _pool(request).acquire() as conn, planned_per_execution(conn):
        rows = await conn.fetch(
            HOUSEHOLD_PAGE_SQL, region, programs, kk, decile_min, decile_max, active, after, limit
        )
    answer: dict[str, Any] = {"kk_number": kk} if kk is not None else {"region": region}
    answer["households"] = [_household_document(r) for r in rows]
    answer["next_after"] = rows[-1]["household_id"] if len(rows) == limit else None
    return answer


@router.get("/households/{household_id}", tags=["register"], summary="A household of the register")
async def get_household(household_id: str, request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    async with _pool(request).acquire() as conn:
        row = await conn.fetchrow(
            f"SELECT {_HOUSEHOLD_COLUMNS} FROM {_HOUSEHOLDS} WHERE household_id = $1", household_id
        )
    # Out of scope reads as not found: the answer must not confirm that someone is registered.
    if row is None or not _may_read(principal, row["village_code"], list(row["programs"])):
        raise DomainError(
            "household_not_found", f"No household {household_id} in the register within your scope."
        )
    return _household_document(row)


class HouseholdsLookup(BaseModel):
    household_ids: list[EntityId] = Field(min_length=1, max_length=LOOKUP_MAX, examples=[["9b1c…"]])
    region: SafeStr | None = Field(
        default=None,
        description="Only the households in this region (a code inside your scope): a reader that wants "
        "one region's among a decree's changes is not sent the rest",
        examples=["17.71"],
    )


@router.post(
    "/households/lookup",
    tags=["register"],
    summary="Several households by id, in one call",
    description=(
        f"Up to {LOOKUP_MAX:,} ids; the answer lists, in the order asked, the households among them that "
        "are in the register within your scope, each as `GET /households/{household_id}` answers it. An "
        "id not found or outside your scope is left out, as a single read answers 404 for both. For a "
        "reader that walks a decree's changed households (the DCI adapter's notify) rather than one call "
        "a household. A POST only because the ids would not fit in a URL; it changes nothing."
    ),
)
async def lookup_households(
    body: HouseholdsLookup, request: Request, principal: CurrentPrincipal
) -> dict[str, list[dict[str, Any]]]:
    if body.region is not None:
        _check_region(principal, body.region)
    async with _pool(request).acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {_HOUSEHOLD_COLUMNS} FROM {_HOUSEHOLDS} WHERE household_id = ANY($1::text[])",
            body.household_ids,
        )
    found = {
        r["household_id"]: r
        for r in rows
        if _may_read(principal, r["village_code"], list(r["programs"]))
        and (body.region is None or contains(body.region, r["village_code"]))
    }
    return {
        "households": [_household_document(found[h]) for h in dict.fromkeys(body.household_ids) if h in found]
    }


@router.get(
    "/people/{nik}",
    tags=["register"],
    summary="A person by NIK: their household(s) in your scope",
    description=(
        "Each membership names the household, its status, village and programs, and the person's member "
        "record. With `include=household` each also carries the whole household document, as "
        "`GET /households/{household_id}` answers it: a reader that needs the household reads it in this "
        "one call rather than one more per membership (the DCI adapter's search by NIK)."
    ),
)
async def get_person(
    nik: str,
    request: Request,
    principal: CurrentPrincipal,
    include: Literal["household"] | None = Query(
        default=None, description="`household`: each membership also carries its household document"
    ),
) -> dict[str, Any]:
    async with _pool(request).acquire() as conn:
        rows = await conn.fetch(
            f"""SELECT {_HOUSEHOLD_COLUMNS} FROM {_HOUSEHOLDS}
                WHERE household_id IN (SELECT household_id FROM members WHERE nik = $1)
                ORDER BY active DESC, household_id""",
            nik,
        )
    visible = [r for r in rows if _may_read(principal, r["village_code"], list(r["programs"]))]
    if not visible:
        raise DomainError("person_not_found", "No person with this NIK in the register within your scope.")
    people = []
    for r in visible:
        doc = _household_document(r)
        member = next(m for m in doc["household"]["members"] if m["nik"] == nik)
        membership = {"household_id": doc["household_id"], "status": doc["status"],
                      "village_code": doc["village_code"], "programs": doc["programs"], "member": member}  # fmt: skip
        if include == "household":
            membership["household"] = doc
        people.append(membership)
    return {"nik": nik, "memberships": people}


@router.get(
    "/stats",
    tags=["register"],
    summary="Recap of the register in force: households, people, by program and sub-region; institutions",
)
async def get_stats(
    request: Request,
    principal: CurrentPrincipal,
    region: str | None = Query(default=None),
    on: Annotated[
        Day | None,
        Query(description="The day the institutions' residents, accreditation and assistance are counted on"),
    ] = None,
) -> dict[str, Any]:
    region = region or principal.region
    _check_region(principal, region)
    # An agency counts what it may read: households of its granted programs, by those programs.
    granted = _granted_programs(principal, None)
    async with _pool(request).acquire() as conn, planned_per_execution(conn):
        figures = await register.stats(conn, region, _CHILD_CODE_LENGTH[region_level(region)], granted)
        # By default the day as the proposal door judges accreditation and periods: today in WIB.
        day = on or dt.datetime.now(WIB).date()
        institutions = await register.institution_stats(conn, region, day)
        latest = await conn.fetchval(
            "SELECT decree_number FROM determinations ORDER BY period_start DESC LIMIT 1"
        )
    return {"region": region, "as_of_decree": latest, **figures, "institutions": institutions}


# --- citizens' check -----------------------------------------------------------------------------


def _client_address(request: Request) -> str:
    """The address the limit counts against: the peer's, which uvicorn has already replaced by the
    forwarded client's only when the peer is a proxy named in DTKS_FORWARDED_ALLOW_IPS (see
    dtks_runtime.service.serve). A header the client writes itself changes nothing."""
    return request.client.host if request.client else "unknown"


@router.get(
    "/public/registration-status",
    tags=["citizens"],
    summary="Without login: is this person in the current register, and in which programs (names masked)",
    response_model=None,
)
async def registration_status(
    request: Request,
    nik: str = Query(pattern=r"^[0-9]{16}$", description="NIK as on the identity card"),
    name: str = Query(min_length=1, max_length=200, description="Full name as on the identity card"),
) -> dict[str, Any] | Response:
    limit: PublicCheckLimit = request.app.state.public_check_limit
    async with _pool(request).acquire() as conn:
        wait = await limit.take(conn, _client_address(request))
    if wait > 0:
        problem = Problem(
            429, "too_many_requests",
            f"Too many checks from your address; try again in {int(wait) + 1} seconds.",
        )  # fmt: skip
        return problem_response(problem, request, headers={"retry-after": str(int(wait) + 1)})
    async with _pool(request).acquire() as conn:
        rows = await conn.fetch(
            """SELECT m.name, h.programs FROM members m JOIN households h USING (household_id)
               WHERE m.nik = $1 AND h.active""",
            nik,
        )
        residents = await register.current_residencies(conn, nik)
        latest = await conn.fetchval(
            "SELECT decree_number FROM determinations ORDER BY period_start DESC LIMIT 1"
        )
    wanted = normalize_name(name)
    match = next((r for r in rows if normalize_name(r["name"]) == wanted), None)
    resident = any(normalize_name(r["name"]) == wanted for r in residents)
    # The same shape whether the NIK is unknown or the name is wrong: the masked name is the one asked
    # about, so the answer never reveals a registered name or that the NIK exists. A resident of an
    # institution (#19) is in the register through it, answered in the same shape: which institution,
    # or even that it is one (a drug rehabilitation home, say), is not said to whoever knows a NIK and
    # a name.
    return {
        "nik": nik[:6] + "*" * 10,
        "name": mask_name(name),
        "registered": match is not None or resident,
        "programs": sorted(match["programs"]) if match else [],
        "as_of_decree": latest,
    }


# --- audit ---------------------------------------------------------------------------------------


@router.get(
    "/audit/households/{household_id}/history",
    tags=["audit"],
    summary="Everything that happened to a household across all services, in causal order",
)
async def household_history(
    household_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_role(*NATIONAL_READERS))],
) -> dict[str, Any]:
    async with _pool(request).acquire() as conn:
        events = await audit_log.household_history(conn, household_id)
    if events is None:
        raise DomainError("household_not_found", f"No event mentions household {household_id}.")
    return {"household_id": household_id, "events": events}


@router.get(
    "/audit/institutions/{institution_id}/history",
    tags=["audit"],
    summary="Everything that happened to an institution (LKS) across all services, in causal order",
)
async def institution_history(
    institution_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_role(*NATIONAL_READERS))],
) -> dict[str, Any]:
    async with _pool(request).acquire() as conn:
        events = await audit_log.institution_history(conn, institution_id)
    if events is None:
        raise DomainError("institution_not_found", f"No event mentions institution {institution_id}.")
    return {"institution_id": institution_id, "events": events}


async def _wait_for_outbox(runtime: ServiceRuntime, within: float = 30.0) -> None:
    """A replay reads the log from Kafka; the registry's own newest events (a decree just issued)
    must be there first, or the replay would compare a shorter log with the live register."""
    assert runtime.pool is not None and runtime.relay is not None
    deadline = asyncio.get_running_loop().time() + within
    while True:
        async with runtime.pool.acquire() as conn:
            if await runtime.relay.lag(conn) == 0:
                return
        if asyncio.get_running_loop().time() > deadline:
            raise Problem(
                503,
                "log_not_caught_up",
                "The register's newest events are still being published; try again shortly.",
            )
        await asyncio.sleep(0.2)


class ReplayBody(BaseModel):
    mode: Literal["rebuild", "verify"] = Field(
        default="rebuild",
        description="rebuild: fresh tables from offset zero, report hash and counts; "
        "verify: also check every decree's recorded hash and the live tables",
    )
    as_of_decree: DecreeNumber | None = Field(
        default=None, description="rebuild only: report as of this decree"
    )
    keep: bool = Field(default=False, description="rebuild only: keep the replay's schema for inspection")


@router.post("/audit/replays", tags=["audit"], summary="Rebuild the register from the event log (auditor)")
async def replay(
    body: ReplayBody,
    request: Request,
    principal: Annotated[Principal, Depends(require_role(Role.AUDITOR))],
) -> dict[str, Any]:
    runtime = _runtime(request)
    await _wait_for_outbox(runtime)
    settings = request.app.state.settings
    source = audit.ReplaySource(
        runtime.database_url,
        settings.kafka_bootstrap,
        settings.topic_prefix,
        settings.registry_replay_workers,
        settings.provenance_check(),
    )
    if body.mode == "rebuild":
        return {
            "mode": "rebuild",
            **await audit.rebuild(source, as_of_decree=body.as_of_decree, keep=body.keep),
        }
    if body.as_of_decree is not None:
        raise DomainError(
            "invalid_request", "as_of_decree is for rebuilds; a verification checks every decree."
        )
    async with _pool(request).acquire() as conn:
        return {"mode": "verify", **await audit.verify(source, conn)}
