"""Partner agencies read the institutions (LKS, #19) a decree put in force and the assistance it
determined through the decree's export, as they read the household register: by region, CSV or JSON
Lines, residents masked for an agency; and the assistance list reaches them on the public topic in
the decree's own event. Real Kafka, real PostgreSQL."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import io
import json
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer

from dtks_contracts.institution import Assistance
from dtks_contracts.topics import REGISTRY_PUBLIC
from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import household_id_for, institution_id_for
from dtks_registry.testing import (
    acceptance,
    ago,
    institution_acceptance,
    make_household,
    make_institution,
    produce,
)
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

QUARTER = {"starts_on": dt.date(2027, 4, 1), "ends_on": dt.date(2027, 6, 30)}


async def _accept(registry: Any, events: list[Any]) -> None:
    before = await registry.count("SELECT count(*) FROM institution_candidates")
    await produce(registry.settings.kafka_bootstrap, registry.settings.topic_prefix, events)

    async def kept() -> bool:
        return await registry.count("SELECT count(*) FROM institution_candidates") >= before + len(events)

    await wait_until(kept, what="institutions' acceptances kept")


def _csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def _decree_copy(registry: Any, decree_number: str, within: float = 60) -> dict[str, Any] | None:
    """The decree's event as agencies read it on the registry's public topic."""
    consumer = AIOKafkaConsumer(
        REGISTRY_PUBLIC.with_prefix(registry.settings.topic_prefix).name,
        bootstrap_servers=registry.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        deadline = asyncio.get_running_loop().time() + within
        while asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    envelope = json.loads(record.value)
                    payload = envelope["payload"]
                    if (envelope["event_type"], payload.get("decree_number")) == (
                        "registry.determination_issued", decree_number,
                    ):  # fmt: skip
                        return dict(payload)
    finally:
        await consumer.stop()
    return None


async def test_an_agency_exports_a_decrees_institutions_masked_and_its_assistance_by_region(registry):
    await registry.accept([acceptance("prop-hh-x", accepted_at=ago(9), household=make_household(41))])
    home = make_institution()
    elsewhere = make_institution("Panti Werdha Sejahtera", village="17.71.02.1001", service_type="elderly")
    await _accept(
        registry,
        [
            institution_acceptance("prop-lks-x", accepted_at=ago(9), institution=home),
            institution_acceptance("prop-lks-y", accepted_at=ago(9), institution=elsewhere),
        ],
    )
    assert (await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(8))).status_code == 201
    iid, other = institution_id_for("prop-lks-x"), institution_id_for("prop-lks-y")
    kind = ProposalKind.INSTITUTION_ASSISTANCE
    niks = tuple(r.nik for r in home.residents)
    await _accept(
        registry,
        [
            institution_acceptance("prop-ax-1", accepted_at=ago(7), kind=kind, target=iid, village_code=home.village_code,
                                   assistance=Assistance(program="ATENSI", basis="per_resident", residents=niks[:1], **QUARTER)),
            institution_acceptance("prop-ax-2", accepted_at=ago(7), kind=kind, target=other,
                                   village_code=elsewhere.village_code,
                                   assistance=Assistance(program="PERMAKANAN", basis="per_institution", **QUARTER)),
        ],
    )  # fmt: skip
    issued = await registry.decree("2/HUK/2027", "2027-04", cutoff=ago(6))
    assert issued.status_code == 201, issued.text
    # Listed by institution, then proposal (the decree's order, and the export's).
    listed = sorted([(iid, "prop-ax-1"), (other, "prop-ax-2")])
    assert [
        (a["institution_id"], a["proposal_id"]) for a in issued.json()["institution_assistance"]
    ] == listed

    # An agency of Kota Bengkulu's first district reads the assistance of its institutions only.
    agency = registry.auth(Role.AGENCY, "17.71.01", programs=("BLT",))
    export = "/determinations/2/HUK/2027/export"
    answer = await registry.client.get(export, params={"section": "assistance"}, headers=agency)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert 'filename="assistance-2-HUK-2027.csv"' in answer.headers["content-disposition"]
    assert _csv(answer.text) == [
        {
            "institution_id": iid, "registration_number": home.registration_number, "name": home.name,
            "service_type": "children", "village_code": home.village_code, "proposal_id": "prop-ax-1",
            "program": "ATENSI", "starts_on": "2027-04-01", "ends_on": "2027-06-30", "basis": "per_resident",
            "residents_counted": "1", "decree_number": "2/HUK/2027",
        }
    ]  # fmt: skip
    # The Ministry's readers see the whole country's, as JSON Lines too.
    auditor = registry.auth(Role.AUDITOR)
    lines = await registry.client.get(
        export, params={"section": "assistance", "format": "jsonl"}, headers=auditor
    )
    entries = [json.loads(line) for line in lines.text.splitlines()]
    assert [(e["institution_id"], e["proposal_id"]) for e in entries] == listed
    assert {e["proposal_id"]: (e["program"], e["residents_counted"]) for e in entries} == {
        "prop-ax-1": ("ATENSI", 1), "prop-ax-2": ("PERMAKANAN", 2),
    }  # fmt: skip
    # The section is the register's as of the decree: an earlier decree had no assistance yet.
    earlier = await registry.client.get(
        "/determinations/1/HUK/2027/export", params={"section": "assistance"}, headers=auditor
    )
    assert _csv(earlier.text) == []

    # The institutions section: one row per resident, masked for the agency, whole for the auditor.
    rows = _csv((await registry.client.get(export, params={"section": "institutions"}, headers=agency)).text)
    assert [(r["institution_id"], r["resident_nik"], r["resident_name"]) for r in rows] == [
        (iid, n[:6] + "*" * 10, "A*** S******") for n in niks
    ]
    rows = _csv((await registry.client.get(export, params={"section": "institutions"}, headers=auditor)).text)
    assert sorted({r["institution_id"] for r in rows}) == sorted({iid, other})
    assert {r["resident_nik"] for r in rows if r["institution_id"] == iid} == set(niks)
    # The households' export is as it was: its rows are households' members.
    households = _csv((await registry.client.get(export, headers=auditor)).text)
    assert {r["household_id"] for r in households} == {household_id_for("prop-hh-x")}
    # A household program names no institution: refused with what to do.
    refused = await registry.client.get(
        export, params={"section": "assistance", "program": "BLT"}, headers=agency
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_request")

    # Subscribed agencies receive the decree's assistance list in the decree's own event.
    copy = await _decree_copy(registry, "2/HUK/2027")
    assert copy is not None, "the decree is not on the public topic"
    assert [(a["institution_id"], a["proposal_id"]) for a in copy["institution_assistance"]] == listed
