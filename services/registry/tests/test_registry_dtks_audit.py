"""dtks-audit against the real broker: the decrees the registry issued, recomputed from the topic
alone, and copies of the topic tampered with (one event altered, one deleted, two of a household
reordered) detected and pinpointed to household and decree. The tool is the installed package; the
registry is only what fills the topic."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from dtks_audit.cli import audit_decrees
from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.registry import HouseholdRegistered
from dtks_contracts.household import Address
from dtks_contracts.register_hash import REGISTER_HASH_ALGORITHM, register_digest_of
from dtks_contracts.topics import REGISTRY_EVENTS, TopicSpec
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import acceptance, ago, make_household
from dtks_runtime.testing import wait_until
from dtks_runtime.topics import ensure_topics

pytestmark = pytest.mark.infra

DTKS_AUDIT = str(Path(sys.executable).with_name("dtks-audit"))
Raw = tuple[bytes | None, bytes, list[tuple[str, bytes]]]  # key, value, headers


async def dtks_audit(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed command, as an auditor runs it."""
    return await asyncio.to_thread(
        subprocess.run, [DTKS_AUDIT, *args], capture_output=True, text=True, timeout=120, check=False
    )


async def two_decrees(registry: Any) -> tuple[dict[str, Any], dict[str, Any], list[str]]:
    await registry.accept(
        [acceptance(f"prop-a{i}", accepted_at=ago(5), household=make_household(60 + i)) for i in range(4)]
    )
    first = (await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(4))).json()
    hids = [household_id_for(f"prop-a{i}") for i in range(4)]
    moved = make_household(60, household_id=hids[0], address=Address(street="Jl. Audit 2"))
    await registry.accept([
        acceptance("prop-a-fix", accepted_at=ago(3), household=moved, kind=ProposalKind.CORRECTION, target=hids[0]),
        acceptance("prop-a-end", accepted_at=ago(3), kind=ProposalKind.DEACTIVATION, target=hids[1],
                   reason=DeactivationReason.MOVED_AWAY, programs=[]),
        acceptance("prop-a4", accepted_at=ago(3), household=make_household(64)),
    ])  # fmt: skip
    second = (await registry.decree("2/HUK/2027", "2027-04", cutoff=ago(2))).json()

    async def relayed() -> bool:
        async with registry.pool.acquire() as conn:
            return await registry.runtime.relay.lag(conn) == 0  # type: ignore[no-any-return]

    await wait_until(relayed, what="registry events published")
    return first, second, [*hids, household_id_for("prop-a4")]


async def read_partitions(bootstrap: str, topic: str) -> list[list[Raw]]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        numbers = consumer.partitions_for_topic(topic) or ()
        consumer.unsubscribe()
        partitions: list[list[Raw]] = []
        for p in sorted(numbers):
            tp = TopicPartition(topic, p)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            records: list[Raw] = []
            while len(records) < end:
                for r in (await consumer.getmany(tp, timeout_ms=1000)).get(tp, []):
                    records.append((r.key, r.value, list(r.headers)))
            partitions.append(records)
        return partitions
    finally:
        await consumer.stop()


async def copy_topic(
    bootstrap: str, source: str, transform: Callable[[list[list[Raw]]], list[list[Raw]]]
) -> str:
    """A copy of ``source`` (same partitions, keys, headers) changed by ``transform``: what a
    tampered-with mirror or backup of the topic would be."""
    partitions = transform(await read_partitions(bootstrap, source))
    target = f"copy-{uuid.uuid4().hex[:8]}.{source}"
    await ensure_topics(bootstrap, [TopicSpec(name=target, partitions=len(partitions), key_field="-")])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for p, records in enumerate(partitions):
            for key, value, headers in records:
                await producer.send_and_wait(target, value=value, key=key, partition=p, headers=headers)
    finally:
        await producer.stop()
    return target


def where(partitions: list[list[Raw]], event_type: str, household_id: str) -> tuple[int, int]:
    for p, records in enumerate(partitions):
        for i, (_, value, _) in enumerate(records):
            envelope = json.loads(value)
            if envelope["event_type"] == event_type and envelope["aggregate_id"] == household_id:
                return p, i
    raise AssertionError(f"no {event_type} of {household_id} in the topic")


def differing(report: dict[str, Any]) -> dict[str, set[str | None]]:
    return {
        d["decree_number"]: {x["household_id"] for x in d["differs"]}
        for d in report["decrees"]
        if not d["ok"]
    }


async def test_dtks_audit_recomputes_both_decrees_from_the_topic_and_pinpoints_each_tampering(
    registry, tmp_path
):
    first, second, hids = await two_decrees(registry)
    bootstrap = registry.settings.kafka_bootstrap
    topic = REGISTRY_EVENTS.with_prefix(registry.settings.topic_prefix).name
    key = (await registry.client.get("/.well-known/dtks-decree-keys")).json()["current"]["public_key"]

    report = await audit_decrees(bootstrap, topic, [key])
    assert report["ok"], json.dumps(report, indent=1)
    assert [(d["decree_number"], d["recomputed_hash"], d["households"]) for d in report["decrees"]] == [
        ("1/HUK/2027", first["register_hash"], 4),
        ("2/HUK/2027", second["register_hash"], 4),
    ]
    assert all(d["signature"].startswith("valid") for d in report["decrees"])
    # Two processes reading disjoint partitions come to the same report.
    assert (await audit_decrees(bootstrap, topic, [key], workers=2))["decrees"] == report["decrees"]

    # The installed command, as an auditor runs it.
    run = await dtks_audit("decrees", "--bootstrap", bootstrap, "--topic", topic, "--public-key", key)
    assert run.returncode == 0, run.stdout + run.stderr
    assert [line.split()[:2] for line in run.stdout.splitlines() if line.startswith("OK")] == [
        ["OK", "1/HUK/2027:"],
        ["OK", "2/HUK/2027:"],
    ]

    # Another key than the Ministry's: every signature refused.
    stranger = Ed25519PrivateKey.generate().public_key().public_bytes_raw().hex()
    refused = await audit_decrees(bootstrap, topic, [stranger])
    assert not refused["ok"] and all(d["signature"].startswith("refused") for d in refused["decrees"])

    # One event altered: household 2's registration gets another street (its relay headers kept).
    def alter(partitions: list[list[Raw]]) -> list[list[Raw]]:
        p, i = where(partitions, HouseholdRegistered.event_type, hids[2])
        key_, value, headers = partitions[p][i]
        envelope = json.loads(value)
        envelope["payload"]["household"]["address"]["street"] = "Jl. Palsu 13"
        partitions[p][i] = (key_, json.dumps(envelope).encode(), headers)
        return partitions

    altered = await audit_decrees(bootstrap, await copy_topic(bootstrap, topic, alter), [key], workers=2)
    assert differing(altered) == {"1/HUK/2027": {hids[2]}, "2/HUK/2027": {hids[2]}}
    what = {d["decree_number"]: d["differs"][0]["what"] for d in altered["decrees"]}
    assert "differs from the one the decree put in force" in what["1/HUK/2027"]
    assert "carried over from decree 1/HUK/2027" in what["2/HUK/2027"]

    # One event deleted: household 0's correction in decree 2.
    def delete(partitions: list[list[Raw]]) -> list[list[Raw]]:
        p, i = where(partitions, "registry.household_corrected", hids[0])
        del partitions[p][i]
        return partitions

    deleted = await audit_decrees(bootstrap, await copy_topic(bootstrap, topic, delete), [key])
    assert differing(deleted) == {"2/HUK/2027": {hids[0]}}
    assert "not in the log" in deleted["decrees"][1]["differs"][0]["what"]

    # Two events of one household reordered: household 0's registration and correction swapped.
    def reorder(partitions: list[list[Raw]]) -> list[list[Raw]]:
        p, i = where(partitions, "registry.household_registered", hids[0])
        q, j = where(partitions, "registry.household_corrected", hids[0])
        assert p == q  # one household, one partition
        partitions[p][i], partitions[p][j] = partitions[p][j], partitions[p][i]
        return partitions

    reordered = await audit_decrees(bootstrap, await copy_topic(bootstrap, topic, reorder), [key])
    assert not reordered["ok"]
    assert set().union(*differing(reordered).values()) == {hids[0]}

    # A proof file from the registry, checked offline by the command; a doctored one refused.
    proof = (
        await registry.client.get(
            "/decree-proofs/inclusion",
            params={"decree": "2/HUK/2027", "household_id": hids[3]},
            headers=registry.auth(Role.AUDITOR),
        )
    ).json()
    good, bad = tmp_path / "proof.json", tmp_path / "doctored.json"
    good.write_text(json.dumps(proof))
    bad.write_text(json.dumps({**proof, "household_id": hids[2]}))
    ok = await dtks_audit("proof", str(good), "--public-key", key)
    assert ok.returncode == 0 and ok.stdout.startswith("OK"), ok.stdout + ok.stderr
    no = await dtks_audit("proof", str(bad), "--public-key", key)
    assert no.returncode == 1 and "does not lead to decree 2/HUK/2027's root" in no.stdout


async def test_one_changed_row_of_the_live_projection_is_named_by_the_registrys_verify(registry):
    _, _, hids = await two_decrees(registry)
    async with registry.pool.acquire() as conn:
        await conn.execute(
            """UPDATE households SET snapshot = jsonb_set(snapshot, '{address,street}', '"Jl. Palsu 1"')
               WHERE household_id = $1""",
            hids[3],
        )
    report = (
        await registry.client.post(
            "/audit/replays", json={"mode": "verify"}, headers=registry.auth(Role.AUDITOR), timeout=300
        )
    ).json()
    assert report["ok"] is False
    assert [d["matches"] for d in report["decrees"]] == [True, True]  # the decrees' own rows are intact
    assert report["live_register"]["altered_households"] == [hids[3]]
    assert report["decrees"][1]["hash_algorithm"] == "dtks-register-merkle-v1"


async def test_a_decree_issued_with_the_flat_hash_is_still_verified_by_dtks_audit(
    kafka_bootstrap, topic_prefix
):
    """A log written before Merkle roots: version 1 decree events with their flat hash."""
    prefix = f"{topic_prefix}flat{uuid.uuid4().hex[:6]}."
    determiner = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")
    households = [make_household(80 + i, household_id=f"H-FLAT-{i}") for i in range(3)]
    envelopes = [
        EventEnvelope.new(
            HouseholdRegistered(
                household_id=h.household_id, decree_number="9/HUK/2025", household=h, proposal_id=f"p-{i}"
            ),
            aggregate_version=1,
            actor=determiner,
        )
        for i, h in enumerate(households)
    ]
    at = dt.datetime(2025, 4, 2, tzinfo=dt.UTC).isoformat()
    v1 = {
        "decree_number": "9/HUK/2025", "period": {"year": 2025, "quarter": 2}, "cut_off": at, "issued_at": at,
        "registered": [h.household_id for h in households], "register_hash": register_digest_of(households),
        "hash_algorithm": REGISTER_HASH_ALGORITHM, "counts": {"households": 3, "people": 6},
        "issued_by": determiner.model_dump(mode="json"),
    }  # fmt: skip
    decree = EventEnvelope.model_validate({
        "event_id": str(uuid.uuid4()), "event_type": "registry.determination_issued", "schema_version": 1,
        "aggregate_type": "determination", "aggregate_id": "9/HUK/2025", "aggregate_version": 1,
        "occurred_at": at, "correlation_id": "flat", "payload": v1,
    })  # fmt: skip
    topic = REGISTRY_EVENTS.with_prefix(prefix).name
    await ensure_topics(kafka_bootstrap, [REGISTRY_EVENTS.with_prefix(prefix)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        for e in [*envelopes, decree]:
            await producer.send_and_wait(topic, value=e.to_bytes(), key=e.aggregate_id.encode())
    finally:
        await producer.stop()
    report = await audit_decrees(kafka_bootstrap, topic, [])
    assert report["ok"], json.dumps(report, indent=1)
    [checked] = report["decrees"]
    assert (checked["hash_kind"], checked["recomputed_hash"]) == ("flat", v1["register_hash"])

    tampered = households[1].model_copy(update={"kk_number": "1771010000009999"})
    await ensure_topics(kafka_bootstrap, [REGISTRY_EVENTS.with_prefix("x" + prefix)])
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap)
    await producer.start()
    try:
        other = REGISTRY_EVENTS.with_prefix("x" + prefix).name
        for e in [envelopes[0], EventEnvelope.new(
            HouseholdRegistered(household_id="H-FLAT-1", decree_number="9/HUK/2025", household=tampered,
                                proposal_id="p-1"), aggregate_version=1, actor=determiner,
        ), envelopes[2], decree]:  # fmt: skip
            await producer.send_and_wait(other, value=e.to_bytes(), key=e.aggregate_id.encode())
    finally:
        await producer.stop()
    report = await audit_decrees(kafka_bootstrap, other, [])
    assert not report["ok"] and report["decrees"][0]["recomputed_hash"] != v1["register_hash"]
