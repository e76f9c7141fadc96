"""HTTP routes of the civil-registry simulator: thin, every error a problem document.

Malformed identifiers (not 16 digits) answer 422; well-formed ones the registry does not know
answer 404. While an outage is switched on, everything but /healthz and /admin answers 503 with
Retry-After (see `OutageGuard`).
"""

from __future__ import annotations

import datetime as dt
import math
import uuid
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from dtks_civil_registry.adapters import people_store
from dtks_civil_registry.adapters.life_event_feed import LifeEventFeed
from dtks_civil_registry.domain.life_events import life_events_of
from dtks_civil_registry.domain.outage import Outage
from dtks_civil_registry.domain.people import (
    FamiliesFound,
    Family,
    KkLookup,
    Loaded,
    NikLookup,
    OutageRequest,
    OutageState,
    PeopleBatch,
    PeopleFound,
    PersonRecord,
)
from dtks_civil_registry.settings import CivilRegistrySettings
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import payload_class
from dtks_runtime.problems import Problem, problem_response, validation_errors

router = APIRouter()
admin = APIRouter(prefix="/admin", tags=["fault switch"])

_ALWAYS_UP = ("/healthz", "/admin", "/docs", "/openapi.json")


def _pool(request: Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app.state.pool
    return pool


Pool = Annotated[asyncpg.Pool, Depends(_pool)]


def _outage(request: Request) -> Outage:
    outage: Outage = request.app.state.outage
    return outage


class OutageGuard:
    """Plain ASGI middleware (cheaper per request than BaseHTTPMiddleware): 503 while an outage lasts."""

    def __init__(self, app: ASGIApp, outage: Outage) -> None:
        self.app, self.outage = app, outage

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.outage.active and not scope["path"].startswith(_ALWAYS_UP):
            problem = Problem(
                503,
                "civil_registry_unavailable",
                "The civil registry is unavailable (simulated outage); retry after the Retry-After seconds.",
            )
            headers = {"Retry-After": str(self.outage.retry_after())}
            await problem_response(problem, Request(scope), headers=headers)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _check_identifier(value: str, label: str, code: str) -> None:
    if len(value) != 16 or not (value.isascii() and value.isdigit()):
        raise Problem(
            422, code, f"The {label} must be exactly 16 digits 0-9; check the number and ask again."
        )


@router.get("/people/{nik}", response_model=PersonRecord, tags=["people"], summary="One person by NIK")
async def get_person(nik: str, pool: Pool) -> PersonRecord:
    _check_identifier(nik, "NIK", "invalid_nik")
    async with pool.acquire() as conn:
        found = await people_store.find_people(conn, [nik])
    if not found:
        raise Problem(404, "person_not_found", f"No person with NIK {nik[:6]}... is in the civil registry.")
    return found[0]


@router.post("/people/lookup", response_model=PeopleFound, tags=["people"], summary="Many people by NIK")
async def lookup_people(body: NikLookup, pool: Pool) -> Response:
    # The answer's JSON is built by the query (see people_store): no model per person here.
    async with pool.acquire() as conn:
        found = await people_store.people_found_json(conn, body.niks)
    return Response(found, media_type="application/json")


def _family(kk_number: str, members: list[PersonRecord]) -> Family:
    first = members[0]
    return Family(
        kk_number=kk_number,
        village_code=first.village_code,
        address=first.address,
        rt=first.rt,
        rw=first.rw,
        members=members,
    )


@router.get("/families/{kk_number}", response_model=Family, tags=["families"], summary="A family card")
async def get_family(kk_number: str, pool: Pool) -> Family:
    _check_identifier(kk_number, "KK number", "invalid_kk_number")
    async with pool.acquire() as conn:
        families = await people_store.find_families(conn, [kk_number])
    if kk_number not in families:
        raise Problem(404, "family_not_found", f"No family card {kk_number[:6]}... is in the civil registry.")
    return _family(kk_number, families[kk_number])


@router.post("/families/lookup", response_model=FamiliesFound, tags=["families"], summary="Many family cards")
async def lookup_families(body: KkLookup, pool: Pool) -> Response:
    async with pool.acquire() as conn:
        found = await people_store.families_found_json(conn, body.kk_numbers)
    return Response(found, media_type="application/json")


@router.post(
    "/people", response_model=Loaded, tags=["loading"], summary="Load a batch of people (upsert by NIK)"
)
async def load_people(
    body: PeopleBatch,
    request: Request,
    pool: Pool,
    emit_life_events: Annotated[
        bool,
        Query(
            description="Also publish the deaths and moves the batch records (a person now dead, or "
            "moved to another village, who was not before) as life events, as the civil registry's "
            "data sharing would"
        ),
    ] = False,
) -> Loaded:
    settings: CivilRegistrySettings = request.app.state.settings
    if len(body.people) > settings.civil_registry_max_batch:
        raise Problem(
            413,
            "batch_too_large",
            f"A batch may carry at most {settings.civil_registry_max_batch} people; split the file and post the parts.",
        )
    async with pool.acquire() as conn:
        if emit_life_events:
            # Published before the records change: a load that fails after it is retried, finds the
            # same changes and publishes the same ids again (one draft each downstream); the other
            # order would lose the events of a load that failed between the two.
            before = {p.nik: p for p in await people_store.find_people(conn, [p.nik for p in body.people])}
            told = life_events_of(before, body.people, dt.date.today())
            if told:
                feed: LifeEventFeed = request.app.state.life_event_feed
                await feed.publish([EventEnvelope.new(e, aggregate_version=1, actor=None) for e in told])
        loaded, changed = await people_store.load(conn, body.people)
    return Loaded(loaded=loaded, changed=changed)


def _state(outage: Outage) -> OutageState:
    left = outage.remaining()
    return OutageState(active=left > 0, remaining_seconds=None if math.isinf(left) else round(left, 3))


@admin.get("/outage", response_model=OutageState, summary="Is a simulated outage on?")
async def outage_status(request: Request) -> OutageState:
    return _state(_outage(request))


@admin.post("/outage", response_model=OutageState, summary="Answer 503 for the next until_seconds")
async def start_outage(body: OutageRequest, request: Request) -> OutageState:
    outage = _outage(request)
    outage.start(body.until_seconds)
    return _state(outage)


@admin.delete("/outage", response_model=OutageState, summary="End a simulated outage now")
async def end_outage(request: Request) -> OutageState:
    outage = _outage(request)
    outage.end()
    return _state(outage)


@router.get("/healthz", tags=["operations"], summary="Liveness; answers during simulated outages too")
async def healthz(request: Request, pool: Pool) -> dict[str, Any]:
    async with pool.acquire() as conn:
        await conn.fetchval("SELECT 1")
    state = _state(_outage(request))
    return {"status": "ok", "service": "civil_registry", "outage": state.model_dump()}


class LifeEventIn(BaseModel):
    """One life event: its contract type and payload; the id is given here when the caller has none."""

    model_config = ConfigDict(extra="forbid")

    event_type: Literal[
        "civil_registry.person_died",
        "civil_registry.person_moved",
        "civil_registry.child_born",
        "civil_registry.family_card_changed",
    ]
    payload: dict[str, Any]


class LifeEventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[LifeEventIn] = Field(min_length=1, max_length=10_000)


@admin.post(
    "/life-events",
    summary="Publish life events (death, move, birth, family card change) to the civil registry's Kafka topic",
)
async def publish_life_events(body: LifeEventsIn, request: Request) -> dict[str, Any]:
    envelopes: list[EventEnvelope] = []
    errors: list[dict[str, Any]] = []
    for i, item in enumerate(body.events):
        fields = {"life_event_id": str(uuid.uuid4()), **item.payload}
        try:
            payload = payload_class(item.event_type).model_validate(fields)
        except ValidationError as exc:
            errors += validation_errors(exc.errors(), within=f"events[{i}].payload")
            continue
        envelopes.append(EventEnvelope.new(payload, aggregate_version=1, actor=None))
    if errors:
        raise Problem(422, "invalid_life_event", "Some life events have fields to correct.", errors=errors)
    feed: LifeEventFeed = request.app.state.life_event_feed
    await feed.publish(envelopes)
    return {"published": len(envelopes), "life_event_ids": [e.payload["life_event_id"] for e in envelopes]}
