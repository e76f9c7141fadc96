"""The console's routes: sign-in, the village operator's proposals and form, the verifier's queue.

A backend-for-frontend: every page is made from the services' public APIs, called with the
signed-in person's own token; the console decides nothing the services decide."""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

import httpx
from fastapi import FastAPI, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.middleware.gzip import GZipMiddleware
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from dtks_console import (
    agency_pages,
    audit_pages,
    complaint_pages,
    dashboard_pages,
    draft_pages,
    governance_pages,
    ministry_pages,
    ministry_setup_pages,
    public_pages,
    ratification_pages,
    review_pages,
    round_pages,
)
from dtks_console.access import Access
from dtks_console.backend import Services
from dtks_console.complaint_pages import link_complaint, prefill_from_complaint
from dtks_console.freeze_banner import freezes_stopping
from dtks_console.household_form import CHOICES, HouseholdForm
from dtks_console.i18n import LANGUAGES
from dtks_console.oidc import OidcClient, SignInFailed
from dtks_console.pages import LANGUAGE_COOKIE, STATIC, language, render
from dtks_console.pkce import challenge_of, new_verifier
from dtks_console.sessions import COOKIE, PendingSignIn, Session, SessionStore, shared_sessions
from dtks_console.settings import ConsoleSettings
from dtks_console.village_pages import Console, add_village_pages
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.reasons import REVIEW_CODES, ReasonCode, describe
from dtks_contracts.vocabulary.roles import Role
from dtks_contracts.vocabulary.tiers import TIER_ROLE

# The verification API's name of the tier each verifying role works at.
_API_TIER = {"district": "district", "regency": "regency", "ratification": "regent", "province": "province"}
QUEUE_OF_ROLE = {role: _API_TIER.get(tier.value, tier.value) for tier, role in TIER_ROLE.items()}
STATUSES = ("submitted", "in_verification", "returned", "accepted", "determined", "withdrawn")
PAGE_SIZE = 20
# Roles whose work starts on a page other than the queue.
HOME_OF_ROLE = {
    Role.REGENT: "/ratification",
    Role.MINISTRY_DETERMINER: "/determination",
    Role.AUDITOR: "/audit",
    Role.AGENCY: "/agency",
    Role.WELFARE_POST_OPERATOR: "/complaints/file",
}
ANSWERS_KEPT = 500  # decisions per session whose answer a resend gets again


class NeedsSignIn(Exception):
    """The page needs a signed-in person (or one whose session the provider still honours)."""


class CachedStatic(StaticFiles):
    """Assets are addressed by content hash (pages.static_url): cacheable for a year."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        if response.status_code == 200:
            response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return response


def build_app(settings: ConsoleSettings | None = None) -> FastAPI:
    """The console app: sessions, sign-in through the identity provider, the shared pages and the
    routes of each tier's module.

    Long because the routes are small nested functions that share this closure's session store,
    client and settings; each tier's pages are added by their own module (village_pages, ...)."""
    settings = settings or ConsoleSettings()
    if not settings.oidc_issuer:
        raise RuntimeError("DTKS_OIDC_ISSUER must name the realm people sign in at")
    issuer = settings.oidc_issuer
    # In this process's memory until the lifespan opens the console's database, if it has one.
    memory_store = SessionStore(
        settings.console_session_secret or secrets.token_urlsafe(32), settings.console_session_idle_seconds
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One pooled client for every call. httpx keeps only 20 idle connections by default; 50 people
        # at once make up to 100 calls at once (a page asks for two things), and every connection past
        # the 20 was closed after its answer and opened again for the next: TCP and a new uvicorn
        # connection each time, in the console and the service alike.
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with httpx.AsyncClient(timeout=30, limits=limits) as http, shared_sessions(settings) as shared:
            if shared is not None:
                app.state.sessions = shared
            app.state.oidc = OidcClient(issuer, settings.console_client_id, http)
            app.state.services = Services(
                http,
                proposal=settings.proposal_url,
                verification=settings.verification_url,
                registry=settings.registry_url,
                notification=settings.notification_url,
                complaints=settings.complaints_url,
            )
            yield

    app = FastAPI(title="DTKS operator console", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.sessions = memory_store
    app.mount("/static", CachedStatic(directory=STATIC), name="static")
    app.add_middleware(GZipMiddleware, minimum_size=500)

    @app.middleware("http")
    async def security_headers(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        # Only the console's own scripts and styles: the console works on an intranet with no internet.
        response.headers.setdefault(
            "Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'"
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        return response

    def oidc(request: Request) -> OidcClient:
        client: OidcClient = request.app.state.oidc
        return client

    def services(request: Request) -> Services:
        client: Services = request.app.state.services
        return client

    def base_url(request: Request) -> str:
        return (settings.console_public_url or str(request.base_url)).rstrip("/")

    def store(request: Request) -> SessionStore:
        found: SessionStore = request.app.state.sessions
        return found

    async def save_session(request: Request, session: Session) -> None:
        await store(request).save(session)

    def set_cookie(request: Request, response: Response, session: Session) -> None:
        response.set_cookie(
            COOKIE,
            store(request).cookie_value(session),
            httponly=True,
            samesite="lax",
            secure=settings.production,
            path="/",
        )

    async def signed_in(request: Request) -> tuple[Session, str]:
        """The person's session and a live access token, refreshed through the provider when it ended."""
        session = await store(request).find(request.cookies.get(COOKIE))
        if session is None or session.tokens is None:
            raise NeedsSignIn
        if session.tokens.expires_at <= time.time():
            if not session.tokens.refresh_token:
                raise NeedsSignIn
            try:
                session.tokens = await oidc(request).refresh(session.tokens.refresh_token)
            except SignInFailed:
                session.tokens = None  # the provider ended the session (disabled, idle, signed out)
                await save_session(request, session)
                raise NeedsSignIn from None
            await save_session(request, session)
        return session, session.tokens.access_token

    def person(session: Session) -> dict[str, Any]:
        claims = session.claims
        roles = claims.get("role")
        roles = roles if isinstance(roles, list) else [roles]
        role = next((r for r in roles if r in Role.__members__.values()), None)
        return {
            "name": claims.get("name") or claims.get("preferred_username") or claims.get("sub"),
            "role": role,
            "region": claims.get("region"),
        }

    def check_csrf(session: Session, sent: str) -> None:
        if not secrets.compare_digest(session.csrf, sent or ""):
            raise NeedsSignIn

    @app.exception_handler(NeedsSignIn)
    async def _sign_in_first(request: Request, _: NeedsSignIn) -> Response:
        next_path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        if request.method != "GET":
            next_path = request.headers.get("hx-current-url") or "/"
            next_path = urlsplit(next_path).path or "/"
        target = f"/sign-in?next={quote(next_path)}"
        if request.headers.get("hx-request"):
            return Response(status_code=204, headers={"HX-Redirect": target})
        return RedirectResponse(target, status_code=303)

    # ------------------------------------------------------------------ health and language

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok", "service": "console"})

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        try:
            await oidc(request).discovery()
        except httpx.HTTPError as exc:
            return JSONResponse({"status": "not_ready", "identity_provider": str(exc)}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/language/{code}")
    async def choose_language(code: str, next: str = "/") -> Response:
        response = RedirectResponse(_local(next), status_code=303)
        if code in LANGUAGES:
            response.set_cookie(LANGUAGE_COOKIE, code, max_age=365 * 86400, samesite="lax", path="/")
        return response

    # ------------------------------------------------------------------ sign-in and sign-out

    @app.get("/")
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

    @app.get("/sign-in")
    async def sign_in(request: Request, next: str = "/") -> Response:
        session = await store(request).find(request.cookies.get(COOKIE)) or await store(request).new()
        state, verifier = secrets.token_urlsafe(24), new_verifier()
        session.pending = {k: p for k, p in session.pending.items() if time.time() - p.created < 600}
        session.pending[state] = PendingSignIn(verifier, _local(next))
        url = await oidc(request).authorization_url(
            redirect_uri=f"{base_url(request)}/signed-in",
            state=state,
            challenge=challenge_of(verifier),
            language=language(request),
        )
        await save_session(request, session)
        response = RedirectResponse(url, status_code=303)
        set_cookie(request, response, session)
        return response

    @app.get("/signed-in")
    async def signed_in_callback(
        request: Request, state: str = "", code: str = "", error: str = ""
    ) -> Response:
        session = await store(request).find(request.cookies.get(COOKIE))
        pending = session.pending.pop(state, None) if session else None
        if session is not None and pending is not None:
            await save_session(request, session)  # a sign-in's state is used once, in any process
        if session is None or pending is None or error or not code:
            return render(request, "welcome.html", http_status=400, user=None, sign_in_failed=True)
        try:
            tokens = await oidc(request).exchange(
                code=code, redirect_uri=f"{base_url(request)}/signed-in", verifier=pending.verifier
            )
        except SignInFailed:
            return render(request, "welcome.html", http_status=400, user=None, sign_in_failed=True)
        # A new session id at sign-in: an id planted in the browser before cannot ride the sign-in.
        await store(request).end(session)
        fresh = await store(request).new()
        fresh.tokens = tokens
        await save_session(request, fresh)
        response = RedirectResponse(pending.next_path, status_code=303)
        set_cookie(request, response, fresh)
        return response

    @app.post("/sign-out")
    async def sign_out(request: Request, csrf: Annotated[str, Form()] = "") -> Response:
        session = await store(request).find(request.cookies.get(COOKIE))
        id_token = None
        if session is not None:
            check_csrf(session, csrf)
            id_token = session.tokens.id_token if session.tokens else None
            await store(request).end(session)
        # The provider's session ends too, or the next sign-in on this shared computer would be silent.
        url = await oidc(request).end_session_url(id_token=id_token, after=f"{base_url(request)}/")
        response = RedirectResponse(url, status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    # ------------------------------------------------------------------ village operator

    @app.get("/proposals")
    async def proposals(request: Request, status: str = "", cursor: str = "") -> Response:
        session, token = await signed_in(request)
        user = person(session)
        answer = await services(request).call(
            "proposal",
            "GET",
            "/proposals",
            token,
            params={"status": status if status in STATUSES else None, "cursor": cursor, "limit": PAGE_SIZE},
        )
        if answer.status == 401:
            raise NeedsSignIn
        return render(
            request,
            "proposals.html",
            user=user,
            csrf=session.csrf,
            statuses=STATUSES,
            status=status,
            cursor=cursor,
            items=answer.body.get("items", []) if answer.ok else [],
            next_cursor=answer.body.get("next_cursor") if answer.ok else None,
            problem=None if answer.ok else answer.problem(),
        )

    @app.get("/proposals/new")
    async def new_proposal(request: Request, complaint: str = "") -> Response:
        session, token = await signed_in(request)
        form = HouseholdForm.blank(str(uuid.uuid4()))
        if complaint:
            await prefill_from_complaint(request, token, person(session), form, complaint)
        return _form_page(
            request, session, form, freezes=await freezes_stopping(request, token, "new_proposals")
        )

    @app.post("/proposals/new")
    async def submit_proposal(request: Request) -> Response:
        session, token = await signed_in(request)
        data = await request.form()
        check_csrf(session, str(data.get("csrf", "")))
        fields = {k: str(v) for k, v in data.items() if isinstance(v, str)}
        form = HouseholdForm.from_post(fields, [str(p) for p in data.getlist("programs")])
        if data.get("action") == "add_row":
            form.add_row()
            return _form_page(request, session, form)
        user = person(session)
        key = form.idempotency_key or str(uuid.uuid4())
        answer = await services(request).call(
            "proposal",
            "POST",
            "/proposals",
            token,
            json=form.body(str(user["region"])),
            headers={"Idempotency-Key": key},
        )
        if answer.status == 401:
            raise NeedsSignIn
        if answer.ok:
            if form.complaint_id:
                await link_complaint(request, token, form.complaint_id, answer.body["proposal_id"])
            return RedirectResponse(f"/proposals/{answer.body['proposal_id']}?sent=1", status_code=303)
        form.refused(answer.problem())
        return _form_page(request, session, form, status=answer.status if answer.status < 500 else 502)

    def _form_page(
        request: Request,
        session: Session,
        form: HouseholdForm,
        status: int = 200,
        freezes: list[dict[str, Any]] | None = None,
    ) -> Response:
        return render(
            request,
            "proposal_form.html",
            http_status=status,
            user=person(session),
            csrf=session.csrf,
            form=form,
            programs=[p.value for p in Program],
            choices=CHOICES,
            freezes=freezes or [],
        )

    @app.get("/proposals/{proposal_id}")
    async def proposal(request: Request, proposal_id: str, sent: str = "") -> Response:
        session, token = await signed_in(request)
        answer = await services(request).call("proposal", "GET", f"/proposals/{quote(proposal_id)}", token)
        if answer.status == 401:
            raise NeedsSignIn
        return render(
            request,
            "proposal.html",
            http_status=answer.status if not answer.ok else 200,
            user=person(session),
            csrf=session.csrf,
            proposal=answer.body if answer.ok else None,
            problem=None if answer.ok else answer.problem(),
            sent=bool(sent),
            describe=_describe,
        )

    # ------------------------------------------------------------------ verifiers

    @app.get("/queue")
    async def queue(request: Request, after: str = "") -> Response:
        session, token = await signed_in(request)
        return await _queue_page(request, session, token, after=after)

    async def _queue_page(
        request: Request, session: Session, token: str, *, after: str = "", done: dict[str, Any] | None = None
    ) -> Response:
        user = person(session)
        tier = QUEUE_OF_ROLE.get(user["role"])
        answer = None
        freezes: list[dict[str, Any]] = []
        if tier is not None:
            # The queue and the freezes are asked at once: the page waits for the slower, not the sum.
            freezes_asked = asyncio.create_task(freezes_stopping(request, token, "tier_decisions"))
            try:
                answer = await services(request).call(
                    "verification",
                    "GET",
                    f"/queues/{tier}",
                    token,
                    params={"after": after, "limit": PAGE_SIZE},
                )
            except BaseException:
                freezes_asked.cancel()
                raise
            if answer.status == 401:
                freezes_asked.cancel()
                raise NeedsSignIn
            freezes = await freezes_asked
        return render(
            request,
            "queue.html",
            user=user,
            csrf=session.csrf,
            tier=tier,
            items=answer.body.get("items", []) if answer and answer.ok else [],
            next_after=answer.body.get("next_after") if answer and answer.ok else None,
            problem=answer.problem() if answer and not answer.ok else None,
            reasons=sorted(REVIEW_CODES),
            new_key=lambda: str(uuid.uuid4()),
            describe=_describe,
            done=done,
            freezes=freezes,
        )

    @app.post("/queue/decisions")
    async def decide(request: Request) -> Response:
        # Signed in first, the form read after: a person whose session ended is sent to sign in,
        # whatever the form held.
        session, token = await signed_in(request)
        data = await request.form()
        form = {k: str(v) for k, v in data.items() if isinstance(v, str)}
        check_csrf(session, form.get("csrf", ""))
        proposal_id, decision = form.get("proposal_id", ""), form.get("decision", "")
        reason, note = form.get("reason", ""), form.get("note", "")
        idempotency_key = form.get("idempotency_key") or str(uuid.uuid4())
        user = person(session)
        tier = QUEUE_OF_ROLE.get(user["role"])
        # The verification service has no idempotency key: the console keeps the first answer of each
        # form it rendered, so a double click or a resent form records one decision, not two.
        result = session.answered.get(idempotency_key)
        if result is None:
            body: dict[str, Any] = {"proposal_id": proposal_id, "tier": tier, "decision": decision}
            if reason:
                body["reasons"] = [reason]
            if note.strip():
                body["note"] = note.strip()
            answer = await services(request).call("verification", "POST", "/decisions", token, json=body)
            if answer.status == 401:
                raise NeedsSignIn
            result = {
                "proposal_id": proposal_id,
                "decision": decision,
                "ok": answer.ok,
                "problem": None if answer.ok else answer.problem(),
                # What was typed, so a refused decision's form comes back as it was sent.
                "typed": None if answer.ok else {"reason": reason, "note": note},
            }
            session.answered[idempotency_key] = result
            if len(session.answered) > ANSWERS_KEPT:
                del session.answered[next(iter(session.answered))]  # the oldest
            await save_session(request, session)
        if request.headers.get("hx-request"):
            return render(
                request,
                "queue_result.html",
                done=result,
                user=user,
                csrf=session.csrf,
                reasons=sorted(REVIEW_CODES),
                new_key=lambda: str(uuid.uuid4()),
                describe=_describe,
            )
        return await _queue_page(request, session, token, done=result)

    add_village_pages(app, Console(signed_in, person, check_csrf, services, NeedsSignIn))
    # Each tier's pages, in modules of their own, reach the core through this.
    app.state.access = Access(signed_in, person, check_csrf, NeedsSignIn, save_session)
    for pages in (
        review_pages,
        ratification_pages,
        ministry_pages,
        ministry_setup_pages,
        complaint_pages,
        draft_pages,
        dashboard_pages,
        governance_pages,
        audit_pages,
        agency_pages,
        public_pages,
    ):
        app.include_router(pages.router)
    app.include_router(round_pages.router)  # re-verification rounds (round_pages.py)
    return app


def _describe(code: Any) -> str:
    """A reason's sentence from the contracts, for a code or a finding (a dict with its own message)."""
    if isinstance(code, dict):
        return str(code.get("message") or code.get("code"))
    try:
        return describe(ReasonCode(code))
    except ValueError:
        return str(code)


def _local(path: str) -> str:
    """Only a path on the console itself: a sign-in must not be turned into a redirect elsewhere."""
    parts = urlsplit(path)
    if parts.scheme or parts.netloc or not path.startswith("/") or path.startswith("//"):
        return "/"
    return path
