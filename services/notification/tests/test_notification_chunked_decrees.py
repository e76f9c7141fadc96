"""A decree published in chunks (#21) reaches an agency subscribed to decrees as it was published:
each chunk, then its manifest, once each, from which the agency puts the decree together and checks
it; a manifest whose chunk never arrived is dead-lettered with the reason and sent to nobody, so the
agency never holds a decree it could take as whole."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.decree_chunks import assemble_decree, split_decree
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.determination_chunks import DeterminationChunk, DeterminationManifest
from dtks_contracts.events.registry import DeterminationIssued, Period
from dtks_contracts.register_hash import REGISTER_HASH_ALGORITHM
from dtks_contracts.vocabulary import Role
from dtks_notification.main import CONSUMER
from dtks_notification.testing import HttpReceiver, produce
from dtks_runtime.dead_letters import list_dead_letters
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

SECRET = "bpjs-shared-secret-0123456789"
DETERMINER = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")


def decree(number: str, households: int) -> DeterminationIssued:
    return DeterminationIssued(
        decree_number=f"{number}/HUK/2026",
        period=Period(year=2026, quarter=int(number)),
        cut_off=dt.datetime(2026, 3, 31, 17, 0, tzinfo=dt.UTC),
        issued_at=dt.datetime(2026, 4, 2, 3, 0, tzinfo=dt.UTC),
        register_hash="ab" * 32,
        hash_algorithm=REGISTER_HASH_ALGORITHM,
        counts={"households": households, "people": 3 * households},
        issued_by=DETERMINER,
        registered=tuple(f"H-{number}-{n}" for n in range(households)),
        changed_leaves=tuple(f"{n:064x}" for n in range(households)),
    )


def published(issued: DeterminationIssued, leave_out: int | None = None) -> list[EventEnvelope]:
    """As the registry publishes a decree of several chunks: chunks, then the manifest."""
    manifest, chunks = split_decree(issued, records_per_chunk=3)
    payloads = [*(c for c in chunks if c.chunk_index != leave_out), manifest]
    return [
        EventEnvelope.new(p, aggregate_version=v, actor=DETERMINER) for v, p in enumerate(payloads, start=1)
    ]


async def test_an_agency_subscribed_to_decrees_gets_a_chunked_decrees_parts_and_never_a_broken_ones_manifest(
    service, receivers, kafka_bootstrap, topic_prefix
):
    receiver, other = await HttpReceiver().start(), await HttpReceiver().start()
    receivers += [receiver, other]
    broken, whole = decree("1", 4), decree("2", 5)
    async with service() as svc:
        bpjs = svc.token(Role.AGENCY, "ID", "bpjs-kesehatan", programs=("PBI_JK",))
        kemensos = svc.token(Role.AGENCY, "ID", "kemensos-pkh", programs=("PKH",))
        sids = []
        for who, to in ((bpjs, receiver), (kemensos, other)):
            body = {
                "callback_url": to.url,
                "secret": SECRET,
                "event_types": ["registry.determination_issued"],
            }
            created = await svc.client.post("/subscriptions", headers=who, json=body)
            assert created.status_code == 201, created.text
            sids.append(created.json()["subscription_id"])
        sid = sids[0]
        await produce(kafka_bootstrap, topic_prefix, [*published(broken, leave_out=2), *published(whole)])

        # The whole decree: 5 ids and 5 leaves in chunks of three are four chunks, then the manifest.
        async def delivered() -> bool:
            for who, s in ((bpjs, sids[0]), (kemensos, sids[1])):
                found = (await svc.client.get(f"/subscriptions/{s}/deliveries", headers=who)).json()
                if sum(d["status"] == "delivered" for d in found) < 5 + 3:
                    return False
            return True

        async def dead_lettered() -> bool:
            letters = await list_dead_letters(kafka_bootstrap, CONSUMER, topic_prefix)
            return any(b"1/HUK/2026" in d.value for d in letters)

        await wait_until(delivered, what="the decrees' parts delivered")
        await wait_until(dead_lettered, what="the broken decree's manifest dead-lettered")
        [letter] = await list_dead_letters(kafka_bootstrap, CONSUMER, topic_prefix)
        assert json.loads(letter.value)["event_type"] == "registry.determination_manifest"
        assert letter.reason is not None and "decree 1/HUK/2026 is not whole" in letter.reason

        # One request for each part, each once: the broken decree's three chunks (not its manifest),
        # the whole one's four chunks and its manifest.
        deliveries = (await svc.client.get(f"/subscriptions/{sid}/deliveries", headers=bpjs)).json()
        assert len(deliveries) == len(receiver.requests) == 8
        sent = [json.loads(r.body)["event"] for r in receiver.requests]
        by_decree: dict[str, list[dict]] = {}
        for event in sent:
            by_decree.setdefault(event["payload"]["decree_number"], []).append(event)
        assert (
            sorted(e["event_type"] for e in by_decree["1/HUK/2026"]) == ["registry.determination_chunk"] * 3
        )
        parts = by_decree["2/HUK/2026"]
        assert len({e["event_id"] for e in parts}) == 5
        # What the agency does with them: the manifest says when it holds the whole and checks it.
        [manifest] = [
            DeterminationManifest.model_validate(e["payload"])
            for e in parts
            if e["event_type"] == "registry.determination_manifest"
        ]
        chunks = [
            DeterminationChunk.model_validate(e["payload"])
            for e in parts
            if e["event_type"] == "registry.determination_chunk"
        ]
        assert manifest.chunk_count == len(chunks) == 4
        assert assemble_decree(manifest, sorted(chunks, key=lambda c: c.chunk_index)) == whole

        # The other agency got the same eight events, byte for byte, in its own deliveries; each
        # event's envelope is kept once for both, and no agency's notification holds a copy.
        assert len(other.requests) == 8
        theirs = [json.loads(r.body) for r in other.requests]
        assert {t["subscription_id"] for t in theirs} == {sids[1]}
        assert sorted(json.dumps(t["event"], sort_keys=True) for t in theirs) == sorted(
            json.dumps(e, sort_keys=True) for e in sent
        )
        async with svc.pool.acquire() as conn:
            kept = await conn.fetchval("SELECT count(*) FROM agency_envelopes")
            bodies = await conn.fetchval(
                "SELECT count(*) FROM notifications WHERE rule = 'agency_webhook' AND body IS NOT NULL"
            )
            agency_notices = await conn.fetchval(
                "SELECT count(*) FROM notifications WHERE rule = 'agency_webhook'"
            )
        assert (kept, bodies, agency_notices) == (8, 0, 16)
