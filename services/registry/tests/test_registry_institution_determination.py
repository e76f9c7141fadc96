"""The institutions section's determination rule (#19): pure, no broker or database."""

from __future__ import annotations

import datetime as dt

from dtks_contracts.institution import Institution
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_registry.domain.identity import household_id_for, institution_id_for
from dtks_registry.domain.institution_determination import (
    InstitutionCandidate,
    InstitutionInForce,
    decide_institutions,
)

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
CUTOFF = dt.datetime(2026, 12, 31, 16, 59, 59, tzinfo=dt.UTC)


def _institution(**changes: object) -> Institution:
    fields: dict[str, object] = {
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
    }
    fields.update(changes)
    return Institution.model_validate(fields)


def _registration(pid: str, at: dt.datetime = T0) -> InstitutionCandidate:
    return InstitutionCandidate(pid, ProposalKind.INSTITUTION_REGISTRATION, at, institution=_institution())


def _in_force(iid: str, *, open: bool = True) -> InstitutionInForce:
    return InstitutionInForce(_institution(institution_id=iid), open, T0 - dt.timedelta(days=90))


def test_a_registration_enters_under_an_id_from_its_proposal_never_equal_to_a_households():
    decision = decide_institutions([_registration("P-1")], {}, CUTOFF)
    (registered,) = decision.registrations
    assert registered.institution.institution_id == institution_id_for("P-1")
    assert institution_id_for("P-1") != household_id_for("P-1")
    assert (
        decide_institutions(
            [_registration("P-2", CUTOFF + dt.timedelta(seconds=1))], {}, CUTOFF
        ).registrations
        == []
    )


def test_a_closure_wins_over_a_change_of_the_same_institution_in_one_decree():
    iid = "LKS-1"
    change = InstitutionCandidate(
        "P-change",
        ProposalKind.INSTITUTION_CHANGE,
        T0,
        institution=_institution(capacity=60),
        target_institution_id=iid,
    )
    closure = InstitutionCandidate(
        "P-close",
        ProposalKind.INSTITUTION_CLOSURE,
        T0 + dt.timedelta(hours=1),
        target_institution_id=iid,
        closure_reason=ClosureReason.DISSOLVED,
    )
    decision = decide_institutions([closure, change], {iid: _in_force(iid)}, CUTOFF)
    (closed,) = decision.closures
    assert (closed.institution_id, closed.reason) == (iid, ClosureReason.DISSOLVED)
    assert closed.registration_number == "AHU-0012345.AH.01.04.Tahun 2019"
    assert decision.changes == []
    assert [n.proposal_id for n in decision.not_applied] == ["P-change"]


def test_a_change_replaces_the_snapshot_and_names_what_changed():
    iid = "LKS-1"
    change = InstitutionCandidate(
        "P-change",
        ProposalKind.INSTITUTION_CHANGE,
        T0,
        institution=_institution(capacity=60),
        target_institution_id=iid,
    )
    (changed,) = decide_institutions([change], {iid: _in_force(iid)}, CUTOFF).changes
    assert changed.institution.institution_id == iid
    assert changed.institution.capacity == 60
    assert changed.changed_fields == ("capacity",)


def test_a_change_or_closure_of_an_unknown_or_closed_institution_is_reported_not_applied():
    closure = InstitutionCandidate(
        "P-close",
        ProposalKind.INSTITUTION_CLOSURE,
        T0,
        target_institution_id="LKS-9",
        closure_reason=ClosureReason.MERGED,
    )
    unknown = decide_institutions([closure], {}, CUTOFF)
    assert not unknown.changes_anything
    assert unknown.not_applied[0].reason == "institution LKS-9 is not in the register"
    closed = decide_institutions([closure], {"LKS-9": _in_force("LKS-9", open=False)}, CUTOFF)
    assert closed.not_applied[0].reason == "institution LKS-9 is closed"
