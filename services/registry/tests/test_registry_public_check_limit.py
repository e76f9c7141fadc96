"""The citizens' check allowance per client address, kept in PostgreSQL and shared by every process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from dtks_registry.adapters import public_check_limit
from dtks_registry.adapters.public_check_limit import PublicCheckLimit
from dtks_registry.settings import RegistrySettings
from dtks_runtime.db import migrate

pytestmark = pytest.mark.infra


@pytest.fixture
async def pools(database_url: str) -> AsyncIterator[tuple[asyncpg.Pool, asyncpg.Pool]]:
    """Two pools on one database: what two processes of the registry have."""
    first = await asyncpg.create_pool(database_url, min_size=1, max_size=20)
    second = await asyncpg.create_pool(database_url, min_size=1, max_size=20)
    async with first.acquire() as conn:
        await migrate(conn, public_check_limit.COMPONENT, public_check_limit.MIGRATIONS)
    yield first, second
    await first.close()
    await second.close()


async def take(pool: asyncpg.Pool, limit: PublicCheckLimit, client: str) -> float:
    async with pool.acquire() as conn:
        return await limit.take(conn, client)


async def test_a_burst_is_admitted_then_one_check_per_interval_per_client(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    pool, _ = pools
    limit = PublicCheckLimit(rate_per_second=2.0, burst=2)
    assert await take(pool, limit, "a") == 0 and await take(pool, limit, "a") == 0
    wait = await take(pool, limit, "a")
    assert 0 < wait <= 0.5
    assert await take(pool, limit, "b") == 0  # another client has its own bucket
    await asyncio.sleep(wait + 0.05)
    assert await take(pool, limit, "a") == 0  # refilled at the rate
    assert await take(pool, limit, "a") > 0


async def test_two_processes_draw_on_one_allowance_even_when_they_check_at_once(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    limit = PublicCheckLimit(rate_per_second=1 / 60, burst=5)
    # 40 checks of one address at the same moment, half through each "process".
    waits = await asyncio.gather(*(take(pools[i % 2], limit, "203.0.113.7") for i in range(40)))
    assert sum(1 for w in waits if w == 0) == 5


async def test_buckets_idle_long_enough_to_be_full_again_are_pruned(
    pools: tuple[asyncpg.Pool, asyncpg.Pool],
) -> None:
    pool, _ = pools
    limit = PublicCheckLimit(rate_per_second=10.0, burst=1)  # full again after 0.1 s
    await take(pool, limit, "old")
    await asyncio.sleep(0.2)
    await take(pool, limit, "fresh")
    async with pool.acquire() as conn:
        assert await limit.prune(conn) == 1
        assert await conn.fetchval("SELECT array_agg(client) FROM public_check_buckets") == ["fresh"]


def test_the_old_forwarded_for_switch_is_refused_with_what_to_set_instead() -> None:
    # Believing the first X-Forwarded-For entry let any client name its own address; the runtime's
    # DTKS_FORWARDED_ALLOW_IPS names the proxies instead, for every service alike.
    with pytest.raises(RuntimeError, match="DTKS_FORWARDED_ALLOW_IPS"):
        RegistrySettings(registry_trust_forwarded_for=True).check_client_address_rule()
    RegistrySettings().check_client_address_rule()
