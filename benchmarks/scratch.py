"""A database of a benchmark's own on the benchmark's server, dropped when the benchmark ends."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import asyncpg

from dtks_runtime.testing import Infra


@contextlib.asynccontextmanager
async def scratch_database(infra: Infra, prefix: str = "bench") -> AsyncIterator[str]:
    """The URL of a fresh database, dropped however the body ends (its connections with it)."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.database_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    try:
        yield infra.database_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        admin = await asyncpg.connect(infra.database_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@contextlib.asynccontextmanager
async def scratch_connection(infra: Infra, prefix: str = "bench") -> AsyncIterator[asyncpg.Connection]:
    """A connection to a fresh database, closed and the database dropped however the body ends."""
    async with scratch_database(infra, prefix) as url:
        conn = await asyncpg.connect(url)
        try:
            yield conn
        finally:
            await conn.close()
