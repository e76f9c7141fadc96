"""Residents of institutions (LKS, #19) in the citizens' check and its proof: found by NIK through
the projection's residents table (kept from the institution events, rebuilt by the replay), and
proven in the decree by the institution's leaf hash alone, so the answer names no institution. Real
Kafka, real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from dtks_audit.proof_file import verify_proof
from dtks_audit.signatures import TrustedKeys
from dtks_contracts.institution import Institution
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_contracts.vocabulary.roles import Role
from dtks_registry.domain.identity import institution_id_for
from dtks_registry.testing import (
    acceptance,
    ago,
    institution_acceptance,
    make_household,
    make_institution,
    nik,
    nik_birth_date,
    produce,
)
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra


async def _accept_institutions(registry: Any, events: list[Any]) -> None:
    before = await registry.count("SELECT count(*) FROM institution_candidates")
    await produce(registry.settings.kafka_bootstrap, registry.settings.topic_prefix, events)

    async def kept() -> bool:
        return await registry.count("SELECT count(*) FROM institution_candidates") >= before + len(events)

    await wait_until(kept, what="institutions' acceptances kept")


def _resident(number: int, name: str, discharged_on: str | None = None) -> dict[str, Any]:
    n = nik(number)
    return {
        "nik": n, "name": name, "birth_date": nik_birth_date(n).isoformat(),
        "admitted_on": max(nik_birth_date(n), dt.date(2021, 1, 4)).isoformat(), "discharged_on": discharged_on,
    }  # fmt: skip


def _rehabilitation_home(*residents: dict[str, Any]) -> Institution:
    return make_institution(
        "Panti Rehabilitasi Napza Harapan", service_type="drug_rehabilitation", residents=list(residents)
    )


async def _relayed(registry: Any) -> bool:
    async with registry.pool.acquire() as conn:
        return bool(await registry.runtime.relay.lag(conn) == 0)


async def test_a_resident_gets_a_proof_of_the_decree_that_names_no_institution_until_it_closes(registry):
    living = _resident(910_001, "Rahmat Hidayat")
    discharged = _resident(910_002, "Dedi Kurniawan", discharged_on="2024-06-30")
    home = _rehabilitation_home(living, discharged)
    await registry.accept([acceptance("prop-hh-r1", accepted_at=ago(8), household=make_household(31))])
    await _accept_institutions(
        registry, [institution_acceptance("prop-lks-r1", accepted_at=ago(8), institution=home)]
    )
    issued = await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(7))
    assert issued.status_code == 201, issued.text
    iid = institution_id_for("prop-lks-r1")

    answer = await registry.client.get(
        "/public/registration-proof", params={"nik": living["nik"], "name": "rahmat  HIDAYAT"}
    )
    assert answer.status_code == 200, answer.text
    found = answer.json()
    assert (found["in_decree"], found["decree"], found["name"]) == (True, "1/HUK/2027", "R***** H******")
    proof = found["proof"]
    assert proof["format"] == "dtks-leaf-inclusion-proof-v1"
    # Nothing that would let a reader find the institution: not its id, its digest, its name or type.
    for secret in (iid, "Panti", "drug_rehabilitation", living["nik"]):
        assert secret not in answer.text, secret
    assert "institution_id" not in proof and "institution_digest" not in proof
    # The auditors' tool checks it offline: the leaf's path leads to the root the Ministry signed.
    key = (await registry.client.get("/.well-known/dtks-decree-keys")).json()["current"]["public_key"]
    trusted = TrustedKeys.of([key])
    assert proof["tree_head"]["register_hash"] == issued.json()["register_hash"]
    assert (proof["leaf_index"], proof["tree_head"]["tree_size"]) == (1, 2)  # after the household's leaf
    assert verify_proof(proof, trusted) == []
    assert verify_proof({**proof, "leaf_hash": "0" * 64}, trusted)  # a doctored leaf does not verify
    assert verify_proof({**proof, "leaf_index": 0}, trusted)

    # A resident discharged before today is not in the register through the institution.
    gone = await registry.client.get(
        "/public/registration-proof", params={"nik": discharged["nik"], "name": discharged["name"]}
    )
    assert (gone.json()["in_decree"], gone.json()["proof"]) == (False, None)

    # Once a decree closes the institution, its residents are no longer found, by the check or the proof.
    await _accept_institutions(
        registry,
        [institution_acceptance("prop-lks-r1-close", accepted_at=ago(6), kind=ProposalKind.INSTITUTION_CLOSURE,
                                target=iid, closure_reason=ClosureReason.DISSOLVED)],
    )  # fmt: skip
    assert (await registry.decree("2/HUK/2027", "2027-04", cutoff=ago(5))).status_code == 201
    after = await registry.client.get(
        "/public/registration-proof", params={"nik": living["nik"], "name": living["name"]}
    )
    assert (after.json()["in_decree"], after.json()["decree"]) == (False, "2/HUK/2027")
    status = await registry.client.get(
        "/public/registration-status", params={"nik": living["nik"], "name": living["name"]}
    )
    assert status.json()["registered"] is False


async def test_the_residents_table_follows_the_institutions_changes_and_the_replay_rebuilds_it(registry):
    first, second, third = (_resident(920_000 + i, "Sri Wahyuni") for i in range(3))
    home = _rehabilitation_home(first, second)
    await _accept_institutions(
        registry, [institution_acceptance("prop-lks-r2", accepted_at=ago(8), institution=home)]
    )
    assert (await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(7))).status_code == 201
    iid = institution_id_for("prop-lks-r2")

    # A change discharges the second resident and admits a third: the table follows the record in force.
    changed = _rehabilitation_home(first, {**second, "discharged_on": "2025-01-31"}, third)
    await _accept_institutions(
        registry,
        [institution_acceptance("prop-lks-r2-change", accepted_at=ago(6), institution=changed,
                                kind=ProposalKind.INSTITUTION_CHANGE, target=iid)],
    )  # fmt: skip
    assert (await registry.decree("2/HUK/2027", "2027-04", cutoff=ago(5))).status_code == 201
    async with registry.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT nik, institution_id, discharged_on FROM institution_residents ORDER BY nik"
        )
    assert [(r["nik"], r["institution_id"], r["discharged_on"]) for r in rows] == [
        (first["nik"], iid, None), (second["nik"], iid, dt.date(2025, 1, 31)), (third["nik"], iid, None),
    ]  # fmt: skip

    # The replay builds the same table from the event log alone.
    auditor = registry.auth(Role.AUDITOR)
    await wait_until(lambda: _relayed(registry), what="registry events published")
    verified = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert verified["ok"], json.dumps(verified["tables"], indent=1)
    assert verified["tables"]["institution_residents"]["matches"]

    # The check reads the table: a resident taken out of it is no longer found, and the verify says so.
    check = {"nik": third["nik"], "name": third["name"]}
    assert (await registry.client.get("/public/registration-status", params=check)).json()[
        "registered"
    ] is True
    async with registry.pool.acquire() as conn:
        await conn.execute("DELETE FROM institution_residents WHERE nik = $1", third["nik"])
    assert (await registry.client.get("/public/registration-status", params=check)).json()[
        "registered"
    ] is False
    tampered = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert not tampered["ok"] and tampered["tables"]["institution_residents"]["rows"] == 1
