"""HTTP routes of the verification service: thin; parse, authorize, call the handlers, answer."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

import pydantic
from fastapi import APIRouter, Body, Path, Query, Request, Response
from pydantic import BaseModel, Field

from dtks_contracts.events.governance import FrozenAction, ItemsOverdue
from dtks_contracts.events.proposal import Note
from dtks_contracts.events.verification import FieldVisitRecorded
from dtks_contracts.identifiers import DecreeNumber, EntityId
from dtks_contracts.regions import RegencyCode, RegionCode
from dtks_contracts.text import FreeText, SafeStr
from dtks_contracts.timestamps import UtcDateTime
from dtks_contracts.vocabulary import TIER_ROLE, ReasonCode, Role, Tier
from dtks_runtime import paging
from dtks_runtime.auth.deps import CurrentPrincipal, found_in_scope
from dtks_runtime.errors import DomainError, status_of
from dtks_runtime.problems import Problem, validation_errors
from dtks_runtime.region_reads import planned_per_execution
from dtks_verification import deadlines, evidence, governance
from dtks_verification.adapters import (
    field_visits,
    overdue_marks,
    pending_checks,
    prelists,
    proposals,
    tier_queues,
)
from dtks_verification.decisions import DecisionCommand, decide_many, decide_one
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.workflow import API_TIER_OF, API_TIERS, Decision, Refusal
from dtks_verification.ratification import RatifyCommand, ratify
from dtks_verification.standing import outcome
from dtks_verification.visits import add_visit

router = APIRouter()

# The HTTP status of each refusal's code (the runtime's problem handler reads this table; see
# dtks_runtime.errors). The codes are what clients key on; a code missing here answers 422.
ERROR_STATUSES: dict[str, int] = {
    "role_not_allowed": 403,
    "outside_region": 403,
    "proposal_not_found": 404,
    "unknown_tier": 404,
    "proposal_withdrawn": 409,
    "proposal_accepted": 409,
    "proposal_returned": 409,
    "awaiting_integrity_checks": 409,
    "acceptance_in_progress": 409,
    "out_of_turn": 409,
    "ratification_refused": 409,
    "decree_already_used": 409,
    "ratification_needs_decree": 422,
    "reasons_required": 422,
    "invalid_decision": 422,
    "invalid_batch_size": 422,
    # A freeze period holds: 423 Locked, the action is refused for a while, not for good; the
    # problem names the freeze and its end (`freeze.ends_at`) so the officer knows when to act.
    "frozen": 423,
    "freeze_not_found": 404,
    "freeze_over": 409,
    "freeze_not_shortened": 409,
    "invalid_freeze_period": 422,
    "invalid_freeze_scope": 422,
    "photo_hash_mismatch": 422,
    "photo_type_not_allowed": 415,
    "photo_not_found": 404,
}

TierId = Literal["district", "regency", "regent", "province", "ministry"]
_READERS = frozenset({*TIER_ROLE.values(), Role.AUDITOR})


class DecisionIn(BaseModel):
    """One decision on one proposal at one tier."""

    model_config = pydantic.ConfigDict(extra="forbid")

    proposal_id: EntityId
    tier: TierId
    decision: Decision
    reasons: list[ReasonCode] = Field(default_factory=list, description="Required for a return")
    note: Note | None = None


class RatificationIn(BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    regency_code: RegencyCode
    decree_number: DecreeNumber
    decree_date: dt.date
    proposal_ids: list[EntityId] = Field(min_length=1, max_length=10_000)


class PhotoRef(BaseModel):
    subject: Literal["roof", "floor", "walls", "head"]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Content hash of the photo")
    location: SafeStr = Field(
        min_length=1, max_length=400, description="Where the photo is stored (key or URI)"
    )


class FieldVisitIn(BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    officer: SafeStr = Field(min_length=1, max_length=200)
    visit_date: dt.date
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    photos: list[PhotoRef] = Field(default_factory=list, max_length=20)


def _deps(request: Request) -> VerificationDeps:
    return request.app.state.deps


def _village_of(record: proposals.ProposalRecord) -> str:
    return record.state.village_code


def _problem_item(index: int, proposal_id: str | None, error: DomainError) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "code": error.code,
        "status": status_of(error.code, ERROR_STATUSES),
        "detail": error.detail,
    }
    if error.errors:
        doc["errors"] = error.errors
    doc.update(error.extra)
    return {"index": index, "proposal_id": proposal_id, "ok": False, "problem": doc}


@router.get("/queues/stats", tags=["queues"], summary="Where things are stuck: per tier and region")
async def queue_stats(
    request: Request,
    principal: CurrentPrincipal,
    older_than_hours: Annotated[
        # Bounded (ten years): a larger age does not fit a time span and would fail as a 500.
        float | None, Query(gt=0, le=87_600, description="Age limit; default from settings")
    ] = None,
) -> dict[str, Any]:
    if principal.role not in _READERS:
        raise Refusal("role_not_allowed", "Queue statistics are for verifiers, regents and auditors.")
    hours = older_than_hours or request.app.state.settings.queue_age_limit_hours
    deps = _deps(request)
    now = deps.clock()
    # Counts over a scope from one village to the whole country: planned for the scope at hand.
    async with deps.connection() as conn, planned_per_execution(conn):
        rows = await tier_queues.queue_stats(conn, principal.region, dt.timedelta(hours=hours))
        waiting = await tier_queues.checks_waiting(conn, principal.region)
        overdue = await deadlines.overdue_by_queue(conn, principal.region, now)
    return {
        "scope": principal.region,
        "age_limit_hours": hours,
        "queues": [
            {
                "tier": API_TIER_OF[Tier(r["tier"])],
                "region": r["tier_region"],
                "count": r["count"],
                "oldest_age_seconds": round((now - r["oldest"]).total_seconds(), 1),
                "past_age_limit": r["past_age_limit"],
                "overdue": overdue.get((r["tier"], r["tier_region"]), 0),
            }
            for r in rows
        ],
        "integrity_checks": {
            "queued": waiting["count"],
            "waiting_for_civil_registry": waiting["waiting_for_civil_registry"],
            "oldest_age_seconds": round((now - waiting["oldest"]).total_seconds(), 1)
            if waiting["oldest"]
            else None,
        },
    }


@router.get("/queues/{tier}", tags=["queues"], summary="What waits at a tier in your region, oldest first")
async def tier_queue(
    request: Request,
    tier: TierId,
    principal: CurrentPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    after: Annotated[
        str | None,
        Query(
            max_length=120,
            description="The `next_after` of the page before (an entered_at alone, the older form, "
            "continues from that moment)",
        ),
    ] = None,
    order: Annotated[
        Literal["oldest", "newest"], Query(description="Oldest first (default) or newest")
    ] = "oldest",
) -> dict[str, Any]:
    the_tier = API_TIERS[tier]
    cursor = paging.parse_cursor(after)
    if principal.role not in (TIER_ROLE[the_tier], Role.AUDITOR):
        raise Refusal(
            "role_not_allowed",
            f"The {tier} queue is for {TIER_ROLE[the_tier].value}; you act as {principal.role.value}.",
        )
    deps = _deps(request)
    now = deps.clock()
    async with deps.connection() as conn, planned_per_execution(conn):
        rows = await tier_queues.queue(
            conn, the_tier, principal.region, limit, cursor, newest_first=order == "newest"
        )
        due = await deadlines.with_deadlines(conn, the_tier, rows, now)
    items = [
        {
            "proposal_id": r["proposal_id"],
            "round": r["round"],
            "kind": r["kind"],
            "village_code": r["village_code"],
            "region": r["tier_region"],
            "kk_number": r["kk_number"],
            "members": r["members"],
            "entered_at": r["entered_at"].isoformat(),
            "waiting_seconds": round((now - r["entered_at"]).total_seconds(), 1),
            **deadline,
        }
        for r, deadline in zip(rows, due, strict=True)
    ]
    return {
        "tier": tier,
        "scope": principal.region,
        "items": items,
        "order": order,
        "next_after": paging.next_after(rows, limit, "entered_at", "proposal_id"),
    }


@router.post(
    "/decisions",
    tags=["decisions"],
    summary="Forward or return one proposal, or many (each item succeeds or fails on its own)",
    description=(
        "Send one decision object, or a list. For a list the answer lists each item's result: "
        "`ok` with the proposal's new standing, or a `problem` with a stable code. "
        '`"decision": "forward"` at `ministry` is the Ministry\'s acceptance (the integrity standard runs again).'
    ),
)
async def decisions(
    request: Request,
    principal: CurrentPrincipal,
    body: Annotated[
        dict[str, Any] | list[dict[str, Any]],
        Body(
            examples=[
                {
                    "proposal_id": "2f6c1d1e-8a4b-4c4e-9a57-3d2b0c1f9e10",
                    "tier": "province",
                    "decision": "return",
                    "reasons": ["ADDRESS_NOT_FOUND"],
                    "note": "RT/RW missing",
                }
            ]
        ),
    ],
) -> dict[str, Any]:
    deps = _deps(request)
    correlation_id: str = request.state.correlation_id
    if isinstance(body, dict):
        try:
            command = _command(DecisionIn.model_validate(body))
            return await decide_one(deps, principal, command, correlation_id)
        except pydantic.ValidationError as exc:
            raise _invalid(exc) from None
    if not 1 <= len(body) <= 1000:
        raise Refusal("invalid_batch_size", "Send between 1 and 1000 decisions in one request.")
    commands: list[DecisionCommand | Refusal] = []
    for raw in body:
        try:
            commands.append(_command(DecisionIn.model_validate(raw)))
        except pydantic.ValidationError as exc:
            commands.append(_invalid(exc))  # answered as it is, in its place
    outcomes = await decide_many(deps, principal, commands, correlation_id)
    results = []
    for index, (raw, result) in enumerate(zip(body, outcomes, strict=True)):
        pid = raw.get("proposal_id") if isinstance(raw, dict) else None
        if isinstance(result, Refusal):
            results.append(_problem_item(index, pid, result))
        else:
            results.append({"index": index, "ok": True, **result})
    ok = sum(1 for r in results if r["ok"])
    return {"succeeded": ok, "failed": len(results) - ok, "results": results}


def _invalid(exc: pydantic.ValidationError) -> Refusal:
    # Fields are named within the decision, as every service names them (`reasons[0]`).
    errors = validation_errors(exc.errors(), within="body")
    names = ", ".join(sorted({e["field"] for e in errors}))
    return Refusal("invalid_decision", f"The decision has invalid fields: {names}.", errors=errors)


def _command(item: DecisionIn) -> DecisionCommand:
    return DecisionCommand(item.proposal_id, item.tier, item.decision, tuple(item.reasons), item.note)


@router.post("/ratifications", tags=["decisions"], summary="The regent/mayor ratifies a batch by decree")
async def ratifications(
    request: Request, principal: CurrentPrincipal, body: RatificationIn
) -> dict[str, Any]:
    command = RatifyCommand(
        body.regency_code, body.decree_number, body.decree_date, list(dict.fromkeys(body.proposal_ids))
    )
    return await ratify(_deps(request), principal, command, request.state.correlation_id)


@router.get(
    "/proposals/{proposal_id}/verification",
    tags=["proposals"],
    summary="A proposal's standing and history: checks, decisions and visits, every round",
)
async def proposal_verification(
    request: Request, proposal_id: str, principal: CurrentPrincipal
) -> dict[str, Any]:
    deps = _deps(request)
    async with deps.connection() as conn:
        # Outside one's region a proposal is indistinguishable from a missing one.
        not_found = Problem(
            404, "proposal_not_found", f"No proposal {proposal_id} is in verification in your region."
        )
        record = found_in_scope(principal, await proposals.load(conn, proposal_id), _village_of, not_found)
        if principal.role not in {*_READERS, Role.VILLAGE_OPERATOR}:
            raise Refusal("role_not_allowed", "Your role cannot read verification histories.")
        events = await deps.store.read_stream(conn, "proposal", proposal_id)
        overdue = await overdue_marks.current_stay(conn, proposal_id)
        pending = await pending_checks.pending_check_of(conn, proposal_id)
        visits = await field_visits.visits(conn, proposal_id)
        content = record.content
        round_visit = (
            await prelists.visit_of(conn, content.reverification_round_id, content.target_household_id)
            if content.reverification_round_id and content.target_household_id
            else None
        )
    for visit in visits:
        visit["photos"] = evidence.with_urls(visit.get("photos"))
    if round_visit is not None:
        round_visit["photos"] = evidence.with_urls(round_visit.get("photos"))
    checks: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    # When its current stay became overdue, and at which level: the scan's marks (its notices list
    # the items of a whole region; the registry files them under each household's history), each
    # among the stream's events by the time the scan's clock gave it.
    marks = [
        (
            m["marked_at"],
            {
                "event_type": ItemsOverdue.event_type,
                "occurred_at": m["marked_at"].isoformat(),
                "tier": record.state.tier,
                **{
                    k: (v.isoformat() if isinstance(v, dt.date) else v)
                    for k, v in m.items()
                    if k != "marked_at"
                },
            },
        )
        for m in overdue
    ]
    for e in events:
        item = {"event_type": e.event_type, "occurred_at": e.occurred_at.isoformat(), **e.payload}
        if e.event_type == FieldVisitRecorded.event_type:
            continue  # listed under "visits", from the rows the events were recorded with
        if e.event_type == "verification.integrity_checked":
            checks.append(item)
            continue
        while marks and marks[0][0] <= e.occurred_at:
            decisions.append(marks.pop(0)[1])
        decisions.append(item)
    decisions += [entry for _, entry in marks]
    for d in decisions:
        for name in ("tier", "to_tier"):
            if name in d:
                d[name] = API_TIER_OF[Tier(d[name])]
    return {
        **outcome(record.state),
        "village_code": record.state.village_code,
        "kind": record.content.kind.value,
        "pending_check": (
            {
                "stage": pending["stage"],
                "queued_at": pending["queued_at"].isoformat(),
                "attempts": pending["attempts"],
                "waiting_for_civil_registry": pending["last_error"] is not None,
            }
            if pending
            else None
        ),
        "checks": checks,
        "decisions": decisions,
        "visits": visits,
        # The re-verification round's visit the proposal was made from (None for other proposals).
        "round_visit": round_visit,
    }


@router.post(
    "/proposals/{proposal_id}/field-visits",
    tags=["proposals"],
    status_code=201,
    summary="Attach a field visit's evidence (officer, date, GPS, photo references)",
)
async def field_visit(
    request: Request, proposal_id: str, principal: CurrentPrincipal, body: FieldVisitIn
) -> dict[str, Any]:
    return await add_visit(
        _deps(request), principal, proposal_id, body.model_dump(mode="json"), request.state.correlation_id
    )


_SHA256 = Path(pattern=r"^[0-9a-f]{64}$", description="The photo's SHA-256, lower-case hex")


@router.put(
    "/evidence/{sha256}",
    tags=["evidence"],
    status_code=201,
    summary="Upload a field photo (JPEG, PNG or HEIC) under its SHA-256; the body is the file itself",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                t: {"schema": {"type": "string", "format": "binary"}}
                for t in ("image/jpeg", "image/png", "image/heic", "application/octet-stream")
            },
        }
    },
)
async def upload_photo(
    request: Request, principal: CurrentPrincipal, sha256: Annotated[str, _SHA256]
) -> dict[str, Any]:
    return await evidence.upload_photo(_deps(request), principal, sha256, await request.body())


# A photo's address is its content: it never changes, so a browser may keep it for a year. Private:
# field photos are personal data, no shared cache keeps them.
_PHOTO_CACHE = "private, max-age=31536000, immutable"


@router.get(
    "/evidence/{sha256}",
    tags=["evidence"],
    summary="A field photo's bytes, for officers whose region holds a visit that names it, and the Ministry",
    response_class=Response,
    responses={200: {"content": {t: {} for t in ("image/jpeg", "image/png", "image/heic")}}, 304: {}},
)
async def photo(request: Request, principal: CurrentPrincipal, sha256: Annotated[str, _SHA256]) -> Response:
    deps = _deps(request)
    stored = await evidence.visible_photo(deps, principal, sha256)
    headers = {"ETag": f'"{sha256}"', "Cache-Control": _PHOTO_CACHE, "X-Content-Type-Options": "nosniff"}
    asked = request.headers.get("if-none-match", "")
    if asked.strip() == "*" or f'"{sha256}"' in {tag.strip().removeprefix("W/") for tag in asked.split(",")}:
        return Response(status_code=304, headers=headers)
    data = await evidence.photo_bytes(deps, sha256)
    return Response(data, media_type=stored.content_type, headers=headers)


@router.get(
    "/proposals/{proposal_id}/photos/{sha256}",
    tags=["evidence"],
    summary="A photo one of the proposal's field visits names: its bytes, for the proposal's verifiers",
    response_class=Response,
)
async def proposal_photo(
    request: Request, proposal_id: str, principal: CurrentPrincipal, sha256: Annotated[str, _SHA256]
) -> Response:
    deps = _deps(request)
    async with deps.connection() as conn:
        not_found = Problem(
            404, "proposal_not_found", f"No proposal {proposal_id} is in verification in your region."
        )
        found_in_scope(principal, await proposals.load(conn, proposal_id), _village_of, not_found)
    if principal.role not in _READERS:
        raise Refusal("role_not_allowed", "Your role cannot see field photos.")
    data, content_type = await evidence.photo_of_proposal(deps, proposal_id, sha256)
    return Response(data, media_type=content_type, headers={"Cache-Control": "private, no-store"})


class FreezeIn(BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    scope: RegionCode = Field(description="ID for the whole country, a province or a regency")
    actions: list[FrozenAction] = Field(min_length=1, max_length=len(FrozenAction))
    starts_at: UtcDateTime
    ends_at: UtcDateTime
    reason: FreeText = Field(min_length=1)


class FreezeChangeIn(BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    reason: FreeText = Field(min_length=1)


class FreezeShortenIn(FreezeChangeIn):
    ends_at: UtcDateTime


class DeadlineIn(BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")

    working_days: int = Field(ge=1, le=365)
    regency_code: RegencyCode | None = Field(default=None, description="Only this regency; else the country")


@router.post(
    "/freezes", tags=["governance"], status_code=201, summary="The Ministry declares a freeze period"
)
async def declare_freeze(request: Request, principal: CurrentPrincipal, body: FreezeIn) -> dict[str, Any]:
    command = governance.DeclareFreeze(
        body.scope, tuple(body.actions), body.starts_at, body.ends_at, body.reason
    )
    return await governance.declare_freeze(_deps(request), principal, command, request.state.correlation_id)


@router.get("/freezes", tags=["governance"], summary="Freezes holding or to come that touch your region")
async def freezes(request: Request, principal: CurrentPrincipal) -> dict[str, Any]:
    return {"freezes": await governance.list_freezes(_deps(request), principal)}


@router.post("/freezes/{freeze_id}/shorten", tags=["governance"], summary="End a freeze earlier")
async def shorten_freeze(
    request: Request, freeze_id: str, principal: CurrentPrincipal, body: FreezeShortenIn
) -> dict[str, Any]:
    return await governance.end_freeze_early(
        _deps(request), principal, freeze_id, body.ends_at, body.reason, request.state.correlation_id
    )


@router.post("/freezes/{freeze_id}/lift", tags=["governance"], summary="End a freeze now")
async def lift_freeze(
    request: Request, freeze_id: str, principal: CurrentPrincipal, body: FreezeChangeIn
) -> dict[str, Any]:
    return await governance.end_freeze_early(
        _deps(request), principal, freeze_id, None, body.reason, request.state.correlation_id
    )


@router.put("/deadlines/{tier}", tags=["governance"], summary="Working days an item may wait at a tier")
async def set_deadline(
    request: Request, tier: TierId, principal: CurrentPrincipal, body: DeadlineIn
) -> dict[str, Any]:
    return await governance.set_deadline(
        _deps(request),
        principal,
        API_TIERS[tier],
        body.regency_code,
        body.working_days,
        request.state.correlation_id,
    )


__all__ = ["router"]
