import datetime as dt
from pathlib import Path

import pytest
from pydantic import ValidationError

from dtks_contracts.actor import Actor
from dtks_contracts.events import (
    EVENT_TYPES,
    AcceptedByMinistry,
    BatchRatified,
    DeterminationIssued,
    Finding,
    HouseholdRegistered,
    IntegrityChecked,
    NotificationFailed,
    Period,
    ProposalResubmitted,
    ProposalSubmitted,
    ReturnedAtTier,
    UnknownEventTypeError,
    VerifiedAtTier,
    payload_class,
)
from dtks_contracts.register_hash import REGISTER_HASH_ALGORITHM
from dtks_contracts.topics import key_field_for, topic_for
from dtks_contracts.vocabulary import ReasonCode, Role

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas"
VILLAGE = "17.71.01.1001"


def test_every_event_type_has_a_topic_a_key_and_a_committed_schema():
    for event_type, cls in EVENT_TYPES.items():
        assert cls.event_type == event_type
        assert topic_for(event_type).name.startswith("dtks.")
        key = key_field_for(event_type)
        assert cls.model_fields[key].is_required(), f"{event_type}: key {key} must always be present"
        assert cls.model_fields[cls.aggregate_id_field].is_required()
        assert (SCHEMA_DIR / f"{event_type}.v{cls.schema_version}.json").is_file(), event_type


def test_unknown_event_types_are_named_in_the_error():
    with pytest.raises(UnknownEventTypeError, match=r"proposal\.exploded"):
        payload_class("proposal.exploded")


def test_new_household_proposal(make_household, village_operator, deliberation):
    proposal = ProposalSubmitted(
        proposal_id="p-1",
        round=1,
        kind="new_household",
        origin="village",
        village_code=VILLAGE,
        deliberation=deliberation,
        household=make_household(),
        submitted_by=village_operator,
        idempotency_key="bulk-2025-01-20-row-17",
    )
    assert proposal.aggregate_id() == "p-1"


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"round": 2}, "use proposal.resubmitted"),
        ({"household": None}, "needs the household"),
        ({"target_household_id": "H-1"}, "a new household has no target_household_id"),
        ({"deactivation_reason": "died"}, "only for deactivations"),
        ({"deliberation": None}, "needs the deliberation"),
        ({"submitted_by": None}, "needs submitted_by"),
        ({"origin": "civil_registry"}, "needs civil_registry_ref"),
        ({"village_code": "17.71.01.1002"}, "differs from the proposal's village_code"),
    ],
)
def test_inconsistent_proposals_are_rejected(
    make_household, village_operator, deliberation, changes, fragment
):
    fields = dict(
        proposal_id="p-1",
        round=1,
        kind="new_household",
        origin="village",
        village_code=VILLAGE,
        deliberation=deliberation,
        household=make_household(),
        submitted_by=village_operator,
    )
    fields.update(changes)
    with pytest.raises(ValidationError, match=fragment):
        ProposalSubmitted(**fields)


def test_deactivation_from_the_civil_registry_needs_no_deliberation(make_household):
    proposal = ProposalSubmitted(
        proposal_id="p-2",
        round=1,
        kind="deactivation",
        origin="civil_registry",
        village_code=VILLAGE,
        target_household_id="H-17",
        deactivation_reason="died",
        evidence_note="Death certificate of the only member",
        civil_registry_ref="dukcapil:death:1771-2025-000123",
    )
    assert proposal.household is None
    with pytest.raises(ValidationError, match="evidence_note"):
        ProposalSubmitted(**{**proposal.model_dump(), "evidence_note": None})
    with pytest.raises(ValidationError, match="carries no household"):
        ProposalSubmitted(**{**proposal.model_dump(), "household": make_household()})


def test_correction_keeps_the_register_id(make_household, village_operator, deliberation):
    fields = dict(
        proposal_id="p-3",
        round=2,
        kind="correction",
        origin="village",
        village_code=VILLAGE,
        deliberation=deliberation,
        target_household_id="H-17",
        submitted_by=village_operator,
    )
    ProposalResubmitted(**fields, household=make_household(household_id="H-17"))
    with pytest.raises(ValidationError, match="differs from target_household_id"):
        ProposalResubmitted(**fields, household=make_household(household_id="H-18"))
    with pytest.raises(ValidationError, match="round 2 or later"):
        ProposalResubmitted(**{**fields, "round": 1}, household=make_household())


def test_integrity_result_agrees_with_its_findings():
    finding = Finding.of(ReasonCode.NO_HEAD_OF_FAMILY, field_path="household.members")
    assert finding.message.startswith("No member is marked as head")
    base = dict(proposal_id="p-1", round=1, village_code=VILLAGE, stage="entry")
    IntegrityChecked(**base, passed=True)
    IntegrityChecked(**base, passed=False, findings=(finding,))
    with pytest.raises(ValidationError, match="passed must be true exactly when"):
        IntegrityChecked(**base, passed=True, findings=(finding,))
    with pytest.raises(ValidationError, match="passed must be true exactly when"):
        IntegrityChecked(**base, passed=False)


def test_tier_decisions():
    verifier = Actor(subject="camat-selebar", role=Role.DISTRICT_VERIFIER, region="17.71.01")
    regent = Actor(subject="walikota", role=Role.REGENT, region="17.71")
    base = dict(proposal_id="p-1", round=1, village_code=VILLAGE)
    VerifiedAtTier(**base, tier="district", verifier=verifier)
    VerifiedAtTier(**base, tier="ratification", verifier=regent, batch_id="B-1", decree_number="400/12/2025")
    with pytest.raises(ValidationError, match="exactly at the ratification tier"):
        VerifiedAtTier(**base, tier="ratification", verifier=regent)
    with pytest.raises(ValidationError, match="exactly at the ratification tier"):
        VerifiedAtTier(**base, tier="district", verifier=verifier, batch_id="B-1", decree_number="x")
    with pytest.raises(ValidationError, match="accepted_by_ministry"):
        VerifiedAtTier(**base, tier="ministry", verifier=verifier)
    with pytest.raises(ValidationError, match="at least 1 item"):
        ReturnedAtTier(**base, tier="district", returned_by=verifier, reasons=())
    returned = ReturnedAtTier(
        **base, tier="district", reasons=(Finding.of(ReasonCode.EVIDENCE_MISSING, detail="No roof photo."),)
    )
    assert returned.reasons[0].message.endswith("No roof photo.")


def test_batch_ratification_lists_each_proposal_once():
    regent = Actor(subject="walikota", role=Role.REGENT, region="17.71")
    fields = dict(
        batch_id="B-1", regency_code="17.71", decree_number="400/12/2025", decree_date=dt.date(2025, 2, 3)
    )
    assert BatchRatified(**fields, proposal_ids=("p-1", "p-2"), ratified_by=regent).aggregate_id() == "B-1"
    with pytest.raises(ValidationError, match="more than once"):
        BatchRatified(**fields, proposal_ids=("p-1", "p-1"), ratified_by=regent)
    with pytest.raises(ValidationError, match="expected a regency code"):
        BatchRatified(**{**fields, "regency_code": "17"}, proposal_ids=("p-1",), ratified_by=regent)


def test_acceptance_carries_the_verified_household(make_household, ministry_verifier):
    accepted = AcceptedByMinistry(
        proposal_id="p-1",
        round=1,
        village_code=VILLAGE,
        kind="new_household",
        household=make_household(),
        accepted_at=dt.datetime(2025, 3, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=7))),
        accepted_by=ministry_verifier,
    )
    assert accepted.accepted_at == dt.datetime(2025, 3, 1, 2, 0, tzinfo=dt.UTC)
    assert accepted.accepted_at.tzinfo is dt.UTC
    with pytest.raises(ValidationError, match="timezone"):
        AcceptedByMinistry(**{**accepted.model_dump(), "accepted_at": dt.datetime(2025, 3, 1, 9, 0)})


def test_determination(ministry_verifier):
    determiner = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")
    fields = dict(
        decree_number="146/HUK/2025",
        period=Period(year=2025, quarter=2),
        cut_off=dt.datetime(2025, 3, 31, 17, 0, tzinfo=dt.UTC),
        issued_at=dt.datetime(2025, 4, 2, 3, 0, tzinfo=dt.UTC),
        register_hash="ab" * 32,
        hash_algorithm=REGISTER_HASH_ALGORITHM,
        counts={"households": 2, "people": 7},
        issued_by=determiner,
    )
    decree = DeterminationIssued(**fields, registered=("H-1",), corrected=("H-2",), deactivated=("H-3",))
    assert decree.period.starts_on == dt.date(2025, 4, 1)
    assert decree.period.label == "2025-Q2"
    with pytest.raises(ValidationError, match="appears twice"):
        DeterminationIssued(**fields, registered=("H-1",), deactivated=("H-1",))
    with pytest.raises(ValidationError, match="cut_off"):
        DeterminationIssued(**{**fields, "cut_off": dt.datetime(2025, 4, 3, tzinfo=dt.UTC)})
    with pytest.raises(ValidationError):
        DeterminationIssued(**{**fields, "register_hash": "not-hex"})
    with pytest.raises(ValidationError):
        Period(year=2025, quarter=5)


def test_registered_snapshot_is_the_event_household(make_household):
    HouseholdRegistered(
        household_id="H-1",
        decree_number="146/HUK/2025",
        household=make_household(household_id="H-1"),
        proposal_id="p",
    )
    with pytest.raises(ValidationError, match="differs from event household_id"):
        HouseholdRegistered(
            household_id="H-1", decree_number="146/HUK/2025", household=make_household(), proposal_id="p"
        )


def test_a_failed_delivery_says_why():
    fields = dict(
        notification_id="n-1",
        delivery_id="d-1",
        channel="sms",
        recipient="op-pagar-dewa",
        attempt=3,
        related_event_id="5effee5f-adf5-4e45-94fd-83ff199f8399",
        will_retry=False,
    )
    assert NotificationFailed(**fields, error="SMS gateway timeout").will_retry is False
    with pytest.raises(ValidationError):
        NotificationFailed(**fields, error="")
