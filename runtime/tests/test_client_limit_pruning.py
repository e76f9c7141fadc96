"""The pruner of client-limit buckets is a supervised loop: a round a PostgreSQL restart fails is
retried at the next turn instead of ending the task (which would turn /healthz degraded)."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg

from dtks_runtime.client_limit import ClientLimit


class _PoolCutMidReset:
    """A pool whose connection is cut while it is reset, as asyncpg reports during a restart; the
    loop is stopped after the second attempt."""

    def __init__(self, stop: asyncio.Event) -> None:
        self.stop, self.attempts = stop, 0

    def acquire(self) -> Any:
        self.attempts += 1
        if self.attempts >= 2:
            self.stop.set()
        raise asyncpg.InternalClientError("connection lost while resetting")


async def test_a_connection_cut_during_a_restart_leaves_the_pruner_running() -> None:
    stop = asyncio.Event()
    pool = _PoolCutMidReset(stop)
    limit = ClientLimit("some_buckets", rate_per_second=1.0, burst=1)
    await asyncio.wait_for(limit.prune_until(pool, stop, every=0.01), 5)  # type: ignore[arg-type]
    assert pool.attempts == 2
