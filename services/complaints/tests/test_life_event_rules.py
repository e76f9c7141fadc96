"""Which draft a life event calls for (pure rules, no infrastructure)."""

import datetime as dt

from dtks_complaints.domain.life_events import Household, draft_for

from dtks_contracts.events.civil_registry import FamilyCardChanged, PersonDied, PersonMoved
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind

VILLAGE = "17.71.01.1004"
NIK = "1771014501900001"
FAMILY = Household("H-1", VILLAGE, members=3, active=True)
ALONE = Household("H-2", VILLAGE, members=1, active=True)


def _moved(to: str) -> PersonMoved:
    return PersonMoved(
        life_event_id="L", nik=NIK, from_village="17.71.01.1001", to_village=to, moved_on=dt.date(2026, 1, 2)
    )


def test_a_death_removes_the_member_or_deactivates_a_household_of_one():
    died = PersonDied(life_event_id="L", nik=NIK, died_on=dt.date(2026, 1, 2))
    assert draft_for(died, FAMILY).kind is ProposalKind.CORRECTION
    alone = draft_for(died, ALONE)
    assert alone is not None and alone.deactivation_reason is DeactivationReason.DIED


def test_a_move_out_of_the_village_drafts_and_a_move_into_it_does_not():
    away = draft_for(_moved("17.71.01.1002"), ALONE)
    assert away is not None and away.deactivation_reason is DeactivationReason.MOVED_AWAY
    assert "17.71.01.1002" in away.note
    assert draft_for(_moved(VILLAGE), FAMILY) is None


def test_a_new_family_card_asks_for_a_correction():
    changed = FamilyCardChanged(
        life_event_id="L",
        nik=NIK,
        old_kk_number="1771010101200001",
        new_kk_number="1771010101200002",
        changed_on=dt.date(2026, 1, 2),
    )
    assert draft_for(changed, FAMILY).kind is ProposalKind.CORRECTION
