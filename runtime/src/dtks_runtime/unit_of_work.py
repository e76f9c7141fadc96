"""The unit of work: one transaction, the event store bound to it, committed together or not at all.

Every command handler of every service writes through one::

    async with runtime.unit_of_work() as uow:
        state = await proposals.load(uow.conn, proposal_id)
        ...
        await uow.append(aggregate_type="proposal", aggregate_id=..., expected_version=state.version,
                         events=[NewEvent.of(...)], causation=causation)

Leaving the block normally commits the state rows, the events and their outbox rows together (the
outbox relay publishes them after the commit); an exception rolls all of it back and propagates, so
a refused command leaves nothing behind. A :class:`~dtks_runtime.event_store.ConcurrencyConflict`
from ``append`` means another writer moved the stream first: the caller reloads and decides again,
or answers the conflict. Handlers receive the unit of work (or the runtime that makes one), never a
pool: that keeps the transaction boundary in one visible place per command.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_runtime.event_store import Causation, EventStore, NewEvent, StreamAppend


class UnitOfWork:
    """A connection inside an open transaction, and the store that appends on it."""

    def __init__(self, conn: asyncpg.Connection, store: EventStore) -> None:
        self.conn = conn
        self.store = store

    async def append(
        self,
        *,
        aggregate_type: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        causation: Causation,
    ) -> list[EventEnvelope]:
        return await self.store.append(
            self.conn,
            aggregate_type=aggregate_type,
            aggregate_id=aggregate_id,
            expected_version=expected_version,
            events=events,
            causation=causation,
        )

    async def append_many(
        self, appends: Sequence[StreamAppend], *, causation: Causation
    ) -> list[EventEnvelope]:
        return await self.store.append_many(self.conn, appends, causation=causation)


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, store: EventStore) -> AsyncIterator[UnitOfWork]:
    async with pool.acquire() as conn, conn.transaction():
        yield UnitOfWork(conn, store)
