"""Institutions' assistance in the decree (#19): the Ministry's acceptance of an assistance enters
the next decree's list of what each institution is to receive, and its assistance section of the
register's root; the registry answers an institution's assistance within scope, and the replay and
dtks-audit reproduce every root. Real Kafka, real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from dtks_audit.cli import audit_decrees
from dtks_contracts.household import Household
from dtks_contracts.institution import Assistance, DeterminedAssistance
from dtks_contracts.merkle import ASSISTANCE_SECTION
from dtks_contracts.register_hash import register_root_of
from dtks_contracts.topics import REGISTRY_EVENTS
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

QUARTER = {"starts_on": dt.date(2027, 4, 1), "ends_on": dt.date(2027, 6, 30)}


async def _accept(registry: Any, events: list[Any]) -> None:
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


async def _relayed(registry: Any) -> bool:
    async with registry.pool.acquire() as conn:
        return bool(await registry.runtime.relay.lag(conn) == 0)


async def test_accepted_assistance_is_listed_in_the_next_decree_its_root_the_scoped_read_and_the_audits(
    registry,
):
    await registry.accept([acceptance("prop-hh-1", accepted_at=ago(9), household=make_household(1))])
    institution = make_institution()
    await _accept(
        registry, [institution_acceptance("prop-lks-a", accepted_at=ago(9), institution=institution)]
    )
    first = await registry.decree("1/HUK/2027", "2027-01", cutoff=ago(8))
    assert first.status_code == 201, first.text
    assert first.json()["registered"] == [household_id_for("prop-hh-1")], first.text
    assert "institution_assistance" not in first.json()  # none yet: the field is absent
    assert ASSISTANCE_SECTION not in first.json()["hash_algorithm"]
    iid = institution_id_for("prop-lks-a")
    registered = institution.model_copy(update={"institution_id": iid})
    niks = tuple(r.nik for r in institution.residents)

    per_resident = Assistance(program="ATENSI", basis="per_resident", residents=niks[:1], **QUARTER)
    per_institution = Assistance(program="PERMAKANAN", basis="per_institution", **QUARTER)
    kind = ProposalKind.INSTITUTION_ASSISTANCE
    await _accept(
        registry,
        [
            institution_acceptance("prop-as-1", accepted_at=ago(7), kind=kind, target=iid, assistance=per_resident,
                                   village_code=institution.village_code),
            institution_acceptance("prop-as-2", accepted_at=ago(7), kind=kind, target=iid, assistance=per_institution,
                                   village_code=institution.village_code),
            # For an institution the register does not hold: reported, never silently dropped.
            institution_acceptance("prop-as-3", accepted_at=ago(7), kind=kind, target="lks-unknown",
                                   assistance=per_institution, village_code=institution.village_code),
        ],
    )  # fmt: skip
    answer = await registry.decree("2/HUK/2027", "2027-04", cutoff=ago(6))
    assert answer.status_code == 201, answer.text
    second = answer.json()
    listed = [DeterminedAssistance.model_validate(a) for a in second["institution_assistance"]]
    assert [(a.proposal_id, a.program.value, a.basis.value, a.residents_counted) for a in listed] == [
        ("prop-as-1", "ATENSI", "per_resident", 1),
        ("prop-as-2", "PERMAKANAN", "per_institution", 2),
    ]
    assert {n["proposal_id"] for n in second["not_applied"]} == {"prop-as-3"}
    # The assistance section is in the root and said in the algorithm; the tree has its leaves.
    hid = household_id_for("prop-hh-1")
    auditor = registry.auth(Role.AUDITOR)
    read_household = await registry.client.get(f"/households/{hid}", headers=auditor)
    assert read_household.status_code == 200, read_household.text
    household = Household.model_validate(read_household.json()["household"])
    assert second["register_hash"] == register_root_of([household], [registered], listed)
    assert second["hash_algorithm"].endswith(ASSISTANCE_SECTION) and second["tree_size"] == 4
    # A household's proof still holds in a decree with assistance (the tree has its section).
    proof = await registry.client.get(
        "/decree-proofs/inclusion", params={"decree": "2/HUK/2027", "household_id": hid}, headers=auditor
    )
    assert proof.status_code == 200, proof.text
    assert proof.json()["tree_head"]["tree_size"] == 4

    # Read within scope: the regency's staff and the institution's own operator; another one's is missing.
    path = f"/institutions/{iid}/assistance"
    regency = registry.auth(Role.REGENCY_OPERATOR, "17.71")
    read = await registry.client.get(path, headers=regency)
    assert read.status_code == 200, read.text
    assert [(a["proposal_id"], a["decree_number"], a["residents_counted"]) for a in read.json()["assistance"]] == [
        ("prop-as-1", "2/HUK/2027", 1), ("prop-as-2", "2/HUK/2027", 2),
    ]  # fmt: skip
    own = await registry.client.get(path, headers=_operator_of(registry, iid, institution.village_code))
    assert own.status_code == 200 and len(own.json()["assistance"]) == 2
    other = await registry.client.get(
        path, headers=_operator_of(registry, "lks-lain", institution.village_code)
    )
    assert (other.status_code, other.json()["code"]) == (404, "institution_not_found")
    elsewhere = await registry.client.get(path, headers=registry.auth(Role.REGENCY_OPERATOR, "17.02"))
    assert elsewhere.status_code == 404
    later = await registry.client.get(path, params={"active_on": "2027-07-01"}, headers=regency)
    assert later.json()["assistance"] == []

    # The recap counts the assistance in force on a day: inside the quarter, then after it.
    async def in_force(day: str) -> list[dict[str, object]]:
        stats = await registry.client.get("/stats", params={"region": "17.71", "on": day}, headers=regency)
        assert stats.status_code == 200, stats.text
        return list(stats.json()["institutions"]["assistance_in_force"])

    assert await in_force("2027-05-01") == [
        {"program": "ATENSI", "institutions": 1, "residents_counted": 1},
        {"program": "PERMAKANAN", "institutions": 1, "residents_counted": 2},
    ]
    assert await in_force("2027-07-01") == []

    # Nothing pending is applied twice: a later decree with nothing new has nothing to determine.
    again = await registry.decree("3/HUK/2027", "2027-07", cutoff=ago(5))
    assert (again.status_code, again.json()["code"]) == (409, "nothing_to_determine")

    # The replay rebuilds the assistance from the decrees: every root and the live table agree.
    await wait_until(lambda: _relayed(registry), what="registry events published")
    rebuilt = (
        await registry.client.post("/audit/replays", json={"as_of_decree": "2/HUK/2027"}, headers=auditor)
    ).json()
    assert (rebuilt["register_hash"], rebuilt["assistance"]) == (
        second["register_hash"],
        {"in_register_hash": 2},
    )
    verified = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert verified["ok"], json.dumps(
        verified["decrees"] + [verified["tables"]["institution_assistance"]], indent=1
    )
    assert [d["matches"] for d in verified["decrees"]] == [True, True]
    async with registry.pool.acquire() as conn:
        await conn.execute(
            "UPDATE institution_assistance SET residents_counted = 9 WHERE proposal_id = 'prop-as-2'"
        )
    tampered = (await registry.client.post("/audit/replays", json={"mode": "verify"}, headers=auditor)).json()
    assert not tampered["ok"] and tampered["tables"]["institution_assistance"]["rows"] == 1

    # dtks-audit, from the topic alone, recomputes the root with the assistance section.
    bootstrap = registry.settings.kafka_bootstrap
    topic = REGISTRY_EVENTS.with_prefix(registry.settings.topic_prefix).name
    key = (await registry.client.get("/.well-known/dtks-decree-keys")).json()["current"]["public_key"]
    report = await audit_decrees(bootstrap, topic, [key])
    assert report["ok"], json.dumps(report, indent=1)
    assert [d["recomputed_hash"] for d in report["decrees"]] == [
        first.json()["register_hash"],
        second["register_hash"],
    ]
