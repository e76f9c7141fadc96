"""Fixtures for the notification service's tests: the service with its lifespan, real receivers."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import pytest
from fastapi import FastAPI

from dtks_contracts.vocabulary import Role
from dtks_notification.adapters.guarded_resolver import Lookup, system_lookup
from dtks_notification.main import build_app
from dtks_notification.settings import NotificationSettings
from dtks_notification.testing import HttpReceiver, SmtpSink
from dtks_runtime.auth import TokenService
from dtks_runtime.testing import Infra


@dataclass
class Service:
    app: FastAPI
    client: httpx.AsyncClient
    settings: NotificationSettings

    @property
    def pool(self) -> asyncpg.Pool:
        pool: asyncpg.Pool = self.app.state.runtime.pool
        return pool

    def token(
        self, role: Role, region: str, subject: str | None = None, programs: tuple[str, ...] = ()
    ) -> dict[str, str]:
        tokens = TokenService(self.settings.jwt_secret, self.settings.jwt_issuer)
        token = tokens.issue(
            subject=subject or f"{role.value}@{region}", role=role, region=region, programs=programs
        )
        return {"Authorization": f"Bearer {token}"}

    async def count(self, sql: str, *args: Any) -> int:
        async with self.pool.acquire() as conn:
            value: int = await conn.fetchval(sql, *args)
            return value


ServiceFactory = Callable[..., AbstractAsyncContextManager[Service]]


@pytest.fixture
async def service(infra: Infra, topic_prefix: str) -> AsyncIterator[ServiceFactory]:
    """``async with service(**settings) as svc``: the app running with its lifespan on a fresh database."""
    databases: list[str] = []

    @asynccontextmanager
    async def start(lookup: Lookup = system_lookup, **overrides: Any) -> AsyncIterator[Service]:
        name = f"notif_{uuid.uuid4().hex[:12]}"
        databases.append(name)
        fields: dict[str, Any] = dict(
            kafka_bootstrap=infra.kafka_bootstrap,
            database_url=infra.database_url,
            database_name=name,
            topic_prefix=topic_prefix,
            notification_digest_seconds=3600,
            notification_backoff_base_seconds=0.05,
            notification_backoff_cap_seconds=0.2,
            notification_max_attempts=4,
            notification_sender_poll_seconds=0.2,
            notification_send_timeout_seconds=5,
            notification_allow_private_callbacks=True,  # the receivers below listen on 127.0.0.1
        )
        fields.update(overrides)
        settings = NotificationSettings(**fields)
        app = build_app(settings, lookup=lookup)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://notification") as client:
                yield Service(app, client, settings)

    yield start
    admin = await asyncpg.connect(infra.database_url)
    try:
        for name in databases:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
def smtp() -> Iterator[SmtpSink]:
    sink = SmtpSink().start()
    yield sink
    sink.stop()


@pytest.fixture
async def receivers() -> AsyncIterator[list[HttpReceiver]]:
    """Append started receivers; they are stopped after the test."""
    started: list[HttpReceiver] = []
    yield started
    for r in started:
        await r.stop()
