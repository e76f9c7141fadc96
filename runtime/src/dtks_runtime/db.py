"""PostgreSQL plumbing: one database per service, a pool, and forward-only migrations."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Sequence
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def database_url_for(server_url: str, database: str) -> str:
    """The URL of ``database`` on the server that ``server_url`` names (each service owns its database)."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def ensure_database(server_url: str, database: str) -> str:
    """Create the service's database if it does not exist yet; return its URL."""
    conn = await asyncpg.connect(server_url)
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
        if not exists:
            # Another process of the same service may win the race; its database is as good as ours.
            # Losing it while both create shows as a unique violation of the catalogue instead.
            with contextlib.suppress(asyncpg.DuplicateDatabaseError, asyncpg.UniqueViolationError):
                await conn.execute(f'CREATE DATABASE "{database}"')
    finally:
        await conn.close()
    return database_url_for(server_url, database)


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Return a connection to the pool as it is: asyncpg has already ended any open transaction."""


async def create_pool(url: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    """The service's pool, whose connections go back without asyncpg's reset query.

    asyncpg's default reset sends ``pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`` on
    every release: a round trip per request, the largest cost left in a short read such as a DCI
    search. Pooled connections here carry no session state to undo: the two users of session state
    (the outbox relay's advisory lock and LISTEN, the notification sender's LISTEN) open connections
    of their own, cursors live inside transactions, and nothing runs ``SET`` on a pooled connection.
    An open transaction is still rolled back on release by asyncpg itself, before this reset runs.
    """
    pool = await asyncpg.create_pool(url, min_size=min_size, max_size=max_size, reset=_keep_session)
    assert pool is not None
    return pool


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for pg_advisory locks, derived from a readable name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def migrate(conn: asyncpg.Connection, component: str, steps: Sequence[str]) -> None:
    """Apply the steps of ``component`` not applied yet, in order, each in its own transaction.

    Steps are append-only: a released step is never edited, a change is a new step. Concurrent
    starters serialize on an advisory lock so a step never runs twice.
    """
    async with conn.transaction():
        # Two processes starting at once (DTKS_WORKERS) would both create the table: IF NOT EXISTS
        # does not hold against a concurrent creator, so they take turns.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key("migrate:schema_migrations"))
        await conn.execute(
            """CREATE TABLE IF NOT EXISTS schema_migrations (
                   component text NOT NULL, step integer NOT NULL,
                   applied_at timestamptz NOT NULL DEFAULT now(),
                   PRIMARY KEY (component, step))"""
        )
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", advisory_key(f"migrate:{component}"))
        done = {
            r["step"]
            for r in await conn.fetch("SELECT step FROM schema_migrations WHERE component = $1", component)
        }
        for number, sql in enumerate(steps, start=1):
            if number in done:
                continue
            await conn.execute(sql)
            await conn.execute(
                "INSERT INTO schema_migrations (component, step) VALUES ($1, $2)", component, number
            )


# What a worker's round may meet while PostgreSQL restarts or a connection drops: the round is retried
# later instead of ending the worker (asyncpg raises InternalClientError, not a PostgresError, on a
# connection cut mid-reset; a server shutting down answers with an operator-intervention error).
TRANSIENT_DATABASE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    TimeoutError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,
)
