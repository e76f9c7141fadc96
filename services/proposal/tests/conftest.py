"""Fixtures of the proposal service's tests: the real service app on the real broker and database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from dtks_proposal.main import build_app
from dtks_proposal.testing import settings_for
from dtks_runtime.testing import Infra

ServiceFactory = Callable[..., AbstractAsyncContextManager[tuple[FastAPI, httpx.AsyncClient]]]


@pytest.fixture
def service(infra: Infra, topic_prefix: str) -> ServiceFactory:
    """Start the service (lifespan: migrations, topics, relay, consumer, import worker) for one test."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
        app = build_app(settings_for(infra.kafka_bootstrap, infra.database_url, topic_prefix, **overrides))
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://proposal") as client,
        ):
            yield app, client

    return start
