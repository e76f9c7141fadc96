"""Life-event drafts (the complaints service's API): the village operator's queue of the drafts the
civil registry's life events opened, with ages, the person and the household; the note of people
who moved in from another village; confirming a draft through the proposal form it calls for,
pre-filled and checked by the operator before it is sent; dismissing one with a coded reason.

Confirming is done as a complaint becomes a proposal: the proposal goes to the proposal service with
the operator's own token (their proposal, in their scope, with their deliberation, running the tiers
like any other), then the draft is tied to it in the complaints service and follows it. A resent
form carries the same idempotency key, so it gives the same proposal and the same tie."""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dtks_console.access import Access, access_of
from dtks_console.backend import Answer
from dtks_console.draft_forms import (
    DISMISSAL_REASONS,
    correction_body,
    correction_form,
    deactivation_form,
)
from dtks_console.household_form import CHOICES, HouseholdForm
from dtks_console.i18n import translations
from dtks_console.pages import language, render
from dtks_console.village_forms import DEACTIVATION_REASONS, DeactivationForm
from dtks_contracts.vocabulary.complaints import DISMISSAL_HINTS, DraftDismissalReason
from dtks_contracts.vocabulary.programs import Program

router = APIRouter()
PAGE_SIZE = 50  # items a page: what a slow link loads at once
HINTS = {r.value: DISMISSAL_HINTS[r] for r in DraftDismissalReason}


async def _form(request: Request, access: Access, session: Any) -> dict[str, str]:
    data = await request.form()
    access.check_csrf(session, str(data.get("csrf", "")))
    return {k: str(v) for k, v in data.items() if isinstance(v, str)}


@router.get("/life-events")
async def queue(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    done = {k: request.query_params.get(k, "") for k in ("dismissed",)}
    return await _queue_page(request, session, token, done=done, after=request.query_params.get("after", ""))


async def _queue_page(
    request: Request,
    session: Any,
    token: str,
    *,
    typed: dict[str, dict[str, str]] | None = None,
    refused: dict[str, dict[str, Any]] | None = None,
    done: dict[str, str] | None = None,
    after: str = "",
    status: int = 200,
) -> Response:
    access = access_of(request)
    user = access.person(session)
    answer = await access.call(
        request,
        "complaints",
        "GET",
        "/life-event-drafts",
        token,
        params={"region": user["region"], "limit": PAGE_SIZE, "after": after},
    )
    return render(
        request,
        "life_events.html",
        http_status=status if answer.ok else min(answer.status, 502),
        user=user,
        csrf=session.csrf,
        items=answer.body.get("items", []) if answer.ok else [],
        next_after=answer.body.get("next_after") if answer.ok else None,
        arrivals=answer.body.get("arrivals", []) if answer.ok else [],
        problem=None if answer.ok else answer.problem(),
        typed=typed or {},
        refused=refused or {},
        reasons=DISMISSAL_REASONS,
        hints=HINTS,
        done=done or {},
    )


@router.post("/life-events/{draft_id}/dismissal")
async def dismiss(request: Request, draft_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    form = await _form(request, access, session)
    body: dict[str, Any] = {"reason": form.get("reason", "")}
    if form.get("note", "").strip():
        body["note"] = form["note"].strip()
    answer = await access.call(
        request,
        "complaints",
        "POST",
        f"/life-event-drafts/{quote(draft_id, safe='')}/dismissal",
        token,
        json=body,
    )
    if answer.ok:
        return RedirectResponse(f"/life-events?dismissed={quote(draft_id)}", status_code=303)
    return await _queue_page(
        request,
        session,
        token,
        typed={draft_id: form},
        refused={draft_id: answer.problem()},
        status=min(answer.status, 502),
    )


# ------------------------------------------------------------------ confirming: the proposal form


async def _draft_and_record(
    request: Request, token: str, draft_id: str
) -> tuple[Answer, dict[str, Any] | None, Answer | None]:
    """The draft, and the register's record of its household (None while the draft is not waiting:
    there is nothing to confirm then)."""
    access = access_of(request)
    draft = await access.call(
        request, "complaints", "GET", f"/life-event-drafts/{quote(draft_id, safe='')}", token
    )
    if not draft.ok or draft.body.get("status") != "draft":
        return draft, None, None
    record = await access.call(
        request, "registry", "GET", f"/households/{quote(draft.body['household_id'], safe='')}", token
    )
    return draft, draft.body, record


def _message(request: Request, session: Any, problem: dict[str, Any], status: int) -> Response:
    return render(
        request,
        "village_message.html",
        http_status=status,
        user=access_of(request).person(session),
        csrf=session.csrf,
        title="Life events",
        problem=problem,
    )


def _refused(request: Request, session: Any, answer: Answer) -> Response:
    return _message(request, session, answer.problem(), answer.status if answer.status < 500 else 502)


def _confirm_page(
    request: Request,
    session: Any,
    draft: dict[str, Any],
    record: dict[str, Any],
    form: HouseholdForm | DeactivationForm,
    status: int = 200,
) -> Response:
    template = (
        "draft_deactivation.html" if draft["proposal_kind"] == "deactivation" else "draft_correction.html"
    )
    return render(
        request,
        template,
        http_status=status,
        user=access_of(request).person(session),
        csrf=session.csrf,
        form=form,
        record=record,
        draft=draft,
        programs=[p.value for p in Program],
        choices=CHOICES,
        deactivation_reasons=DEACTIVATION_REASONS,
    )


def _decided(request: Request, session: Any, draft: Answer) -> Response:
    if not draft.ok:
        return _refused(request, session, draft)
    # Confirmed or dismissed already (in another tab, or by a colleague): nothing left to confirm.
    said = translations(language(request)).gettext(
        "This draft was decided already; see the life events page."
    )
    problem = {"detail": said}
    return _message(request, session, problem, 409)


@router.get("/life-events/{draft_id}/confirm")
async def confirm_form(request: Request, draft_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    answer, draft, record = await _draft_and_record(request, token, draft_id)
    if draft is None:
        return _decided(request, session, answer)
    assert record is not None
    if not record.ok:
        return _refused(request, session, record)
    key = str(uuid.uuid4())
    form: HouseholdForm | DeactivationForm = (
        deactivation_form(draft, key)
        if draft["proposal_kind"] == "deactivation"
        else correction_form(draft, record.body, key)
    )
    return _confirm_page(request, session, draft, record.body, form)


@router.post("/life-events/{draft_id}/confirm")
async def confirm(request: Request, draft_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    access.check_csrf(session, str(data.get("csrf", "")))
    fields = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    answer, draft, record = await _draft_and_record(request, token, draft_id)
    if draft is None:
        if answer.ok and answer.body.get("status") == "confirmed" and answer.body.get("proposal_id"):
            # The form sent again after it went through: where it went.
            return RedirectResponse(f"/proposals/{quote(answer.body['proposal_id'])}?sent=1", status_code=303)
        return _decided(request, session, answer)
    assert record is not None
    if not record.ok:
        return _refused(request, session, record)
    form: HouseholdForm | DeactivationForm
    if draft["proposal_kind"] == "deactivation":
        form = DeactivationForm.from_post(record.body["household_id"], fields)
        body = form.body(record.body["village_code"])
    else:
        form = HouseholdForm.from_post(fields, [str(p) for p in data.getlist("programs")])
        if fields.get("action") == "add_row":
            form.add_row()
            return _confirm_page(request, session, draft, record.body, form)
        body = correction_body(draft, record.body, form)
    # The proposal names the life event it is made of (its events carry it to the decree).
    body["civil_registry_ref"] = draft["life_event_id"]
    sent = await access.call(
        request,
        "proposal",
        "POST",
        "/proposals",
        token,
        json=body,
        headers={"Idempotency-Key": form.idempotency_key or str(uuid.uuid4())},
    )
    if not sent.ok:
        form.refused(sent.problem())
        return _confirm_page(
            request, session, draft, record.body, form, status=sent.status if sent.status < 500 else 502
        )
    proposal_id = sent.body["proposal_id"]
    # A refused tie (a colleague decided the draft between the form and now) leaves the proposal as
    # recorded, as a complaint's does: it runs the tiers; the draft keeps the colleague's decision.
    await access.call(
        request,
        "complaints",
        "POST",
        f"/life-event-drafts/{quote(draft_id, safe='')}/confirmation",
        token,
        json={"proposal_id": proposal_id},
    )
    return RedirectResponse(f"/proposals/{quote(proposal_id)}?sent=1", status_code=303)
