"""The pure rules of re-verification rounds: what each outcome proposes, who opens and visits where,
and how a results file's row reads as a visit (its bad cells named as the bulk import names them)."""

from __future__ import annotations

import pytest

from dtks_contracts.events.reverification import RoundSelection, VisitOutcome
from dtks_contracts.vocabulary import Role
from dtks_runtime.errors import DomainError
from dtks_synthetic import generate_population, register_households
from dtks_verification.domain.reverification import Proposed, ensure_may_open, ensure_may_visit, proposed
from dtks_verification.prelist_files import _RowError, _visit

HOUSEHOLD = next(iter(register_households(generate_population("17.05", people=300, seed=2))))
SNAPSHOT = HOUSEHOLD.model_dump(mode="json")
VISIT = {"officer": "Rina", "visit_date": "2026-12-01", "latitude": -3.4, "longitude": 102.5, "photos": []}


def _proposed(
    outcome: VisitOutcome, changes: dict[str, object] | None = None, note: str | None = None
) -> Proposed:
    return proposed(
        outcome, round_id="r1", household_id=str(HOUSEHOLD.household_id), snapshot=SNAPSHOT,
        changes=changes, visit=VISIT, note=note,
    )  # fmt: skip


def test_each_outcome_proposes_what_it_should() -> None:
    assert _proposed(VisitOutcome.UNCHANGED).proposal_id is None
    changed = _proposed(VisitOutcome.CHANGED, {"income_band": "below_1m"})
    assert changed.household is not None and changed.household.income_band == "below_1m"
    assert changed.household.household_id == HOUSEHOLD.household_id
    for outcome, reason in (
        (VisitOutcome.MOVED, "moved_away"),
        (VisitOutcome.NOT_FOUND, "not_found"),
        (VisitOutcome.NO_LONGER_ELIGIBLE, "no_longer_eligible"),
    ):
        leaving = _proposed(outcome, note="kosong sejak Juli")
        assert leaving.deactivation_reason == reason and leaving.household is None
        assert leaving.evidence_note is not None and "kosong sejak Juli" in leaving.evidence_note
    # The same round and household always name the same proposal (a visit read twice enters once).
    assert _proposed(VisitOutcome.MOVED).proposal_id == _proposed(VisitOutcome.NOT_FOUND).proposal_id


def test_a_change_the_register_does_not_take_from_a_visit_is_refused_with_its_field() -> None:
    with pytest.raises(DomainError) as refused:
        _proposed(VisitOutcome.CHANGED, {"village_code": "17.05.01.1001"})
    assert refused.value.code == "invalid_changes"
    assert refused.value.errors[0]["field"] == "changes.village_code"
    with pytest.raises(DomainError) as unexpected:
        _proposed(VisitOutcome.UNCHANGED, {"income_band": "below_1m"})
    assert unexpected.value.code == "changes_not_expected"


def test_a_regency_opens_rounds_in_its_own_area_and_officers_visit_in_theirs() -> None:
    ensure_may_open(Role.REGENCY_OPERATOR, "17.05", "17.05.01")
    ensure_may_open(Role.MINISTRY_VERIFIER, "ID", "ID")
    for role, scope, region in (
        (Role.REGENCY_OPERATOR, "17.05", "17.71"),
        (Role.REGENCY_OPERATOR, "17.05", "ID"),
        (Role.DISTRICT_VERIFIER, "17.05.01", "17.05.01"),
    ):
        with pytest.raises(DomainError):
            ensure_may_open(role, scope, region)
    ensure_may_visit(Role.DISTRICT_VERIFIER, "17.05.01", "17.05.01.1001")
    with pytest.raises(DomainError):
        ensure_may_visit(Role.DISTRICT_VERIFIER, "17.05.02", "17.05.01.1001")
    with pytest.raises(DomainError):
        ensure_may_visit(Role.VILLAGE_OPERATOR, "17.05.01.1001", "17.05.01.1001")


def test_a_selection_says_exactly_what_its_mode_needs() -> None:
    RoundSelection.model_validate({"mode": "sample", "sample_size": 10, "seed": 1})
    for bad in (
        {"mode": "sample", "sample_size": 10},
        {"mode": "all", "seed": 1, "sample_size": 3},
        {"mode": "not_visited"},
        {"mode": "flagged", "flags": []},
    ):
        with pytest.raises(ValueError):
            RoundSelection.model_validate(bad)


def test_a_results_row_reads_as_a_visit_and_a_bad_cell_is_named_by_its_column() -> None:
    row = {"household_id": str(HOUSEHOLD.household_id), "outcome": "changed", "officer": "Rina",
           "visit_date": "2026-12-01", "latitude": "-3.4", "longitude": "102.5",
           "change_address_street": "Jl. Baru 1", "change_programs": "PKH;BPNT", "photo_roof": "A" * 64}  # fmt: skip
    command = _visit(row)
    assert command is not None and command.outcome is VisitOutcome.CHANGED
    assert command.changes == {"address": {"street": "Jl. Baru 1"}, "programs": ["BPNT", "PKH"]}
    assert command.visit["photos"] == [
        {"subject": "roof", "sha256": "a" * 64, "location": f"evidence/{'a' * 64}"}
    ]
    assert _visit({**row, "outcome": ""}) is None  # not visited yet: passed over
    for column, value, code in (
        ("visit_date", "kemarin", "invalid_value"),
        ("outcome", "pindah", "invalid_value"),
        ("officer", "", "column_missing"),
        ("latitude", "200", "invalid_value"),
        ("change_programs", "PKH;XYZ", "invalid_value"),
    ):
        with pytest.raises(_RowError) as bad:
            _visit({**row, column: value})
        assert (bad.value.column, bad.value.code) == (column, code)
