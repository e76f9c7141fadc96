"""The village operator's pages besides the first slice: a returned proposal corrected and resubmitted
or withdrawn, a registered household corrected or deactivated, a bulk file uploaded and its per-row
report, and the offline outbox (the service worker and the endpoint its queued forms are sent to).

Every page calls the services' public APIs with the signed-in person's own token; the services decide
(scope, status, every rule), the pages show what they said."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import FastAPI, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse, RedirectResponse, Response

from dtks_console.backend import Answer, Services
from dtks_console.household_form import CHOICES, HouseholdForm
from dtks_console.i18n import translations
from dtks_console.import_reasons import row_reason
from dtks_console.pages import STATIC, env, language, render
from dtks_console.sessions import Session
from dtks_console.village_forms import (
    DEACTIVATION_REASONS,
    DeactivationForm,
    household_form,
    merged_household,
)
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.reasons import ReasonCode, describe

IMPORT_PAGE = 20  # rejected rows per page of an import's report
UNFINISHED_IMPORT = ("staged", "processing")
KK = re.compile(r"^[0-9]{16}$")


@dataclass(frozen=True)
class Console:
    """What the app's own routes share with these pages: the person signed in, and the services."""

    signed_in: Callable[[Request], Awaitable[tuple[Session, str]]]
    person: Callable[[Session], dict[str, Any]]
    check_csrf: Callable[[Session, str], None]
    services: Callable[[Request], Services]
    needs_sign_in: type[Exception]


def return_reasons(proposal: dict[str, Any]) -> list[dict[str, str]]:
    """The reasons of the proposal's latest return, each as its code and the contracts' sentence."""
    returns = [e for e in proposal.get("timeline") or [] if e.get("event", "").endswith("returned_at_tier")]
    if not returns:
        return []
    latest = returns[-1]
    reasons = []
    for reason in latest.get("reasons") or []:
        code = str(reason.get("code") if isinstance(reason, dict) else reason)
        try:
            sentence = describe(ReasonCode(code))
        except ValueError:
            sentence = str(reason.get("message") if isinstance(reason, dict) else "") or code
        finding = str(reason.get("message") or "") if isinstance(reason, dict) else ""
        reasons.append({"code": code, "sentence": sentence, "finding": finding})
    return reasons


def latest_return(proposal: dict[str, Any]) -> dict[str, Any] | None:
    returns = [e for e in proposal.get("timeline") or [] if e.get("event", "").endswith("returned_at_tier")]
    return returns[-1] if returns else None


def add_village_pages(app: FastAPI, console: Console) -> None:
    """The village operator's pages: proposals, forms, imports, returns, withdrawals, offline outbox.

    Long because each route is a small nested function sharing ``console``'s session, CSRF check
    and service calls; one function per route keeps each page's code beside its path."""
    signed_in, person, check_csrf = console.signed_in, console.person, console.check_csrf
    # The proposal page (the first slice's) shows a return's reasons through _proposal_actions.html.
    env.globals.update(return_reasons=return_reasons, latest_return=latest_return)

    async def call(request: Request, service: str, method: str, path: str, token: str, **kw: Any) -> Answer:
        answer = await console.services(request).call(service, method, path, token, **kw)
        if answer.status == 401:
            raise console.needs_sign_in
        return answer

    def message_page(request: Request, session: Session, answer: Answer, title: str) -> Response:
        return render(
            request,
            "village_message.html",
            http_status=answer.status if answer.status < 500 else 502,
            user=person(session),
            csrf=session.csrf,
            title=title,
            problem=answer.problem(),
        )

    async def form_data(request: Request, session: Session) -> tuple[dict[str, str], list[str]]:
        data = await request.form()
        check_csrf(session, str(data.get("csrf", "")))
        fields = {k: str(v) for k, v in data.items() if isinstance(v, str)}
        return fields, [str(p) for p in data.getlist("programs")]

    # ------------------------------------------------------------------ a returned proposal

    async def load_proposal(request: Request, token: str, proposal_id: str) -> Answer:
        return await call(request, "proposal", "GET", f"/proposals/{quote(proposal_id)}", token)

    def resubmit_page(
        request: Request,
        session: Session,
        proposal: dict[str, Any],
        form: Any,
        status: int = 200,
        note: str = "",
    ) -> Response:
        template = (
            "resubmit_deactivation.html" if proposal["kind"] == "deactivation" else "resubmit_form.html"
        )
        return render(
            request,
            template,
            http_status=status,
            user=person(session),
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
        )

    @app.get("/proposals/{proposal_id}/resubmit")
    async def resubmit_form(request: Request, proposal_id: str) -> Response:
        session, token = await signed_in(request)
        answer = await load_proposal(request, token, proposal_id)
        if not answer.ok:
            return message_page(request, session, answer, "Proposal")
        proposal = answer.body
        content = proposal.get("content") or {}
        key = str(uuid.uuid4())
        form: Any
        if proposal["kind"] == "deactivation":
            form = DeactivationForm.from_content(content, key)
        else:
            form = household_form(
                content.get("household") or {},
                idempotency_key=key,
                deliberation=content.get("deliberation"),
                programs=list(content.get("programs_requested") or []),
            )
        return resubmit_page(request, session, proposal, form)

    @app.post("/proposals/{proposal_id}/resubmit")
    async def resubmit(request: Request, proposal_id: str) -> Response:
        session, token = await signed_in(request)
        fields, programs = await form_data(request, session)
        answer = await load_proposal(request, token, proposal_id)
        if not answer.ok:
            return message_page(request, session, answer, "Proposal")
        proposal = answer.body
        content = proposal.get("content") or {}
        village = proposal["village_code"]
        form: Any
        if proposal["kind"] == "deactivation":
            form = DeactivationForm.from_post(str(content.get("target_household_id") or ""), fields)
            body = form.body(village)
        else:
            form = HouseholdForm.from_post(fields, programs)
            if fields.get("action") == "add_row":
                form.add_row()
                return resubmit_page(request, session, proposal, form, note=fields.get("correction_note", ""))
            body = {
                "kind": proposal["kind"],
                "village_code": village,
                "deliberation": form.body(village)["deliberation"],
                "household": merged_household(form, content.get("household") or {}, village),
                "programs": form.programs,
            }
            if content.get("target_household_id"):
                body["household_id"] = content["target_household_id"]
        note = fields.get("correction_note", "").strip()
        if note:
            body["correction_note"] = note
        sent = await call(
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
        return resubmit_page(request, session, proposal, form, status, note=fields.get("correction_note", ""))

    @app.get("/proposals/{proposal_id}/withdraw")
    async def withdraw_form(request: Request, proposal_id: str) -> Response:
        session, token = await signed_in(request)
        answer = await load_proposal(request, token, proposal_id)
        if not answer.ok:
            return message_page(request, session, answer, "Proposal")
        return render(
            request,
            "withdraw.html",
            user=person(session),
            csrf=session.csrf,
            proposal=answer.body,
            reason="",
            problem=None,
        )

    @app.post("/proposals/{proposal_id}/withdraw")
    async def withdraw(request: Request, proposal_id: str) -> Response:
        session, token = await signed_in(request)
        fields, _ = await form_data(request, session)
        reason = fields.get("reason", "").strip()
        sent = await call(
            request,
            "proposal",
            "POST",
            f"/proposals/{quote(proposal_id)}/withdrawal",
            token,
            json={"reason": reason},
        )
        if sent.ok:
            return RedirectResponse(f"/proposals/{quote(proposal_id)}?withdrawn=1", status_code=303)
        answer = await load_proposal(request, token, proposal_id)
        if not answer.ok:
            return message_page(request, session, answer, "Proposal")
        return render(
            request,
            "withdraw.html",
            http_status=sent.status if sent.status < 500 else 502,
            user=person(session),
            csrf=session.csrf,
            proposal=answer.body,
            reason=reason,
            problem=sent.problem(),
        )

    # ------------------------------------------------------------------ registered households

    @app.get("/households")
    async def find_household(request: Request, q: str = "") -> Response:
        session, token = await signed_in(request)
        q = q.strip()
        households: list[dict[str, Any]] = []
        problem = None
        if q:
            if KK.match(q):
                answer = await call(request, "registry", "GET", "/households", token, params={"kk": q})
                households = answer.body.get("households", []) if answer.ok else []
            else:
                answer = await call(request, "registry", "GET", f"/households/{quote(q, safe='')}", token)
                households = [answer.body] if answer.ok else []
            if not answer.ok and answer.status != 404:
                problem = answer.problem()
        return render(
            request,
            "households.html",
            user=person(session),
            csrf=session.csrf,
            q=q,
            households=households,
            problem=problem,
        )

    async def registered(request: Request, token: str, household_id: str) -> Answer:
        return await call(request, "registry", "GET", f"/households/{quote(household_id, safe='')}", token)

    def correction_page(
        request: Request, session: Session, record: dict[str, Any], form: HouseholdForm, status: int = 200
    ) -> Response:
        return render(
            request,
            "correction_form.html",
            http_status=status,
            user=person(session),
            csrf=session.csrf,
            form=form,
            record=record,
            programs=[p.value for p in Program],
            choices=CHOICES,
        )

    @app.get("/households/{household_id}/correction")
    async def correction_form(request: Request, household_id: str) -> Response:
        session, token = await signed_in(request)
        answer = await registered(request, token, household_id)
        if not answer.ok:
            return message_page(request, session, answer, "Household")
        record = answer.body
        form = household_form(
            record["household"],
            idempotency_key=str(uuid.uuid4()),
            programs=list(record.get("programs") or []),
        )
        return correction_page(request, session, record, form)

    @app.post("/households/{household_id}/correction")
    async def correct(request: Request, household_id: str) -> Response:
        session, token = await signed_in(request)
        fields, programs = await form_data(request, session)
        answer = await registered(request, token, household_id)
        if not answer.ok:
            return message_page(request, session, answer, "Household")
        record = answer.body
        form = HouseholdForm.from_post(fields, programs)
        if fields.get("action") == "add_row":
            form.add_row()
            return correction_page(request, session, record, form)
        village = record["village_code"]
        body = {
            "kind": "correction",
            "village_code": village,
            "household_id": record["household_id"],
            "deliberation": form.body(village)["deliberation"],
            "household": merged_household(form, record["household"], village),
            "programs": form.programs,
        }
        sent = await call(
            request,
            "proposal",
            "POST",
            "/proposals",
            token,
            json=body,
            headers={"Idempotency-Key": form.idempotency_key or str(uuid.uuid4())},
        )
        if sent.ok:
            return RedirectResponse(f"/proposals/{sent.body['proposal_id']}?sent=1", status_code=303)
        form.refused(sent.problem())
        return correction_page(
            request, session, record, form, status=sent.status if sent.status < 500 else 502
        )

    def deactivation_page(
        request: Request, session: Session, record: dict[str, Any], form: DeactivationForm, status: int = 200
    ) -> Response:
        return render(
            request,
            "deactivation_form.html",
            http_status=status,
            user=person(session),
            csrf=session.csrf,
            form=form,
            record=record,
            deactivation_reasons=DEACTIVATION_REASONS,
        )

    @app.get("/households/{household_id}/deactivation")
    async def deactivation_form(request: Request, household_id: str) -> Response:
        session, token = await signed_in(request)
        answer = await registered(request, token, household_id)
        if not answer.ok:
            return message_page(request, session, answer, "Household")
        form = DeactivationForm(household_id=answer.body["household_id"], idempotency_key=str(uuid.uuid4()))
        return deactivation_page(request, session, answer.body, form)

    @app.post("/households/{household_id}/deactivation")
    async def deactivate(request: Request, household_id: str) -> Response:
        session, token = await signed_in(request)
        fields, _ = await form_data(request, session)
        answer = await registered(request, token, household_id)
        if not answer.ok:
            return message_page(request, session, answer, "Household")
        record = answer.body
        form = DeactivationForm.from_post(record["household_id"], fields)
        sent = await call(
            request,
            "proposal",
            "POST",
            "/proposals",
            token,
            json=form.body(record["village_code"]),
            headers={"Idempotency-Key": form.idempotency_key or str(uuid.uuid4())},
        )
        if sent.ok:
            return RedirectResponse(f"/proposals/{sent.body['proposal_id']}?sent=1", status_code=303)
        form.refused(sent.problem())
        return deactivation_page(
            request, session, record, form, status=sent.status if sent.status < 500 else 502
        )

    # ------------------------------------------------------------------ bulk files

    @app.get("/imports/new")
    async def upload_form(request: Request) -> Response:
        session, _ = await signed_in(request)
        return render(
            request, "import_upload.html", user=person(session), csrf=session.csrf, values={}, problem=None
        )

    @app.post("/imports/new")
    async def upload(
        request: Request,
        file: Annotated[UploadFile, File()],
        csrf: Annotated[str, Form()] = "",
        deliberation_kind: Annotated[str, Form()] = "",
        deliberation_held_on: Annotated[str, Form()] = "",
        deliberation_minutes_ref: Annotated[str, Form()] = "",
    ) -> Response:
        session, token = await signed_in(request)
        check_csrf(session, csrf)
        values = {
            "deliberation_kind": deliberation_kind,
            "deliberation_held_on": deliberation_held_on,
            "deliberation_minutes_ref": deliberation_minutes_ref.strip(),
        }
        services = console.services(request)
        # Streamed on to the proposal service from the spooled upload, never read whole here.
        reply = await services.http.post(
            f"{services.base['proposal']}/imports",
            files={
                "file": (
                    file.filename or "upload",
                    file.file,
                    file.content_type or "application/octet-stream",
                )
            },
            data={k: v for k, v in values.items() if v},
            headers={"Authorization": f"Bearer {token}"},
        )
        try:
            body = reply.json()
        except ValueError:
            body = reply.text
        answer = Answer(reply.status_code, body)
        if answer.status == 401:
            raise console.needs_sign_in
        if answer.ok:
            return RedirectResponse(f"/imports/{answer.body['import_id']}", status_code=303)
        return render(
            request,
            "import_upload.html",
            http_status=answer.status if answer.status < 500 else 502,
            user=person(session),
            csrf=session.csrf,
            values=values,
            problem=answer.problem(),
        )

    @app.get("/imports/{import_id}")
    async def import_report(request: Request, import_id: str, cursor: str = "") -> Response:
        session, token = await signed_in(request)
        answer = await call(
            request,
            "proposal",
            "GET",
            f"/imports/{quote(import_id, safe='')}",
            token,
            params={"cursor": cursor, "limit": IMPORT_PAGE},
        )
        if not answer.ok:
            return message_page(request, session, answer, "Bulk upload")
        report = answer.body
        return render(
            request,
            "import_report.html",
            user=person(session),
            csrf=session.csrf,
            report=report,
            cursor=cursor,
            unfinished=report["status"] in UNFINISHED_IMPORT,
            rows_accepted=max(report["rows_processed"] - report["rows_rejected"], 0),
            reason_of=lambda row: row_reason(row, translations(language(request)).gettext),
        )

    # ------------------------------------------------------------------ offline outbox

    @app.get("/outbox")
    async def outbox(request: Request) -> Response:
        session, _ = await signed_in(request)
        return render(request, "outbox.html", user=person(session), csrf=session.csrf)

    @app.post("/outbox/proposals")
    async def send_queued(request: Request) -> Response:
        """A new-household form kept in the browser while offline, sent now: the same submission as
        the form's own, with the key it was given when shown, so a retry (the answer lost on the way
        back, two tabs sending at once) records it once. Answers JSON for the page's script."""
        try:
            session, token = await signed_in(request)
            fields, programs = await form_data(request, session)
        except console.needs_sign_in:
            return JSONResponse({"ok": False, "sign_in": True}, status_code=401)
        form = HouseholdForm.from_post(fields, programs)
        if not form.idempotency_key:
            return JSONResponse({"ok": False, "status": 422, "detail": "no idempotency key"}, status_code=422)
        user = person(session)
        answer = await console.services(request).call(
            "proposal",
            "POST",
            "/proposals",
            token,
            json=form.body(str(user["region"])),
            headers={"Idempotency-Key": form.idempotency_key},
        )
        if answer.status == 401:
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

    @app.get("/sw.js", include_in_schema=False)
    async def service_worker() -> Response:
        # At the root, so its scope is the whole console; revalidated at every load, so a new
        # version is taken at once (the browser also checks it at least daily).
        return Response(
            (STATIC / "sw.js").read_bytes(),
            media_type="text/javascript",
            headers={"Cache-Control": "no-cache"},
        )
