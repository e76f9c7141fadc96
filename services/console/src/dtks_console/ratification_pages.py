"""The regent's or mayor's page: the batch the regency verified, waiting for ratification, and the
ratification itself by decree number and date (the verification service's /ratifications)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from dtks_console.access import access_of
from dtks_console.freeze_banner import freezes_stopping
from dtks_console.pages import render

router = APIRouter()
BATCH_MAX = 1000  # the queue API's page; a larger batch is ratified a page at a time


@router.get("/ratification")
async def ratification(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    return await _page(request, session, token)


@router.post("/ratification")
async def ratify(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    access.check_csrf(session, str(data.get("csrf", "")))
    user = access.person(session)
    chosen = [str(p) for p in data.getlist("proposal_ids")]
    decree_number = str(data.get("decree_number", "")).strip()
    decree_date = str(data.get("decree_date", "")).strip()
    typed = {"decree_number": decree_number, "decree_date": decree_date, "chosen": set(chosen)}
    if not chosen:
        return await _page(
            request, session, token, typed=typed, refused={"detail_key": "Choose at least one proposal."}
        )
    answer = await access.call(
        request,
        "verification",
        "POST",
        "/ratifications",
        token,
        json={
            "regency_code": user["region"],
            "decree_number": decree_number,
            "decree_date": decree_date,
            "proposal_ids": chosen,
        },
    )
    if not answer.ok:
        return await _page(
            request, session, token, typed=typed, refused=answer.problem(), status=min(answer.status, 502)
        )
    return await _page(request, session, token, done={"answer": answer.body, "decree_number": decree_number})


async def _page(
    request: Request,
    session: Any,
    token: str,
    *,
    typed: dict[str, Any] | None = None,
    refused: dict[str, Any] | None = None,
    done: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    access = access_of(request)
    user = access.person(session)
    answer = await access.call(
        request, "verification", "GET", "/queues/regent", token, params={"limit": BATCH_MAX}
    )
    items = answer.body.get("items", []) if answer.ok else []
    return render(
        request,
        "ratification.html",
        http_status=status,
        user=user,
        csrf=session.csrf,
        items=items,
        more=bool(answer.ok and answer.body.get("next_after")),
        problem=None if answer.ok else answer.problem(),
        typed=typed or {"decree_number": "", "decree_date": dt.date.today().isoformat(), "chosen": None},
        refused=refused,
        done=done,
        freezes=await freezes_stopping(request, token, "ratifications"),
    )
