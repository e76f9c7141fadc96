"""The person behind a request: their session (found through its signed cookie), a live access token
(refreshed at the identity provider when it ended), who they are, and the forms' CSRF check.

Every page module reaches these through ``access.Access`` (app.state.access); the sign-in pages use
them directly, since they also make and end sessions."""

from __future__ import annotations

import secrets
import time
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from dtks_console.oidc import OidcClient, SignInFailed
from dtks_console.sessions import COOKIE, Session, SessionStore
from dtks_console.settings import ConsoleSettings
from dtks_contracts.vocabulary.roles import Role


class NeedsSignIn(Exception):
    """The page needs a signed-in person (or one whose session the provider still honours)."""


def settings_of(request: Request) -> ConsoleSettings:
    found: ConsoleSettings = request.app.state.settings
    return found


def oidc_of(request: Request) -> OidcClient:
    client: OidcClient = request.app.state.oidc
    return client


def session_store(request: Request) -> SessionStore:
    """This process's memory, or the console's database once the lifespan opened it."""
    found: SessionStore = request.app.state.sessions
    return found


async def save_session(request: Request, session: Session) -> None:
    await session_store(request).save(session)


def set_session_cookie(request: Request, response: Response, session: Session) -> None:
    response.set_cookie(
        COOKIE,
        session_store(request).cookie_value(session),
        httponly=True,
        samesite="lax",
        secure=settings_of(request).production,
        path="/",
    )


async def signed_in(request: Request) -> tuple[Session, str]:
    """The person's session and a live access token, refreshed through the provider when it ended."""
    session = await session_store(request).find(request.cookies.get(COOKIE))
    if session is None or session.tokens is None:
        raise NeedsSignIn
    if session.tokens.expires_at <= time.time():
        if not session.tokens.refresh_token:
            raise NeedsSignIn
        try:
            session.tokens = await oidc_of(request).refresh(session.tokens.refresh_token)
        except SignInFailed:
            session.tokens = None  # the provider ended the session (disabled, idle, signed out)
            await save_session(request, session)
            raise NeedsSignIn from None
        await save_session(request, session)
    return session, session.tokens.access_token


def person(session: Session) -> dict[str, Any]:
    """Who the session's person is, as the pages greet them and choose what to show."""
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
