"""Test infrastructure shared by every test in the repository.

Tests talk to a real Kafka broker and a real PostgreSQL. Which ones, in this order:
1. ``DTKS_KAFKA_BOOTSTRAP`` and ``DTKS_DATABASE_URL`` set: reuse that running stack (you asked for it);
2. ``DTKS_TESTCONTAINERS=1``: start both with testcontainers (needs a Docker engine);
3. otherwise: start a private stack with ``deploy/local/stack.py`` on free ports in a temporary folder,
   and stop it when the session ends, so two runs on one machine never collide.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from dtks_runtime.identity_testing import Keycloak, private_keycloak
from dtks_runtime.testing import Infra, configured_infra

ROOT = Path(__file__).resolve().parent
STACK = ROOT / "deploy" / "local" / "stack.py"


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m selection, which must see the marks added here
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """A test that reaches the stack (the ``infra`` fixture, through any fixture) without the ``infra``
    mark gets it here, with a warning naming it: ``-m "not infra"`` (``make test-fast``) then
    deselects it, so a run of the pure suites never starts PostgreSQL or Kafka. The mark belongs on
    the test (``pytestmark = pytest.mark.infra``); this only keeps a forgotten one from costing a
    stack start."""
    for item in items:
        if "infra" in getattr(item, "fixturenames", ()) and item.get_closest_marker("infra") is None:
            item.add_marker(pytest.mark.infra)
            item.warn(
                pytest.PytestWarning("needs PostgreSQL/Kafka (the infra fixture) but has no infra mark")
            )


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    with configured_infra(STACK) as infra:
        yield infra


@pytest.fixture(scope="session")
def keycloak(infra: Infra) -> Iterator[Keycloak]:
    """A real Keycloak with the DTKS realm, started once per run for the tests that ask for it (its
    first start takes a minute or two), on a free port, with its own database on the run's server."""
    with private_keycloak(STACK, infra.database_url) as keycloak:
        print(f"\nKeycloak started in {keycloak.start_seconds:.0f} s at {keycloak.url}")
        yield keycloak


@pytest.fixture(scope="session")
def kafka_bootstrap(infra: Infra) -> str:
    return infra.kafka_bootstrap


@pytest.fixture
def topic_prefix() -> str:
    """A prefix that keeps each test's topics apart from every other test's and run's."""
    return f"t{uuid.uuid4().hex[:10]}."


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
async def database_url(infra: Infra) -> AsyncIterator[str]:
    """A fresh, empty database for one test, dropped afterwards."""
    name = f"test_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(infra.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    yield _with_database(infra.database_url, name)
    admin = await asyncpg.connect(infra.database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
