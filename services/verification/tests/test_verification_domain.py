"""Unit tests of the pure core: the integrity rules on generated proposals, names, the workflow."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from dtks_contracts.vocabulary import ReasonCode, RelationToHead, Role, Tier
from dtks_synthetic import Fault, generate_population, proposals, register_households
from dtks_verification.adapters.civil_registry import BreakerState, CircuitBreaker
from dtks_verification.domain.integrity import RegisterFacts, check_proposal
from dtks_verification.domain.names import name_key, names_agree
from dtks_verification.domain.workflow import (
    Decision,
    Refusal,
    Status,
    VerificationState,
    authorize_at_tier,
    decide,
    entry_checked,
)
from dtks_verification.testing import civil_people, submitted

TODAY = dt.date(2026, 6, 1)
POPULATION = generate_population("17.71", people=3000, seed=7)
CIVIL = civil_people(POPULATION.civil_registry_records())
REGISTERED = list(register_households(POPULATION))
REGISTER = RegisterFacts(
    registered_niks={m.nik: h.household_id for h in REGISTERED for m in h.members if h.household_id},
    registered_kks={h.kk_number: h.household_id for h in REGISTERED if h.household_id},
)
VERIFICATION_FAULTS = [f for f in Fault if not f.refused_at_door]
EXPECTED = {
    Fault.NIK_NOT_IN_CIVIL_REGISTRY: ReasonCode.NIK_NOT_IN_CIVIL_REGISTRY,
    Fault.NAME_MISMATCH: ReasonCode.NAME_MISMATCH,
    Fault.BIRTH_DATE_MISMATCH: ReasonCode.BIRTH_DATE_MISMATCH,
    Fault.DUPLICATE_PERSON: ReasonCode.NIK_ALREADY_REGISTERED,
    Fault.IDENTICAL_MEMBERS: ReasonCode.IDENTICAL_MEMBERS,
    Fault.MISSING_FIELDS: ReasonCode.MISSING_FIELD,
}
GENERATED = proposals(POPULATION, 30, dict.fromkeys(VERIFICATION_FAULTS, 1), seed=3)


def _codes(content, register=REGISTER, civil=CIVIL):  # type: ignore[no-untyped-def]
    return {f.code for f in check_proposal(content, register, civil, TODAY)}


def test_clean_generated_proposals_pass_every_rule() -> None:
    clean = [g for g in GENERATED if g.fault is None]
    assert len(clean) >= 20
    for g in clean:
        assert _codes(submitted(g.body)) == set(), g.body["household"]


@pytest.mark.parametrize("fault", VERIFICATION_FAULTS)
def test_each_generated_fault_is_caught_with_its_reason_code(fault: Fault) -> None:
    generated = next(g for g in GENERATED if g.fault is fault)
    assert EXPECTED[fault] in _codes(submitted(generated.body)), generated.detail


def test_two_heads_and_no_head_are_caught() -> None:
    content = submitted(next(g for g in GENERATED if g.fault is None and len(g.household.members) > 1).body)
    household = content.household
    assert household is not None
    members = list(household.members)
    members[1] = members[1].model_copy(update={"relation_to_head": RelationToHead.HEAD})
    two = content.model_copy(update={"household": household.model_copy(update={"members": tuple(members)})})
    assert ReasonCode.MULTIPLE_HEADS in _codes(two)
    members = [
        m.model_copy(update={"relation_to_head": RelationToHead.OTHER_RELATIVE}) for m in household.members
    ]
    none = content.model_copy(update={"household": household.model_copy(update={"members": tuple(members)})})
    assert ReasonCode.NO_HEAD_OF_FAMILY in _codes(none)


def test_nik_twice_in_a_proposal_and_in_an_earlier_open_proposal() -> None:
    content = submitted(next(g for g in GENERATED if g.fault is None).body)
    household = content.household
    assert household is not None
    doubled = content.model_copy(
        update={
            "household": household.model_copy(update={"members": (*household.members, household.members[0])})
        }
    )
    assert ReasonCode.NIK_DUPLICATE_IN_PROPOSAL in _codes(doubled)
    claimed = dataclasses.replace(
        REGISTER, earlier_open_proposals={household.members[0].nik: "other-proposal"}
    )
    assert _codes(content, claimed) == {ReasonCode.NIK_IN_OPEN_PROPOSAL}


def test_deceased_person_and_unknown_kk_member_are_caught() -> None:
    content = submitted(next(g for g in GENERATED if g.fault is None).body)
    household = content.household
    assert household is not None
    nik = household.members[0].nik
    civil = {**CIVIL, nik: dataclasses.replace(CIVIL[nik], alive=False, kk_number="1771010101010001")}
    assert {ReasonCode.PERSON_DECEASED, ReasonCode.KK_MISMATCH} <= _codes(content, civil=civil)


@pytest.mark.parametrize(
    ("proposed", "registry"),
    [
        ("Djoko  Susilo", "JOKO SUSILO"),
        ("Soekarno", "Sukarno"),
        ("Tjahjo Kumolo", "Cahjo Kumolo"),
        ("Achmad Fauzi", "Akhmad Fauzi"),
        ("Muhammad Nur Hayati", "Muhamad Nurhayati"),
        ("Siti Nur'aini", "SITI NURAINI"),
        ("Ratna Sari Dewi", "Ratna Sary Dewi"),
    ],
)
def test_names_that_are_spelling_variants_agree(proposed: str, registry: str) -> None:
    assert names_agree(proposed, registry)


@pytest.mark.parametrize(
    ("proposed", "registry"),
    [("Budi Santoso", "Agus Santoso"), ("Siti Aminah", "Siti"), ("Dewi Lestari", "Rina Lestari")],
)
def test_different_names_do_not_agree(proposed: str, registry: str) -> None:
    assert not names_agree(proposed, registry)


def test_name_key_is_spacing_and_case_insensitive() -> None:
    assert name_key(" nur  hayati ") == name_key("NURHAYATI")


def _at(tier: Tier, status: Status = Status.IN_TIER) -> VerificationState:
    return VerificationState("p1", 1, "17.71.01.1001", status, tier)


def test_forward_walks_the_tiers_in_order_and_the_ministry_starts_acceptance() -> None:
    state = entry_checked(VerificationState("p1", 1, "17.71.01.1001", Status.CHECKING), passed=True)
    assert state.tier is Tier.DISTRICT
    state = decide(state, Tier.DISTRICT, Decision.FORWARD)
    state = decide(state, Tier.REGENCY, Decision.FORWARD)
    with pytest.raises(Refusal) as refusal:
        decide(state, Tier.RATIFICATION, Decision.FORWARD)
    assert refusal.value.code == "ratification_needs_decree"
    state = decide(state, Tier.RATIFICATION, Decision.FORWARD, by_decree=True)
    state = decide(state, Tier.PROVINCE, Decision.FORWARD)
    assert decide(state, Tier.MINISTRY, Decision.FORWARD).status is Status.ACCEPTING


@pytest.mark.parametrize(
    ("state", "code"),
    [
        (_at(Tier.REGENCY), "out_of_turn"),
        (_at(Tier.DISTRICT, Status.WITHDRAWN), "proposal_withdrawn"),
        (_at(Tier.DISTRICT, Status.RETURNED), "proposal_returned"),
        (_at(Tier.DISTRICT, Status.ACCEPTED), "proposal_accepted"),
    ],
)
def test_decisions_out_of_turn_or_on_closed_proposals_are_refused(
    state: VerificationState, code: str
) -> None:
    with pytest.raises(Refusal) as refusal:
        decide(state, Tier.DISTRICT, Decision.RETURN)
    assert refusal.value.code == code


def test_only_the_tiers_role_in_its_region_may_decide() -> None:
    authorize_at_tier(Tier.DISTRICT, Role.DISTRICT_VERIFIER, "17.71.01", "17.71.01.1001")
    with pytest.raises(Refusal, match="outside your scope"):
        authorize_at_tier(Tier.DISTRICT, Role.DISTRICT_VERIFIER, "17.71.02", "17.71.01.1001")
    with pytest.raises(Refusal) as refusal:
        authorize_at_tier(Tier.PROVINCE, Role.DISTRICT_VERIFIER, "17.71.01", "17.71.01.1001")
    assert refusal.value.code == "role_not_allowed"


def test_circuit_breaker_opens_after_failures_and_probes_after_its_open_time() -> None:
    now = [0.0]
    breaker = CircuitBreaker(3, 10.0, clock=lambda: now[0])
    for _ in range(3):
        assert breaker.allows()
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN and not breaker.allows()
    now[0] = 10.0
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_failure()  # the probe failed: open again for a full period
    assert not breaker.allows()
    now[0] = 20.0
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
