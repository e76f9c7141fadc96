"""Complaints (the complaints service's API): the public page where a citizen files one and checks
it by its tracking code (no sign-in), the welfare post officer's form that files one on a citizen's
behalf, and the village operator's queue with ages, where a complaint is closed with a coded reason
from the contracts or turned into a proposal (the form pre-filled from the complaint, the complaint
linked to the proposal once it is recorded, so its status follows the proposal)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dtks_console.access import access_of
from dtks_console.backend import Services
from dtks_console.household_form import HouseholdForm
from dtks_console.pages import render
from dtks_contracts.vocabulary.complaints import ComplaintClosingReason, ComplaintKind

router = APIRouter()
PAGE_SIZE = 50  # items a page: what a slow link loads at once
KINDS = tuple(k.value for k in ComplaintKind)
# RESOLVED_BY_DECREE is the system's, when the linked proposal reaches its decree.
CLOSING_REASONS = tuple(
    r.value for r in ComplaintClosingReason if r is not ComplaintClosingReason.RESOLVED_BY_DECREE
)
FIELDS = ("nik", "name", "village_code", "phone", "kind", "description", "subject_nik", "subject_proposal_id")
TRACKING = re.compile(r"^[A-Za-z0-9]{6,40}$")


def complaint_body(form: dict[str, str]) -> dict[str, Any]:
    """The body of a filing: what was typed, optional subjects left out when empty, spaces people
    type inside a NIK or a phone number taken out; the service judges the rest."""
    body: dict[str, Any] = {}
    for name in FIELDS:
        value = form.get(name, "").strip()
        if name in ("nik", "subject_nik", "phone"):
            value = re.sub(r"[\s-]", "", value)
        if value or name not in ("subject_nik", "subject_proposal_id"):
            body[name] = value
    return body


def _typed(form: dict[str, str]) -> dict[str, str]:
    return {name: form.get(name, "") for name in FIELDS}


# ------------------------------------------------------------------ the public page


@router.get("/complaint")
async def public_form(request: Request) -> Response:
    return render(request, "complaint_public.html", user=None, typed=_typed({}), kinds=KINDS)


@router.post("/complaint")
async def public_file(request: Request) -> Response:
    data = await request.form()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    services: Services = request.app.state.services
    try:
        answer = await services.http.post(
            f"{services.base['complaints']}/public/complaints",
            json=complaint_body(form),
            headers={"X-Forwarded-For": request.client.host if request.client else "unknown"},
        )
    except httpx.HTTPError:
        return render(
            request,
            "complaint_public.html",
            http_status=503,
            user=None,
            typed=_typed(form),
            kinds=KINDS,
            unavailable=True,
        )
    body = _json(answer)
    if answer.status_code == 201:
        # The form is emptied under the answer: the next person at a shared computer sees nothing.
        return render(request, "complaint_public.html", user=None, typed=_typed({}), kinds=KINDS, filed=body)
    return render(
        request,
        "complaint_public.html",
        http_status=min(answer.status_code, 502),
        user=None,
        typed=_typed(form),
        kinds=KINDS,
        refused=body if isinstance(body, dict) and "detail" in body else {"detail": str(body)[:300]},
    )


@router.get("/complaint/status")
async def public_status(request: Request, code: str = "") -> Response:
    code = code.strip()
    result, refused = None, None
    if code:
        if not TRACKING.match(code):
            refused = {"detail_key": "A tracking code has letters and digits only, as it was given."}
        else:
            services: Services = request.app.state.services
            try:
                answer = await services.http.get(
                    f"{services.base['complaints']}/public/complaints/{quote(code)}",
                    headers={"X-Forwarded-For": request.client.host if request.client else "unknown"},
                )
                body = _json(answer)
                if answer.status_code == 200:
                    result = body
                else:
                    refused = body if isinstance(body, dict) else {"detail": str(body)[:300]}
            except httpx.HTTPError:
                refused = {"detail_key": "The check is not available right now. Please try again later."}
    return render(request, "complaint_status.html", user=None, code=code, result=result, refused=refused)


def _json(answer: httpx.Response) -> Any:
    try:
        return answer.json()
    except ValueError:
        return answer.text


# ------------------------------------------------------------------ the welfare post


@router.get("/complaints/file")
async def post_form(request: Request) -> Response:
    access = access_of(request)
    session, _ = await access.signed_in(request)
    user = access.person(session)
    return render(
        request,
        "complaint_file.html",
        user=user,
        csrf=session.csrf,
        typed=_typed({"village_code": str(user["region"] or "")}),
        kinds=KINDS,
    )


@router.post("/complaints/file")
async def post_file(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    access.check_csrf(session, form.get("csrf", ""))
    answer = await access.call(request, "complaints", "POST", "/complaints", token, json=complaint_body(form))
    user = access.person(session)
    if answer.ok:
        return render(
            request,
            "complaint_file.html",
            user=user,
            csrf=session.csrf,
            typed=_typed({"village_code": str(user["region"] or "")}),
            kinds=KINDS,
            filed=answer.body,
        )
    return render(
        request,
        "complaint_file.html",
        http_status=min(answer.status, 502),
        user=user,
        csrf=session.csrf,
        typed=_typed(form),
        kinds=KINDS,
        refused=answer.problem(),
    )


# ------------------------------------------------------------------ the village operator


@router.get("/complaints")
async def village_queue(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    return await _queue_page(
        request,
        session,
        token,
        done=request.query_params.get("closed", ""),
        after=request.query_params.get("after", ""),
    )


@router.post("/complaints/{complaint_id}/closure")
async def close(request: Request, complaint_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    access.check_csrf(session, form.get("csrf", ""))
    body: dict[str, Any] = {"reason": form.get("reason", "")}
    if form.get("note", "").strip():
        body["note"] = form["note"].strip()
    answer = await access.call(
        request, "complaints", "POST", f"/complaints/{quote(complaint_id, safe='')}/closure", token, json=body
    )
    if answer.ok:
        return RedirectResponse(f"/complaints?closed={quote(complaint_id)}", status_code=303)
    return await _queue_page(
        request,
        session,
        token,
        typed={complaint_id: form},
        refused={complaint_id: answer.problem()},
        status=min(answer.status, 502),
    )


async def _queue_page(
    request: Request,
    session: Any,
    token: str,
    *,
    typed: dict[str, dict[str, str]] | None = None,
    refused: dict[str, dict[str, Any]] | None = None,
    done: str = "",
    after: str = "",
    status: int = 200,
) -> Response:
    access = access_of(request)
    user = access.person(session)
    answer = await access.call(
        request,
        "complaints",
        "GET",
        "/complaints",
        token,
        params={"region": user["region"], "limit": PAGE_SIZE, "after": after},
    )
    return render(
        request,
        "complaints.html",
        http_status=status if answer.ok else min(answer.status, 502),
        user=user,
        csrf=session.csrf,
        items=answer.body.get("items", []) if answer.ok else [],
        next_after=answer.body.get("next_after") if answer.ok else None,
        problem=None if answer.ok else answer.problem(),
        typed=typed or {},
        refused=refused or {},
        reasons=CLOSING_REASONS,
        done=done,
    )


async def prefill_from_complaint(
    request: Request, token: str, user: dict[str, Any], form: HouseholdForm, complaint_id: str
) -> None:
    """The new-household form started from a complaint of the operator's village: the complainant
    as the head, the complaint remembered so the proposal is linked to it once recorded."""
    answer = await access_of(request).call(
        request, "complaints", "GET", f"/complaints/{quote(complaint_id, safe='')}", token
    )
    # Another village's complaint, or an unknown one, leaves the form empty, as a closed one does.
    found = answer.body if answer.ok and isinstance(answer.body, dict) else None
    if found is None:
        return
    form.complaint_id = complaint_id
    head = form.members[0]
    head["nik"], head["name"], head["relation_to_head"] = (
        found["complainant"]["nik"],
        found["complainant"]["name"],
        "head",
    )


async def link_complaint(request: Request, token: str, complaint_id: str, proposal_id: str) -> None:
    """Ties the complaint to the proposal just recorded (its status then follows the proposal). A
    refusal (already linked by a resent form, closed meanwhile) leaves the proposal as recorded."""
    await access_of(request).call(
        request,
        "complaints",
        "POST",
        f"/complaints/{quote(complaint_id, safe='')}/proposal",
        token,
        json={"proposal_id": proposal_id},
    )
