"""The unit of work commits state and events together, and a refusal inside it leaves nothing."""

import asyncpg
import pytest

from dtks_runtime.errors import DomainError
from dtks_runtime.event_store import Causation, EventStore
from dtks_runtime.testing import happened
from dtks_runtime.unit_of_work import unit_of_work

pytestmark = pytest.mark.infra


async def _versions(pool: asyncpg.Pool, stream_id: str) -> list[int]:
    rows = await pool.fetch(
        "SELECT stream_version FROM events WHERE stream_id = $1 ORDER BY stream_version", stream_id
    )
    return [r["stream_version"] for r in rows]


async def test_leaving_the_unit_of_work_normally_commits_its_events(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    async with unit_of_work(pool, store) as uow:
        assert uow.conn.is_in_transaction()
        await uow.append(
            aggregate_type="thing",
            aggregate_id="uow-1",
            expected_version=0,
            events=[happened(1)],
            causation=Causation(),
        )
    assert await _versions(pool, "thing:uow-1") == [1]


async def test_an_error_inside_the_unit_of_work_rolls_its_events_back(
    pool: asyncpg.Pool, store: EventStore
) -> None:
    with pytest.raises(DomainError):
        async with unit_of_work(pool, store) as uow:
            await uow.append(
                aggregate_type="thing",
                aggregate_id="uow-2",
                expected_version=0,
                events=[happened(1)],
                causation=Causation(),
            )
            raise DomainError("refused", "A rule refused it after the append.")
    assert await _versions(pool, "thing:uow-2") == []
