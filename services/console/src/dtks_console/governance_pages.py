"""The Ministry's governance pages: the freezes holding or to come (declare, shorten, lift) and each
tier's deadline in working days, all through the verification service's API (POST /freezes,
/freezes/{id}/shorten, /freezes/{id}/lift, PUT /deadlines/{tier}). Times are typed in WIB, as the
Ministry's staff read a clock, and sent with their offset."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from dtks_console.access import access_of
from dtks_console.freeze_banner import forget_freezes
from dtks_console.pages import render
from dtks_contracts.timestamps import WIB

router = APIRouter()
ACTIONS = ("tier_decisions", "ratifications", "determination_decrees", "new_proposals")
TIERS = ("district", "regency", "regent", "province", "ministry")


def wib_moment(typed: str) -> str:
    """A datetime-local value typed in WIB as ISO 8601 with its offset; text that is no moment is
    sent as typed, so the service names the field."""
    try:
        at = dt.datetime.fromisoformat(typed.strip())
    except ValueError:
        return typed.strip()
    return (at if at.tzinfo else at.replace(tzinfo=WIB)).isoformat()


def freeze_body(form: dict[str, str], actions: list[str]) -> dict[str, Any]:
    return {
        "scope": form.get("scope", "").strip() or "ID",
        "actions": [a for a in actions if a in ACTIONS],
        "starts_at": wib_moment(form.get("starts_at", "")),
        "ends_at": wib_moment(form.get("ends_at", "")),
        "reason": form.get("reason", "").strip(),
    }


@router.get("/governance")
async def governance(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    return await _page(request, session, token, done=request.query_params.get("done", ""))


@router.post("/governance/freezes")
async def declare(request: Request) -> Response:
    return await _send(request, "POST", "/freezes", form_name="declare", actions=True)


@router.post("/governance/freezes/{freeze_id}/shorten")
async def shorten(request: Request, freeze_id: str) -> Response:
    return await _send(request, "POST", f"/freezes/{quote(freeze_id, safe='')}/shorten", form_name=freeze_id)


@router.post("/governance/freezes/{freeze_id}/lift")
async def lift(request: Request, freeze_id: str) -> Response:
    return await _send(request, "POST", f"/freezes/{quote(freeze_id, safe='')}/lift", form_name=freeze_id)


@router.post("/governance/deadlines")
async def deadline(request: Request) -> Response:
    return await _send(request, "PUT", "", form_name="deadline")


async def _send(
    request: Request, method: str, path: str, *, form_name: str, actions: bool = False
) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    access.check_csrf(session, form.get("csrf", ""))
    body: dict[str, Any]
    if actions:
        body = freeze_body(form, [str(a) for a in data.getlist("actions")])
    elif form_name == "deadline":
        tier = form.get("tier", "") if form.get("tier") in TIERS else "district"
        path = f"/deadlines/{tier}"
        days = form.get("working_days", "").strip()
        body = {"working_days": int(days) if days.isdigit() else days}
        if form.get("regency_code", "").strip():
            body["regency_code"] = form["regency_code"].strip()
    elif path.endswith("/shorten"):
        body = {"ends_at": wib_moment(form.get("ends_at", "")), "reason": form.get("reason", "").strip()}
    else:
        body = {"reason": form.get("reason", "").strip()}
    answer = await access.call(request, "verification", method, path, token, json=body)
    if answer.ok:
        if form_name != "deadline":
            forget_freezes(request)  # this process's banners show the change at once, not in 2 s
        return RedirectResponse(f"/governance?done={quote(form_name)}", status_code=303)
    return await _page(
        request,
        session,
        token,
        typed={form_name: {**form, "actions": [str(a) for a in data.getlist("actions")]}},
        refused={form_name: answer.problem()},
        status=min(answer.status, 502),
    )


async def _page(
    request: Request,
    session: Any,
    token: str,
    *,
    typed: dict[str, dict[str, Any]] | None = None,
    refused: dict[str, dict[str, Any]] | None = None,
    done: str = "",
    status: int = 200,
) -> Response:
    access = access_of(request)
    answer = await access.call(request, "verification", "GET", "/freezes", token)
    return render(
        request,
        "governance.html",
        http_status=status,
        user=access.person(session),
        csrf=session.csrf,
        freezes_listed=answer.body.get("freezes", []) if answer.ok else [],
        problem=None if answer.ok else answer.problem(),
        typed=typed or {},
        refused=refused or {},
        done=done,
        actions=ACTIONS,
        tiers=TIERS,
    )
