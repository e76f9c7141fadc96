"""A freeze of new proposals, declared in verification, refuses a village's new submissions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.events.governance import FreezeDeclared, FreezeLifted, FrozenAction
from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.testing import VILLAGE, operator, produce, sample_bodies
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

BODIES = sample_bodies(3, seed=17)
MINISTRY = Actor(subject="ministry-1", role=Role.MINISTRY_VERIFIER, region="ID")


async def test_a_new_proposal_is_refused_during_a_freeze_of_its_province_and_one_sent_before_is_kept(
    service: Any, kafka_bootstrap: str, topic_prefix: str
) -> None:
    before, during = ({**b, "proposal_id": str(uuid.uuid4())} for b in BODIES[:2])
    key = {"Idempotency-Key": f"k-{uuid.uuid4()}"}
    async with service() as (app, client):
        kept = await client.post("/proposals", json=before, headers={**operator(), **key})
        assert kept.status_code == 201, kept.text
        now = dt.datetime.now(dt.UTC)
        declared = FreezeDeclared(
            freeze_id="f-proposals",
            scope=VILLAGE[:2],
            actions=(FrozenAction.NEW_PROPOSALS,),
            starts_at=now - dt.timedelta(hours=1),
            ends_at=now + dt.timedelta(days=10),
            reason="Provincial election",
            declared_by=MINISTRY,
        )
        await produce(kafka_bootstrap, topic_prefix, [declared])

        async def known() -> bool:
            async with app.state.deps.pool.acquire() as conn:
                return bool(await conn.fetchval("SELECT count(*) FROM freezes"))

        await wait_until(known, 30, "the freeze in the proposal service's table")
        refused = await client.post("/proposals", json=during, headers=operator())
        assert refused.status_code == 423, refused.text
        problem = refused.json()
        assert problem["code"] == "frozen" and problem["freeze"]["freeze_id"] == "f-proposals"
        assert "Provincial election" in problem["detail"]
        # The submission accepted before the freeze is kept: its resend is answered as it was.
        again = await client.post("/proposals", json=before, headers={**operator(), **key})
        assert again.status_code == 201 and again.json() == kept.json()

        lifted = FreezeLifted(
            freeze_id="f-proposals", lifted_at=dt.datetime.now(dt.UTC), reason="Lifted", lifted_by=MINISTRY
        )
        await produce(kafka_bootstrap, topic_prefix, [lifted])

        async def over() -> bool:
            async with app.state.deps.pool.acquire() as conn:
                return bool(await conn.fetchval("SELECT count(*) FROM freezes WHERE ends_at <= now()"))

        await wait_until(over, 30, "the lifted freeze")
        accepted = await client.post("/proposals", json=during, headers=operator())
        assert accepted.status_code == 201, accepted.text
