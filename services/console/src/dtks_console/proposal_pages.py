"""The village operator's proposals: the list by status (paged through the service's cursor), the
new-household form and its submission (started from a complaint, when one is named), and one
proposal's record with its timeline."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dtks_console.access import access_of
from dtks_console.complaint_pages import link_complaint, prefill_from_complaint
from dtks_console.freeze_banner import freezes_stopping
from dtks_console.household_form import CHOICES, HouseholdForm
from dtks_console.pages import render
from dtks_console.reason_text import reason_sentence
from dtks_console.sessions import Session
from dtks_contracts.vocabulary.programs import Program

router = APIRouter()
STATUSES = ("submitted", "in_verification", "returned", "accepted", "determined", "withdrawn")
PAGE_SIZE = 20


@router.get("/proposals")
async def proposals(request: Request, status: str = "", cursor: str = "") -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    answer = await access.call(
        request,
        "proposal",
        "GET",
        "/proposals",
        token,
        params={"status": status if status in STATUSES else None, "cursor": cursor, "limit": PAGE_SIZE},
    )
    return render(
        request,
        "proposals.html",
        user=access.person(session),
        csrf=session.csrf,
        statuses=STATUSES,
        status=status,
        cursor=cursor,
        items=answer.body.get("items", []) if answer.ok else [],
        next_cursor=answer.body.get("next_cursor") if answer.ok else None,
        problem=None if answer.ok else answer.problem(),
    )


@router.get("/proposals/new")
async def new_proposal(request: Request, complaint: str = "") -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    form = HouseholdForm.blank(str(uuid.uuid4()))
    if complaint:
        await prefill_from_complaint(request, token, access.person(session), form, complaint)
    return form_page(request, session, form, freezes=await freezes_stopping(request, token, "new_proposals"))


@router.post("/proposals/new")
async def submit_proposal(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    access.check_csrf(session, str(data.get("csrf", "")))
    fields = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    form = HouseholdForm.from_post(fields, [str(p) for p in data.getlist("programs")])
    if data.get("action") == "add_row":
        form.add_row()
        return form_page(request, session, form)
    user = access.person(session)
    key = form.idempotency_key or str(uuid.uuid4())
    answer = await access.call(
        request,
        "proposal",
        "POST",
        "/proposals",
        token,
        json=form.body(str(user["region"])),
        headers={"Idempotency-Key": key},
    )
    if answer.ok:
        if form.complaint_id:
            await link_complaint(request, token, form.complaint_id, answer.body["proposal_id"])
        return RedirectResponse(f"/proposals/{answer.body['proposal_id']}?sent=1", status_code=303)
    form.refused(answer.problem())
    return form_page(request, session, form, status=answer.status if answer.status < 500 else 502)


def form_page(
    request: Request,
    session: Session,
    form: HouseholdForm,
    status: int = 200,
    freezes: list[dict[str, Any]] | None = None,
) -> Response:
    return render(
        request,
        "proposal_form.html",
        http_status=status,
        user=access_of(request).person(session),
        csrf=session.csrf,
        form=form,
        programs=[p.value for p in Program],
        choices=CHOICES,
        freezes=freezes or [],
    )


@router.get("/proposals/{proposal_id}")
async def proposal(request: Request, proposal_id: str, sent: str = "") -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    answer = await access.call(request, "proposal", "GET", f"/proposals/{quote(proposal_id)}", token)
    return render(
        request,
        "proposal.html",
        http_status=answer.status if not answer.ok else 200,
        user=access.person(session),
        csrf=session.csrf,
        proposal=answer.body if answer.ok else None,
        problem=None if answer.ok else answer.problem(),
        sent=bool(sent),
        describe=reason_sentence,
    )
