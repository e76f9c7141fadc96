"""Generated proposals: the contract shape, and every fault producing exactly what it claims."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from pydantic import ValidationError

from dtks_contracts.household import Deliberation, Household
from dtks_contracts.identifiers import parse_nik
from dtks_contracts.vocabulary.proposals import DeactivationReason
from dtks_synthetic import (
    Fault,
    corrections,
    deactivations,
    generate_population,
    proposals,
    register_households,
)
from dtks_synthetic.cli import main
from dtks_synthetic.proposals import heads_of

ALL_FAULTS = {f: 1 for f in Fault}


@pytest.fixture(scope="module")
def pop():
    return generate_population("17.71", people=1500, seed=11)


@pytest.fixture(scope="module")
def civil(pop):
    return {r.nik: r for r in pop.civil_registry_records()}


@pytest.fixture(scope="module")
def registered_niks(pop):
    return {m.nik for h in register_households(pop) for m in h.members}


@pytest.fixture(scope="module")
def batch(pop):
    return proposals(pop, 40, ALL_FAULTS, seed=5)


def by_fault(batch, fault):
    (only,) = [g for g in batch if g.fault is fault]
    return only


def test_proposals_are_deterministic(pop, batch):
    again = proposals(pop, 40, ALL_FAULTS, seed=5)
    assert json.dumps([g.body for g in again]) == json.dumps([g.body for g in batch])
    assert json.dumps([g.body for g in proposals(pop, 40, ALL_FAULTS, seed=6)]) != json.dumps(
        [g.body for g in batch]
    )


def test_clean_proposals_have_the_public_body_shape_and_agree_with_the_civil_registry(
    batch, civil, registered_niks
):
    clean = [g for g in batch if g.fault is None]
    assert len(clean) == 40 - len(Fault)
    for g in clean:
        body = g.body
        assert set(body) == {"proposal_id", "kind", "village_code", "deliberation", "household", "programs"}
        assert body["kind"] == "new_household"
        Deliberation.model_validate(body["deliberation"])
        household = Household.model_validate(body["household"])
        assert household == g.household and household.village_code == body["village_code"]
        assert heads_of(body["household"]) == 1 and body["programs"]
        for m in household.members:
            record = civil[m.nik]
            assert (record.name, record.birth_date, record.sex, record.kk_number, record.alive) == (
                m.name, m.birth_date, m.sex.value, household.kk_number, True
            )  # fmt: skip
            assert m.nik not in registered_niks
    assert len({g.proposal_id for g in batch}) == len(batch)


def test_nik_not_in_civil_registry(batch, civil):
    g = by_fault(batch, Fault.NIK_NOT_IN_CIVIL_REGISTRY)
    niks = {m["nik"] for m in g.body["household"]["members"]}
    unknown = niks - {m.nik for m in g.household.members}
    assert len(unknown) == 1 and not unknown & civil.keys()
    parse_nik(unknown.pop())
    Household.model_validate(g.body["household"])
    assert not g.fault.refused_at_door


def test_name_mismatch(batch, civil):
    g = by_fault(batch, Fault.NAME_MISMATCH)
    changed = [m for m in g.body["household"]["members"] if m["name"] != civil[m["nik"]].name]
    assert len(changed) == 1
    assert changed[0]["name"][0].lower() != civil[changed[0]["nik"]].name[0].lower()


def test_birth_date_mismatch(batch, civil):
    g = by_fault(batch, Fault.BIRTH_DATE_MISMATCH)
    changed = [
        m
        for m in g.body["household"]["members"]
        if dt.date.fromisoformat(m["birth_date"]) != civil[m["nik"]].birth_date
    ]
    assert len(changed) == 1


def test_duplicate_person_is_already_registered(batch, civil, registered_niks):
    g = by_fault(batch, Fault.DUPLICATE_PERSON)
    extra = g.body["household"]["members"][-1]
    assert extra["nik"] in registered_niks and extra["nik"] in civil
    assert len(g.body["household"]["members"]) == len(g.household.members) + 1


def test_duplicate_person_comes_from_another_proposal_when_the_register_is_empty():
    empty = generate_population("17.71", people=400, seed=3, register_share=0.0)
    batch = proposals(empty, 5, {Fault.DUPLICATE_PERSON: 1})
    g = next(g for g in batch if g.fault)
    nik = g.body["household"]["members"][-1]["nik"]
    others = {m["nik"] for o in batch if o is not g for m in o.body["household"]["members"]}
    assert nik in others


def test_two_heads_and_no_head_are_model_valid_but_refused_at_the_door(batch):
    two, none = by_fault(batch, Fault.TWO_HEADS), by_fault(batch, Fault.NO_HEAD)
    assert heads_of(two.body["household"]) == 2 and heads_of(none.body["household"]) == 0
    for g in (two, none):
        Household.model_validate(g.body["household"])
        assert g.fault.refused_at_door


def test_identical_members_differ_only_in_nik(batch):
    g = by_fault(batch, Fault.IDENTICAL_MEMBERS)
    members = g.body["household"]["members"]
    copy = members[-1]
    twins = [m for m in members[:-1] if {**m, "nik": copy["nik"]} == copy]
    assert len(twins) == 1 and twins[0]["nik"] != copy["nik"] and copy["relation_to_head"] != "head"


def test_missing_fields_is_model_valid_and_missing_required_fields_is_not(batch):
    missing = by_fault(batch, Fault.MISSING_FIELDS).body["household"]
    assert missing["housing"] is None and missing["income_band"] is None
    assert all(m["education"] is None for m in missing["members"])
    Household.model_validate(missing)
    raw = by_fault(batch, Fault.MISSING_REQUIRED_FIELDS)
    assert "address" not in raw.body["household"]
    with pytest.raises(ValidationError):
        Household.model_validate(raw.body["household"])
    assert raw.fault.refused_at_door


def test_too_many_faults_or_families_are_refused(pop):
    with pytest.raises(ValueError):
        proposals(pop, 2, {Fault.NAME_MISMATCH: 3})
    with pytest.raises(ValueError, match="generate more people"):
        proposals(pop, 100_000)


def test_proposals_in_one_village(pop):
    village = "17.71.01.1001"
    assert {g.body["village_code"] for g in proposals(pop, 2, village_code=village)} == {village}


def test_corrections_remove_the_dead_or_update_circumstances(pop, civil):
    for g in corrections(pop, 10):
        assert g.body["kind"] == "correction" and g.original is not None
        assert g.body["household_id"] == g.original.household_id == g.household.household_id
        Household.model_validate(g.body["household"])
        assert all(civil[m.nik].alive for m in g.household.members)
        assert len(g.household.heads()) == 1


def test_deactivations_carry_reason_and_evidence_and_no_household(pop, civil):
    gens = deactivations(pop, 10)
    registered_ids = {h.household_id for h in register_households(pop)}
    for g in gens:
        assert set(g.body) == {
            "proposal_id", "kind", "village_code", "deliberation", "household_id", "reason", "evidence_note"
        }  # fmt: skip
        assert g.body["household_id"] in registered_ids
        reason = DeactivationReason(g.body["reason"])
        if reason is DeactivationReason.DIED:
            assert not any(civil[m.nik].alive for m in g.household.members)
        if reason is DeactivationReason.MOVED_AWAY:
            assert all(civil[m.nik].moved_to for m in g.household.members)


def test_cli_writes_identical_json_lines_twice(tmp_path):
    args = ["population", "--people", "800", "--seed", "2", "--proposals", "12", "--fault", "NAME_MISMATCH=2"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    for name in ("civil_registry.jsonl", "register.jsonl", "proposals.jsonl"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    lines = [json.loads(x) for x in (tmp_path / "a" / "proposals.jsonl").read_text().splitlines()]
    assert sum(1 for x in lines if x["fault"] == "NAME_MISMATCH") == 2
    assert sum(1 for _ in (tmp_path / "a" / "civil_registry.jsonl").open()) == 800
