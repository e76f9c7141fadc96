"""How often one key (a client address, a NIK) may use a public form: a token bucket per key, in
PostgreSQL, shared by every process of a service.

The registry's citizens' check (``dtks_registry.adapters.public_check_limit``) was the first of
these; the complaints service's public form is the second, so the bucket lives here, with its table
named by the service. One statement per take: the upsert refills the bucket for the time since it
was last used (``rate`` tokens a second, at most ``burst``), takes a token if there is one, and
returns whether it did. Concurrent takes of one key queue on the row's lock, so no token is spent
twice. The table is UNLOGGED: after a crash of PostgreSQL it comes back empty, which only gives
every key a full allowance once; in exchange a take writes no WAL.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Sequence

import asyncpg

from dtks_runtime.db import TRANSIENT_DATABASE_ERRORS
from dtks_runtime.telemetry import get_logger

log = get_logger(__name__)

_TABLE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,50}$")


def migrations(table: str) -> list[str]:
    """The migration steps of a bucket table (append-only: never edit a step once released)."""
    _check(table)
    return [
        f"""
        CREATE UNLOGGED TABLE {table} (
            client     text PRIMARY KEY,
            tokens     double precision NOT NULL,
            updated_at timestamptz      NOT NULL,
            admitted   boolean          NOT NULL
        )
        """
    ]


def _check(table: str) -> str:
    if not _TABLE_NAME.fullmatch(table):
        raise ValueError(f"{table!r} cannot name a bucket table")
    return table


class ClientLimit:
    """``rate_per_second`` takes a second per key, ``burst`` at once, kept in ``table``."""

    def __init__(self, table: str, *, rate_per_second: float, burst: int) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("a client limit needs a positive rate and a burst of at least 1")
        self.table = _check(table)
        self.rate = rate_per_second
        self.burst = burst
        self._take = self._upsert("VALUES ($1, $2::float8 - 1, statement_timestamp(), true)", "$2", "$3")

    def _upsert(self, row: str, burst: str, rate: str) -> str:
        """The take's statement: insert ``row`` (a key's first use) or refill and take from its bucket,
        with the burst and rate in parameters ``burst`` and ``rate``. The database's clock, so every
        process measures the same time."""
        refilled = f"""LEAST({burst}::float8, b.tokens + {rate}::float8
                  * GREATEST(0, EXTRACT(EPOCH FROM statement_timestamp() - b.updated_at))::float8)"""
        return f"""
            INSERT INTO {self.table} AS b (client, tokens, updated_at, admitted)
            {row}
            ON CONFLICT (client) DO UPDATE SET
                tokens = {refilled} - CASE WHEN {refilled} >= 1 THEN 1 ELSE 0 END,
                admitted = {refilled} >= 1,
                updated_at = GREATEST(b.updated_at, statement_timestamp())
            RETURNING admitted, tokens
        """

    async def take(self, conn: asyncpg.Connection, key: str) -> float:
        """Take one use for ``key``: 0 if admitted, else the seconds until the next one."""
        admitted, tokens = await conn.fetchrow(self._take, key, self.burst, self.rate)
        return 0.0 if admitted else (1 - tokens) / self.rate

    def _chained(self, n: int) -> str:
        """The take of the ``n``-th limit in :func:`take_in_order` (parameters from $3n+1), taken only
        if the one before admitted (a CTE named ``t{n-1}``)."""
        key, burst, rate = (f"${3 * n + i}" for i in (1, 2, 3))
        condition = "" if n == 0 else f"WHERE (SELECT admitted FROM t{n - 1})"
        row = f"SELECT {key}, {burst}::float8 - 1, statement_timestamp(), true {condition}"
        return f"t{n} AS ({self._upsert(row, burst, rate)})"

    @property
    def refill_seconds(self) -> float:
        return self.burst / self.rate

    async def prune(self, conn: asyncpg.Connection) -> int:
        """Delete buckets idle long enough to be full again (the same as no bucket)."""
        deleted = await conn.execute(
            f"DELETE FROM {self.table} WHERE updated_at < statement_timestamp() - make_interval(secs => $1)",
            self.refill_seconds,
        )
        return int(deleted.split()[-1])

    async def prune_until(self, pool: asyncpg.Pool, stop: asyncio.Event, every: float = 60.0) -> None:
        """Prune every ``every`` seconds until ``stop`` (a supervised task)."""
        while not stop.is_set():
            try:
                async with pool.acquire() as conn:
                    await self.prune(conn)
            except (*TRANSIENT_DATABASE_ERRORS, asyncpg.PostgresError) as error:
                log.warning("client limit buckets not pruned", table=self.table, error=repr(error))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), every)


async def take_in_order(
    conn: asyncpg.Connection, takes: Sequence[tuple[ClientLimit, str]]
) -> tuple[int, float]:
    """Take one use of each (limit, key) in turn, stopping at the first refused, in one statement
    instead of a round trip each (a public form checks its client and its NIK on every request).

    Returns ``(-1, 0.0)`` if every one admitted, else the index of the refusing one and the seconds
    until it admits again; the ones after it are not taken, as if each had been taken by
    :meth:`ClientLimit.take` and the caller had stopped at the refusal. The keys must differ (one
    statement cannot change a row twice)."""
    if not takes:
        return -1, 0.0
    if len({(limit.table, key) for limit, key in takes}) != len(takes):
        raise ValueError("take_in_order takes each key once")
    ctes = ", ".join(limit._chained(n) for n, (limit, _) in enumerate(takes))
    results = " UNION ALL ".join(f"SELECT {n} AS n, admitted, tokens FROM t{n}" for n in range(len(takes)))
    args: list[object] = []
    for limit, key in takes:
        args += [key, limit.burst, limit.rate]
    rows = await conn.fetch(f"WITH {ctes} {results} ORDER BY n", *args)
    for row in rows:
        if not row["admitted"]:
            limit = takes[row["n"]][0]
            return row["n"], (1 - row["tokens"]) / limit.rate
    return -1, 0.0
