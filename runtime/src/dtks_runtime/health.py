"""Probes of the infrastructure a service needs, for ``/healthz`` and ``/readyz``.

Each probe answers ``(reachable, details)`` within a timeout and never raises. The broker's probe
(a metadata request over one client kept for it) is cached for a few seconds: monitors, benchmarks
and tests poll ``/healthz`` every second or faster, and each poll must stay cheap. The database's
probe is not cached: a ``SELECT 1`` on a pooled connection costs less than a cache's staleness.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import asyncpg
from aiokafka.client import AIOKafkaClient

Probe = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


async def timed(attempt: Callable[[], Awaitable[None]], within: float) -> tuple[bool, dict[str, Any]]:
    """Run ``attempt`` for at most ``within`` seconds: reachable with the time it took, or not with why."""
    started = time.monotonic()
    try:
        await asyncio.wait_for(attempt(), within)
    except TimeoutError:
        return False, {"error": f"no answer within {within:g} s"}
    except Exception as error:
        return False, {"error": repr(error)}
    return True, {"latency_ms": round((time.monotonic() - started) * 1000, 1)}


async def database_reachable(pool: asyncpg.Pool, within: float) -> tuple[bool, dict[str, Any]]:
    async def select_one() -> None:
        async with pool.acquire(timeout=within) as conn:
            await conn.fetchval("SELECT 1", timeout=within)

    return await timed(select_one, within)


class BrokerProbe:
    """Asks the broker for its cluster metadata, at most once per ``cache_seconds``.

    The consumers' and the relay's own clients are no witness: an idle relay talks to nobody, and
    a consumer's fetch loop may return empty for a while with the broker gone. One small client of
    its own bootstraps lazily (the broker may be away when the service starts) and reconnects by
    itself after a broker restart; concurrent polls share one request in flight.
    """

    def __init__(
        self,
        bootstrap: str,
        *,
        timeout: float,
        cache_seconds: float,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.security = dict(security or {})  # the client settings of a broker that wants a login
        self.timeout = timeout
        self.cache_seconds = cache_seconds
        self._client: AIOKafkaClient | None = None
        self._bootstrapped = False
        self._result: tuple[bool, dict[str, Any]] = (False, {"error": "not probed yet"})
        self._at = float("-inf")
        self._lock = asyncio.Lock()

    async def check(self) -> tuple[bool, dict[str, Any]]:
        async with self._lock:
            age = time.monotonic() - self._at
            if age >= self.cache_seconds:
                self._result = await timed(self._ask, self.timeout)
                self._at, age = time.monotonic(), 0.0
            reachable, details = self._result
            return reachable, {**details, "checked_seconds_ago": round(age, 1)}

    async def _ask(self) -> None:
        if self._client is None:
            self._client = AIOKafkaClient(
                bootstrap_servers=self.bootstrap,
                request_timeout_ms=int(self.timeout * 1000),
                client_id="dtks-health",
                **self.security,
            )
        if not self._bootstrapped:
            await self._client.bootstrap()
            self._bootstrapped = True
        else:
            await self._client.fetch_all_metadata()

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close()
            self._client = None
