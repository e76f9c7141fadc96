"""How often one client address may use the citizens' check: a token bucket per address, in PostgreSQL.

The check answers without login, so the limit is what stops anyone from enumerating the register
NIK by NIK. It used to live in each process's memory: with ``DTKS_WORKERS`` processes on the port
(or several hosts) a client had that many allowances. Here every process draws on the same row,
in one statement per check: the upsert refills the bucket for the time since it was last used
(``rate`` tokens a second, at most ``burst``), takes a token if there is one, and returns whether it
did. Concurrent checks of one address queue on the row's lock, so no token is spent twice.

The table is UNLOGGED: after a crash of PostgreSQL it comes back empty, which only gives every
client a full allowance once; in exchange a check writes no WAL. Buckets idle long enough to be full
again are the same as no bucket, and :meth:`PublicCheckLimit.prune` deletes them.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from dtks_runtime.telemetry import get_logger

log = get_logger(__name__)

# A component of its own (see dtks_runtime.db.migrate): not a projection of events, so not among the
# tables an audit replay rebuilds.
COMPONENT = "registry-public-check"
MIGRATIONS = [
    """
    CREATE UNLOGGED TABLE public_check_buckets (
        client     text PRIMARY KEY,
        tokens     double precision NOT NULL,
        updated_at timestamptz      NOT NULL,
        admitted   boolean          NOT NULL  -- whether the last check took a token
    )
    """
]

# $1 client, $2 burst, $3 rate (tokens per second). The database's clock, so that every process
# measures the same elapsed time. Every SET expression reads the row as it was before this check.
_REFILLED = """LEAST($2::float8, b.tokens + $3::float8
                  * GREATEST(0, EXTRACT(EPOCH FROM statement_timestamp() - b.updated_at))::float8)"""
_TAKE = f"""
INSERT INTO public_check_buckets AS b (client, tokens, updated_at, admitted)
VALUES ($1, $2::float8 - 1, statement_timestamp(), true)
ON CONFLICT (client) DO UPDATE SET
    tokens = {_REFILLED} - CASE WHEN {_REFILLED} >= 1 THEN 1 ELSE 0 END,
    admitted = {_REFILLED} >= 1,
    updated_at = GREATEST(b.updated_at, statement_timestamp())
RETURNING admitted, tokens
"""


class PublicCheckLimit:
    def __init__(self, *, rate_per_second: float, burst: int) -> None:
        if rate_per_second <= 0 or burst < 1:
            raise ValueError("the citizens' check needs a positive rate and a burst of at least 1")
        self.rate = rate_per_second
        self.burst = burst

    async def take(self, conn: asyncpg.Connection, client: str) -> float:
        """Take one check for ``client``: 0 if admitted, else the seconds until the next one."""
        admitted, tokens = await conn.fetchrow(_TAKE, client, self.burst, self.rate)
        return 0.0 if admitted else (1 - tokens) / self.rate

    @property
    def refill_seconds(self) -> float:
        """Time in which an unused bucket fills up: after it, a bucket and no bucket are the same."""
        return self.burst / self.rate

    async def prune(self, conn: asyncpg.Connection) -> int:
        deleted = await conn.execute(
            "DELETE FROM public_check_buckets WHERE updated_at < statement_timestamp() - make_interval(secs => $1)",
            self.refill_seconds,
        )
        return int(deleted.split()[-1])

    async def prune_until(self, pool: asyncpg.Pool, stop: asyncio.Event, every: float = 60.0) -> None:
        """Delete full buckets every ``every`` seconds until ``stop`` (a supervised task)."""
        while not stop.is_set():
            try:
                async with pool.acquire() as conn:
                    await self.prune(conn)
            except (OSError, asyncpg.PostgresError) as error:
                # The database away for a moment: the buckets wait for the next round, the task lives on.
                log.warning("public check buckets not pruned", error=repr(error))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), every)
