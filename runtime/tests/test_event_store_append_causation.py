"""append_many with a cause per stream: each stream's events carry their own flow's correlation."""

from __future__ import annotations

import pytest

from dtks_runtime.event_store import Causation, StreamAppend
from dtks_runtime.testing import happened

pytestmark = pytest.mark.infra


async def test_each_stream_may_carry_its_own_causation(pool, store):
    default = Causation(correlation_id="call")
    own = Causation(correlation_id="flow-b", causation_id="event-b")
    async with pool.acquire() as conn, conn.transaction():
        envelopes = await store.append_many(
            conn,
            [StreamAppend("thing", "a", 0, [happened(1)]), StreamAppend("thing", "b", 0, [happened(2)], own)],
            causation=default,
        )
    assert [(e.correlation_id, e.causation_id) for e in envelopes] == [("call", None), ("flow-b", "event-b")]
