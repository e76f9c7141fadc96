"""Two writers to one household's stream: the one that decided on an older version does not overwrite
the other (no lost update) and does not fail either: its append conflicts, and it loads and decides again."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.deps import RegistryDeps
from dtks_registry.domain.identity import household_id_for
from dtks_registry.domain.welfare import DecileItem
from dtks_registry.handlers import DecileBatch, set_welfare_deciles
from dtks_registry.testing import acceptance, ago, make_household
from dtks_runtime.testing import wait_until
from dtks_runtime.unit_of_work import on_connection

pytestmark = pytest.mark.infra

DECILE_SET = "registry.welfare_decile_set"
MINISTRY = Actor(subject="kemensos-ranking", role=Role.MINISTRY_VERIFIER, region="ID")


def _ranking(source: str, as_of: str, household_id: str, decile: int) -> dict[str, object]:
    return {
        "source": source,
        "as_of": as_of,
        "households": [{"household_id": household_id, "decile": decile}],
    }


async def test_a_decile_batch_that_decided_on_an_older_version_decides_again_instead_of_overwriting(registry):
    await registry.accept([acceptance("prop-race-1", accepted_at=ago(5), household=make_household(90))])
    assert (await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(4))).status_code == 201
    h = household_id_for("prop-race-1")
    ministry = registry.auth(Role.MINISTRY_VERIFIER)
    first = await registry.client.post(
        "/welfare-deciles", json=_ranking("BPS ranking 2026-Q4", "2026-11-01", h, 2), headers=ministry
    )
    assert first.json()["changed"] == 1  # the household's stream is now at version 2

    # Writer B holds a share lock on the events table: any other writer's insert waits there, after
    # it has loaded the household (version 2) and decided.
    other = await registry.pool.acquire()
    try:
        writer_b = other.transaction()
        await writer_b.start()
        await other.execute("LOCK TABLE events IN SHARE MODE")
        # Writer A, over HTTP: the Q1 ranking (newer than the household's Q4 one: a change at version 3).
        writer_a = asyncio.create_task(
            registry.client.post(
                "/welfare-deciles", json=_ranking("BPS ranking 2027-Q1", "2027-02-01", h, 3), headers=ministry
            )
        )

        async def a_waits_to_append() -> bool:
            # Its append, not the relay (which may be waiting on the lock too).
            waiting = await registry.count(
                """SELECT count(*) FROM pg_stat_activity
                   WHERE datname = current_database() AND wait_event_type = 'Lock'
                     AND query LIKE '%INSERT INTO events%'"""
            )
            return waiting > 0

        await wait_until(a_waits_to_append, what="writer A waiting to append after deciding")
        # Writer B: the Q2 ranking, newer still, through the same command, committed first.
        b_batch = DecileBatch("BPS ranking 2027-Q2", dt.date(2027, 5, 1), (DecileItem(0, h, 4),))
        [(b_outcome, b_event)] = await set_welfare_deciles(
            RegistryDeps(on_connection(other, registry.runtime.store)), b_batch, MINISTRY, "writer-b"
        )
        assert b_outcome.changed and b_event is not None
        await writer_b.commit()
    finally:
        await registry.pool.release(other)

    # A's append after version 2 conflicts with B's version 3; A loads again and now sees the newer
    # Q2 ranking, so its older Q1 ranking is refused rather than recorded over it.
    answer = await asyncio.wait_for(writer_a, 60)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["changed"], body["failed"]) == (0, 1)
    assert body["results"][0]["problem"]["code"] == "older_ranking"
    async with registry.pool.acquire() as conn:
        versions = await conn.fetch(
            "SELECT stream_version, event_type FROM events WHERE stream_id = $1 ORDER BY 1", f"household:{h}"
        )
        decile = await conn.fetchrow(
            "SELECT decile, source, version FROM welfare_deciles WHERE household_id = $1", h
        )
    assert [(r["stream_version"], r["event_type"]) for r in versions] == [
        (1, "registry.household_registered"), (2, DECILE_SET), (3, DECILE_SET),
    ]  # fmt: skip
    assert tuple(decile) == (4, "BPS ranking 2027-Q2", 3)
