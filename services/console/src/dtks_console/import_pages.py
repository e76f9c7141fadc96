"""A village's bulk file (CSV or Excel workbook) uploaded to the proposal service, and its per-row
report, paged, with each rejected row's reason in the reader's language."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import RedirectResponse, Response

from dtks_console.access import access_of
from dtks_console.backend import Answer, Services
from dtks_console.i18n import translations
from dtks_console.import_reasons import row_reason
from dtks_console.pages import language, render
from dtks_console.village_page_parts import message_page

router = APIRouter()
IMPORT_PAGE = 20  # rejected rows per page of an import's report
UNFINISHED_IMPORT = ("staged", "processing")


@router.get("/imports/new")
async def upload_form(request: Request) -> Response:
    access = access_of(request)
    session, _ = await access.signed_in(request)
    return render(
        request, "import_upload.html", user=access.person(session), csrf=session.csrf, values={}, problem=None
    )


@router.post("/imports/new")
async def upload(
    request: Request,
    file: Annotated[UploadFile, File()],
    csrf: Annotated[str, Form()] = "",
    deliberation_kind: Annotated[str, Form()] = "",
    deliberation_held_on: Annotated[str, Form()] = "",
    deliberation_minutes_ref: Annotated[str, Form()] = "",
) -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    access.check_csrf(session, csrf)
    values = {
        "deliberation_kind": deliberation_kind,
        "deliberation_held_on": deliberation_held_on,
        "deliberation_minutes_ref": deliberation_minutes_ref.strip(),
    }
    services: Services = request.app.state.services
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
        raise access.needs_sign_in
    if answer.ok:
        return RedirectResponse(f"/imports/{answer.body['import_id']}", status_code=303)
    return render(
        request,
        "import_upload.html",
        http_status=answer.status if answer.status < 500 else 502,
        user=access.person(session),
        csrf=session.csrf,
        values=values,
        problem=answer.problem(),
    )


@router.get("/imports/{import_id}")
async def import_report(request: Request, import_id: str, cursor: str = "") -> Response:
    access = access_of(request)
    session, token = await access.signed_in(request)
    answer = await access.call(
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
        user=access.person(session),
        csrf=session.csrf,
        report=report,
        cursor=cursor,
        unfinished=report["status"] in UNFINISHED_IMPORT,
        rows_accepted=max(report["rows_processed"] - report["rows_rejected"], 0),
        reason_of=lambda row: row_reason(row, translations(language(request)).gettext),
    )
