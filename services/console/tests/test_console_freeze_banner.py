"""The freezes banner over the queue is asked of the verification service once per region for a few
seconds, not on every page: the console's calls to the real verification service (the only service
the queue page calls) counted as they leave, with a freeze declared so the banner has something to
show."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from dtks_console import freeze_banner
from dtks_console.app import build_app
from dtks_console.backend import Answer, Services
from dtks_console.oidc import Tokens
from dtks_console.sessions import COOKIE, SessionStore
from dtks_console.settings import ConsoleSettings
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.testing import Infra

pytestmark = pytest.mark.infra

ROOT = Path(__file__).resolve().parents[3]
SERVICES_SCRIPT = ROOT / "deploy" / "local" / "services.py"
DISTRICT = "17.71.01"


@pytest.fixture(scope="module")
def verification(infra: Infra) -> Iterator[LocalSystem]:
    """The verification service alone, as its own process, with a freeze of the district's regency."""
    system = prepare(infra, SERVICES_SCRIPT, label="fzb")
    system.command("start", only=("verification",))
    try:
        now = dt.datetime.now(dt.UTC)
        declared = httpx.post(
            f"{system.urls['verification']}/freezes",
            headers=system.headers(Role.MINISTRY_VERIFIER, "ID"),
            json={
                "scope": "17.71",
                "actions": ["tier_decisions"],
                "starts_at": (now - dt.timedelta(minutes=5)).isoformat(),
                "ends_at": (now + dt.timedelta(days=1)).isoformat(),
                "reason": "Audit data Kota Bengkulu",
            },
            timeout=30,
        )
        assert declared.status_code == 201, declared.text
        yield system
    finally:
        system.command("stop")
        asyncio.run(system.drop_databases_and_topics(infra))


@pytest.fixture
def console(verification: LocalSystem) -> Iterator[TestClient]:
    settings = ConsoleSettings(
        oidc_issuer="http://127.0.0.1:9/realms/dtks", verification_url=verification.urls["verification"]
    )
    with TestClient(build_app(settings)) as client:
        yield client


def signed_in_as(console: TestClient, system: LocalSystem, role: Role, region: str) -> None:
    """A session holding a token the verification service accepts, its cookie in the client."""
    token = system.headers(role, region)["Authorization"].removeprefix("Bearer ")
    store: SessionStore = console.app.state.sessions  # type: ignore[attr-defined]

    async def make() -> str:
        session = await store.new()
        session.tokens = Tokens(token, None, None, time.time() + 3600)
        await store.save(session)
        return store.cookie_value(session)

    console.cookies.set(COOKIE, console.portal.call(make))  # type: ignore[union-attr]


def freezes_asked(console: TestClient, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every GET /freezes the console sends to the verification service from now on."""
    asked: list[str] = []
    services: Services = console.app.state.services  # type: ignore[attr-defined]
    send = services.call

    async def counted(service: str, method: str, path: str, token: str, **kw: Any) -> Answer:
        if (service, method, path) == ("verification", "GET", "/freezes"):
            asked.append(path)
        return await send(service, method, path, token, **kw)

    monkeypatch.setattr(services, "call", counted)
    return asked


def test_two_queue_pages_within_the_kept_seconds_ask_the_verification_service_for_freezes_once(
    console: TestClient, verification: LocalSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Kept longer than the two seconds in production, so a busy test machine's slow first page
    # cannot outlast it; what is proved is that the kept answer is used, not how long it is kept.
    monkeypatch.setattr(freeze_banner, "FREEZES_KEPT_SECONDS", 60.0)
    signed_in_as(console, verification, Role.DISTRICT_VERIFIER, DISTRICT)
    asked = freezes_asked(console, monkeypatch)
    for _ in range(2):
        page = console.get("/queue")
        assert page.status_code == 200
        # The banner shows the freeze on both pages: the second from the answer kept.
        assert "Audit data Kota Bengkulu" in page.text
    assert len(asked) == 1


def test_the_kept_answer_serves_one_region_only_and_ends_after_its_seconds(
    console: TestClient, verification: LocalSystem, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(freeze_banner, "FREEZES_KEPT_SECONDS", 0.5)
    asked = freezes_asked(console, monkeypatch)
    signed_in_as(console, verification, Role.DISTRICT_VERIFIER, DISTRICT)
    assert console.get("/queue").status_code == 200
    # Another region's verifier is not shown the first region's answer.
    signed_in_as(console, verification, Role.REGENCY_OPERATOR, "17.71")
    assert console.get("/queue").status_code == 200
    assert len(asked) == 2
    time.sleep(0.6)
    signed_in_as(console, verification, Role.DISTRICT_VERIFIER, DISTRICT)
    page = console.get("/queue")
    assert page.status_code == 200 and "Audit data Kota Bengkulu" in page.text
    assert len(asked) == 3
