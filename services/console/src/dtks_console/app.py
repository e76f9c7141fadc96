"""The console app: sessions, sign-in through the identity provider, and the pages of every tier.

A backend-for-frontend: every page is made from the services' public APIs, called with the
signed-in person's own token; the console decides nothing the services decide. Each group of pages
is a module of routes of its own (identity_pages, queue_pages, village's household_pages, ...),
reaching the signed-in person and the services through ``app.state.access``."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from starlette.middleware.gzip import GZipMiddleware

from dtks_console import (
    agency_pages,
    audit_pages,
    complaint_pages,
    dashboard_pages,
    draft_pages,
    governance_pages,
    health_pages,
    household_pages,
    identity_pages,
    import_pages,
    ministry_pages,
    ministry_setup_pages,
    outbox_pages,
    photo_pages,
    proposal_pages,
    public_pages,
    queue_pages,
    ratification_pages,
    returned_proposal_pages,
    review_pages,
    round_pages,
)
from dtks_console.access import Access
from dtks_console.backend import Services, client_session
from dtks_console.http_edges import CachedStatic, SecurityHeaders
from dtks_console.oidc import OidcClient
from dtks_console.pages import STATIC
from dtks_console.sessions import SessionStore, shared_sessions
from dtks_console.settings import ConsoleSettings
from dtks_console.signed_in_person import NeedsSignIn, check_csrf, person, save_session, signed_in


def build_app(settings: ConsoleSettings | None = None) -> FastAPI:
    """The console's wiring: settings, sign-in, sessions, the service clients, then every group of
    pages. Over 60 lines because it is the one place all of it is put together, each piece beside
    the setting that chooses it (as a service's main.py); the pages themselves live in *_pages.py."""
    settings = settings or ConsoleSettings()
    if not settings.oidc_issuer:
        raise RuntimeError("DTKS_OIDC_ISSUER must name the realm people sign in at")
    issuer = settings.oidc_issuer

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Pooled clients: aiohttp for the pages' API calls (backend.Services says why), httpx for the
        # provider and the few streamed calls. httpx keeps only 20 idle connections by default; 50
        # people at once make up to 100 calls at once, and every connection past the 20 was closed
        # after its answer and opened again for the next.
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
        async with (
            httpx.AsyncClient(timeout=30, limits=limits) as http,
            client_session() as calls,
            shared_sessions(settings) as shared,
        ):
            if shared is not None:
                app.state.sessions = shared
            app.state.oidc = OidcClient(issuer, settings.console_client_id, http)
            app.state.services = Services(
                http,
                calls=calls,
                proposal=settings.proposal_url,
                verification=settings.verification_url,
                registry=settings.registry_url,
                notification=settings.notification_url,
                complaints=settings.complaints_url,
            )
            yield

    app = FastAPI(title="DTKS operator console", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.settings = settings
    # In this process's memory until the lifespan opens the console's database, if it has one.
    app.state.sessions = SessionStore(
        settings.console_session_secret or secrets.token_urlsafe(32), settings.console_session_idle_seconds
    )
    app.mount("/static", CachedStatic(directory=STATIC), name="static")
    # zlib's default level: a queue page compresses to the same size as at Starlette's default 9
    # (4,015 against 4,011 bytes) for 15% less of the console's time.
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)
    app.add_middleware(SecurityHeaders)
    app.add_exception_handler(NeedsSignIn, identity_pages.send_to_sign_in)
    # Each group of pages, in a module of its own, reaches the signed-in person through this.
    app.state.access = Access(signed_in, person, check_csrf, NeedsSignIn, save_session)
    for pages in (
        health_pages,
        identity_pages,
        proposal_pages,
        queue_pages,
        returned_proposal_pages,
        household_pages,
        import_pages,
        outbox_pages,
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
        round_pages,
        photo_pages,
    ):
        app.include_router(pages.router)
    return app
