"""The workflow and the integrity standard on institutions' (LKS) proposals, as pure functions."""

from __future__ import annotations

import datetime as dt

from dtks_contracts.events.proposal import ProposalSubmitted
from dtks_contracts.vocabulary import ProposalKind, ReasonCode, Sex, Tier
from dtks_verification.domain.integrity import CivilPerson, RegisterFacts, check_proposal, people_to_look_up
from dtks_verification.domain.workflow import Decision, Status, VerificationState, decide, entry_checked

VILLAGE = "17.71.01.1001"
TODAY = dt.date(2026, 12, 4)
ANDI = CivilPerson(
    "1771010504100001", "Andi Pratama", dt.date(2010, 4, 5), Sex.MALE, "1771010101200009", VILLAGE, True
)
PUTRI = CivilPerson(
    "1771014708120002", "Putri Lestari", dt.date(2012, 8, 7), Sex.FEMALE, "1771010101200009", VILLAGE, True
)


def _registration(*residents: dict[str, object], kind: str = "institution_registration") -> ProposalSubmitted:
    return ProposalSubmitted.model_validate(
        {
            "proposal_id": "p-lks",
            "round": 1,
            "kind": kind,
            "origin": "social_service",
            "village_code": VILLAGE,
            "submitted_by": {"subject": "dinsos", "role": "regency_operator", "region": "17.71"},
            **({"target_institution_id": "lks-1"} if kind == "institution_change" else {}),
            "institution": {
                "name": "LKSA Harapan Bunda",
                "legal_form": "foundation",
                "registration_number": "AHU-0012345.AH.01.04.Tahun 2019",
                "service_type": "children",
                "address": {"street": "Jl. Pagar Dewa No. 21"},
                "village_code": VILLAGE,
                "head": "Nurhayati",
                "capacity": 40,
                "licence": {"number": "1/2024", "issued_by": "17.71", "issued_on": "2024-02-01"},
                "contact": {"phone": "+6273621234"},
                "bank_account_ref": "bank-ref:lksa",
                "residents": list(residents),
            },
        }
    )


def _resident(person: CivilPerson, **changes: object) -> dict[str, object]:
    return {
        "nik": person.nik,
        "name": person.name,
        "birth_date": person.birth_date.isoformat(),
        "admitted_on": "2021-01-04",
        **changes,
    }


def test_an_institution_walks_regency_province_ministry_and_a_household_its_five_tiers() -> None:
    state = VerificationState("p1", 1, VILLAGE, Status.CHECKING, kind=ProposalKind.INSTITUTION_REGISTRATION)
    state = entry_checked(state, passed=True)
    assert state.tier is Tier.REGENCY
    state = decide(state, Tier.REGENCY, Decision.FORWARD)
    assert state.tier is Tier.PROVINCE  # no regent's decree for an institution
    state = decide(state, Tier.PROVINCE, Decision.FORWARD)
    assert decide(state, Tier.MINISTRY, Decision.FORWARD).status is Status.ACCEPTING
    household = entry_checked(VerificationState("p2", 1, VILLAGE, Status.CHECKING), passed=True)
    assert decide(
        decide(household, Tier.DISTRICT, Decision.FORWARD), Tier.REGENCY, Decision.FORWARD
    ).tier is (Tier.RATIFICATION)


def test_clean_residents_pass_and_are_the_people_looked_up() -> None:
    content = _registration(_resident(ANDI), _resident(PUTRI))
    assert people_to_look_up(content) == (ANDI.nik, PUTRI.nik)
    assert check_proposal(content, RegisterFacts(), {ANDI.nik: ANDI, PUTRI.nik: PUTRI}, TODAY) == ()


def test_residents_disagreeing_with_the_civil_registry_or_living_elsewhere_are_found() -> None:
    content = _registration(
        _resident(ANDI, name="Budi"),
        _resident(PUTRI, birth_date="2012-08-08"),
        _resident(ANDI),
    )
    facts = RegisterFacts(residents_elsewhere={PUTRI.nik: "registered institution lks-9"})
    found = {
        (f.code, f.field_path)
        for f in check_proposal(content, facts, {ANDI.nik: ANDI, PUTRI.nik: PUTRI}, TODAY)
    }
    assert found == {
        (ReasonCode.NAME_MISMATCH, "institution.residents[0].name"),
        (ReasonCode.BIRTH_DATE_MISMATCH, "institution.residents[1].birth_date"),
        (ReasonCode.NIK_ENCODING_MISMATCH, "institution.residents[1].nik"),
        (ReasonCode.RESIDENT_IN_ANOTHER_INSTITUTION, "institution.residents[1].nik"),
        (ReasonCode.NIK_DUPLICATE_IN_PROPOSAL, "institution.residents[2].nik"),
    }


def test_a_change_of_an_institution_the_register_does_not_hold_is_found() -> None:
    content = _registration(_resident(ANDI), kind="institution_change")
    codes = {f.code for f in check_proposal(content, RegisterFacts(), {ANDI.nik: ANDI}, TODAY)}
    assert codes == {ReasonCode.TARGET_INSTITUTION_NOT_FOUND}
    facts = RegisterFacts(institutions={"lks-1": True})
    assert check_proposal(content, facts, {ANDI.nik: ANDI}, TODAY) == ()
