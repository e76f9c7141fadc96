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

A handler that decides again after a conflict receives :data:`UnitsOfWork` (``runtime.unit_of_work``
itself, or :func:`on_connection` for a caller that holds its own connection, a benchmark's scratch
schema say) and runs its attempt through :func:`retry_on_conflict`: each attempt opens a new unit of
work, loads afresh and decides again. Such a handler must load the stream versions it appends after
in the same statement as the state it decides on (one snapshot), so that the expected version is
the one the decision saw and a writer that came between surfaces as a conflict, not as a lost update.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_runtime.event_store import (
    Causation,
    ConcurrencyConflict,
    EventStore,
    NewEvent,
    SelectedAppend,
    StreamAppend,
)
from dtks_runtime.telemetry import get_logger

log = get_logger(__name__)
T = TypeVar("T")


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

    async def append_selected(
        self, selected: SelectedAppend, args: Sequence[object] = (), *, causation: Causation
    ) -> dict[str, Any]:
        return await self.store.append_selected(self.conn, selected, args, causation=causation)


@asynccontextmanager
async def unit_of_work(pool: asyncpg.Pool, store: EventStore) -> AsyncIterator[UnitOfWork]:
    async with pool.acquire() as conn, conn.transaction():
        yield UnitOfWork(conn, store)


# What makes a new unit of work per call: ``runtime.unit_of_work``, or ``on_connection(conn, store)``.
UnitsOfWork = Callable[[], AbstractAsyncContextManager[UnitOfWork]]


def on_connection(conn: asyncpg.Connection, store: EventStore) -> UnitsOfWork:
    """Units of work on a connection the caller holds (a savepoint if it is already in a
    transaction): for a benchmark or a test working in a schema of its own."""

    @asynccontextmanager
    async def unit() -> AsyncIterator[UnitOfWork]:
        async with conn.transaction():
            yield UnitOfWork(conn, store)

    return unit


async def retry_on_conflict(attempt: Callable[[], Awaitable[T]], *, attempts: int = 3) -> T:
    """Run ``attempt`` (which opens its own unit of work) again when another writer moved a stream
    first, at most ``attempts`` times in all; the last conflict propagates."""
    for n in range(1, attempts + 1):
        try:
            return await attempt()
        except ConcurrencyConflict as conflict:
            if n == attempts:
                raise
            log.info("stream moved meanwhile; deciding again", stream=conflict.stream_id, attempt=n)
    raise AssertionError("unreachable")  # the loop returns or raises
