"""The outbox relay rests after an empty poll in proportion to what the poll cost, and a commit
still wakes it at once.

An empty poll walks the unpublished rows' index past every row of the transactions still open, and
a decree holds one per household it changes for as long as it runs. The rest bounds what the polls
cost; the NOTIFY every append sends at commit must still end any rest, or a commit beside a long
transaction would wait for it.
"""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from dtks_runtime import outbox_relay
from dtks_runtime.event_store import NOTIFY_CHANNEL, EventStore
from dtks_runtime.outbox_relay import OutboxRelay
from dtks_runtime.testing import append_one, new_id, wait_until


def test_an_empty_poll_rests_in_proportion_to_its_duration() -> None:
    relay = OutboxRelay("postgresql://unused", "unused:9092", idle_poll_seconds=0.5)
    assert relay._idle_wait(0, 0.002) == 0.5  # an idle system: the usual interval
    assert relay._idle_wait(0, 0.3) == pytest.approx(
        0.3 * outbox_relay._IDLE_REST
    )  # rows of open transactions
    assert relay._idle_wait(7, 0.3) == 0.5  # it found work: back to the interval


@pytest.mark.infra
async def test_a_commit_wakes_a_resting_relay_beside_an_open_transaction(
    pool: asyncpg.Pool,
    store: EventStore,
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Rests far longer than the test: only a NOTIFY can make the relay publish within it.
    monkeypatch.setattr(outbox_relay, "_IDLE_REST", 100_000.0)
    stop = asyncio.Event()
    relay = OutboxRelay(database_url, kafka_bootstrap, idle_poll_seconds=0.2)
    task = asyncio.create_task(relay.run(stop))
    try:
        async with pool.acquire() as big:
            open_transaction = big.transaction()
            await open_transaction.start()
            await big.execute(
                """INSERT INTO events (stream_id, stream_version, event_id, event_type, topic, partition_key,
                                       envelope)
                   SELECT 'thing:big-' || i, 1, gen_random_uuid(), 'test.happened', $1, 'big', '{}'::jsonb
                   FROM generate_series(1, 20000) AS i""",
                topic,
            )
            await asyncio.sleep(1.0)  # the relay polls, finds nothing committed, and rests
            small = new_id()
            await append_one(pool, store, small, 0)

            async def published(stream: str) -> bool:
                async with pool.acquire() as conn:
                    return bool(
                        await conn.fetchval(
                            "SELECT bool_and(position IS NOT NULL) FROM events WHERE stream_id = $1", stream
                        )
                    )

            await wait_until(lambda: published(f"thing:{small}"), within=5, what="the small commit published")
            # As every append does: the relay is woken at commit.
            await big.execute("SELECT pg_notify($1, '')", NOTIFY_CHANNEL)
            await open_transaction.commit()
        await wait_until(lambda: published("thing:big-20000"), within=30, what="the large commit published")
    finally:
        stop.set()
        await task
