"""Fixtures of the complaints service's tests: the real service app on the real broker and database."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from dtks_complaints.main import build_app
from dtks_complaints.testing import Clock, settings_for
from fastapi import FastAPI

from dtks_runtime.testing import Infra

ServiceFactory = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def clock() -> Clock:
    return Clock(dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC))


@pytest.fixture
def service(infra: Infra, topic_prefix: str, clock: Clock) -> ServiceFactory:
    """Start the service (migrations, topics, relay, consumer) for one test, on the test's clock."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        settings = settings_for(infra.kafka_bootstrap, infra.database_url, topic_prefix, **overrides)
        app = build_app(settings, now=clock)
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://complaints") as client,
        ):
            yield app, client

    return start
