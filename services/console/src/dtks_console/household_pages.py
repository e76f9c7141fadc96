"""A registered household found by its id or family card number (KK), and the proposals a village
operator starts from its record: a correction pre-filled with what the register holds, or a
deactivation with its reason and the deliberation's minutes."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dtks_console.access import access_of
from dtks_console.backend import Answer
from dtks_console.household_form import CHOICES, HouseholdForm
from dtks_console.pages import render
from dtks_console.sessions import Session
from dtks_console.village_forms import (
    DEACTIVATION_REASONS,
    DeactivationForm,
    household_form,
    merged_household,
)
from dtks_console.village_page_parts import message_page, posted_form
from dtks_contracts.vocabulary.programs import Program

router = APIRouter()
KK = re.compile(r"^[0-9]{16}$")


@router.get("/households")
async def find_household(request: Request, q: str = "") -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    q = q.strip()
    households: list[dict[str, Any]] = []
    problem = None
    if q:
        if KK.match(q):
            answer = await access.call(request, "registry", "GET", "/households", token, params={"kk": q})
            households = answer.body.get("households", []) if answer.ok else []
        else:
            answer = await access.call(request, "registry", "GET", f"/households/{quote(q, safe='')}", token)
            households = [answer.body] if answer.ok else []
        if not answer.ok and answer.status != 404:
            problem = answer.problem()
    return render(
        request,
        "households.html",
        user=access.person(session),
        csrf=session.csrf,
        q=q,
        households=households,
        problem=problem,
    )


async def _registered(request: Request, token: str, household_id: str) -> Answer:
    return await access_of(request).call(
        request, "registry", "GET", f"/households/{quote(household_id, safe='')}", token
    )


def _correction_page(
    request: Request, session: Session, record: dict[str, Any], form: HouseholdForm, status: int = 200
) -> Response:
    return render(
        request,
        "correction_form.html",
        http_status=status,
        user=access_of(request).person(session),
        csrf=session.csrf,
        form=form,
        record=record,
        programs=[p.value for p in Program],
        choices=CHOICES,
    )


@router.get("/households/{household_id}/correction")
async def correction_form(request: Request, household_id: str) -> Response:
    session, token = await access_of(request).signed_in(request)
    answer = await _registered(request, token, household_id)
    if not answer.ok:
        return message_page(request, session, answer, "Household")
    record = answer.body
    form = household_form(
        record["household"],
        idempotency_key=str(uuid.uuid4()),
        programs=list(record.get("programs") or []),
    )
    return _correction_page(request, session, record, form)


@router.post("/households/{household_id}/correction")
async def correct(request: Request, household_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    fields, programs = await posted_form(request, session)
    answer = await _registered(request, token, household_id)
    if not answer.ok:
        return message_page(request, session, answer, "Household")
    record = answer.body
    form = HouseholdForm.from_post(fields, programs)
    if fields.get("action") == "add_row":
        form.add_row()
        return _correction_page(request, session, record, form)
    village = record["village_code"]
    body = {
        "kind": "correction",
        "village_code": village,
        "household_id": record["household_id"],
        "deliberation": form.body(village)["deliberation"],
        "household": merged_household(form, record["household"], village),
        "programs": form.programs,
    }
    sent = await access.call(
        request,
        "proposal",
        "POST",
        "/proposals",
        token,
        json=body,
        headers={"Idempotency-Key": form.idempotency_key or str(uuid.uuid4())},
    )
    if sent.ok:
        return RedirectResponse(f"/proposals/{sent.body['proposal_id']}?sent=1", status_code=303)
    form.refused(sent.problem())
    return _correction_page(request, session, record, form, status=sent.status if sent.status < 500 else 502)


def _deactivation_page(
    request: Request, session: Session, record: dict[str, Any], form: DeactivationForm, status: int = 200
) -> Response:
    return render(
        request,
        "deactivation_form.html",
        http_status=status,
        user=access_of(request).person(session),
        csrf=session.csrf,
        form=form,
        record=record,
        deactivation_reasons=DEACTIVATION_REASONS,
    )


@router.get("/households/{household_id}/deactivation")
async def deactivation_form(request: Request, household_id: str) -> Response:
    session, token = await access_of(request).signed_in(request)
    answer = await _registered(request, token, household_id)
    if not answer.ok:
        return message_page(request, session, answer, "Household")
    form = DeactivationForm(household_id=answer.body["household_id"], idempotency_key=str(uuid.uuid4()))
    return _deactivation_page(request, session, answer.body, form)


@router.post("/households/{household_id}/deactivation")
async def deactivate(request: Request, household_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    fields, _ = await posted_form(request, session)
    answer = await _registered(request, token, household_id)
    if not answer.ok:
        return message_page(request, session, answer, "Household")
    record = answer.body
    form = DeactivationForm.from_post(record["household_id"], fields)
    sent = await access.call(
        request,
        "proposal",
        "POST",
        "/proposals",
        token,
        json=form.body(record["village_code"]),
        headers={"Idempotency-Key": form.idempotency_key or str(uuid.uuid4())},
    )
    if sent.ok:
        return RedirectResponse(f"/proposals/{sent.body['proposal_id']}?sent=1", status_code=303)
    form.refused(sent.problem())
    return _deactivation_page(
        request, session, record, form, status=sent.status if sent.status < 500 else 502
    )
