"""A national freeze of determination decrees, declared in verification, stops the registry's decree."""

from __future__ import annotations

import datetime as dt

import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.governance import FreezeDeclared, FreezeLifted, FrozenAction
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.testing import acceptance, ago, make_household, produce
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

MINISTRY = Actor(subject="ministry-1", role=Role.MINISTRY_VERIFIER, region="ID")


async def test_a_decree_is_refused_during_a_national_freeze_and_issued_once_it_is_lifted(registry):
    await registry.accept([acceptance("prop-freeze-1", accepted_at=ago(2), household=make_household(7))])
    now = dt.datetime.now(dt.UTC)
    declared = FreezeDeclared(
        freeze_id="f-decrees",
        scope="ID",
        actions=(FrozenAction.DETERMINATION_DECREES,),
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(days=30),
        reason="General election",
        declared_by=MINISTRY,
    )
    prefix = registry.settings.topic_prefix
    await produce(
        registry.settings.kafka_bootstrap,
        prefix,
        [EventEnvelope.new(declared, aggregate_version=1, actor=MINISTRY)],
    )

    async def known() -> bool:
        return await registry.count("SELECT count(*) FROM freezes WHERE freeze_id = 'f-decrees'") == 1

    await wait_until(known, 30, "the freeze in the registry's table")
    refused = await registry.decree("20/HUK/2027", "2027-01", cutoff=ago(1))
    assert refused.status_code == 423, refused.text
    problem = refused.json()
    assert problem["code"] == "frozen" and problem["freeze"]["freeze_id"] == "f-decrees"
    assert "General election" in problem["detail"] and "WIB" in problem["detail"]

    lifted = FreezeLifted(
        freeze_id="f-decrees", lifted_at=dt.datetime.now(dt.UTC), reason="Lifted", lifted_by=MINISTRY
    )
    await produce(
        registry.settings.kafka_bootstrap,
        prefix,
        [EventEnvelope.new(lifted, aggregate_version=2, actor=MINISTRY)],
    )

    async def over() -> bool:
        return await registry.count("SELECT count(*) FROM freezes WHERE ends_at <= now()") == 1

    await wait_until(over, 30, "the lifted freeze in the registry's table")
    issued = await registry.decree("20/HUK/2027", "2027-01", cutoff=ago(1))
    assert issued.status_code == 201, issued.text
