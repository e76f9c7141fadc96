"""The person's identity in the console: signing in and out through the identity provider
(authorization code with PKCE), the home page that sends each role to where its work starts, the
language choice, and the answer to a page asked for without a live session: off to sign in, and back
to that page afterwards."""

from __future__ import annotations

import secrets
import time
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from dtks_console.i18n import LANGUAGES
from dtks_console.oidc import SignInFailed
from dtks_console.pages import LANGUAGE_COOKIE, language, render
from dtks_console.pkce import challenge_of, new_verifier
from dtks_console.queue_pages import QUEUE_OF_ROLE
from dtks_console.sessions import COOKIE, PendingSignIn
from dtks_console.signed_in_person import (
    NeedsSignIn,
    check_csrf,
    oidc_of,
    person,
    save_session,
    session_store,
    set_session_cookie,
    settings_of,
    signed_in,
)
from dtks_contracts.vocabulary.roles import Role

router = APIRouter()
# Roles whose work starts on a page other than the queue.
HOME_OF_ROLE = {
    Role.REGENT: "/ratification",
    Role.MINISTRY_DETERMINER: "/determination",
    Role.AUDITOR: "/audit",
    Role.AGENCY: "/agency",
    Role.WELFARE_POST_OPERATOR: "/complaints/file",
}


def local_path(path: str) -> str:
    """Only a path on the console itself: a sign-in must not be turned into a redirect elsewhere."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//"):
        return "/"
    return path


def base_url(request: Request) -> str:
    return (settings_of(request).console_public_url or str(request.base_url)).rstrip("/")


async def send_to_sign_in(request: Request, _: Exception) -> Response:
    """The app's answer to NeedsSignIn: the sign-in, which comes back to the page asked for (for a
    form sent, the page it was sent from; for htmx, through its own redirect header)."""
    next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        next_path = request.headers.get("hx-current-url") or "/"
        next_path = urlsplit(next_path).path or "/"
    target = f"/sign-in?next={quote(next_path)}"
    if request.headers.get("hx-request"):
        return Response(status_code=204, headers={"HX-Redirect": target})
    return RedirectResponse(target, status_code=303)


@router.get("/language/{code}")
async def choose_language(code: str, next: str = "/") -> Response:
    response = RedirectResponse(local_path(next), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/")
    return response


@router.get("/")
async def home(request: Request) -> Response:
    try:
        session, _ = await signed_in(request)
    except NeedsSignIn:
        return render(request, "welcome.html", user=None)
    role = person(session)["role"]
    if role in HOME_OF_ROLE:
        return RedirectResponse(HOME_OF_ROLE[role], status_code=303)
    if role == Role.VILLAGE_OPERATOR:
        return RedirectResponse("/proposals", status_code=303)
    if role in QUEUE_OF_ROLE:
        return RedirectResponse("/queue", status_code=303)
    return render(request, "welcome.html", user=person(session))


@router.get("/sign-in")
async def sign_in(request: Request, next: str = "/") -> Response:
    store = session_store(request)
    session = await store.find(request.cookies.get(COOKIE)) or await store.new()
    state, verifier = secrets.token_urlsafe(24), new_verifier()
    session.pending = {k: p for k, p in session.pending.items() if time.time() - p.created < 600}
    session.pending[state] = PendingSignIn(verifier, local_path(next))
    url = await oidc_of(request).authorization_url(
        redirect_uri=f"{base_url(request)}/signed-in",
        state=state,
        challenge=challenge_of(verifier),
        language=language(request),
    )
    await save_session(request, session)
    response = RedirectResponse(url, status_code=303)
    set_session_cookie(request, response, session)
    return response


@router.get("/signed-in")
async def signed_in_callback(request: Request, state: str = "", code: str = "", error: str = "") -> Response:
    store = session_store(request)
    session = await store.find(request.cookies.get(COOKIE))
    pending = session.pending.pop(state, None) if session else None
    if session is not None and pending is not None:
        await save_session(request, session)  # a sign-in's state is used once, in any process
    if session is None or pending is None or error or not code:
        return render(request, "welcome.html", http_status=400, user=None, sign_in_failed=True)
    try:
        tokens = await oidc_of(request).exchange(
            code=code, redirect_uri=f"{base_url(request)}/signed-in", verifier=pending.verifier
        )
    except SignInFailed:
        return render(request, "welcome.html", http_status=400, user=None, sign_in_failed=True)
    # A new session id at sign-in: an id planted in the browser before cannot ride the sign-in.
    await store.end(session)
    fresh = await store.new()
    fresh.tokens = tokens
    await save_session(request, fresh)
    response = RedirectResponse(pending.next_path, status_code=303)
    set_session_cookie(request, response, fresh)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
    store = session_store(request)
    session = await store.find(request.cookies.get(COOKIE))
    id_token = None
    if session is not None:
        check_csrf(session, csrf)
        id_token = session.tokens.id_token if session.tokens else None
        await store.end(session)
    # The provider's session ends too, or the next sign-in on this shared computer would be silent.
    url = await oidc_of(request).end_session_url(id_token=id_token, after=f"{base_url(request)}/")
    response = RedirectResponse(url, status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response
