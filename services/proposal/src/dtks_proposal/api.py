"""HTTP routes of the proposal service: parse, authorize, call a handler, answer. Nothing else."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Callable
from operator import itemgetter
from typing import Annotated, Any, TypeVar

import pydantic
from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from dtks_contracts.events.proposal import ProposalWindowSet
from dtks_contracts.regions import RegencyCode, check_region_code
from dtks_contracts.text import SafeStr
from dtks_contracts.vocabulary.proposals import DeliberationKind, ProposalKind
from dtks_contracts.vocabulary.roles import Role
from dtks_proposal import handlers
from dtks_proposal.adapters import imports as staging
from dtks_proposal.adapters import proposals as repo
from dtks_proposal.answers import Answer
from dtks_proposal.deps import ProposalDeps
from dtks_proposal.domain.bulk_file import FileRefused
from dtks_proposal.domain.proposers import KIND_NOT_ALLOWED, concerns_own_institution
from dtks_proposal.domain.status import ProposalStatus
from dtks_proposal.domain.submission import ProposalIn, ResubmissionIn, WithdrawalIn
from dtks_proposal.errors import ERROR_STATUSES, import_not_found, invalid, proposal_not_found
from dtks_proposal.group_commit import SubmissionGroup
from dtks_proposal.importer import ImportWorker, stage_upload
from dtks_proposal.settings import BATCH_MAX_ITEMS
from dtks_runtime.auth.deps import ensure_in_scope, found_in_scope, require_role
from dtks_runtime.auth.principal import Principal
from dtks_runtime.errors import DomainError
from dtks_runtime.event_store import Causation, NewEvent
from dtks_runtime.problems import Problem, problem_from_domain_error, validation_errors
from dtks_runtime.region_reads import planned_per_execution
from dtks_runtime.telemetry import get_logger

router = APIRouter()
log = get_logger(__name__)
T = TypeVar("T")

Operator = Annotated[Principal, Depends(require_role(Role.VILLAGE_OPERATOR))]
# Households are proposed by villages; institutions (LKS) by the regency's social service or their
# own operator (dtks_proposal.domain.proposers says which kind each may enter).
Proposer = Annotated[
    Principal,
    Depends(require_role(Role.VILLAGE_OPERATOR, Role.REGENCY_OPERATOR, Role.INSTITUTION_OPERATOR)),
]
Ministry = Annotated[Principal, Depends(require_role(Role.MINISTRY_VERIFIER))]
# Everyone who follows proposals in their region; agencies read the determined register instead.
Reader = Annotated[Principal, Depends(require_role(*(r for r in Role if r is not Role.AGENCY)))]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="Any unique string per submission; a retry with the same key and body gets the first answer",
    ),
]


async def _deps(request: Request) -> ProposalDeps:
    # async: FastAPI runs a plain function dependency in its thread pool, a thread hand-off on every
    # request for one attribute read (measured in complaints' public form, #17).
    deps: ProposalDeps = request.app.state.deps  # built by main.py once the runtime started
    return deps


Deps = Annotated[ProposalDeps, Depends(_deps)]


def _page_after(decode: Callable[[str], T], cursor: str | None) -> T | None:
    """Where the page a ``next_cursor`` asks for starts; a cursor this service did not give is a 422."""
    try:
        return decode(cursor) if cursor else None
    except ValueError as exc:
        raise DomainError(
            "invalid_cursor", "The cursor is not one this service gave; start from the first page."
        ) from exc


def _answer(answer: Answer) -> JSONResponse:
    headers = {"Location": answer.body["links"]["self"]} if answer.status_code == 201 else {}
    if answer.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(answer.body, status_code=answer.status_code, headers=headers)


@router.post(
    "/proposals",
    tags=["proposals"],
    status_code=201,
    summary="Submit one proposal (a household's, or an institution's registration, change or closure)",
    responses={
        201: {"description": "Recorded; proposal.submitted is in the outbox"},
        403: {"description": "Not a proposer of this kind, or the village is outside your scope"},
        409: {"description": "Key reused with another body, window closed or quota used up"},
        422: {"description": "Fields to correct, each named in `errors`"},
    },
)
async def submit_proposal(
    proposal: ProposalIn,
    request: Request,
    deps: Deps,
    principal: Proposer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    answer = await handlers.submit(
        deps,
        principal,
        proposal,
        header_key=idempotency_key,
        correlation_id=request.state.correlation_id,
        enter=_group_commit(request),
    )
    return _answer(answer)


def _group_commit(request: Request) -> handlers.Enter | None:
    group: SubmissionGroup | None = getattr(request.app.state, "submission_group", None)
    return group.enter if group is not None else None


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    items: list[dict[str, Any]] = Field(
        min_length=1,
        max_length=BATCH_MAX_ITEMS,
        description="Proposals as for POST /proposals; give each its proposal_id so retries are safe",
    )


@router.post(
    "/proposals/batch",
    tags=["proposals"],
    summary="Upload an offline queue: many proposals, one result per item",
    description=(
        "Each item is a proposal exactly as for `POST /proposals` and is judged on its own: one bad item "
        "does not stop the others. Each result has the item's `index`, the `status` code it would have had "
        "alone, and either the answer `body` or the `problem`. Retrying the whole batch is safe when each "
        "item carries its `proposal_id` (or the batch an `Idempotency-Key`, item *i* then using key#i)."
    ),
)
async def submit_batch(
    batch: BatchIn, request: Request, deps: Deps, principal: Operator, idempotency_key: IdempotencyKey = None
) -> dict[str, Any]:
    limit = deps.settings.batch_max_items
    if len(batch.items) > limit:
        raise DomainError("batch_too_large", f"A batch holds at most {limit} items; split the queue.")
    results = []
    for index, item in enumerate(batch.items):
        result: dict[str, Any] = {"index": index}
        try:
            proposal = ProposalIn.model_validate(item)
            key = f"{idempotency_key}#{index}" if idempotency_key and not proposal.proposal_id else None
            answer = await handlers.submit(
                deps,
                principal,
                proposal,
                header_key=key,
                correlation_id=request.state.correlation_id,
                enter=_group_commit(request),
            )
            result.update(status=answer.status_code, body=answer.body, replayed=answer.replayed)
        except pydantic.ValidationError as exc:
            refused = problem_from_domain_error(
                invalid(validation_errors(exc.errors(), within="body")), ERROR_STATUSES
            )
            result.update(status=422, problem=refused.document(f"/proposals/batch#{index}"))
        except DomainError as error:
            refused = problem_from_domain_error(error, ERROR_STATUSES)
            result.update(status=refused.status, problem=refused.document(f"/proposals/batch#{index}"))
        except Problem as problem:  # the runtime's own refusals (a village outside the operator's scope)
            result.update(status=problem.status, problem=problem.document(f"/proposals/batch#{index}"))
        except Exception:
            # Each item commits on its own, so the items before this one are recorded: answering the
            # whole batch with a 500 that says nothing was changed would be false. This item alone
            # failed (its transaction rolled back); the answer says so and the batch goes on.
            log.exception("batch item failed", index=index)
            failed = Problem(
                500,
                "internal_error",
                "Something went wrong on our side with this item; it was not recorded. Send it again "
                "(with its proposal_id, a retry is safe); the other items' results stand as given.",
            )
            result.update(status=500, problem=failed.document(f"/proposals/batch#{index}"))
        results.append(result)
    accepted = sum(1 for r in results if r["status"] in (200, 201))
    return {"accepted": accepted, "refused": len(results) - accepted, "results": results}


@router.get("/proposals/{proposal_id}", tags=["proposals"], summary="Status, waiting tier and full timeline")
async def get_proposal(proposal_id: str, deps: Deps, principal: Reader) -> dict[str, Any]:
    async with deps.pool.acquire() as conn:
        view = await repo.proposal_view(conn, proposal_id)
    if view is not None and not concerns_own_institution(principal, view["content"]):
        view = None  # an institution operator reads its institution's proposals only, nothing else
    # Another village's proposal reads as missing, as in every service: nothing about it is revealed.
    return found_in_scope(principal, view, itemgetter("village_code"), proposal_not_found(proposal_id))


@router.get(
    "/proposals",
    tags=["proposals"],
    summary="A region's proposals by status, newest first, with cursor pagination",
)
async def list_proposals(
    deps: Deps,
    principal: Reader,
    region: Annotated[
        str | None, Query(description="A village, district, regency or province code; default: your scope")
    ] = None,
    status: ProposalStatus | None = None,
    kind: ProposalKind | None = None,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    if principal.role is Role.INSTITUTION_OPERATOR:
        # Its scope is one institution, not its village: listing would show the village's households.
        raise DomainError(
            KIND_NOT_ALLOWED, "An institution operator reads its institution's proposals one by one, by id."
        )
    region = region or principal.region
    try:
        check_region_code(region)
    except ValueError as exc:
        raise DomainError(
            "invalid_region", f"{exc}.", errors=[{"field": "region", "message": str(exc)}]
        ) from exc
    ensure_in_scope(principal, region)
    after = _page_after(repo.decode_cursor, cursor)
    async with deps.pool.acquire() as conn, planned_per_execution(conn):
        items, next_cursor = await repo.list_proposals(
            conn,
            region=region,
            status=status.value if status else None,
            kind=kind.value if kind else None,
            after_seq=after,
            limit=limit,
        )
    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/proposals/{proposal_id}/resubmissions",
    tags=["proposals"],
    status_code=201,
    summary="Resubmit a returned proposal with its corrections (the full proposal again)",
)
async def resubmit_proposal(
    proposal_id: str,
    correction: ResubmissionIn,
    request: Request,
    deps: Deps,
    principal: Proposer,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    answer = await handlers.resubmit(
        deps,
        principal,
        proposal_id,
        correction,
        header_key=idempotency_key,
        correlation_id=request.state.correlation_id,
    )
    return _answer(answer)


@router.post(
    "/proposals/{proposal_id}/withdrawal",
    tags=["proposals"],
    summary="Withdraw a proposal the Ministry has not decided on",
)
async def withdraw_proposal(
    proposal_id: str, withdrawal: WithdrawalIn, request: Request, deps: Deps, principal: Operator
) -> JSONResponse:
    answer = await handlers.withdraw(
        deps, principal, proposal_id, withdrawal, correlation_id=request.state.correlation_id
    )
    return _answer(answer)


IMPORT_DESCRIPTION = """Upload a CSV (with a header row; cells separated by commas, semicolons or tabs,
as the header shows), an Excel workbook (.xlsx: its first sheet, laid out as the CSV, row numbers
the sheet's) or a JSON Lines file, one row per member, grouped by KK number. It is staged
durably before the answer, then processed in the background; follow it at `GET /imports/{id}`.
The same file uploaded again answers with the first import and creates nothing.

Member columns, every row: `kk_number`, `nik`, `name`, `birth_date` (YYYY-MM-DD), `sex` (male|female),
`relation_to_head`; optional `marital_status`, `education`, `attending_school`, `occupation`,
`disability`, `chronic_illness`.

Household columns (from any row of the household; two different values are an error):
`village_code`, `address_street`, `address_rt`, `address_rw`, `address_postal_code`,
`deliberation_kind`, `deliberation_held_on`, `deliberation_minutes_ref`, `kind` (new_household or
correction), `household_id`, `proposal_id`, `programs` (e.g. `PKH;BPNT`), `income_band`,
`housing_<field>` (e.g. `housing_floor_material`), `assets_<field>`, `contact_phone`, `contact_consent`.

`village_code` and the deliberation may instead be sent once as form fields. A household is accepted
whole or rejected whole; every rejected row is reported with its row number (file line), field, a stable
`code` with its `params` (`unknown_column`, `household_value_differs` {other_row}, `column_missing`,
`invalid_value` {type}, `outside_scope` {village, scope}, `household_rejected` {rows}, `row_unreadable`,
`kk_number_malformed`, `kk_number_missing`, `proposal_id_repeated`, `proposal_id_taken`, `field_<rule>`
for a rule of the proposal door, or the code of the refusal of its household such as a closed window)
and an English `reason`.
An import whose households cannot be written (after a few attempts) is parked as `failed` with its
`failure_reason`, and other imports go on; `POST /imports/{id}/cancellation` stops an import."""


@router.post(
    "/imports",
    tags=["imports"],
    status_code=202,
    summary="Bulk import of a CSV, Excel (.xlsx) or JSON Lines file (one row per member)",
    description=IMPORT_DESCRIPTION,
)
async def upload_import(
    request: Request,
    deps: Deps,
    principal: Operator,
    file: Annotated[UploadFile, File(description="CSV or JSON Lines (UTF-8), or an Excel workbook")],
    village_code: Annotated[SafeStr | None, Form(max_length=20)] = None,
    deliberation_kind: Annotated[DeliberationKind | None, Form()] = None,
    deliberation_held_on: Annotated[dt.date | None, Form()] = None,
    deliberation_minutes_ref: Annotated[SafeStr | None, Form(max_length=500)] = None,
) -> JSONResponse:
    if village_code is not None:
        ensure_in_scope(principal, village_code)
    # The upload was streamed into a temporary file (on disk past 1 MiB) while the body was read,
    # within the route's body limit (see main.py); the file alone must also keep to its own.
    limit = deps.settings.import_max_bytes
    if (file.size or 0) > limit:
        raise DomainError(
            "file_too_large", f"The file is larger than {limit} bytes; split it into smaller files."
        )
    defaults = {
        "village_code": village_code,
        "deliberation_kind": deliberation_kind.value if deliberation_kind else None,
        "deliberation_held_on": deliberation_held_on.isoformat() if deliberation_held_on else None,
        "deliberation_minutes_ref": deliberation_minutes_ref,
    }
    try:
        import_id, created = await stage_upload(
            deps,
            upload=file.file,  # read from the spooled file a chunk of rows at a time, never whole
            filename=file.filename,
            uploader=principal.as_actor(),
            defaults={k: v for k, v in defaults.items() if v is not None},
            correlation_id=request.state.correlation_id,
        )
    except FileRefused as exc:
        raise DomainError(
            "file_unreadable", str(exc), errors=[{"field": "file", "message": str(exc)}]
        ) from exc
    worker: ImportWorker = request.app.state.import_worker
    worker.wake.set()  # a worker not started (import_worker_enabled false) has no one waiting on it
    view = await staging.import_view(deps.pool, import_id)
    assert view is not None
    view.pop("rejected_rows")
    view.pop("next_cursor")
    body = {**view, "duplicate_upload": not created, "links": {"self": f"/imports/{import_id}"}}
    return JSONResponse(
        body, status_code=202 if created else 200, headers={"Location": f"/imports/{import_id}"}
    )


@router.get(
    "/imports/{import_id}",
    tags=["imports"],
    summary="Progress of an import and its rejected rows, a page at a time",
    description="Rejected rows come in row order, `limit` per page; `next_cursor` (null on the last "
    "page) fetches the next. `rows_rejected` counts them all.",
)
async def get_import(
    import_id: uuid.UUID,
    deps: Deps,
    principal: Reader,
    cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None,
    limit: Annotated[int, Query(ge=1, le=5000, description="rejected rows per page")] = 500,
) -> dict[str, Any]:
    after = _page_after(staging.decode_rejection_cursor, cursor)
    view = await staging.import_view(deps.pool, import_id, rejected_after=after, rejected_limit=limit)
    return found_in_scope(principal, view, itemgetter("uploader_region"), import_not_found(import_id))


# Who may cancel an import: the operators of its village, and the Ministry (scope decides which).
Canceller = Annotated[
    Principal, Depends(require_role(Role.VILLAGE_OPERATOR, Role.MINISTRY_VERIFIER, Role.MINISTRY_DETERMINER))
]


@router.post(
    "/imports/{import_id}/cancellation",
    tags=["imports"],
    summary="Cancel an import: no more of its households become proposals",
    description="For an import that is staged, in progress or failed. Households already done stay "
    "(their proposals are withdrawn one by one, if needed); a chunk being written when the "
    "cancellation arrives is rolled back. Cancelling a cancelled import again answers the same; a "
    "completed import cannot be cancelled (409).",
)
async def cancel_import(import_id: uuid.UUID, deps: Deps, principal: Canceller) -> dict[str, Any]:
    async with deps.unit_of_work() as uow:
        cancelled = await staging.cancel(
            uow.conn,
            import_id,
            principal.as_actor().model_dump(mode="json"),
            lambda region: ensure_in_scope(principal, region),
        )
    if cancelled is None:
        raise import_not_found(import_id)
    if cancelled.status == "completed":
        raise DomainError(
            "import_completed",
            f"Import {import_id} is already completed; withdraw its proposals one by one if needed.",
        )
    view = await staging.import_view(deps.pool, import_id)
    assert view is not None
    view.pop("rejected_rows")
    view.pop("next_cursor")
    return view


class PeriodIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: dt.date
    end: dt.date


class WindowIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    open: bool = Field(description="Whether the regency may submit new proposals")
    period: PeriodIn | None = Field(default=None, description="Days (WIB) the window admits, inclusive")
    quota: int | None = Field(default=None, ge=0, description="First submissions allowed in the period")


def _window_view(window: Any) -> dict[str, Any]:
    return {
        "regency_code": window.regency_code,
        "open": window.is_open,
        "period": {"start": window.period_start.isoformat(), "end": window.period_end.isoformat()}
        if window.period_start and window.period_end
        else None,
        "quota": window.quota,
        "used": window.used,
    }


@router.put(
    "/windows/{regency_code}",
    tags=["windows"],
    summary="Open or close a regency's proposal window, with its period and quota (Ministry)",
    description="Windows are opt-in: a regency without one accepts proposals at any time, without a quota.",
)
async def put_window(
    regency_code: str, window: WindowIn, request: Request, deps: Deps, principal: Ministry
) -> dict[str, Any]:
    try:
        pydantic.TypeAdapter(RegencyCode).validate_python(regency_code)
    except pydantic.ValidationError as exc:
        raise DomainError(
            "invalid_regency", f"{regency_code} is not a regency/city code (e.g. 17.71)."
        ) from exc
    if window.period is not None and window.period.end < window.period.start:
        raise DomainError(
            "invalid_period", "The period ends before it starts.", errors=[{"field": "period.end"}]
        )
    actor = principal.as_actor()
    period_start = window.period.start if window.period else None
    period_end = window.period.end if window.period else None
    async with deps.unit_of_work() as uow:
        saved = await repo.set_window(
            uow.conn,
            regency_code,
            is_open=window.open,
            period_start=period_start,
            period_end=period_end,
            quota=window.quota,
            updated_by=actor.model_dump(mode="json"),
        )
        # The decision is an event too, in the same transaction as the row (set_window holds the
        # regency's window lock, so the stream's version cannot move under us).
        event = ProposalWindowSet(
            regency_code=regency_code, open=window.open, period_start=period_start, period_end=period_end,
            quota=window.quota, set_by=actor,
        )  # fmt: skip
        await uow.append(
            aggregate_type=ProposalWindowSet.aggregate_type,
            aggregate_id=regency_code,
            expected_version=await repo.stream_version(
                uow.conn, ProposalWindowSet.aggregate_type, regency_code
            ),
            events=[NewEvent.of(event)],
            causation=Causation(actor=actor, correlation_id=request.state.correlation_id),
        )
    return _window_view(saved)


@router.get("/windows/{regency_code}", tags=["windows"], summary="A regency's proposal window")
async def get_window(regency_code: str, deps: Deps, principal: Reader) -> dict[str, Any]:
    window = await repo.get_window(deps.pool, regency_code)
    if window is None:
        return {"regency_code": regency_code, "open": True, "period": None, "quota": None, "used": None}
    return _window_view(window)
