"""A re-verification round's visit as the proposal it becomes (dtks_proposal.round_outcomes): entered
through the one entry path, admitted by its round even where the regency's window is closed and
without counting against its quota. No infrastructure; the whole path runs in
tests/test_reverification_system.py."""

from __future__ import annotations

import datetime as dt

from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.reverification import ReverificationVisitRecorded, VisitOutcome
from dtks_contracts.vocabulary.proposals import ProposalKind, ProposalOrigin
from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.domain.proposers import proposer_refusal
from dtks_proposal.domain.submission import (
    DeliberationIn,
    ResubmissionIn,
    VisitBasis,
    door_errors,
    resubmitted_event,
)
from dtks_proposal.domain.windows import Window
from dtks_proposal.entry import decide_entries
from dtks_proposal.round_outcomes import entry_of
from dtks_proposal.testing import VILLAGE, sample_bodies

OFFICER = Actor(subject="officer", role=Role.DISTRICT_VERIFIER, region=VILLAGE[:8])
TODAY = dt.date(2026, 11, 10)


def _visit(household_id: str, outcome: VisitOutcome, proposal_id: str | None) -> EventEnvelope:
    leaving = outcome in (VisitOutcome.MOVED, VisitOutcome.NOT_FOUND)
    payload = ReverificationVisitRecorded(
        visit_key=f"r1:{household_id}", round_id="r1", household_id=household_id, village_code=VILLAGE,
        outcome=outcome, officer="Rina", visit_date=TODAY, latitude=-3.8, longitude=102.3,
        proposal_id=proposal_id, recorded_by=OFFICER,
        deactivation_reason="moved_away" if outcome is VisitOutcome.MOVED else "not_found" if leaving else None,
        evidence_note="Visited: the house is empty" if leaving else None,
    )  # fmt: skip
    return EventEnvelope.new(payload, aggregate_version=1, actor=OFFICER)


def test_a_visit_that_changes_the_register_enters_as_its_proposal_past_a_closed_window() -> None:
    assert entry_of(_visit("h-0", VisitOutcome.UNCHANGED, None)) is None
    moved = entry_of(_visit("h-1", VisitOutcome.MOVED, "p-1"))
    absent = entry_of(_visit("h-2", VisitOutcome.NOT_FOUND, "p-2"))
    assert moved is not None and absent is not None
    content = moved.event.payload
    assert (content["kind"], content["origin"], content["reverification_round_id"]) == (
        "deactivation", "re_verification", "r1",
    )  # fmt: skip
    assert content["target_household_id"] == "h-1" and content["deactivation_reason"] == "moved_away"
    assert content["submitted_by"]["subject"] == "officer" and content.get("deliberation") is None
    closed = Window(VILLAGE[:5], False, dt.date(2026, 12, 1), None, quota=0, used=0)
    outcomes, admitted = decide_entries([moved, absent], {}, {VILLAGE[:5]: closed}, TODAY)
    assert outcomes == [None, None] and not admitted  # admitted by the round, not counted in the quota


def test_a_returned_round_proposal_is_resubmitted_on_its_visit_keeping_its_round_and_evidence() -> None:
    entered = entry_of(_visit("h-1", VisitOutcome.MOVED, "p-1"))
    assert entered is not None
    basis = VisitBasis.of(entered.event.payload)
    assert basis is not None and (basis.round_id, basis.household_id) == ("r1", "h-1")
    again = ResubmissionIn.model_validate(
        {"kind": "deactivation", "village_code": VILLAGE, "household_id": "h-1", "reason": "moved",
         "evidence_note": "Tetangga: pindah ke Curup sejak Agustus", "correction_note": "Ditambah keterangan"}
    )  # fmt: skip
    assert door_errors(again, basis) == []  # no village meeting asked of it
    assert [e.field for e in door_errors(again)] == ["deliberation"]  # a village's proposal needs one
    with_meeting = again.model_copy(
        update={"deliberation": DeliberationIn(kind="muskel", held_on=TODAY, minutes_ref="BA-1")}
    )
    assert [(e.field, e.code) for e in door_errors(with_meeting, basis)] == [("deliberation", "forbidden")]
    event = resubmitted_event(again, "p-1", 2, OFFICER, None, basis)
    assert (event.origin, event.reverification_round_id, event.round) == (
        ProposalOrigin.RE_VERIFICATION,
        "r1",
        2,
    )
    assert event.deliberation is None and event.target_household_id == "h-1"
    # A correction keeps the visit as its evidence unless a newer visit is named.
    visit = {"visit_date": "2026-11-10", "officer": "Rina", "latitude": -3.8, "longitude": 102.3,
             "roof_photo_ref": "evidence/abc"}  # fmt: skip
    household = sample_bodies(1)[0]["household"]
    correction = ResubmissionIn.model_validate(
        {"kind": "correction", "village_code": VILLAGE, "household_id": "h-2", "household": household}
    )
    kept = resubmitted_event(correction, "p-2", 2, OFFICER, None, VisitBasis("r1", "h-2", visit))
    assert kept.household is not None and kept.household.field_visit is not None
    assert kept.household.field_visit.roof_photo_ref == "evidence/abc"
    # Who resubmits it: the village it waits at, or the regency's social service running the round.
    for role in (Role.VILLAGE_OPERATOR, Role.REGENCY_OPERATOR):
        assert proposer_refusal(role, None, ProposalKind.DEACTIVATION, None, from_round_visit=True) is None
    refused = proposer_refusal(
        Role.INSTITUTION_OPERATOR, "i-1", ProposalKind.DEACTIVATION, None, from_round_visit=True
    )
    assert refused is not None and refused.code == "kind_not_allowed"
    assert proposer_refusal(Role.REGENCY_OPERATOR, None, ProposalKind.DEACTIVATION, None) is not None
