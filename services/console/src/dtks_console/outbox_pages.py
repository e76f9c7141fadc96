"""The offline outbox: the page listing the forms a browser kept while offline, the endpoint its
script sends each of them to when the connection is back, and the service worker that keeps them."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from dtks_console.access import access_of
from dtks_console.household_form import HouseholdForm
from dtks_console.pages import STATIC, render
from dtks_console.village_page_parts import posted_form

router = APIRouter()


@router.get("/outbox")
async def outbox(request: Request) -> Response:
    access = access_of(request)
    session, _ = await access.signed_in(request)
    return render(request, "outbox.html", user=access.person(session), csrf=session.csrf)


@router.post("/outbox/proposals")
async def send_queued(request: Request) -> Response:
    """A new-household form kept in the browser while offline, sent now: the same submission as
    the form's own, with the key it was given when shown, so a retry (the answer lost on the way
    back, two tabs sending at once) records it once. Answers JSON for the page's script."""
    access = access_of(request)
    try:
        session, token = await access.signed_in(request)
        fields, programs = await posted_form(request, session)
    except access.needs_sign_in:
        return JSONResponse({"ok": False, "sign_in": True}, status_code=401)
    form = HouseholdForm.from_post(fields, programs)
    if not form.idempotency_key:
        return JSONResponse({"ok": False, "status": 422, "detail": "no idempotency key"}, status_code=422)
    user = access.person(session)
    try:
        answer = await access.call(
            request,
            "proposal",
            "POST",
            "/proposals",
            token,
            json=form.body(str(user["region"])),
            headers={"Idempotency-Key": form.idempotency_key},
        )
    except access.needs_sign_in:
        return JSONResponse({"ok": False, "sign_in": True}, status_code=401)
    if answer.ok:
        return JSONResponse(
            {
                "ok": True,
                "status": answer.status,
                "proposal_id": answer.body["proposal_id"],
                "proposal_status": answer.body.get("status"),
            }
        )
    problem = answer.problem()
    form.refused(problem)
    return JSONResponse(
        {
            "ok": False,
            "status": answer.status,
            "detail": problem.get("detail"),
            "errors": [m for messages in form.errors.values() for m in messages],
        },
        status_code=200,  # the send worked; the service's refusal is the entry's answer
    )


@router.get("/sw.js", include_in_schema=False)
async def service_worker() -> Response:
    # At the root, so its scope is the whole console; revalidated at every load, so a new
    # version is taken at once (the browser also checks it at least daily).
    return Response(
        (STATIC / "sw.js").read_bytes(),
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache"},
    )
