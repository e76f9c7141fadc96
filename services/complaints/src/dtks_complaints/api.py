"""HTTP routes of the complaints service."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict

from dtks_complaints import drafts, handlers
from dtks_complaints.adapters import complaints as repo
from dtks_complaints.adapters import drafts as draft_rows
from dtks_complaints.deps import ComplaintsDeps
from dtks_complaints.domain.complaints import ComplaintIn
from dtks_complaints.domain.life_events import DraftStatus
from dtks_complaints.errors import complaint_not_found
from dtks_contracts.identifiers import EntityId
from dtks_contracts.text import FreeText
from dtks_contracts.vocabulary.complaints import (
    ComplaintChannel,
    ComplaintClosingReason,
    DraftDismissalReason,
)
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime import paging
from dtks_runtime.auth.deps import ensure_in_scope, found_in_scope, require_role
from dtks_runtime.auth.principal import Principal

router = APIRouter()

VillageOperator = Annotated[Principal, Depends(require_role(Role.VILLAGE_OPERATOR))]
WelfarePost = Annotated[Principal, Depends(require_role(Role.WELFARE_POST_OPERATOR))]
QueueReader = Annotated[
    Principal, Depends(require_role(Role.VILLAGE_OPERATOR, Role.DISTRICT_VERIFIER, Role.AUDITOR))
]


async def _deps(request: Request) -> ComplaintsDeps:
    # async: FastAPI runs a plain function dependency in its thread pool, a thread hand-off on every
    # request (about 5% of a public filing's time, and latency under load) for one attribute read.
    deps: ComplaintsDeps = request.app.state.deps  # built by main.py once the runtime started
    return deps


Deps = Annotated[ComplaintsDeps, Depends(_deps)]


def _client_address(request: Request) -> str:
    # Behind a proxy, uvicorn puts the forwarded address here (DTKS_FORWARDED_ALLOW_IPS).
    return request.client.host if request.client else "unknown"


@router.post(
    "/public/complaints",
    tags=["citizens"],
    status_code=201,
    summary="Without sign-in: file a complaint; the answer holds the tracking code",
    responses={429: {"description": "Too many complaints from this address or for this NIK"}},
)
async def file_public(complaint: ComplaintIn, request: Request, deps: Deps) -> JSONResponse:
    filed = await handlers.file_public(
        deps, complaint, _client_address(request), correlation_id=request.state.correlation_id
    )
    # The public answer names no internal id: the tracking code is all the complainant needs.
    body = {k: v for k, v in filed.body.items() if k != "complaint_id"}
    return JSONResponse(body, status_code=201)


@router.get(
    "/public/complaints/{tracking_code}",
    tags=["citizens"],
    summary="Without sign-in: the status and next step of the complaint with this tracking code",
)
async def track(
    request: Request,
    deps: Deps,
    tracking_code: Annotated[str, Path(min_length=6, max_length=40, pattern=r"^[A-Za-z0-9]+$")],
) -> dict[str, Any]:
    return await handlers.track(deps, _client_address(request), tracking_code)


@router.post(
    "/complaints",
    tags=["welfare post"],
    status_code=201,
    summary="A welfare post officer files a complaint on a citizen's behalf",
)
async def file_for_citizen(
    complaint: ComplaintIn, request: Request, deps: Deps, principal: WelfarePost
) -> JSONResponse:
    ensure_in_scope(principal, complaint.village_code)
    filed = await handlers.file(
        deps,
        complaint,
        channel=ComplaintChannel.WELFARE_POST,
        filed_by=principal.as_actor(),
        correlation_id=request.state.correlation_id,
    )
    return JSONResponse(
        filed.body, status_code=201, headers={"Location": f"/complaints/{filed.complaint_id}"}
    )


@router.get(
    "/complaints",
    tags=["village"],
    summary="The complaints waiting in a village (or escalated in a district), oldest first, with ages",
)
async def queue(
    deps: Deps,
    principal: QueueReader,
    region: Annotated[str, Query(description="A village code; a district verifier gives the district")],
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[str | None, Query(max_length=120, description="next_after of the page before")] = None,
) -> dict[str, Any]:
    ensure_in_scope(principal, region)
    # The district sees what its villages did not act on in time, not every complaint.
    rows = await repo.waiting_in(
        deps.pool,
        region,
        escalated_only=principal.role is Role.DISTRICT_VERIFIER,
        limit=limit,
        after=paging.parse_cursor(after),
    )
    now = deps.now()
    return {
        "region": region,
        "items": [handlers.queue_item(r, now) for r in rows],
        "next_after": paging.next_after(rows, limit, "filed_at", "seq"),
    }


class ClosureIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: ComplaintClosingReason
    note: FreeText | None = None


@router.post(
    "/complaints/{complaint_id}/closure", tags=["village"], summary="Close a complaint with a coded reason"
)
async def close(
    complaint_id: EntityId, closure: ClosureIn, request: Request, deps: Deps, principal: VillageOperator
) -> dict[str, Any]:
    return await handlers.close(
        deps,
        principal,
        complaint_id,
        closure.reason,
        closure.note,
        correlation_id=request.state.correlation_id,
    )


class LinkIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proposal_id: EntityId


@router.post(
    "/complaints/{complaint_id}/proposal",
    tags=["village"],
    summary="Tie the complaint to the proposal made of it: its status then follows that proposal",
)
async def link(
    complaint_id: EntityId, body: LinkIn, request: Request, deps: Deps, principal: VillageOperator
) -> dict[str, Any]:
    return await handlers.link(
        deps, principal, complaint_id, body.proposal_id, correlation_id=request.state.correlation_id
    )


DraftReader = Annotated[Principal, Depends(require_role(Role.VILLAGE_OPERATOR, Role.AUDITOR))]


@router.get(
    "/life-event-drafts",
    tags=["village"],
    summary="Draft proposals the civil registry's life events opened in a village, oldest first, with "
    "ages; and the registered people other villages' drafts say moved here",
)
async def life_event_drafts(
    deps: Deps,
    principal: DraftReader,
    region: Annotated[str, Query(description="The village code")],
    status: Annotated[
        DraftStatus, Query(description="draft (waiting, the default), confirmed or dismissed")
    ] = DraftStatus.DRAFT,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    after: Annotated[str | None, Query(max_length=120, description="next_after of the page before")] = None,
) -> dict[str, Any]:
    ensure_in_scope(principal, region)
    rows = await draft_rows.in_village(
        deps.pool, region, status.value, limit=limit, after=paging.parse_cursor(after)
    )
    arriving = await draft_rows.arriving_in(deps.pool, region)
    tallies = await deps.pool.fetch("SELECT outcome, count FROM life_event_tallies")
    return {
        "region": region,
        "status": status.value,
        "items": [drafts.view(r, deps) for r in rows],
        "next_after": paging.next_after(rows, limit, "created_at", "seq"),
        # The receiving village's note: people of the register who moved here from another village.
        "arrivals": [drafts.arrival(r) for r in arriving],
        # Over every village: how life events fared (drafted, unknown_nik, household_inactive, ...).
        "tallies": {r["outcome"]: r["count"] for r in tallies},
    }


@router.get(
    "/life-event-drafts/{draft_id}",
    tags=["village"],
    summary="One life-event draft: what the life event says, and what the village decided",
)
async def life_event_draft(draft_id: EntityId, deps: Deps, principal: DraftReader) -> dict[str, Any]:
    return await drafts.one(deps, principal, draft_id)


class ConfirmationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    proposal_id: EntityId


@router.post(
    "/life-event-drafts/{draft_id}/confirmation",
    tags=["village"],
    summary="Confirm the draft: tie it to the proposal submitted for it; it then follows that proposal",
    responses={409: {"description": "The draft was confirmed (as another proposal) or dismissed already"}},
)
async def confirm_draft(
    draft_id: EntityId, body: ConfirmationIn, request: Request, deps: Deps, principal: VillageOperator
) -> dict[str, Any]:
    return await drafts.confirm(
        deps, principal, draft_id, body.proposal_id, correlation_id=request.state.correlation_id
    )


class DismissalIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: DraftDismissalReason
    note: FreeText | None = None


@router.post(
    "/life-event-drafts/{draft_id}/dismissal",
    tags=["village"],
    summary="Dismiss the draft with a coded reason (DraftDismissalReason in the contracts) and a note",
    responses={409: {"description": "The draft was confirmed or dismissed already"}},
)
async def dismiss_draft(
    draft_id: EntityId, body: DismissalIn, request: Request, deps: Deps, principal: VillageOperator
) -> dict[str, Any]:
    return await drafts.dismiss(
        deps, principal, draft_id, body.reason, body.note, correlation_id=request.state.correlation_id
    )


@router.get(
    "/complaints/statistics",
    tags=["recap"],
    summary="Complaints in a region counted by kind, village and outcome (open, escalated, in a proposal, or the closing reason)",
)
async def statistics(
    deps: Deps,
    principal: Annotated[Principal, Depends(require_role(*(r for r in Role if r is not Role.AGENCY)))],
    region: Annotated[str, Query(description="Any region code in your scope; ID for the whole country")],
) -> dict[str, Any]:
    ensure_in_scope(principal, region)
    rows = await repo.counts_in(deps.pool, region)
    return {
        "region": region,
        "total": sum(r["count"] for r in rows),
        "counts": [dict(r) for r in rows],
    }


# After /complaints/statistics: a path parameter would take that name as an id.
@router.get(
    "/complaints/{complaint_id}",
    tags=["village"],
    summary="One complaint of your village (or district), as the waiting list shows it",
)
async def one_complaint(complaint_id: EntityId, deps: Deps, principal: QueueReader) -> dict[str, Any]:
    row = await repo.load(deps.pool, complaint_id)
    found = found_in_scope(principal, row, lambda r: r["village_code"], complaint_not_found(complaint_id))
    return handlers.queue_item(dict(found), deps.now())
