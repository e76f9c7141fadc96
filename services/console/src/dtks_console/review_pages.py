"""A verifier's view of one proposal: what was proposed (the proposal service), and its verification
record (the verification service): integrity findings, every tier's decisions with their reasons,
field visits with their coordinates and photo references; and the form that records a field visit.
Also the queue's forward or return of many proposals at once (one list sent to /decisions, each
item answered on its own)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dtks_console.access import access_of
from dtks_console.pages import render
from dtks_console.queue_pages import QUEUE_OF_ROLE
from dtks_console.reason_text import reason_sentence
from dtks_contracts.vocabulary.reasons import REVIEW_CODES

router = APIRouter()
PHOTO_ROWS = 3
PHOTO_SUBJECTS = ("roof", "floor", "walls", "head")


def visit_body(form: dict[str, str]) -> dict[str, Any]:
    """The field visit as the verification service takes it; photo rows left empty are left out,
    numbers that are not numbers are sent as typed so the service names the field."""
    photos = []
    for i in range(PHOTO_ROWS):
        sha, where = (
            form.get(f"photo-{i}-sha256", "").strip().lower(),
            form.get(f"photo-{i}-location", "").strip(),
        )
        if sha or where:
            photos.append(
                {"subject": form.get(f"photo-{i}-subject", "roof"), "sha256": sha, "location": where}
            )

    def number(name: str) -> Any:
        raw = form.get(name, "").strip().replace(",", ".")
        try:
            return float(raw)
        except ValueError:
            return raw or None

    return {
        "officer": form.get("officer", "").strip(),
        "visit_date": form.get("visit_date", "").strip(),
        "latitude": number("latitude"),
        "longitude": number("longitude"),
        "photos": photos,
    }


@router.get("/review/{proposal_id}")
async def review(request: Request, proposal_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    return await _page(request, session, token, proposal_id)


@router.post("/review/{proposal_id}/visits")
async def record_visit(request: Request, proposal_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    access.check_csrf(session, form.get("csrf", ""))
    answer = await access.call(
        request,
        "verification",
        "POST",
        f"/proposals/{quote(proposal_id)}/field-visits",
        token,
        json=visit_body(form),
    )
    if answer.ok:
        return RedirectResponse(f"/review/{quote(proposal_id)}?visit=1", status_code=303)
    return await _page(
        request,
        session,
        token,
        proposal_id,
        typed=form,
        refused=answer.problem(),
        status=min(answer.status, 502),
    )


async def _page(
    request: Request,
    session: Any,
    token: str,
    proposal_id: str,
    *,
    typed: dict[str, str] | None = None,
    refused: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    access = access_of(request)
    user = access.person(session)
    record = await access.call(
        request, "verification", "GET", f"/proposals/{quote(proposal_id)}/verification", token
    )
    proposal = await access.call(request, "proposal", "GET", f"/proposals/{quote(proposal_id)}", token)
    if not record.ok and status == 200:
        status = record.status if record.status < 500 else 502
    return render(
        request,
        "review.html",
        http_status=status,
        user=user,
        csrf=session.csrf,
        proposal_id=proposal_id,
        record=record.body if record.ok else None,
        problem=None if record.ok else record.problem(),
        proposal=proposal.body if proposal.ok else None,
        describe=reason_sentence,
        typed=typed or {"officer": user["name"] or "", "visit_date": dt.date.today().isoformat()},
        refused=refused,
        photo_rows=range(PHOTO_ROWS),
        subjects=PHOTO_SUBJECTS,
        visit_recorded=request.query_params.get("visit") == "1",
        may_visit=user["role"] in ("district_verifier", "regency_operator"),
    )


@router.post("/queue/bulk")
async def decide_many(request: Request) -> Response:
    """Forward or return every chosen proposal of the queue with the same reasons and note."""
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    access.check_csrf(session, str(data.get("csrf", "")))
    user = access.person(session)
    tier = QUEUE_OF_ROLE.get(user["role"])
    chosen = list(dict.fromkeys(str(p) for p in data.getlist("chosen")))
    decision = str(data.get("decision", ""))
    reasons = [str(r) for r in data.getlist("reasons") if str(r) in REVIEW_CODES]
    note = str(data.get("note", "")).strip()
    key = str(data.get("idempotency_key") or uuid.uuid4())
    # As for one decision: the first answer of a form is kept, so a resend records nothing twice.
    results = session.answered.get(key)
    if results is None:
        results = []
        if chosen and tier is not None:
            items: list[dict[str, Any]] = []
            for pid in chosen:
                item: dict[str, Any] = {"proposal_id": pid, "tier": tier, "decision": decision}
                if reasons:
                    item["reasons"] = reasons
                if note:
                    item["note"] = note
                items.append(item)
            answer = await access.call(request, "verification", "POST", "/decisions", token, json=items)
            if answer.ok:
                results = [
                    {"proposal_id": pid, "decision": decision, "ok": r["ok"], "problem": r.get("problem")}
                    for pid, r in zip(chosen, answer.body["results"], strict=True)
                ]
            else:
                problem = answer.problem()
                results = [
                    {"proposal_id": pid, "decision": decision, "ok": False, "problem": problem}
                    for pid in chosen
                ]
        session.answered[key] = results
        await access.save_session(request, session)
    return render(
        request,
        "queue_bulk_result.html",
        user=user,
        csrf=session.csrf,
        results=results,
        nothing_chosen=not chosen,
    )
