"""Institutions' assistance in the decree (#19): the rule (pure) and its place in the register hash."""

from __future__ import annotations

import datetime as dt

from dtks_contracts.events.registry import DeterminationIssued
from dtks_contracts.institution import Assistance, DeterminedAssistance, Institution
from dtks_contracts.merkle import assistance_decree_leaf, institution_leaf_hash
from dtks_contracts.register_hash import register_root_of
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_registry.domain.institution_determination import (
    InstitutionCandidate,
    InstitutionInForce,
    decide_institutions,
)

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
CUTOFF = dt.datetime(2026, 12, 31, 16, 59, 59, tzinfo=dt.UTC)
IID = "I-1"
ANDI, PUTRI, SARI = "1771010504100001", "1771014708120002", "1771015003110003"


def _institution(**changes: object) -> Institution:
    fields: dict[str, object] = {
        "institution_id": IID,
        "name": "LKSA Harapan Bunda",
        "legal_form": "foundation",
        "registration_number": "AHU-0012345.AH.01.04.Tahun 2019",
        "service_type": "children",
        "address": {"street": "Jl. Pagar Dewa No. 21"},
        "village_code": "17.71.01.1001",
        "head": "Nurhayati",
        "capacity": 40,
        "licence": {"number": "1/2024", "issued_by": "17.71", "issued_on": "2024-02-01"},
        "contact": {"phone": "+6273621234"},
        "bank_account_ref": "bank-ref:lksa",
        "residents": [
            {"nik": ANDI, "name": "Andi Pratama", "birth_date": "2010-04-05", "admitted_on": "2019-01-14"},
            {"nik": PUTRI, "name": "Putri Lestari", "birth_date": "2012-08-07", "admitted_on": "2020-07-01"},
            # Discharged before the quarter: not counted in it.
            {"nik": SARI, "name": "Sari Dewi", "birth_date": "2011-03-10", "admitted_on": "2020-07-01",
             "discharged_on": "2026-06-30"},
        ],
    }  # fmt: skip
    fields.update(changes)
    return Institution.model_validate(fields)


def _assistance(
    pid: str, *, basis: str = "per_institution", residents: tuple[str, ...] = ()
) -> InstitutionCandidate:
    assistance = Assistance(
        program="ATENSI", starts_on=dt.date(2027, 1, 1), ends_on=dt.date(2027, 3, 31), basis=basis,
        residents=residents,
    )  # fmt: skip
    return InstitutionCandidate(
        pid, ProposalKind.INSTITUTION_ASSISTANCE, T0, target_institution_id=IID, assistance=assistance
    )


def _register(*, open: bool = True) -> dict[str, InstitutionInForce]:
    return {IID: InstitutionInForce(_institution(), open, T0 - dt.timedelta(days=90))}


def test_assistance_for_an_open_institution_is_listed_with_the_residents_it_counts_in_its_period():
    decision = decide_institutions(
        [_assistance("P-2", basis="per_resident", residents=(ANDI, SARI)), _assistance("P-1")],
        _register(),
        CUTOFF,
    )
    assert decision.changes_anything and decision.not_applied == []
    assert [(a.proposal_id, a.basis.value, a.residents_counted) for a in decision.assistance] == [
        ("P-1", "per_institution", 2),  # Andi and Putri; Sari left before the quarter
        ("P-2", "per_resident", 1),  # Andi; Sari left before the quarter
    ]
    (first, _) = decision.assistance
    assert (first.institution_id, first.program.value, first.starts_on, first.ends_on) == (
        IID, "ATENSI", dt.date(2027, 1, 1), dt.date(2027, 3, 31),
    )  # fmt: skip


def test_assistance_for_a_closed_unknown_or_closing_institution_is_reported_not_applied():
    closed = decide_institutions([_assistance("P-1")], _register(open=False), CUTOFF)
    unknown = decide_institutions([_assistance("P-1")], {}, CUTOFF)
    closure = InstitutionCandidate(
        "P-0", ProposalKind.INSTITUTION_CLOSURE, T0, target_institution_id=IID,
        closure_reason=ClosureReason.DISSOLVED,
    )  # fmt: skip
    closing = decide_institutions([closure, _assistance("P-1")], _register(), CUTOFF)
    for decision, reason in ((closed, "is closed"), (unknown, "not in the register"), (closing, "is closed")):
        assert decision.assistance == []
        (not_applied,) = decision.not_applied
        assert not_applied.proposal_id == "P-1" and reason in not_applied.reason


def test_assistance_accepted_after_the_cutoff_waits_for_the_next_decree():
    late = _assistance("P-1")
    late = InstitutionCandidate(
        late.proposal_id, late.kind, CUTOFF + dt.timedelta(seconds=1),
        target_institution_id=IID, assistance=late.assistance,
    )  # fmt: skip
    assert not decide_institutions([late], _register(), CUTOFF).changes_anything


def test_a_change_in_the_same_decree_is_the_record_the_assistance_counts_on():
    change = InstitutionCandidate(
        "P-0", ProposalKind.INSTITUTION_CHANGE, T0 - dt.timedelta(hours=1), target_institution_id=IID,
        institution=_institution(residents=_institution().model_dump(mode="json")["residents"][:1]),
    )  # fmt: skip
    decision = decide_institutions([change, _assistance("P-1")], _register(), CUTOFF)
    assert [a.residents_counted for a in decision.assistance] == [1]


def _entry(pid: str) -> DeterminedAssistance:
    return DeterminedAssistance(
        proposal_id=pid, institution_id=IID, program="ATENSI", starts_on=dt.date(2027, 1, 1),
        ends_on=dt.date(2027, 3, 31), basis="per_institution", residents_counted=2,
    )  # fmt: skip


def test_assistance_is_a_section_of_the_register_root_and_absent_assistance_leaves_the_root_as_it_was():
    institution = _institution()
    without = register_root_of([], [institution])
    assert register_root_of([], [institution], []) == without
    with_one = register_root_of([], [institution], [_entry("P-1")])
    assert with_one != without
    # Domain-separated: an assistance leaf is never an institution leaf over the same text.
    leaf = assistance_decree_leaf(_entry("P-1"))
    assert leaf != institution_leaf_hash(IID, "P-1").hex()
    # The entry's content is covered: counting another resident changes the root.
    other = _entry("P-1").model_copy(update={"residents_counted": 3})
    assert register_root_of([], [institution], [other]) != with_one


def test_a_decree_without_assistance_keeps_its_bytes_and_one_with_it_lists_it():
    fields = {
        "decree_number": "1/HUK/2027", "period": {"year": 2027, "quarter": 1},
        "cut_off": "2026-12-31T16:59:59Z", "issued_at": "2027-01-02T00:00:00Z",
        "register_hash": "ab" * 32, "hash_algorithm": "dtks-register-merkle-v1",
        "counts": {"households": 0, "people": 0},
        "issued_by": {"subject": "determiner", "role": "ministry_determiner", "region": "ID"},
    }  # fmt: skip
    plain = DeterminationIssued.model_validate(fields)
    assert "institution_assistance" not in plain.model_dump_json()
    listed = DeterminationIssued.model_validate(
        {**fields, "institution_assistance": [_entry("P-1").model_dump(mode="json")]}
    )
    assert DeterminationIssued.model_validate_json(listed.model_dump_json()).institution_assistance == (
        _entry("P-1"),
    )
