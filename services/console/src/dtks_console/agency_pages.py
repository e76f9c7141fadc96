"""A partner agency's pages: its subscriptions to the register's public changes (the notification
service), each with its deliveries and every attempt, the dead letters, a new subscription, and a
decree's export downloaded through the console (the registry's CSV or JSON Lines, streamed)."""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.background import BackgroundTask

from dtks_console.access import access_of
from dtks_console.backend import Services
from dtks_console.pages import render
from dtks_contracts.topics import WEBHOOK_EVENT_TYPES

router = APIRouter()
DELIVERIES_SHOWN = 100


def subscription_body(form: dict[str, str], event_types: list[str], programs: list[str]) -> dict[str, Any]:
    """The subscription as the notification service takes it; nothing chosen means everything granted."""
    return {
        "callback_url": form.get("callback_url", "").strip(),
        "secret": form.get("secret", "").strip(),
        "event_types": [e for e in event_types if e in WEBHOOK_EVENT_TYPES],
        "programs": programs,
    }


@router.get("/agency")
async def agency(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    return await _page(request, session, token)


@router.post("/agency/subscriptions")
async def subscribe(request: Request) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    data = await request.form()
    form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    access.check_csrf(session, form.get("csrf", ""))
    body = subscription_body(
        form, [str(e) for e in data.getlist("event_types")], [str(p) for p in data.getlist("programs")]
    )
    answer = await access.call(request, "notification", "POST", "/subscriptions", token, json=body)
    if not answer.ok:
        return await _page(
            request, session, token, typed=form, refused=answer.problem(), status=min(answer.status, 502)
        )
    return await _page(request, session, token, created=answer.body)


async def _page(
    request: Request,
    session: Any,
    token: str,
    *,
    typed: dict[str, str] | None = None,
    refused: dict[str, Any] | None = None,
    created: dict[str, Any] | None = None,
    status: int = 200,
) -> Response:
    access = access_of(request)
    subscriptions = await access.call(request, "notification", "GET", "/subscriptions", token)
    dead = await access.call(request, "notification", "GET", "/dead-letters", token, params={"limit": 100})
    granted = session.claims.get("programs") or []
    return render(
        request,
        "agency.html",
        http_status=status,
        user=access.person(session),
        csrf=session.csrf,
        subscriptions=subscriptions.body if subscriptions.ok else [],
        problem=None if subscriptions.ok else subscriptions.problem(),
        dead=dead.body if dead.ok else [],
        event_types=sorted(WEBHOOK_EVENT_TYPES),
        programs=granted if isinstance(granted, list) else [granted],
        typed=typed or {"secret": secrets.token_urlsafe(24)},
        refused=refused,
        created=created,
    )


@router.get("/agency/subscriptions/{subscription_id}")
async def deliveries(request: Request, subscription_id: str) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    path = f"/subscriptions/{quote(subscription_id)}"
    subscription = await access.call(request, "notification", "GET", path, token)
    answer = await access.call(
        request, "notification", "GET", f"{path}/deliveries", token, params={"limit": DELIVERIES_SHOWN}
    )
    return render(
        request,
        "agency_deliveries.html",
        http_status=200 if subscription.ok else min(subscription.status, 502),
        user=access.person(session),
        csrf=session.csrf,
        subscription=subscription.body if subscription.ok else None,
        deliveries=answer.body if answer.ok else [],
        problem=None if subscription.ok else subscription.problem(),
    )


@router.get("/agency/export")
async def export(request: Request, decree: str = "", format: str = "csv") -> Response:
    """The registry's export as it streams: a national register is never held in the console."""
    access = access_of(request)
    session, token = await access.signed_in(request)
    services: Services = request.app.state.services
    format = format if format in ("csv", "jsonl") else "csv"
    outgoing = services.http.build_request(
        "GET",
        f"{services.base['registry']}/determinations/{quote(decree.strip(), safe='/')}/export",
        params={"format": format},
        headers={"Authorization": f"Bearer {token}"},
    )
    answer = await services.http.send(outgoing, stream=True)
    if answer.status_code == 401:
        await answer.aclose()
        raise access.needs_sign_in
    if answer.status_code != 200:
        body = await answer.aread()
        await answer.aclose()
        try:
            problem = answer.json() if body else {}
        except ValueError:
            problem = {}
        return await _page(
            request,
            session,
            token,
            refused={"detail": problem.get("detail") or str(answer.status_code)},
            status=min(answer.status_code, 502),
        )
    headers = {
        k: v for k, v in answer.headers.items() if k.lower() in ("content-type", "content-disposition")
    }
    headers["Cache-Control"] = "no-store"
    return StreamingResponse(answer.aiter_raw(), headers=headers, background=BackgroundTask(answer.aclose))
