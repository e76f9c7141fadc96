"""Only the owning service's relay writes history: events produced to the registry's topic by hand,
unsigned or signed by anyone else, are dead-lettered with the reason and never reach the audit
trail, against the real broker and database (defect 9 of issue 25)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

import pytest
from aiokafka import AIOKafkaProducer

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.registry import WelfareDecileSet
from dtks_contracts.topics import REGISTRY_EVENTS, partition_key
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, envelope, make_household
from dtks_runtime.dead_letters import list_dead_letters
from dtks_runtime.provenance import EventSigner, development_key
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra


def _forged_decile(household_id: str) -> EventEnvelope:
    payload = WelfareDecileSet(
        household_id=household_id, decile=1, source="forged by hand", as_of=dt.date(2027, 1, 1)
    )
    return envelope(payload, occurred_at=ago(0.5), actor=None)


async def test_events_produced_to_the_registry_topic_by_hand_are_dead_lettered_and_kept_out_of_the_audit_history(
    registry,
):
    pid = f"prop-{uuid.uuid4().hex[:8]}"
    hid = household_id_for(pid)
    await registry.accept([acceptance(pid, accepted_at=ago(2), household=make_household(31))])
    unsigned, wrong_key, wrong_signer = (_forged_decile(hid) for _ in range(3))
    forgeries = {
        unsigned.event_id: ([], "unsigned event"),
        # Claims to be the registry, signed with a key that is not the registry's.
        wrong_key.event_id: (
            EventSigner("registry", b"a key the registry never had").headers(wrong_key.to_bytes()),
            "signature does not match",
        ),
        # A genuine signature of the proposal service, on a topic only the registry may write.
        wrong_signer.event_id: (
            EventSigner("proposal", development_key("proposal")).headers(wrong_signer.to_bytes()),
            "only 'registry' may write",
        ),
    }
    topic = registry.settings.topic_prefix + REGISTRY_EVENTS.name
    producer = AIOKafkaProducer(bootstrap_servers=registry.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for forged in (unsigned, wrong_key, wrong_signer):
            headers = [("event_id", str(forged.event_id).encode()), *forgeries[forged.event_id][0]]
            await producer.send_and_wait(
                topic, value=forged.to_bytes(), key=partition_key(forged), headers=headers
            )
    finally:
        await producer.stop()
    # Then the registry's own relay publishes the household's registration and the decree.
    assert (await registry.decree("5/HUK/2027", "2027-01", cutoff=ago(1))).status_code == 201

    async def history() -> list[dict]:
        response = await registry.client.get(
            f"/audit/households/{hid}/history", headers=registry.auth(Role.AUDITOR)
        )
        return response.json().get("events", []) if response.status_code == 200 else []

    relayed = {
        "verification.accepted_by_ministry",
        "registry.household_registered",
        "registry.determination_issued",
    }

    async def relayed_events_recorded() -> bool:
        return relayed <= {e["event_type"] for e in await history()}

    await wait_until(relayed_events_recorded, what="the relayed registration and decree in the audit history")
    # The forgeries share the household's partition and came first: the consumer has passed them.
    events = await history()
    assert {e["event_id"] for e in events}.isdisjoint({str(k) for k in forgeries})
    assert "registry.welfare_decile_set" not in {e["event_type"] for e in events}

    async def letters() -> dict[str, str]:
        found = await list_dead_letters(
            registry.settings.kafka_bootstrap, "registry-audit", registry.settings.topic_prefix
        )
        return {d.event_id: d.reason or "" for d in found if d.event_id in {str(k) for k in forgeries}}

    async def all_refused() -> bool:
        return len(await letters()) == len(forgeries)

    await wait_until(all_refused, what="every forged event dead-lettered by the audit consumer")
    reasons = await letters()
    for event_id, (_, reason) in forgeries.items():
        assert reason in reasons[str(event_id)], reasons
    assert (
        await registry.count(
            "SELECT count(*) FROM audit_events WHERE event_type = 'registry.welfare_decile_set'"
        )
        == 0
    )


async def test_the_auditors_replay_passes_over_forged_events_and_names_them(registry):
    pid = f"prop-{uuid.uuid4().hex[:8]}"
    hid = household_id_for(pid)
    await registry.accept([acceptance(pid, accepted_at=ago(2), household=make_household(32))])
    assert (await registry.decree("6/HUK/2027", "2027-01", cutoff=ago(1))).status_code == 201
    forged = _forged_decile(hid)
    producer = AIOKafkaProducer(bootstrap_servers=registry.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            registry.settings.topic_prefix + REGISTRY_EVENTS.name,
            value=forged.to_bytes(),
            key=partition_key(forged),
            headers=[("event_id", str(forged.event_id).encode())],
        )
    finally:
        await producer.stop()
    auditor = registry.auth(Role.AUDITOR)
    kept = (await registry.client.post("/audit/replays", json={"keep": True}, headers=auditor)).json()
    async with registry.pool.acquire() as conn:
        deciles = await conn.fetchval(f'SELECT count(*) FROM "{kept["schema"]}".welfare_deciles')
        await conn.execute(f'DROP SCHEMA "{kept["schema"]}" CASCADE')
    assert deciles == 0  # the forged decile is not in the rebuilt register
    assert [(r["topic"], r["partition"], r["offset"]) for r in kept["refused_records"]] == [
        (sent.topic, sent.partition, sent.offset)
    ]
    assert "unsigned event" in kept["refused_records"][0]["reason"]
    verified = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert verified["ok"], json.dumps(verified)[:3000]
