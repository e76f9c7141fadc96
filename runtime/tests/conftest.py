"""Fixtures for the runtime's tests: a database with the runtime's tables, topics of one's own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from dtks_runtime import event_store
from dtks_runtime.event_store import EventStore
from dtks_runtime.topics import ensure_topics, scratch_topic


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=20)
    assert pool is not None
    async with pool.acquire() as conn:
        await event_store.install(conn)
        await conn.execute(
            """CREATE TABLE effects (event_id uuid PRIMARY KEY, aggregate_id text NOT NULL,
                                     applied integer NOT NULL DEFAULT 1)"""
        )
    yield pool
    await pool.close()


@pytest.fixture
async def topic(kafka_bootstrap: str, topic_prefix: str) -> str:
    name = f"{topic_prefix}test.events"
    await ensure_topics(kafka_bootstrap, [scratch_topic(name)])
    return name


@pytest.fixture
def store(topic: str) -> EventStore:
    return EventStore(lambda _e: topic)
