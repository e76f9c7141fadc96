"""A command that lost a version race decides again, a bounded number of times; other errors are not retried."""

from __future__ import annotations

import pytest

from dtks_runtime.errors import DomainError
from dtks_runtime.event_store import ConcurrencyConflict
from dtks_runtime.unit_of_work import retry_on_conflict


async def test_a_lost_race_is_decided_again_and_the_last_of_too_many_conflicts_propagates() -> None:
    calls: list[int] = []

    async def wins_second_time() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise ConcurrencyConflict("thing:1", 2, 3)
        return "decided on version 3"

    assert await retry_on_conflict(wins_second_time) == "decided on version 3" and len(calls) == 2

    calls.clear()

    async def always_loses() -> str:
        calls.append(1)
        raise ConcurrencyConflict("thing:1", 2, len(calls) + 2)

    with pytest.raises(ConcurrencyConflict):
        await retry_on_conflict(always_loses, attempts=3)
    assert len(calls) == 3

    calls.clear()

    async def refused() -> str:
        calls.append(1)
        raise DomainError("refused", "A rule refused it.")

    with pytest.raises(DomainError):
        await retry_on_conflict(refused)
    assert len(calls) == 1
