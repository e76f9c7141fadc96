"""Test infrastructure shared by every test in the repository.

Tests talk to a real Kafka broker and a real PostgreSQL. Which ones, in this order:
1. ``DTKS_KAFKA_BOOTSTRAP`` and ``DTKS_DATABASE_URL`` set: reuse that running stack (you asked for it);
2. ``DTKS_TESTCONTAINERS=1``: start both with testcontainers (needs a Docker engine);
3. otherwise: start a private stack with ``deploy/local/stack.py`` on free ports in a temporary folder,
   and stop it when the session ends, so two runs on one machine never collide.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest

ROOT = Path(__file__).resolve().parent
STACK = ROOT / "deploy" / "local" / "stack.py"


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    database_url: str  # an admin URL; tests create their own databases from it
    kafka_lib: str | None  # Kafka's jars, for tests and benchmarks that run Kafka's own tools


def _local_stack() -> Iterator[Infra]:
    state = Path(tempfile.mkdtemp(prefix="dtks-test-"))
    os.chmod(state, 0o755)
    subprocess.run([sys.executable, str(STACK), "start", "--state-dir", str(state)], check=True)
    try:
        env: dict[str, str] = {}
        for line in (state / "env").read_text().splitlines():
            if line.startswith("export "):
                key, value = line.removeprefix("export ").split("=", 1)
                env[key] = value
        yield Infra(env["DTKS_KAFKA_BOOTSTRAP"], env["DTKS_DATABASE_URL"], env.get("DTKS_KAFKA_LIB"))
    finally:
        subprocess.run([sys.executable, str(STACK), "stop", "--state-dir", str(state)], check=False)


def _testcontainers() -> Iterator[Infra]:
    from testcontainers.kafka import KafkaContainer
    from testcontainers.postgres import PostgresContainer

    with (
        PostgresContainer("postgres:15", driver=None) as pg,
        KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka,
    ):
        yield Infra(kafka.get_bootstrap_server(), pg.get_connection_url(), None)


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    bootstrap, url = os.environ.get("DTKS_KAFKA_BOOTSTRAP"), os.environ.get("DTKS_DATABASE_URL")
    if bootstrap and url:
        yield Infra(bootstrap, url, os.environ.get("DTKS_KAFKA_LIB"))
    elif os.environ.get("DTKS_TESTCONTAINERS") == "1":
        yield from _testcontainers()
    else:
        yield from _local_stack()


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
