"""A re-verification round's visit as the proposal it becomes (dtks_proposal.round_outcomes): entered
through the one entry path, admitted by its round even where the regency's window is closed and
without counting against its quota. No infrastructure; the whole path runs in
tests/test_reverification_system.py."""

from __future__ import annotations

import datetime as dt

from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.reverification import ReverificationVisitRecorded, VisitOutcome
from dtks_contracts.vocabulary.roles import Role
from dtks_proposal.domain.windows import Window
from dtks_proposal.entry import decide_entries
from dtks_proposal.round_outcomes import entry_of
from dtks_proposal.testing import VILLAGE

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
