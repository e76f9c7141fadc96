"""A registry service per test: its own database and topics on the session's real PostgreSQL and Kafka."""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.adapters.schema import MIGRATIONS
from dtks_registry.main import build_app
from dtks_registry.settings import RegistrySettings
from dtks_registry.testing import produce
from dtks_runtime import event_store
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.db import migrate
from dtks_runtime.service import ServiceRuntime
from dtks_runtime.testing import Infra, wait_until


@dataclass
class Registry:
    app: FastAPI
    client: httpx.AsyncClient
    settings: RegistrySettings

    @property
    def runtime(self) -> ServiceRuntime:
        runtime: ServiceRuntime = self.app.state.runtime
        return runtime

    @property
    def pool(self) -> asyncpg.Pool:
        assert self.runtime.pool is not None
        return self.runtime.pool

    def auth(self, role: Role, region: str = "ID", programs: tuple[str, ...] = ()) -> dict[str, str]:
        token = TokenService(self.settings.jwt_secret, self.settings.jwt_issuer).issue(
            subject=f"{role.value}-test", role=role, region=region, programs=programs
        )
        return {"authorization": f"Bearer {token}"}

    async def count(self, sql: str, *args: object) -> int:
        async with self.pool.acquire() as conn:
            return int(await conn.fetchval(sql, *args))

    async def accept(self, events: Sequence[EventEnvelope]) -> None:
        """Produce Ministry acceptances to the real verification topic; wait until projected."""
        before = await self.count("SELECT count(*) FROM candidates")
        await produce(self.settings.kafka_bootstrap, self.settings.topic_prefix, events)

        async def projected() -> bool:
            return await self.count("SELECT count(*) FROM candidates") >= before + len(events)

        await wait_until(projected, what="acceptances projected as candidates")

    async def decree(self, number: str, period: str, cutoff: dt.datetime | None = None) -> httpx.Response:
        cutoff = cutoff or dt.datetime.now(dt.UTC)
        body = {"decree_number": number, "period": period, "cutoff": cutoff.isoformat()}
        return await self.client.post(
            "/determinations", json=body, headers=self.auth(Role.MINISTRY_DETERMINER)
        )


@contextlib.asynccontextmanager
async def running_registry(
    infra: Infra, kafka_bootstrap: str, topic_prefix: str, **overrides: object
) -> AsyncIterator[Registry]:
    name = f"registry_{uuid.uuid4().hex[:10]}"
    settings = RegistrySettings(
        kafka_bootstrap=kafka_bootstrap,
        database_url=infra.database_url,
        database_name=name,
        topic_prefix=topic_prefix,
        registry_public_check_burst=6,
        registry_public_check_per_minute=1,
        **overrides,
    )
    app = build_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://registry", timeout=120) as client:
            yield Registry(app, client, settings)
    admin = await asyncpg.connect(infra.database_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def registry(infra: Infra, kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Registry]:
    async with running_registry(infra, kafka_bootstrap, topic_prefix) as registry:
        yield registry


@pytest.fixture
async def chunked_registry(infra: Infra, kafka_bootstrap: str, topic_prefix: str) -> AsyncIterator[Registry]:
    """A registry that publishes any decree of more than three records in chunks of three (#21), so
    a decree of a few households goes the way a national one does."""
    async with running_registry(infra, kafka_bootstrap, topic_prefix, decree_chunk_records=3) as registry:
        yield registry


@pytest.fixture
async def small_pool_registry(
    infra: Infra, kafka_bootstrap: str, topic_prefix: str
) -> AsyncIterator[Registry]:
    """A registry whose pool holds at most three connections, so a test can hold all of them at once
    and see what each ran."""
    async with running_registry(infra, kafka_bootstrap, topic_prefix, db_pool_max_size=3) as registry:
        yield registry


@pytest.fixture
async def registry_schema(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a scratch schema holding the runtime's and the registry's tables, dropped
    after the test: for the adapters' statements and plans without a whole service around them."""
    schema = f"scratch_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(infra.database_url)
    await conn.execute(f'CREATE SCHEMA "{schema}"')
    await conn.execute(f'SET search_path TO "{schema}"')
    await event_store.install(conn)
    await migrate(conn, "registry", MIGRATIONS)
    try:
        yield conn
    finally:
        await conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
        await conn.close()
