"""Server-side sessions: the browser holds a signed cookie with a random session id; the tokens stay
on the server and never reach the browser.

Two stores with one interface: :class:`SessionStore` keeps sessions in this process's memory (one
process, and the tests that build the app without a database); :class:`SharedSessionStore` keeps them
in the console's own small PostgreSQL table, so several console processes (DTKS_WORKERS) honour the
same sign-in, and an expiry or a sign-out in one process ends the session in all of them. Not
encrypted cookies: the provider's three tokens alone outgrow a 4 KB cookie, and a copied cookie
would stay good after sign-out, since nothing on the server would remember that it ended.

A page that changes its session (new tokens, a sign-in under way, a form's answer) calls
``save``; a session is read afresh on every request, so a change made in another process is seen."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import asyncpg
from itsdangerous import BadSignature, URLSafeSerializer

from dtks_console.oidc import Tokens
from dtks_runtime.db import create_pool, ensure_database, migrate

if TYPE_CHECKING:
    from dtks_console.settings import ConsoleSettings

COOKIE = "dtks_console"
# A session's last use is written at most this often: most pages then only read their session.
TOUCH_EVERY_SECONDS = 30.0


@dataclass
class PendingSignIn:
    """What the console must remember between sending a person to the provider and their return."""

    verifier: str
    next_path: str
    created: float = field(default_factory=time.time)


@dataclass
class Session:
    id: str
    tokens: Tokens | None = None
    # Sign-ins under way, by their `state`: two tabs may start one each.
    pending: dict[str, PendingSignIn] = field(default_factory=dict)
    # Answers of the forms already sent, by their idempotency key: a double click or a resend gets
    # the first answer instead of a second decision.
    answered: dict[str, Any] = field(default_factory=dict)
    last_seen: float = field(default_factory=time.time)
    # Sent back by every form of the session: a page of another site cannot post in the person's name.
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def claims(self) -> dict[str, Any]:
        return self.tokens.claims() if self.tokens else {}

    def to_json(self) -> str:
        tokens = self.tokens
        return json.dumps(
            {
                "tokens": None
                if tokens is None
                else [tokens.access_token, tokens.refresh_token, tokens.id_token, tokens.expires_at],
                "pending": {k: [p.verifier, p.next_path, p.created] for k, p in self.pending.items()},
                "answered": self.answered,
                "csrf": self.csrf,
            }
        )

    @classmethod
    def from_json(cls, session_id: str, text: str, last_seen: float) -> Session:
        data = json.loads(text)
        return cls(
            session_id,
            tokens=None if data["tokens"] is None else Tokens(*data["tokens"]),
            pending={k: PendingSignIn(*p) for k, p in data["pending"].items()},
            answered=data["answered"],
            last_seen=last_seen,
            csrf=data["csrf"],
        )


class SessionStore:
    """Sessions in this process's memory: one console process only."""

    def __init__(self, secret: str, idle_seconds: float) -> None:
        self.signer = URLSafeSerializer(secret, salt="dtks-console-session")
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}

    def cookie_value(self, session: Session) -> str:
        return self.signer.dumps(session.id)

    def _session_id(self, cookie: str | None) -> str | None:
        if not cookie:
            return None
        try:
            return str(self.signer.loads(cookie))
        except BadSignature:
            return None

    async def find(self, cookie: str | None) -> Session | None:
        session_id = self._session_id(cookie)
        if session_id is None:
            return None
        session = self._sessions.get(session_id)
        now = time.time()
        if session is None or now - session.last_seen > self.idle_seconds:
            self._sessions.pop(session_id, None)
            return None
        session.last_seen = now
        return session

    async def new(self) -> Session:
        self._forget_idle()
        session = Session(secrets.token_urlsafe(32))
        self._sessions[session.id] = session
        return session

    async def save(self, session: Session) -> None:
        """Nothing to write: the pages changed the very object kept here."""

    async def end(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def _forget_idle(self) -> None:
        now = time.time()
        for key in [k for k, s in self._sessions.items() if now - s.last_seen > self.idle_seconds]:
            del self._sessions[key]


MIGRATIONS = [
    """CREATE TABLE console_sessions (
           id text PRIMARY KEY,
           data text NOT NULL,
           last_seen timestamptz NOT NULL DEFAULT now())""",
    "CREATE INDEX console_sessions_last_seen ON console_sessions (last_seen)",
    # The cookie signing key every process shares when DTKS_CONSOLE_SESSION_SECRET is not given:
    # made by the first process that starts, read by the others.
    "CREATE TABLE console_secret (one boolean PRIMARY KEY DEFAULT true CHECK (one), secret text NOT NULL)",
]


async def prepare_shared_sessions(pool: asyncpg.Pool, secret: str | None) -> str:
    """The sessions' table, migrated; the signing key to use (the configured one, else the shared one)."""
    async with pool.acquire() as conn:
        await migrate(conn, "console_sessions", MIGRATIONS)
        if secret:
            return secret
        await conn.execute(
            "INSERT INTO console_secret (secret) VALUES ($1) ON CONFLICT DO NOTHING",
            secrets.token_urlsafe(32),
        )
        return str(await conn.fetchval("SELECT secret FROM console_secret"))


class SharedSessionStore(SessionStore):
    """Sessions in the console's PostgreSQL table, shared by every console process."""

    def __init__(self, pool: asyncpg.Pool, secret: str, idle_seconds: float) -> None:
        super().__init__(secret, idle_seconds)
        self.pool = pool

    async def find(self, cookie: str | None) -> Session | None:
        session_id = self._session_id(cookie)
        if session_id is None:
            return None
        row = await self.pool.fetchrow(
            """SELECT data, extract(epoch FROM last_seen)::float8 AS last_seen FROM console_sessions
               WHERE id = $1 AND last_seen > now() - make_interval(secs => $2)""",
            session_id,
            self.idle_seconds,
        )
        if row is None:
            return None
        session = Session.from_json(session_id, row["data"], row["last_seen"])
        if time.time() - session.last_seen > TOUCH_EVERY_SECONDS:
            await self.pool.execute("UPDATE console_sessions SET last_seen = now() WHERE id = $1", session_id)
            session.last_seen = time.time()
        return session

    async def new(self) -> Session:
        session = Session(secrets.token_urlsafe(32))
        async with self.pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM console_sessions WHERE last_seen < now() - make_interval(secs => $1)",
                self.idle_seconds,
            )
            await conn.execute(
                "INSERT INTO console_sessions (id, data) VALUES ($1, $2)", session.id, session.to_json()
            )
        return session

    async def save(self, session: Session) -> None:
        # Only a session still alive: a page finishing after its sign-out does not bring it back.
        await self.pool.execute(
            "UPDATE console_sessions SET data = $2, last_seen = now() WHERE id = $1",
            session.id,
            session.to_json(),
        )

    async def end(self, session: Session) -> None:
        await self.pool.execute("DELETE FROM console_sessions WHERE id = $1", session.id)


@asynccontextmanager
async def shared_sessions(settings: ConsoleSettings) -> AsyncIterator[SharedSessionStore | None]:
    """The shared store on the console's own database while the app runs; None without a database."""
    if not settings.database_url:
        yield None
        return
    name = (settings.database_name or "dtks_{service}").replace("{service}", "console")
    url = await ensure_database(settings.database_url, name)
    pool = await create_pool(url, min_size=1, max_size=10)
    try:
        secret = await prepare_shared_sessions(pool, settings.console_session_secret)
        yield SharedSessionStore(pool, secret, settings.console_session_idle_seconds)
    finally:
        await pool.close()
