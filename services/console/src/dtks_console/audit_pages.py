"""The auditor's pages: a household's whole history across the services (the registry's audit log,
in causal order), and the register replayed from the event log and verified against every decree's
recorded hash and the live tables (the registry's /audit/replays, mode verify)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dtks_console.access import access_of
from dtks_console.backend import Services
from dtks_console.pages import render

router = APIRouter()
REPLAY_SECONDS = 600  # a verification replays the whole log; the page waits for it


@router.get("/audit")
async def audit(request: Request, household: str = "") -> Response:
    access = access_of(request)
    session, _ = await access.signed_in(request)
    if household.strip():
        return RedirectResponse(f"/audit/households/{quote(household.strip())}", status_code=303)
    return render(request, "audit.html", user=access.person(session), csrf=session.csrf)


@router.get("/audit/households/{household_id}")
async def history(request: Request, household_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    answer = await access.call(
        request, "registry", "GET", f"/audit/households/{quote(household_id)}/history", token
    )
    return render(
        request,
        "audit.html",
        http_status=200 if answer.ok else min(answer.status, 502),
        user=access.person(session),
        csrf=session.csrf,
        household_id=household_id,
        events=answer.body.get("events", []) if answer.ok else None,
        problem=None if answer.ok else answer.problem(),
    )


@router.post("/audit/verification")
async def verify(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    access.check_csrf(session, str(data.get("csrf", "")))
    services: Services = request.app.state.services
    report: dict[str, Any] | None = None
    problem: dict[str, Any] | None = None
    try:
        answer = await services.http.post(
            f"{services.base['registry']}/audit/replays",
            json={"mode": "verify"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=REPLAY_SECONDS,
        )
        if answer.status_code == 401:
            raise access.needs_sign_in
        body = answer.json()
        report, problem = (body, None) if answer.is_success else (None, body)
    except (httpx.HTTPError, ValueError):
        problem = {"detail_key": "The registry did not finish the verification; try again later."}
    return render(
        request,
        "audit.html",
        http_status=200 if report else 502 if problem and problem.get("detail_key") else 200,
        user=access.person(session),
        csrf=session.csrf,
        report=report,
        problem=problem,
    )
