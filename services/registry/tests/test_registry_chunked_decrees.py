"""Decrees larger than one chunk (#21), against the real broker and database: the registry publishes
them as chunks and then a manifest in one transaction, and everything that reads decrees reads them
whole: the decree's own document, the audit replay (the same tables as live), the inclusion proofs,
dtks-audit from the topic alone, and a household's audit history. A decree that fits one chunk stays
the single event it always was. Chunks of three records here (DTKS_DECREE_CHUNK_RECORDS); nationally
4,000."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dtks_audit.cli import audit_decrees
from dtks_contracts.household import Address
from dtks_contracts.merkle import leaf_hash
from dtks_contracts.topics import REGISTRY_EVENTS
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for
from dtks_registry.handlers import CHUNKS_PER_APPEND, load_determination
from dtks_registry.testing import acceptance, ago, make_household
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

DTKS_AUDIT = str(Path(sys.executable).with_name("dtks-audit"))
CHUNK, MANIFEST, ISSUED = (
    "registry.determination_chunk",
    "registry.determination_manifest",
    "registry.determination_issued",
)


async def decree_events(registry: Any, number: str) -> list[tuple[str, str]]:
    """The decree's own stream in the registry's log: (event type, event id) in version order."""
    async with registry.pool.acquire() as conn:
        rows = await conn.fetch(
            """SELECT event_type, event_id::text AS id FROM events
               WHERE envelope->>'aggregate_type' = 'determination' AND envelope->>'aggregate_id' = $1
               ORDER BY stream_version""",
            number,
        )
    return [(r["event_type"], r["id"]) for r in rows]


async def test_a_decree_of_several_chunks_is_published_as_chunks_then_its_manifest_and_read_whole(
    chunked_registry, tmp_path
):
    registry = chunked_registry
    await registry.accept(
        [acceptance(f"prop-c{i}", accepted_at=ago(6), household=make_household(70 + i)) for i in range(4)]
    )
    first = await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(5))
    assert first.status_code == 201, first.text
    hids = [household_id_for(f"prop-c{i}") for i in range(4)]
    moved = make_household(70, household_id=hids[0], address=Address(street="Jl. Potongan 3"))
    await registry.accept([
        acceptance("prop-c-fix", accepted_at=ago(4), household=moved, kind=ProposalKind.CORRECTION, target=hids[0]),
        acceptance("prop-c-end", accepted_at=ago(4), kind=ProposalKind.DEACTIVATION, target=hids[1],
                   reason=DeactivationReason.MOVED_AWAY, programs=[]),
        acceptance("prop-c4", accepted_at=ago(4), household=make_household(74)),
    ])  # fmt: skip
    second = await registry.decree("2/HUK/2027", "2027-04", cutoff=ago(3))
    assert second.status_code == 201, second.text
    # One new household: two records (its id and its leaf), within one chunk.
    await registry.accept([acceptance("prop-c5", accepted_at=ago(2), household=make_household(75))])
    third = await registry.decree("3/HUK/2027", "2027-07", cutoff=ago(1))
    assert third.status_code == 201, third.text

    # Decree 1 lists 4 ids and 4 leaves: chunks of 3, 1, 3, 1, then the manifest, on one stream.
    # Decree 2 lists one id in each list and two leaves: four chunks and the manifest.
    one, two, three = [await decree_events(registry, n) for n in ("1/HUK/2027", "2/HUK/2027", "3/HUK/2027")]
    assert [t for t, _ in one] == [CHUNK] * 4 + [MANIFEST]
    assert [t for t, _ in two] == [CHUNK] * 4 + [MANIFEST]
    assert [t for t, _ in three] == [ISSUED]  # a decree that fits one chunk stays one event
    # A chunked decree is recorded as its manifest, its lists kept as its chunks (one jsonb value
    # cannot hold a national decree's lists): the very payload its manifest event carries, which is
    # also what the migration gives a row recorded whole before.
    async with registry.pool.acquire() as conn:
        recorded = await conn.fetch(
            """SELECT d.decree_number, d.payload = e.envelope->'payload' AS as_published,
                      jsonb_array_length(d.payload->'registered') AS listed
               FROM determinations d JOIN events e USING (event_id) ORDER BY 1"""
        )
    assert [tuple(r) for r in recorded] == [
        ("1/HUK/2027", True, 0),
        ("2/HUK/2027", True, 0),
        ("3/HUK/2027", True, 1),
    ]
    # The decree as answered (and recorded) is whole, under its manifest's event id.
    assert first.json()["event_id"] == one[-1][1]
    assert sorted(first.json()["registered"]) == sorted(hids)
    assert len(first.json()["changed_leaves"]) == 4
    shown = (
        await registry.client.get("/determinations/2/HUK/2027", headers=registry.auth(Role.AUDITOR))
    ).json()
    assert (shown["registered"], shown["corrected"], shown["deactivated"]) == (
        [household_id_for("prop-c4")],
        [hids[0]],
        [hids[1]],
    )
    assert shown["event_id"] == two[-1][1] and shown["register_hash"] == second.json()["register_hash"]
    # A chunked decree's document is streamed from its chunks, never held whole: the same document as
    # the decree assembled whole, field for field; the export's check that the decree exists reads
    # only its manifest.
    for number in ("1/HUK/2027", "2/HUK/2027", "3/HUK/2027"):
        served = await registry.client.get(f"/determinations/{number}", headers=registry.auth(Role.AUDITOR))
        async with registry.pool.acquire() as conn:
            assert served.json() == await load_determination(conn, number), number
        assert served.headers["content-type"] == "application/json"
        # Asked with list_limit (as a page does), each list is cut and counted, whatever form it took.
        listed = await registry.client.get(
            f"/determinations/{number}", params={"list_limit": 1}, headers=registry.auth(Role.AUDITOR)
        )
        whole, cut = served.json(), listed.json()
        counts = cut.pop("list_counts")
        assert counts == {name: len(whole[name]) for name in counts}, number
        assert {"registered", "corrected", "deactivated", "changed_leaves"} <= set(counts)
        assert cut == {name: whole[name][:1] if name in counts else whole[name] for name in whole}, number
    # Issuing answered with that document too (streamed: the registry publishes a chunked decree as
    # its lists are read back, never holding them), and asking again gives it again, as issued before.
    again = await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(5))
    assert again.status_code == 200, again.text
    shown_first = await registry.client.get("/determinations/1/HUK/2027", headers=registry.auth(Role.AUDITOR))
    assert first.json() == again.json() == shown_first.json()
    assert first.headers["content-type"] == again.headers["content-type"] == "application/json"
    missing = await registry.client.get("/determinations/9/HUK/2027", headers=registry.auth(Role.AUDITOR))
    assert missing.status_code == 404 and missing.json()["code"] == "decree_not_found"

    async def relayed() -> bool:
        async with registry.pool.acquire() as conn:
            return await registry.runtime.relay.lag(conn) == 0  # type: ignore[no-any-return]

    await wait_until(relayed, what="registry events published")

    # The auditors' replay rebuilds the same tables, decree rows included, and every decree's hash.
    verified = (
        await registry.client.post(
            "/audit/replays", json={"mode": "verify"}, headers=registry.auth(Role.AUDITOR), timeout=300
        )
    ).json()
    assert verified["ok"] is True, json.dumps(verified, indent=1)
    assert [d["matches"] for d in verified["decrees"]] == [True, True, True]

    # dtks-audit, from the topic alone, assembles and checks each decree and its signature.
    bootstrap = registry.settings.kafka_bootstrap
    topic = REGISTRY_EVENTS.with_prefix(registry.settings.topic_prefix).name
    key = (await registry.client.get("/.well-known/dtks-decree-keys")).json()["current"]["public_key"]
    report = await audit_decrees(bootstrap, topic, [key])
    assert report["ok"], json.dumps(report, indent=1)
    assert [(d["decree_number"], d["recomputed_hash"]) for d in report["decrees"]] == [
        ("1/HUK/2027", first.json()["register_hash"]),
        ("2/HUK/2027", second.json()["register_hash"]),
        ("3/HUK/2027", third.json()["register_hash"]),
    ]
    assert all(d["signature"].startswith("valid") for d in report["decrees"])

    # An inclusion proof in a chunked decree, checked offline by the installed command.
    proof = (
        await registry.client.get(
            "/decree-proofs/inclusion",
            params={"decree": "2/HUK/2027", "household_id": household_id_for("prop-c4")},
            headers=registry.auth(Role.AUDITOR),
        )
    ).json()
    (tmp_path / "proof.json").write_text(json.dumps(proof))
    checked = await asyncio.to_thread(
        subprocess.run,
        [DTKS_AUDIT, "proof", str(tmp_path / "proof.json"), "--public-key", key],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert checked.returncode == 0 and checked.stdout.startswith("OK"), checked.stdout + checked.stderr

    # A household's audit history names the decree by its manifest, never by its chunks.
    async def history() -> list[str]:
        response = await registry.client.get(
            f"/audit/households/{hids[0]}/history", headers=registry.auth(Role.AUDITOR)
        )
        return [e["event_type"] for e in response.json().get("events", [])] if response.is_success else []

    async def both_decrees_in_history() -> bool:
        return (await history()).count(MANIFEST) == 2

    await wait_until(both_decrees_in_history, what="the household's two decrees in its history")
    assert CHUNK not in await history()


async def test_a_decree_of_more_chunks_than_one_append_takes_is_cut_as_its_lists_are_read(chunked_registry):
    """40 households are 80 records, 28 chunks of at most three (14 of ids, 14 of leaves): more than
    CHUNKS_PER_APPEND, so chunks are appended while the registry is still reading the lists back
    from its change rows. The decree assembled from its chunks (count and content hash checked) is
    the one answered, its lists in household id order and each leaf the one its change row's digest
    gives."""
    registry = chunked_registry
    await registry.accept(
        [acceptance(f"prop-m{i}", accepted_at=ago(2), household=make_household(200 + i)) for i in range(40)]
    )
    issued = await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(1))
    assert issued.status_code == 201, issued.text
    events = await decree_events(registry, "1/HUK/2027")
    assert [t for t, _ in events] == [CHUNK] * 28 + [MANIFEST]
    assert len(events) - 1 > CHUNKS_PER_APPEND
    async with registry.pool.acquire() as conn:
        assembled = await load_determination(conn, "1/HUK/2027")
        rows = await conn.fetch(
            "SELECT household_id, digest FROM household_changes WHERE decree_number = $1", "1/HUK/2027"
        )
    document = issued.json()
    assert assembled == document
    ids = sorted(household_id_for(f"prop-m{i}") for i in range(40))
    assert document["registered"] == ids and document["corrected"] == document["deactivated"] == []
    digests = {r["household_id"]: r["digest"] for r in rows}
    assert document["changed_leaves"] == [leaf_hash(h, digests[h]).hex() for h in ids]

    # What a page asks for (the console's decree page): each list's first rows and whole length,
    # read from the first chunk of each list; the same for the decree in one event.
    auditor = registry.auth(Role.AUDITOR)
    listed = await registry.client.get(
        "/determinations/1/HUK/2027", params={"list_limit": 2}, headers=auditor
    )
    assert listed.status_code == 200, listed.text
    shown = listed.json()
    assert shown.pop("list_counts") == {
        "registered": 40,
        "corrected": 0,
        "deactivated": 0,
        "changed_leaves": 40,
    }
    assert shown["registered"] == ids[:2] and shown["changed_leaves"] == document["changed_leaves"][:2]
    cut = {name: value[:2] if isinstance(value, list) and name != "not_applied" else value
           for name, value in document.items()}  # fmt: skip
    assert shown == cut
    refused = await registry.client.get(
        "/determinations/1/HUK/2027", params={"list_limit": -1}, headers=auditor
    )
    assert refused.status_code == 422
