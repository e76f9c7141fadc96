"""A village operator's own proposal after it was sent: a returned one corrected and resubmitted from
a form pre-filled with what was sent (the return's reasons beside it), or one withdrawn. The regency's
social service does the same with an institution's proposal (dtks_console.institution_resubmission)."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dtks_console.access import access_of
from dtks_console.backend import Answer
from dtks_console.household_form import CHOICES, HouseholdForm
from dtks_console.institution_resubmission import FIELDS as INSTITUTION_FIELDS
from dtks_console.institution_resubmission import InstitutionForm, is_institution_kind
from dtks_console.pages import render
from dtks_console.proposal_returns import latest_return, return_reasons
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


async def _load_proposal(request: Request, token: str, proposal_id: str) -> Answer:
    return await access_of(request).call(
        request, "proposal", "GET", f"/proposals/{quote(proposal_id)}", token
    )


def _resubmit_page(
    request: Request,
    session: Session,
    proposal: dict[str, Any],
    form: Any,
    status: int = 200,
    note: str = "",
) -> Response:
    template = {"deactivation": "resubmit_deactivation.html"}.get(proposal["kind"], "resubmit_form.html")
    if is_institution_kind(proposal["kind"]):
        template = "resubmit_institution.html"
    return render(
        request,
        template,
        http_status=status,
        user=access_of(request).person(session),
        csrf=session.csrf,
        form=form,
        proposal=proposal,
        returned=latest_return(proposal),
        reasons=return_reasons(proposal),
        programs=[p.value for p in Program],
        choices=CHOICES,
        deactivation_reasons=DEACTIVATION_REASONS,
        correction_note=note,
        record={"household_id": getattr(form, "household_id", None)},
        fields=INSTITUTION_FIELDS,
    )


@router.get("/proposals/{proposal_id}/resubmit")
async def resubmit_form(request: Request, proposal_id: str) -> Response:
    session, token = await access_of(request).signed_in(request)
    answer = await _load_proposal(request, token, proposal_id)
    if not answer.ok:
        return message_page(request, session, answer, "Proposal")
    proposal = answer.body
    content = proposal.get("content") or {}
    key = str(uuid.uuid4())
    form: Any
    if is_institution_kind(proposal["kind"]):
        form = InstitutionForm.from_content(content, key)
    elif proposal["kind"] == "deactivation":
        form = DeactivationForm.from_content(content, key)
    else:
        form = household_form(
            content.get("household") or {},
            idempotency_key=key,
            deliberation=content.get("deliberation"),
            programs=list(content.get("programs_requested") or []),
        )
    return _resubmit_page(request, session, proposal, form)


@router.post("/proposals/{proposal_id}/resubmit")
async def resubmit(request: Request, proposal_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    fields, programs = await posted_form(request, session)
    answer = await _load_proposal(request, token, proposal_id)
    if not answer.ok:
        return message_page(request, session, answer, "Proposal")
    proposal = answer.body
    content = proposal.get("content") or {}
    village = proposal["village_code"]
    form: Any
    if is_institution_kind(proposal["kind"]):
        form = InstitutionForm.from_post(content, fields)
        body = form.body(proposal["kind"], village, content)
    elif proposal["kind"] == "deactivation":
        form = DeactivationForm.from_post(str(content.get("target_household_id") or ""), fields)
        body = form.body(village)
    else:
        form = HouseholdForm.from_post(fields, programs)
        if fields.get("action") == "add_row":
            form.add_row()
            return _resubmit_page(request, session, proposal, form, note=fields.get("correction_note", ""))
        body = {
            "kind": proposal["kind"],
            "village_code": village,
            "deliberation": form.body(village)["deliberation"],
            "household": merged_household(form, content.get("household") or {}, village),
            "programs": form.programs,
        }
        if content.get("target_household_id"):
            body["household_id"] = content["target_household_id"]
    # A proposal made from a civil-registry life event names it; the service keeps the name on a
    # resubmission only if it is sent again, and the form does not show it: sent as the proposal had it.
    if content.get("civil_registry_ref"):
        body["civil_registry_ref"] = content["civil_registry_ref"]
    note = fields.get("correction_note", "").strip()
    if note:
        body["correction_note"] = note
    sent = await access.call(
        request,
        "proposal",
        "POST",
        f"/proposals/{quote(proposal_id)}/resubmissions",
        token,
        json=body,
        headers={"Idempotency-Key": form.idempotency_key or str(uuid.uuid4())},
    )
    if sent.ok:
        return RedirectResponse(f"/proposals/{quote(proposal_id)}?sent=1", status_code=303)
    form.refused(sent.problem())
    status = sent.status if sent.status < 500 else 502
    return _resubmit_page(request, session, proposal, form, status, note=fields.get("correction_note", ""))


@router.get("/proposals/{proposal_id}/withdraw")
async def withdraw_form(request: Request, proposal_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    answer = await _load_proposal(request, token, proposal_id)
    if not answer.ok:
        return message_page(request, session, answer, "Proposal")
    return render(
        request,
        "withdraw.html",
        user=access.person(session),
        csrf=session.csrf,
        proposal=answer.body,
        reason="",
        problem=None,
    )


@router.post("/proposals/{proposal_id}/withdraw")
async def withdraw(request: Request, proposal_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    fields, _ = await posted_form(request, session)
    reason = fields.get("reason", "").strip()
    sent = await access.call(
        request,
        "proposal",
        "POST",
        f"/proposals/{quote(proposal_id)}/withdrawal",
        token,
        json={"reason": reason},
    )
    if sent.ok:
        return RedirectResponse(f"/proposals/{quote(proposal_id)}?withdrawn=1", status_code=303)
    answer = await _load_proposal(request, token, proposal_id)
    if not answer.ok:
        return message_page(request, session, answer, "Proposal")
    return render(
        request,
        "withdraw.html",
        http_status=sent.status if sent.status < 500 else 502,
        user=access.person(session),
        csrf=session.csrf,
        proposal=answer.body,
        reason=reason,
        problem=sent.problem(),
    )
