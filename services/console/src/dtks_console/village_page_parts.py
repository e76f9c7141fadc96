"""What the village operator's form pages share: a form sent with the session's CSRF token, and the
page that says why a record could not be shown (not found, not in the operator's village)."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from dtks_console.access import access_of
from dtks_console.backend import Answer
from dtks_console.pages import render
from dtks_console.sessions import Session


async def posted_form(request: Request, session: Session) -> tuple[dict[str, str], list[str]]:
    """The form's text fields and its ticked programs, once its CSRF token is the session's."""
    data = await request.form()
    access_of(request).check_csrf(session, str(data.get("csrf", "")))
    fields = {k: str(v) for k, v in data.items() if isinstance(v, str)}
    return fields, [str(p) for p in data.getlist("programs")]


def message_page(request: Request, session: Session, answer: Answer, title: str) -> Response:
    return render(
        request,
        "village_message.html",
        http_status=answer.status if answer.status < 500 else 502,
        user=access_of(request).person(session),
        csrf=session.csrf,
        title=title,
        problem=answer.problem(),
    )
