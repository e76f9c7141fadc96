"""Institutions (LKS) enter the quarterly decree (#19 step 4): the Ministry's acceptances of
institutions become the register's institutions section, in the decree's lists and its Merkle root,
readable by region and scope, reproduced by the replay and by dtks-audit, while a decree issued
before any institution keeps its bytes and its root. Real Kafka, real PostgreSQL."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dtks_audit.cli import audit_decrees
from dtks_contracts.household import Household
from dtks_contracts.register_hash import register_root_of
from dtks_contracts.topics import REGISTRY_EVENTS
from dtks_contracts.vocabulary.institutions import ClosureReason
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
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra

REGENCY = "17.71"


async def _accept_institutions(registry: Any, events: list[Any]) -> None:
    before = await registry.count("SELECT count(*) FROM institution_candidates")
    await produce(registry.settings.kafka_bootstrap, registry.settings.topic_prefix, events)

    async def kept() -> bool:
        return await registry.count("SELECT count(*) FROM institution_candidates") >= before + len(events)

    await wait_until(kept, what="institutions' acceptances kept")


def _operator_of(registry: Any, institution_id: str, village: str) -> dict[str, str]:
    token = TokenService(registry.settings.jwt_secret, registry.settings.jwt_issuer).issue(
        subject="lks-op", role=Role.INSTITUTION_OPERATOR, region=village, institution_id=institution_id
    )
    return {"authorization": f"Bearer {token}"}


async def _households(registry: Any, *hids: str) -> list[Household]:
    auditor = registry.auth(Role.AUDITOR)
    return [
        Household.model_validate(
            (await registry.client.get(f"/households/{h}", headers=auditor)).json()["household"]
        )
        for h in hids
    ]


async def _relayed(registry: Any) -> bool:
    async with registry.pool.acquire() as conn:
        return bool(await registry.runtime.relay.lag(conn) == 0)


async def test_an_accepted_institution_enters_the_next_decree_its_root_and_the_scoped_reads(registry):
    # A decree of households only, before any institution: its bytes and root must never change.
    await registry.accept([acceptance("prop-hh-1", accepted_at=ago(6), household=make_household(1))])
    first = await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(5))
    assert first.status_code == 201, first.text
    first_bytes = (
        await registry.client.get("/determinations/1/HUK/2027", headers=registry.auth(Role.AUDITOR))
    ).content
    assert "institutions_registered" not in first.json() and "institutions" not in first.json()["counts"]

    institution = make_institution()
    await _accept_institutions(
        registry, [institution_acceptance("prop-lks-1", accepted_at=ago(4), institution=institution)]
    )
    second = await registry.decree("2/HUK/2027", "2027-04", cutoff=ago(3))
    assert second.status_code == 201, second.text
    issued = second.json()
    iid = institution_id_for("prop-lks-1")
    assert (issued["registered"], issued["institutions_registered"]) == ([], [iid])
    assert issued["counts"] == {"households": 1, "people": 2, "institutions": 1}
    assert issued["tree_size"] == 2
    registered = institution.model_copy(update={"institution_id": iid})
    households = await _households(registry, household_id_for("prop-hh-1"))
    # The root covers the institutions section, with leaves of their own after the households'.
    assert issued["register_hash"] == register_root_of(households, [registered])
    assert issued["register_hash"] != register_root_of(households)
    assert issued["previous_register_hash"] == first.json()["register_hash"] == register_root_of(households)

    # Read by region: the regency's staff see the residents, a partner agency sees them masked.
    staff = await registry.client.get(
        "/institutions", params={"region": REGENCY}, headers=registry.auth(Role.REGENCY_OPERATOR, REGENCY)
    )
    assert staff.status_code == 200, staff.text
    (listed,) = staff.json()["institutions"]
    assert (listed["institution_id"], listed["status"], listed["residents"]) == (iid, "open", 2)
    assert listed["registered_in"] == "2/HUK/2027"
    assert [r["nik"] for r in listed["institution"]["residents"]] == [r.nik for r in institution.residents]
    agency = await registry.client.get(
        f"/institutions/{iid}", headers=registry.auth(Role.AGENCY, "ID", programs=("PKH",))
    )
    assert agency.status_code == 200, agency.text
    masked = agency.json()["institution"]["residents"][0]
    assert masked["nik"] == institution.residents[0].nik[:6] + "*" * 10 and masked["name"] == "A*** S******"
    # Its own operator reads it; another institution's operator and another region's staff do not.
    village = institution.village_code
    assert (
        await registry.client.get(f"/institutions/{iid}", headers=_operator_of(registry, iid, village))
    ).status_code == 200
    other = _operator_of(registry, "lks-other", village)
    assert (await registry.client.get(f"/institutions/{iid}", headers=other)).status_code == 404
    listing = await registry.client.get("/institutions", headers=other)
    assert (listing.status_code, listing.json()["code"]) == (403, "outside_region")
    elsewhere = registry.auth(Role.REGENCY_OPERATOR, "17.01")
    assert (await registry.client.get(f"/institutions/{iid}", headers=elsewhere)).status_code == 404
    assert (
        await registry.client.get("/institutions", params={"region": REGENCY}, headers=elsewhere)
    ).status_code == 403

    # The decree before institutions is served with the same bytes, and its household proofs hold.
    assert (
        await registry.client.get("/determinations/1/HUK/2027", headers=registry.auth(Role.AUDITOR))
    ).content == first_bytes
    for decree in ("1/HUK/2027", "2/HUK/2027"):
        proof = await registry.client.get(
            "/decree-proofs/inclusion",
            params={"decree": decree, "household_id": household_id_for("prop-hh-1")},
            headers=registry.auth(Role.AUDITOR),
        )
        assert proof.status_code == 200, proof.text
        assert proof.json()["tree_head"]["tree_size"] == (1 if decree == "1/HUK/2027" else 2)


async def test_a_change_then_a_closure_in_later_decrees_and_replays_reproduce_every_root(registry):
    await registry.accept([acceptance("prop-hh-2", accepted_at=ago(9), household=make_household(2))])
    assert (await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(8))).status_code == 201
    institution = make_institution("Panti Werdha Kasih", service_type="elderly")
    await _accept_institutions(
        registry, [institution_acceptance("prop-lks-2", accepted_at=ago(7), institution=institution)]
    )
    assert (await registry.decree("2/HUK/2027", "2027-04", cutoff=ago(6))).status_code == 201
    iid = institution_id_for("prop-lks-2")

    bigger = institution.model_copy(update={"capacity": 60})
    await _accept_institutions(
        registry,
        [institution_acceptance("prop-lks-2-change", accepted_at=ago(5), institution=bigger,
                                kind=ProposalKind.INSTITUTION_CHANGE, target=iid)],
    )  # fmt: skip
    third = (await registry.decree("3/HUK/2027", "2027-07", cutoff=ago(4))).json()
    assert (third["institutions_changed"], third["counts"]["institutions"]) == ([iid], 1)
    households = await _households(registry, household_id_for("prop-hh-2"))
    changed = bigger.model_copy(update={"institution_id": iid})
    assert third["register_hash"] == register_root_of(households, [changed])
    auditor = registry.auth(Role.AUDITOR)
    read = (await registry.client.get(f"/institutions/{iid}", headers=auditor)).json()
    assert (read["institution"]["capacity"], read["last_decree"]) == (60, "3/HUK/2027")

    # A closure and a later change of the same institution in one decree: the closure wins, the
    # change is reported as not applied (the households' rule).
    await _accept_institutions(
        registry,
        [
            institution_acceptance("prop-lks-2-close", accepted_at=ago(3.5), kind=ProposalKind.INSTITUTION_CLOSURE,
                                   target=iid, closure_reason=ClosureReason.DISSOLVED),
            institution_acceptance("prop-lks-2-late", accepted_at=ago(3.2), institution=bigger.model_copy(update={"capacity": 80}),
                                   kind=ProposalKind.INSTITUTION_CHANGE, target=iid),
        ],
    )  # fmt: skip
    fourth = await registry.decree("4/HUK/2027", "2027-10", cutoff=ago(3))
    assert fourth.status_code == 201, fourth.text
    closed = fourth.json()
    assert closed["institutions_closed"] == [iid] and "institutions_changed" not in closed  # empty: absent
    assert "institutions" not in closed["counts"]  # none open: the section is absent
    assert closed["register_hash"] == register_root_of(households)
    assert {n["proposal_id"]: n.get("institution_id") for n in closed["not_applied"]} == {
        "prop-lks-2-late": iid
    }
    read = (await registry.client.get(f"/institutions/{iid}", headers=auditor)).json()
    assert (read["status"], read["closure_reason"], read["closed_in"]) == (
        "closed",
        "dissolved",
        "4/HUK/2027",
    )
    closed_list = await registry.client.get(
        "/institutions", params={"region": REGENCY, "status": "closed"}, headers=auditor
    )
    assert [i["institution_id"] for i in closed_list.json()["institutions"]] == [iid]

    # Each institution event is on the institution's own stream, for verification's consumer.
    async with registry.pool.acquire() as conn:
        types = await conn.fetch(
            "SELECT event_type FROM events WHERE stream_id = $1 ORDER BY stream_version", f"institution:{iid}"
        )
    assert [t["event_type"] for t in types] == [
        "registry.institution_registered", "registry.institution_changed", "registry.institution_closed",
    ]  # fmt: skip

    # The institution's audit history: its proposals' acceptances, its own events and the decrees
    # that fixed them, each decree trimmed to what it did to this institution.
    async def history() -> list[dict[str, Any]]:
        answer = await registry.client.get(f"/audit/institutions/{iid}/history", headers=auditor)
        return list(answer.json().get("events", [])) if answer.is_success else []

    async def closed_in_history() -> bool:
        return any(e["event_type"] == "registry.institution_closed" for e in await history())

    await wait_until(closed_in_history, what="the institution's closure in its audit history")
    events = await history()
    own = [e["event_type"] for e in events if e["event_type"].startswith("registry.institution_")]
    assert own == [
        "registry.institution_registered",
        "registry.institution_changed",
        "registry.institution_closed",
    ]
    decrees = {
        e["payload"]["decree_number"]: e["payload"]
        for e in events
        if e["event_type"] == "registry.determination_issued"
    }
    assert {n: d["this_institution"]["change"] for n, d in decrees.items()} == {
        "2/HUK/2027": "registered",
        "3/HUK/2027": "changed",
        "4/HUK/2027": "closed",
    }  # the households-only decree 1 is not the institution's history
    assert all("institutions_registered" not in d and "institution_leaves" not in d for d in decrees.values())
    accepted = {
        e["payload"]["proposal_id"] for e in events if e["event_type"] == "verification.accepted_by_ministry"
    }
    assert {"prop-lks-2", "prop-lks-2-change", "prop-lks-2-close"} <= accepted
    unknown = await registry.client.get("/audit/institutions/lks-nowhere/history", headers=auditor)
    assert (unknown.status_code, unknown.json()["code"]) == (404, "institution_not_found")
    village = registry.auth(Role.VILLAGE_OPERATOR, institution.village_code)
    assert (
        await registry.client.get(f"/audit/institutions/{iid}/history", headers=village)
    ).status_code == 403

    # The replay rebuilds the institutions section: every decree's root, and the live tables, agree.
    await wait_until(lambda: _relayed(registry), what="registry events published")
    rebuilt = (
        await registry.client.post("/audit/replays", json={"as_of_decree": "3/HUK/2027"}, headers=auditor)
    ).json()
    assert rebuilt["register_hash"] == third["register_hash"]
    assert rebuilt["institutions"] == {"in_register_hash": 1, "open_now": 0}
    verified = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert verified["ok"], json.dumps(verified["decrees"] + [verified["tables"]["institutions"]], indent=1)
    assert [d["matches"] for d in verified["decrees"]] == [True] * 4
    assert (
        verified["tables"]["institutions"]["matches"] and verified["tables"]["institution_changes"]["matches"]
    )

    # An altered institution row in the live table is found by the verify.
    async with registry.pool.acquire() as conn:
        await conn.execute("UPDATE institutions SET name = 'Panti Palsu' WHERE institution_id = $1", iid)
    tampered = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert not tampered["ok"] and tampered["tables"]["institutions"]["rows"] == 1

    # dtks-audit, from the topic alone, recomputes every root with the institutions section.
    bootstrap = registry.settings.kafka_bootstrap
    topic = REGISTRY_EVENTS.with_prefix(registry.settings.topic_prefix).name
    key = (await registry.client.get("/.well-known/dtks-decree-keys")).json()["current"]["public_key"]
    report = await audit_decrees(bootstrap, topic, [key])
    assert report["ok"], json.dumps(report, indent=1)
    assert [d["recomputed_hash"] for d in report["decrees"]] == [
        d["recorded_hash"] for d in verified["decrees"]
    ]


async def _public_copies(registry: Any, event_ids: set[str], within: float = 60) -> dict[str, dict[str, Any]]:
    """The records of the registry's public topic (the agencies' copy) with these event ids."""
    import asyncio

    from aiokafka import AIOKafkaConsumer

    from dtks_contracts.topics import REGISTRY_PUBLIC

    consumer = AIOKafkaConsumer(
        REGISTRY_PUBLIC.with_prefix(registry.settings.topic_prefix).name,
        bootstrap_servers=registry.settings.kafka_bootstrap,
        auto_offset_reset="earliest",
    )
    await consumer.start()
    found: dict[str, dict[str, Any]] = {}
    try:
        deadline = asyncio.get_running_loop().time() + within
        while not event_ids <= found.keys() and asyncio.get_running_loop().time() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for record in records:
                    envelope = json.loads(record.value)
                    if envelope["event_id"] in event_ids:
                        found[envelope["event_id"]] = envelope
    finally:
        await consumer.stop()
    return found


async def test_agencies_read_a_decreed_institution_masked_its_proof_verifies_and_a_resident_is_found(
    registry,
):
    from dtks_audit.proof_file import verify_proof
    from dtks_audit.signatures import TrustedKeys

    institution = make_institution()
    await _accept_institutions(
        registry, [institution_acceptance("prop-lks-9", accepted_at=ago(4), institution=institution)]
    )
    # The register says it received the institution's acceptance, as it does a household's.
    received = await registry.client.get("/candidates/prop-lks-9", headers=registry.auth(Role.AUDITOR))
    assert received.status_code == 200, received.text
    assert (received.json()["kind"], received.json()["institution_id"]) == ("institution_registration", None)
    await registry.accept([acceptance("prop-hh-9", accepted_at=ago(4), household=make_household(9))])
    issued = await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(3))
    assert issued.status_code == 201, issued.text
    iid = institution_id_for("prop-lks-9")

    # The agencies' copy on the public topic: the institution's registration, residents masked.
    async with registry.pool.acquire() as conn:
        event_id = str(
            await conn.fetchval("SELECT event_id FROM institution_changes WHERE institution_id = $1", iid)
        )
    copies = await _public_copies(registry, {event_id})
    assert event_id in copies, "the institution's registration is not on the public topic"
    copy = copies[event_id]
    assert (copy["event_type"], copy["payload"]["institution_id"]) == ("registry.institution_registered", iid)
    assert [(r["nik"], r["name"]) for r in copy["payload"]["institution"]["residents"]] == [
        (r.nik[:6] + "*" * 10, "A*** S******") for r in institution.residents
    ]

    # An inclusion proof of the institution's leaf that the auditors' tool verifies offline.
    key = (await registry.client.get("/.well-known/dtks-decree-keys")).json()["current"]["public_key"]
    trusted = TrustedKeys.of([key])
    staff = registry.auth(Role.REGENCY_OPERATOR, REGENCY)
    answer = await registry.client.get(
        "/decree-proofs/institution-inclusion", params={"decree": "1/HUK/2027", "institution_id": iid},
        headers=staff,
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    proof = answer.json()
    assert (proof["leaf_index"], proof["tree_head"]["tree_size"]) == (1, 2)  # after the household
    assert proof["tree_head"]["register_hash"] == issued.json()["register_hash"]
    assert verify_proof(proof, trusted) == []
    assert verify_proof({**proof, "institution_digest": "0" * 64}, trusted)  # a doctored one fails
    # Out of scope, or not in the decree: absent, as for households.
    elsewhere = registry.auth(Role.REGENCY_OPERATOR, "17.01")
    for params, headers in (
        ({"decree": "1/HUK/2027", "institution_id": iid}, elsewhere),
        ({"decree": "1/HUK/2027", "institution_id": "lks-none"}, staff),
    ):
        refused = await registry.client.get(
            "/decree-proofs/institution-inclusion", params=params, headers=headers
        )
        assert (refused.status_code, refused.json()["code"]) == (404, "institution_not_in_decree")

    # The citizens' check answers for a resident, masked as for a household's member.
    resident = institution.residents[0]
    check = await registry.client.get(
        "/public/registration-status", params={"nik": resident.nik, "name": resident.name}
    )
    assert check.status_code == 200, check.text
    assert check.json() == {
        "nik": resident.nik[:6] + "*" * 10, "name": "A*** S******", "registered": True, "programs": [],
        "as_of_decree": "1/HUK/2027",
    }  # fmt: skip
    wrong = await registry.client.get(
        "/public/registration-status", params={"nik": resident.nik, "name": "Budi Santoso"}
    )
    assert wrong.json()["registered"] is False


async def test_institutions_are_found_by_their_accreditation_on_a_day_and_by_grade(registry):
    accredited = make_institution(
        "LKSA Harapan Bunda", accreditation={"grade": "B", "valid_until": "2027-06-30"}
    )
    unaccredited = make_institution("Panti Werdha Kasih", service_type="elderly")
    await _accept_institutions(
        registry,
        [
            institution_acceptance("prop-lks-acc", accepted_at=ago(4), institution=accredited),
            institution_acceptance("prop-lks-none", accepted_at=ago(4), institution=unaccredited),
        ],
    )
    assert (await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(3))).status_code == 201
    staff = registry.auth(Role.REGENCY_OPERATOR, REGENCY)

    async def listed(**params: str) -> list[str]:
        answer = await registry.client.get(
            "/institutions", params={"region": REGENCY, **params}, headers=staff
        )
        assert answer.status_code == 200, answer.text
        return [i["institution_id"] for i in answer.json()["institutions"]]

    with_grade, without = institution_id_for("prop-lks-acc"), institution_id_for("prop-lks-none")
    assert sorted(await listed()) == sorted([with_grade, without])
    # Valid through its last day; expired the day after; a home never accredited is neither.
    assert await listed(accreditation="valid", accreditation_on="2027-06-30") == [with_grade]
    assert await listed(accreditation="expired", accreditation_on="2027-06-30") == []
    assert await listed(accreditation="expired", accreditation_on="2027-07-01") == [with_grade]
    assert await listed(accreditation="valid", accreditation_on="2027-07-01") == []
    assert await listed(accreditation="none") == [without]
    assert await listed(grade="B") == [with_grade]
    assert await listed(grade="A") == []
    refused = await registry.client.get(
        "/institutions", params={"region": REGENCY, "accreditation": "soon"}, headers=staff
    )
    assert refused.status_code == 422, refused.text

    # The recap's institutions section, on a day inside the accreditation and after it.
    async def recap(day: str) -> dict[str, Any]:
        stats = await registry.client.get("/stats", params={"region": REGENCY, "on": day}, headers=staff)
        assert stats.status_code == 200, stats.text
        return dict(stats.json()["institutions"])

    inside = await recap("2027-06-30")
    assert (inside["open"], inside["closed"], inside["residents"]) == (2, 0, 4)
    assert (inside["accredited"], inside["accreditation_expired"], inside["not_accredited"]) == (1, 0, 1)
    assert inside["by_service_type"] == [
        {"service_type": "children", "institutions": 1, "residents": 2},
        {"service_type": "elderly", "institutions": 1, "residents": 2},
    ]
    after = await recap("2027-07-01")
    assert (after["accredited"], after["accreditation_expired"], after["not_accredited"]) == (0, 1, 1)
    before_admission = await recap("2020-01-01")  # the residents were admitted from 2021 on
    assert before_admission["residents"] == 0
    # A day is written as one: a number (which pydantic would read as seconds since 1970) is refused.
    for param, path in (("on", "/stats"), ("accreditation_on", "/institutions")):
        refused = await registry.client.get(
            path, params={"region": REGENCY, param: "9.4e-287"}, headers=staff
        )
        assert (refused.status_code, refused.json()["code"]) == (422, "invalid_request"), refused.text
