"""Server-side sessions: the browser holds a signed cookie with a random session id; the tokens stay
here, in the console's memory, and never reach the browser."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

from dtks_console.oidc import Tokens

COOKIE = "dtks_console"


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


class SessionStore:
    def __init__(self, secret: str, idle_seconds: float) -> None:
        self.signer = URLSafeSerializer(secret, salt="dtks-console-session")
        self.idle_seconds = idle_seconds
        self._sessions: dict[str, Session] = {}

    def cookie_value(self, session: Session) -> str:
        return self.signer.dumps(session.id)

    def find(self, cookie: str | None) -> Session | None:
        if not cookie:
            return None
        try:
            session_id = self.signer.loads(cookie)
        except BadSignature:
            return None
        session = self._sessions.get(session_id)
        now = time.time()
        if session is None or now - session.last_seen > self.idle_seconds:
            self._sessions.pop(session_id, None)
            return None
        session.last_seen = now
        return session

    def new(self) -> Session:
        self._forget_idle()
        session = Session(secrets.token_urlsafe(32))
        self._sessions[session.id] = session
        return session

    def end(self, session: Session) -> None:
        self._sessions.pop(session.id, None)

    def _forget_idle(self) -> None:
        now = time.time()
        for key in [k for k, s in self._sessions.items() if now - s.last_seen > self.idle_seconds]:
            del self._sessions[key]
