"""The Ministry's determiner: the decree fixing the register for a quarter. The form is previewed
first (what the decree will fix: the register in force now and the acceptances up to the cut-off),
and only a second, explicit confirmation asks the registry to issue it."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dtks_console.access import access_of
from dtks_console.freeze_banner import freezes_stopping
from dtks_console.pages import render
from dtks_contracts.timestamps import WIB

router = APIRouter()
QUARTER_MONTHS = ("01", "04", "07", "10")
PREVIEW_ROWS = 100  # acceptances listed in the preview (the counts cover them all)
LISTED_ROWS = 50  # a decree's households (and institutions) listed once it is issued


def periods(today: dt.date) -> list[str]:
    """The decree months a determiner may choose: this year's and next year's quarters."""
    return [f"{year}-{m}" for year in (today.year, today.year + 1) for m in QUARTER_MONTHS]


def cutoff_of(typed: str) -> str | None:
    """A cut-off typed in the form (local time, WIB, as a datetime-local field sends it) as the ISO
    instant the registry expects; None when it is not a date and time."""
    try:
        moment = dt.datetime.fromisoformat(typed)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=WIB)
    return moment.isoformat()


@router.get("/determination")
async def determination(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    now = dt.datetime.now(WIB)
    typed = {"decree_number": "", "period": "", "cutoff": now.strftime("%Y-%m-%dT%H:%M:%S")}
    return await _page(request, session, token, typed=typed)


@router.post("/determination")
async def determine(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    access.check_csrf(session, str(data.get("csrf", "")))
    typed = {k: str(data.get(k, "")).strip() for k in ("decree_number", "period", "cutoff")}
    cutoff = cutoff_of(typed["cutoff"])
    if cutoff is None or not typed["decree_number"] or typed["period"] not in periods(dt.date.today()):
        refused = {"detail_key": "Give the decree's number, its quarter and a cut-off date and time."}
        return await _page(request, session, token, typed=typed, refused=refused, status=422)
    if data.get("action") != "confirm":
        pending = await access.call(
            request, "registry", "GET", "/candidates", token, params={"cutoff": cutoff, "limit": PREVIEW_ROWS}
        )
        return await _page(
            request, session, token, typed=typed, preview=True, pending=pending.body if pending.ok else None
        )
    answer = await access.call(
        request,
        "registry",
        "POST",
        "/determinations",
        token,
        json={"decree_number": typed["decree_number"], "period": typed["period"], "cutoff": cutoff},
        # The page lists the first rows and counts the rest: a national decree's millions of ids
        # stay in the registry.
        params={"list_limit": LISTED_ROWS},
    )
    if not answer.ok:
        return await _page(
            request, session, token, typed=typed, refused=answer.problem(), status=min(answer.status, 502)
        )
    return await _page(request, session, token, typed=typed, issued=answer.body)


async def _page(
    request: Request,
    session: Any,
    token: str,
    *,
    typed: dict[str, str],
    preview: bool = False,
    refused: dict[str, Any] | None = None,
    issued: dict[str, Any] | None = None,
    pending: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    access = access_of(request)
    recap = None
    if preview or issued:
        answer = await access.call(request, "registry", "GET", "/stats", token)
        recap = answer.body if answer.ok else None
    return render(
        request,
        "determination.html",
        http_status=status,
        user=access.person(session),
        csrf=session.csrf,
        typed=typed,
        periods=periods(dt.date.today()),
        preview=preview,
        refused=refused,
        issued=issued,
        recap=recap,
        pending=pending,
        freezes=await freezes_stopping(request, token, "determination_decrees"),
    )
