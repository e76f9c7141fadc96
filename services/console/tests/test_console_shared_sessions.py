"""Several console processes share the sign-in sessions through the console's own database: each app
here stands for one process (its own memory, its own pool), both on the same database, and the person
is signed in at the real Keycloak."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack

import asyncpg
import pytest
from fastapi.testclient import TestClient

from dtks_console.app import build_app
from dtks_console.oidc import Tokens
from dtks_console.sessions import COOKIE, SessionStore
from dtks_console.settings import ConsoleSettings
from dtks_runtime.identity_testing import Keycloak, sign_in
from dtks_runtime.testing import Infra

pytestmark = pytest.mark.infra

VERIFIER = ("verifier.1771-01", "dev-verifier-177101")  # district verifier of 17.71.01 in the realm


@pytest.fixture(scope="module")
def tokens(keycloak: Keycloak) -> Tokens:
    return Tokens.from_answer(asyncio.run(sign_in(keycloak, *VERIFIER)))


def two_processes(
    infra: Infra, keycloak: Keycloak, **overrides: object
) -> Iterator[tuple[TestClient, TestClient]]:
    database = f"console_sessions_{uuid.uuid4().hex[:8]}"
    settings = ConsoleSettings(
        oidc_issuer=keycloak.issuer, database_url=infra.database_url, database_name=database, **overrides
    )
    try:
        with ExitStack() as stack:
            first = stack.enter_context(TestClient(build_app(settings)))
            second = stack.enter_context(TestClient(build_app(settings)))
            yield first, second
    finally:
        asyncio.run(drop(infra.database_url, database))


async def drop(server_url: str, database: str) -> None:
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def consoles(infra: Infra, keycloak: Keycloak) -> Iterator[tuple[TestClient, TestClient]]:
    yield from two_processes(infra, keycloak)


def signed_in_at(console: TestClient, tokens: Tokens, *others: TestClient) -> str:
    """What /signed-in leaves behind: a session holding the person's tokens, its cookie in the
    browser (here: in every client given); answers the session's CSRF token."""
    store: SessionStore = console.app.state.sessions  # type: ignore[attr-defined]

    async def make() -> tuple[str, str]:
        session = await store.new()
        session.tokens = tokens
        await store.save(session)
        return store.cookie_value(session), session.csrf

    cookie, csrf = console.portal.call(make)  # type: ignore[union-attr]
    for client in (console, *others):
        client.cookies.set(COOKIE, cookie)
    return csrf


def test_a_session_made_in_one_console_process_is_honoured_by_another(
    consoles: tuple[TestClient, TestClient], tokens: Tokens
) -> None:
    first, second = consoles
    signed_in_at(first, tokens, second)
    for console in (first, second):
        page = console.get("/", follow_redirects=False)
        assert page.status_code == 303 and page.headers["location"] == "/queue"


def test_signing_out_in_one_console_process_ends_the_session_in_the_other(
    consoles: tuple[TestClient, TestClient], tokens: Tokens, keycloak: Keycloak
) -> None:
    first, second = consoles
    csrf = signed_in_at(first, tokens, second)
    assert second.get("/", follow_redirects=False).status_code == 303
    out = second.post("/sign-out", data={"csrf": csrf}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"].startswith(keycloak.issuer)
    page = first.get("/", follow_redirects=False)
    assert page.status_code == 200 and ">Masuk<" in page.text  # the welcome page, asking to sign in


def test_a_session_left_idle_past_its_limit_ends_in_every_process(
    infra: Infra, keycloak: Keycloak, tokens: Tokens
) -> None:
    for first, second in two_processes(infra, keycloak, console_session_idle_seconds=1):
        signed_in_at(first, tokens, second)
        assert second.get("/", follow_redirects=False).status_code == 303
        time.sleep(1.5)
        page = second.get("/", follow_redirects=False)
        assert page.status_code == 200 and ">Masuk<" in page.text
