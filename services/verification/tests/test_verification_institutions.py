"""Institutions' (LKS) proposals run the same verification workflow as households' on their own
tier path (regency, province, Ministry), with their residents checked against the civil-registry
simulator: real Kafka, real PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import asyncpg
import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.events.proposal import ProposalSubmitted
from dtks_contracts.topics import VERIFICATION_EVENTS
from dtks_contracts.vocabulary import Role
from dtks_runtime.testing import wait_until
from dtks_verification.harness import POPULATION, Service
from dtks_verification.testing import TopicReader, envelope, resubmitted, withdrawn

pytestmark = pytest.mark.infra

VILLAGE = "17.71.01.1001"
SOCIAL_SERVICE = Actor(subject="dinsos-kota-bengkulu", role=Role.REGENCY_OPERATOR, region="17.71")
# Living people of the simulator's population, from its end (the household tests draw families).
_PEOPLE = [r for r in reversed(list(POPULATION.civil_registry_records())) if r.alive][:40]
_next_person = iter(_PEOPLE)


def _resident(person: Any, **changes: Any) -> dict[str, Any]:
    admitted = max(person.birth_date, dt.date(2021, 1, 4))
    fields = {
        "nik": person.nik,
        "name": person.name,
        "birth_date": person.birth_date.isoformat(),
        "admitted_on": admitted.isoformat(),
    }
    return {**fields, **changes}


def registration(residents: list[dict[str, Any]], name: str = "LKSA Harapan Bunda") -> ProposalSubmitted:
    return ProposalSubmitted.model_validate(
        {
            "proposal_id": str(uuid.uuid4()),
            "round": 1,
            "kind": "institution_registration",
            "origin": "social_service",
            "village_code": VILLAGE,
            "submitted_by": SOCIAL_SERVICE.model_dump(mode="json"),
            "institution": {
                "name": name,
                "legal_form": "foundation",
                "registration_number": "AHU-0012345.AH.01.04.Tahun 2019",
                "service_type": "children",
                "address": {"street": "Jl. Pagar Dewa No. 21"},
                "village_code": VILLAGE,
                "head": "Nurhayati",
                "capacity": 40,
                "licence": {"number": "460/112/DINSOS/2024", "issued_by": "17.71", "issued_on": "2024-02-01"},
                "contact": {"phone": "+6273621234"},
                "bank_account_ref": "bank-ref:lksa",
                "residents": residents,
            },
        }
    )


async def decide(service: Service, proposal: Any, tier: str, decision: str = "forward", **extra: Any) -> Any:
    role, region = {
        "regency": (Role.REGENCY_OPERATOR, VILLAGE[:5]),
        "province": (Role.PROVINCE_VERIFIER, VILLAGE[:2]),
        "ministry": (Role.MINISTRY_VERIFIER, "ID"),
        "district": (Role.DISTRICT_VERIFIER, VILLAGE[:8]),
    }[tier]
    body = {"proposal_id": proposal.proposal_id, "tier": tier, "decision": decision, **extra}
    return await service.http.post("/decisions", json=body, headers=service.auth(role, region))


def codes(standing: dict[str, Any]) -> set[str]:
    return {f["code"] for check in standing["checks"] for f in check["findings"]}


async def test_an_institution_goes_regency_province_ministry_is_returned_at_the_province_and_resubmitted(
    service: Service,
) -> None:
    proposal = registration([_resident(next(_next_person)), _resident(next(_next_person))])
    await service.publish([envelope(proposal)])
    standing = await service.wait_status(proposal.proposal_id, "in_tier")
    assert standing["tier"] == "regency" and codes(standing) == set()  # no district tier for institutions

    district = await decide(service, proposal, "district")
    assert district.status_code == 409 and district.json()["code"] == "out_of_turn"
    forwarded = await decide(service, proposal, "regency")
    assert forwarded.status_code == 200 and forwarded.json()["tier"] == "province", (
        forwarded.text
    )  # no regent
    returned = await decide(
        service, proposal, "province", "return", reasons=["EVIDENCE_MISSING"], note="No visit"
    )
    assert returned.status_code == 200 and returned.json()["status"] == "returned", returned.text

    again = resubmitted(proposal, 2)
    await service.publish([envelope(again, version=2)])
    standing = await service.wait_status(proposal.proposal_id, "in_tier")
    assert (standing["round"], standing["tier"]) == (2, "regency")
    for tier, following in (("regency", "province"), ("province", "ministry")):
        answer = await decide(service, again, tier)
        assert answer.status_code == 200 and answer.json()["tier"] == following, answer.text
    await decide(service, again, "ministry")
    await service.wait_status(proposal.proposal_id, "accepted")

    async with TopicReader(
        service.kafka_bootstrap, service.settings.topic_prefix + VERIFICATION_EVENTS.name
    ) as topic:

        async def accepted() -> bool:
            await topic.poll()
            return bool(topic.of(proposal.proposal_id, "verification.accepted_by_ministry"))

        await wait_until(accepted, 30, "the acceptance on Kafka")
        (event,) = topic.of(proposal.proposal_id, "verification.accepted_by_ministry")
        assert event.payload["kind"] == "institution_registration"
        assert event.payload["institution"]["name"] == "LKSA Harapan Bunda"
        (returned_event,) = topic.of(proposal.proposal_id, "verification.returned_at_tier")
        assert returned_event.payload["tier"] == "province"
        assert returned_event.payload["reasons"][0]["code"] == "EVIDENCE_MISSING"


async def test_residents_are_checked_against_the_civil_registry_and_nobody_lives_in_two_institutions(
    service: Service,
) -> None:
    shared, other, wrong = next(_next_person), next(_next_person), next(_next_person)
    first = registration([_resident(shared), _resident(other)])
    await service.publish([envelope(first)])
    await service.wait_status(first.proposal_id, "in_tier")

    # The same person named as a current resident of a second institution: returned at entry.
    second = registration([_resident(shared)], name="Panti Werdha Kasih")
    # A name the civil registry does not know for the NIK, and an unknown NIK.
    unknown_nik = wrong.nik[:12] + ("9999" if wrong.nik[12:] != "9999" else "9998")
    third = registration(
        [_resident(wrong, name="Bukan Namanya"), _resident(wrong, nik=unknown_nik)], name="Rumah Singgah"
    )
    await service.publish([envelope(second), envelope(third)])
    standing = await service.wait_status(second.proposal_id, "returned")
    assert "RESIDENT_IN_ANOTHER_INSTITUTION" in codes(standing)
    standing = await service.wait_status(third.proposal_id, "returned")
    assert {"NAME_MISMATCH", "NIK_NOT_IN_CIVIL_REGISTRY"} <= codes(standing)

    # A past stay is history, not a second home: a resident discharged yesterday clashes with nobody.
    discharged = _resident(shared, discharged_on=(dt.date.today() - dt.timedelta(days=1)).isoformat())
    later = registration([discharged], name="Panti Werdha Kasih II")
    await service.publish([envelope(later)])
    standing = await service.wait_status(later.proposal_id, "in_tier", "returned")
    assert codes(standing) == set() and standing["tier"] == "regency"


async def _wait_registered(service: Service, institution_id: str, *, active: bool) -> None:
    settings = service.settings
    connection = await asyncpg.connect(settings.database_url, database=settings.database_for("verification"))
    try:

        async def applied() -> bool:
            row = await connection.fetchval(
                "SELECT active FROM registered_institutions WHERE institution_id = $1", institution_id
            )
            return row is active

        await wait_until(
            applied, what=f"institution {institution_id} active={active} in verification's register"
        )
    finally:
        await connection.close()


def closure(institution_id: str) -> ProposalSubmitted:
    return ProposalSubmitted.model_validate(
        {
            "proposal_id": str(uuid.uuid4()),
            "round": 1,
            "kind": "institution_closure",
            "origin": "social_service",
            "village_code": VILLAGE,
            "submitted_by": SOCIAL_SERVICE.model_dump(mode="json"),
            "target_institution_id": institution_id,
            "closure_reason": "dissolved",
            "evidence_note": "Akta pembubaran yayasan No. 12 tanggal 3 Maret 2026",
        }
    )


async def test_the_registers_institutions_hold_their_residents_and_are_found_by_changes_and_closures(
    service: Service,
) -> None:
    from dtks_contracts.events.registry import InstitutionClosed, InstitutionRegistered
    from dtks_contracts.institution import Institution

    resident = next(_next_person)
    institution_id = str(uuid.uuid4())
    snapshot = registration([_resident(resident)], name="LKSA Terdaftar").institution
    assert snapshot is not None
    registered = InstitutionRegistered(
        institution_id=institution_id,
        decree_number="DTKS-2026-Q4",
        proposal_id=str(uuid.uuid4()),
        institution=Institution.model_validate({**snapshot.model_dump(), "institution_id": institution_id}),
    )
    await service.publish([envelope(registered)])
    # Registry and proposal events come on two topics, in no order between them: wait for the register.
    await _wait_registered(service, institution_id, active=True)

    # The registered institution's resident is nobody else's, and a closure finds its target.
    elsewhere = registration([_resident(resident)], name="Panti Lain")
    closing = closure(institution_id)
    await service.publish([envelope(elsewhere), envelope(closing)])
    standing = await service.wait_status(elsewhere.proposal_id, "returned")
    assert "RESIDENT_IN_ANOTHER_INSTITUTION" in codes(standing)
    standing = await service.wait_status(closing.proposal_id, "in_tier", "returned")
    assert codes(standing) == set() and standing["tier"] == "regency"

    # Once closed in the register, its residents may be claimed again (the returned claim withdrawn).
    await service.publish([envelope(withdrawn(elsewhere), version=2)])
    await service.wait_status(elsewhere.proposal_id, "withdrawn")
    closed = InstitutionClosed(
        institution_id=institution_id,
        decree_number="DTKS-2027-Q1",
        proposal_id=closing.proposal_id,
        registration_number=snapshot.registration_number,
        reason="dissolved",
    )
    await service.publish([envelope(closed, version=2)])
    await _wait_registered(service, institution_id, active=False)
    again = registration([_resident(resident)], name="Panti Baru")
    await service.publish([envelope(again)])
    standing = await service.wait_status(again.proposal_id, "in_tier", "returned")
    assert codes(standing) == set()


async def test_a_resident_who_is_also_in_a_registered_household_is_flagged_for_the_verifier_not_returned(
    service: Service,
) -> None:
    from dtks_verification.harness import registered_events

    (household_event,) = registered_events(POPULATION, limit=1)
    household_id = household_event.payload["household_id"]
    member = household_event.payload["household"]["members"][-1]
    await service.publish([household_event])
    settings = service.settings
    connection = await asyncpg.connect(settings.database_url, database=settings.database_for("verification"))
    try:

        async def known() -> bool:
            row = await connection.fetchval(
                "SELECT household_id FROM registered_people WHERE nik = $1", member["nik"]
            )
            return row == household_id

        await wait_until(known, what="the household in verification's register")
    finally:
        await connection.close()

    birth = dt.date.fromisoformat(str(member["birth_date"]))
    resident = {
        "nik": member["nik"],
        "name": member["name"],
        "birth_date": birth.isoformat(),
        "admitted_on": max(birth, dt.date(2021, 1, 4)).isoformat(),
    }
    proposal = registration([_resident(next(_next_person)), resident], name="Panti Asuhan Dua Rumah")
    await service.publish([envelope(proposal)])
    # A flag, not a finding: the proposal reaches the regency's queue, and the verifier sees why to look.
    standing = await service.wait_status(proposal.proposal_id, "in_tier", "returned")
    assert standing["status"] == "in_tier" and codes(standing) == set(), standing["checks"]
    (check,) = standing["checks"]
    assert check["passed"] is True
    (flag,) = check["flags"]
    assert flag["code"] == "resident_in_registered_household"
    assert flag["field_path"] == "institution.residents[1].nik"
    assert household_id in flag["message"] and flag["member_nik"] == member["nik"]


async def test_a_household_member_who_lives_in_a_registered_institution_is_flagged_for_the_verifier(
    service: Service,
) -> None:
    from dtks_contracts.events.registry import InstitutionRegistered
    from dtks_contracts.institution import Institution
    from dtks_synthetic import proposals
    from dtks_verification.testing import submitted

    (generated,) = proposals(POPULATION, 1, seed=1919)
    household = submitted(generated.body)
    assert household.household is not None
    member = household.household.members[0]
    resident = {
        "nik": member.nik,
        "name": member.name,
        "birth_date": member.birth_date.isoformat(),
        "admitted_on": max(member.birth_date, dt.date(2021, 1, 4)).isoformat(),
    }
    institution_id = str(uuid.uuid4())
    snapshot = registration([resident], name="Panti Werdha Terdaftar").institution
    assert snapshot is not None
    registered = InstitutionRegistered(
        institution_id=institution_id,
        decree_number="DTKS-2026-Q4",
        proposal_id=str(uuid.uuid4()),
        institution=Institution.model_validate({**snapshot.model_dump(), "institution_id": institution_id}),
    )
    await service.publish([envelope(registered)])
    await _wait_registered(service, institution_id, active=True)

    await service.publish([envelope(household)])
    standing = await service.wait_status(household.proposal_id, "in_tier", "returned")
    assert standing["status"] == "in_tier" and codes(standing) == set(), standing["checks"]
    (check,) = standing["checks"]
    (flag,) = check["flags"]
    assert flag["code"] == "member_resident_in_institution"
    assert flag["field_path"] == "household.members[0].nik"
    assert institution_id in flag["message"] and flag["member_nik"] == member.nik
