"""HTTP routes of re-verification rounds: open, read, the prelist per village, visits, progress, close."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pydantic
from fastapi import APIRouter, Body, File, Query, Request, UploadFile
from fastapi.responses import StreamingResponse

from dtks_contracts.regions import RegionCode, VillageCode
from dtks_runtime.auth.deps import CurrentPrincipal
from dtks_runtime.errors import DomainError, status_of
from dtks_runtime.problems import validation_errors
from dtks_verification import prelist_files, reverification
from dtks_verification.adapters import prelists
from dtks_verification.deps import VerificationDeps
from dtks_verification.round_bodies import RoundIn, VisitIn

router = APIRouter(tags=["re-verification rounds"])

ERROR_STATUSES: dict[str, int] = {
    "round_not_found": 404,
    "household_not_on_prelist": 404,
    "round_closed": 409,
    "round_overlaps": 409,
    "already_visited": 409,
    "household_not_registered": 409,
    "invalid_round_period": 422,
    "visit_outside_period": 422,
    "changes_required": 422,
    "changes_not_expected": 422,
    "invalid_changes": 422,
    "invalid_visit": 422,
    "invalid_batch_size": 422,
    "file_unreadable": 422,
    "file_too_large": 413,
}

# Bytes a results file may have (the route's body limit, see main.py): a village's prelist filled in
# is some hundreds of rows, a district's a few thousand.
RESULTS_MAX_BYTES = 16 * 1024 * 1024

MAX_VISITS_PER_REQUEST = 500


def _deps(request: Request) -> VerificationDeps:
    return request.app.state.deps


@router.post("/reverification-rounds", status_code=201, summary="Open a round and issue its prelist")
async def open_round(request: Request, principal: CurrentPrincipal, body: RoundIn) -> dict[str, Any]:
    command = reverification.OpenRound(
        body.region, body.period_start, body.period_end, body.selection, body.size_limit
    )
    return await reverification.open_round(_deps(request), principal, command, request.state.correlation_id)


@router.get("/reverification-rounds", summary="The rounds in your area, newest first, a page at a time")
async def list_rounds(
    request: Request,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    after: Annotated[str | None, Query(max_length=200, description="next_after of the previous page")] = None,
) -> dict[str, Any]:
    return await reverification.rounds_in_scope(_deps(request), principal, after=after or None, limit=limit)


@router.get("/reverification-rounds/{round_id}", summary="A round: its region, period, selection and status")
async def get_round(request: Request, round_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
    found = await reverification.round_in_scope(_deps(request), principal, round_id)
    return found.as_json()


@router.get(
    "/reverification-rounds/{round_id}/prelist",
    summary="A village's prelist, the round's queue: a page at a time, outstanding first if asked",
)
async def prelist(
    request: Request,
    round_id: str,
    principal: CurrentPrincipal,
    village_code: Annotated[VillageCode, Query()],
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    after: Annotated[str | None, Query(max_length=300, description="next_after of the previous page")] = None,
    outstanding: Annotated[bool, Query(description="Only households not visited yet")] = False,
) -> dict[str, Any]:
    deps = _deps(request)
    found = await reverification.round_in_scope(deps, principal, round_id)
    reverification.reading_region(principal, found, village_code)
    cursor: tuple[str, str] | None = None
    if after and "~" in after:
        kk_number, household_id = after.split("~", 1)
        cursor = (kk_number, household_id)
    async with deps.connection() as conn:
        entries = await prelists.prelist_page(
            conn, round_id, village_code, after=cursor, limit=limit, outstanding_only=outstanding
        )
    last = entries[-1] if len(entries) == limit else None
    return {
        "round_id": round_id,
        "village_code": village_code,
        "entries": entries,
        "next_after": f"{last['kk_number']}~{last['household_id']}" if last else None,
    }


@router.get("/reverification-rounds/{round_id}/progress", summary="Visited, outstanding and outcomes")
async def progress(
    request: Request,
    round_id: str,
    principal: CurrentPrincipal,
    by: Annotated[Literal["village", "district"], Query()] = "village",
    region: Annotated[RegionCode | None, Query(description="Only this part of the round")] = None,
) -> dict[str, Any]:
    deps = _deps(request)
    found = await reverification.round_in_scope(deps, principal, round_id)
    within = reverification.reading_region(principal, found, region)
    async with deps.connection() as conn:
        rows = await prelists.progress(conn, round_id, by, within)
    keys = [k for k in (rows[0] if rows else {}) if k != by]
    total = {k: sum(r[k] for r in rows) for k in keys}
    return {
        "round_id": round_id,
        "region": within,
        "status": found.as_json()["status"],
        "total": total,
        by + "s": rows,
    }


@router.post(
    "/reverification-rounds/{round_id}/visits",
    status_code=200,
    summary="Record visits (one object, or a list each recorded on its own)",
)
async def visits(
    request: Request,
    round_id: str,
    principal: CurrentPrincipal,
    body: Annotated[dict[str, Any] | list[dict[str, Any]], Body()],
) -> dict[str, Any]:
    deps = _deps(request)
    correlation_id = request.state.correlation_id
    if isinstance(body, dict):
        try:
            command = VisitIn.model_validate(body).command()
        except pydantic.ValidationError as exc:
            raise _invalid(exc) from None
        return await reverification.record_visit(deps, principal, round_id, command, correlation_id)
    if not 1 <= len(body) <= MAX_VISITS_PER_REQUEST:
        raise DomainError(
            "invalid_batch_size", f"Send between 1 and {MAX_VISITS_PER_REQUEST} visits at once."
        )
    parsed: list[reverification.RecordVisit | DomainError] = []
    for raw in body:
        try:
            parsed.append(VisitIn.model_validate(raw).command())
        except pydantic.ValidationError as exc:
            parsed.append(_invalid(exc))
    commands = [p for p in parsed if not isinstance(p, DomainError)]
    recorded = iter(await reverification.record_visits(deps, principal, round_id, commands, correlation_id))
    results = []
    for index, item in enumerate(parsed):
        result = item if isinstance(item, DomainError) else next(recorded)
        if isinstance(result, DomainError):
            problem = {
                "code": result.code,
                "status": status_of(result.code, ERROR_STATUSES),
                "detail": result.detail,
            }
            if result.errors:
                problem["errors"] = result.errors
            results.append({"index": index, "ok": False, "problem": problem})
        else:
            results.append({"index": index, "ok": True, **result})
    ok = sum(1 for r in results if r["ok"])
    return {"succeeded": ok, "failed": len(results) - ok, "results": results}


def _invalid(exc: pydantic.ValidationError) -> DomainError:
    errors = validation_errors(exc.errors(), within="body")
    names = ", ".join(sorted({e["field"] for e in errors}))
    return DomainError("invalid_visit", f"The visit has invalid fields: {names}.", errors=errors)


@router.post("/reverification-rounds/{round_id}/closing", summary="Close the round: its recap")
async def close_round(request: Request, round_id: str, principal: CurrentPrincipal) -> dict[str, Any]:
    return await reverification.close_round(_deps(request), principal, round_id, request.state.correlation_id)


_REGION_PART = Query(
    description="Only this part of the round (a village, a district...); default all you may see"
)


@router.get(
    "/reverification-rounds/{round_id}/prelist.csv",
    summary="The prelist as CSV, streamed, with the columns officers fill in",
    response_class=StreamingResponse,
)
async def prelist_csv(
    request: Request,
    round_id: str,
    principal: CurrentPrincipal,
    region: Annotated[RegionCode | None, _REGION_PART] = None,
) -> StreamingResponse:
    deps = _deps(request)
    found = await reverification.round_in_scope(deps, principal, round_id)
    part = reverification.reading_region(principal, found, region)
    return StreamingResponse(
        prelist_files.prelist_csv(deps, round_id, part),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="prelist-{part}.csv"'},
    )


@router.get(
    "/reverification-rounds/{round_id}/prelist.xlsx",
    summary="The prelist as an Excel workbook, the list officers carry",
    response_class=StreamingResponse,
)
async def prelist_xlsx(
    request: Request,
    round_id: str,
    principal: CurrentPrincipal,
    region: Annotated[RegionCode | None, _REGION_PART] = None,
) -> StreamingResponse:
    deps = _deps(request)
    found = await reverification.round_in_scope(deps, principal, round_id)
    part = reverification.reading_region(principal, found, region)
    return StreamingResponse(
        prelist_files.prelist_xlsx(deps, round_id, part),
        media_type=prelist_files.XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="prelist-{part}.xlsx"'},
    )


@router.post(
    "/reverification-rounds/{round_id}/results",
    summary="Upload visit results as the prelist's CSV or workbook, filled in: a report per row",
)
async def upload_results(
    request: Request,
    round_id: str,
    principal: CurrentPrincipal,
    file: Annotated[
        UploadFile, File(description="The prelist (CSV or .xlsx) with the officer's columns filled")
    ],
) -> dict[str, Any]:
    return await prelist_files.record_results(
        _deps(request), principal, round_id, file.file, file.filename or "", request.state.correlation_id
    )
