"""Re-verification rounds (topic dtks.verification.events): going back to registered households.

The Ministry (any region) or a regency's social service (its own area) opens a round over a region
and a period, choosing which registered households to visit; the verification service issues the
prelist per village and field officers record what they found at each household. A round's opening,
each visit and its closing are events: a visit whose outcome changes the register (a changed
household, one that moved, was not found or is no longer eligible) names the proposal it becomes, and
the proposal service enters that proposal (kind correction or deactivation, origin re_verification),
which then runs the tiers like any other.

Opening and closing are keyed by `round_id` (the round's stream); a visit by `household_id`, so one
household's visits across rounds stay in order and 50 officers recording at once never contend on
one stream.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import ClassVar

from pydantic import Field, model_validator

from dtks_contracts.actor import Actor
from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.verification import FieldVisitPhoto
from dtks_contracts.household import Household
from dtks_contracts.identifiers import EntityId
from dtks_contracts.model_base import ContractModel
from dtks_contracts.regions import RegionCode, VillageCode
from dtks_contracts.text import FreeText, Name
from dtks_contracts.vocabulary.proposals import DeactivationReason


class SelectionMode(StrEnum):
    ALL = "all"  # every active household of the region
    SAMPLE = "sample"  # a seeded random sample of them (the same seed draws the same households)
    NOT_VISITED = "not_visited"  # not visited by a round for N months (never visited counts)
    FLAGGED = "flagged"  # households with one of the flags below


class HouseholdFlag(StrEnum):
    """Facts the verification service learns from events that call for a visit."""

    MEMBER_DIED = "member_died"  # the civil registry reported a member's death
    DECILE_CHANGED = "decile_changed"  # the central welfare decile was set to another value
    COMPLAINT = "complaint"  # a citizen's complaint names the household


class VisitOutcome(StrEnum):
    UNCHANGED = "unchanged"  # found, and the record is right
    CHANGED = "changed"  # found, and the record needs correcting: a correction proposal
    MOVED = "moved"  # the household moved away: a deactivation proposal
    NOT_FOUND = "not_found"  # nobody found at the address: a deactivation proposal
    NO_LONGER_ELIGIBLE = "no_longer_eligible"  # a deactivation proposal


# The deactivation each outcome proposes; CHANGED proposes a correction, UNCHANGED nothing.
DEACTIVATION_OF: dict[VisitOutcome, DeactivationReason] = {
    VisitOutcome.MOVED: DeactivationReason.MOVED_AWAY,
    VisitOutcome.NOT_FOUND: DeactivationReason.NOT_FOUND,
    VisitOutcome.NO_LONGER_ELIGIBLE: DeactivationReason.NO_LONGER_ELIGIBLE,
}


class RoundSelection(ContractModel):
    mode: SelectionMode
    sample_size: int | None = Field(default=None, ge=1, description="sample: how many households")
    seed: int | None = Field(default=None, ge=0, description="sample: the draw's seed")
    not_visited_months: int | None = Field(default=None, ge=1, le=240, description="not_visited: N")
    flags: tuple[HouseholdFlag, ...] = Field(default=(), description="flagged: any of these")

    @model_validator(mode="after")
    def _what_the_mode_needs(self) -> RoundSelection:
        if (self.mode is SelectionMode.SAMPLE) != (self.sample_size is not None and self.seed is not None):
            raise ValueError("a sample, and only a sample, gives sample_size and seed")
        if (self.mode is SelectionMode.NOT_VISITED) != (self.not_visited_months is not None):
            raise ValueError("not_visited, and only it, gives not_visited_months")
        if (self.mode is SelectionMode.FLAGGED) != bool(self.flags):
            raise ValueError("flagged, and only it, names the flags")
        return self


class ReverificationRoundOpened(EventPayload):
    """A round was opened and its prelist issued: which households of the region will be visited."""

    event_type: ClassVar[str] = "verification.reverification_round_opened"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "reverification_round"
    aggregate_id_field: ClassVar[str] = "round_id"

    round_id: EntityId
    region: RegionCode
    period_start: dt.date
    period_end: dt.date
    selection: RoundSelection
    size_limit: int | None = Field(default=None, ge=1)
    households: int = Field(ge=0, description="Households on the prelist")
    villages: int = Field(ge=0, description="Villages the prelist covers")
    opened_by: Actor

    @model_validator(mode="after")
    def _period_in_order(self) -> ReverificationRoundOpened:
        if self.period_end < self.period_start:
            raise ValueError("the period ends before it starts")
        return self


class OutcomeCounts(ContractModel):
    visited: int = Field(ge=0)
    outstanding: int = Field(ge=0)
    unchanged: int = Field(ge=0)
    changed: int = Field(ge=0)
    moved: int = Field(ge=0)
    not_found: int = Field(ge=0)
    no_longer_eligible: int = Field(ge=0)


class ReverificationRoundClosed(EventPayload):
    """A round was closed: its recap. Households not visited by then stay as they are registered."""

    event_type: ClassVar[str] = "verification.reverification_round_closed"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "reverification_round"
    aggregate_id_field: ClassVar[str] = "round_id"

    round_id: EntityId
    region: RegionCode
    households: int = Field(ge=0)
    recap: OutcomeCounts
    proposals: int = Field(ge=0, description="Correction and deactivation proposals the visits made")
    closed_by: Actor


class ReverificationVisitRecorded(EventPayload):
    """A field officer recorded what a round's visit found at a registered household.

    `proposal_id` names the proposal the outcome becomes (none for `unchanged`): a correction carries
    `household`, the register's record with the officer's changes (pre-filled, with the visit as its
    field evidence); a deactivation carries `deactivation_reason` and `evidence_note`."""

    event_type: ClassVar[str] = "verification.reverification_visit_recorded"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "reverification_visit"
    aggregate_id_field: ClassVar[str] = "visit_key"

    visit_key: EntityId = Field(description="<round_id>:<household_id>, the visit's own stream")
    round_id: EntityId
    household_id: EntityId
    village_code: VillageCode
    outcome: VisitOutcome
    officer: Name
    visit_date: dt.date
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    photos: tuple[FieldVisitPhoto, ...] = Field(default=(), max_length=20)
    note: FreeText | None = None
    proposal_id: EntityId | None = None
    household: Household | None = None
    deactivation_reason: DeactivationReason | None = None
    evidence_note: FreeText | None = None
    recorded_by: Actor

    @model_validator(mode="after")
    def _outcome_carries_its_proposal(self) -> ReverificationVisitRecorded:
        if self.visit_key != f"{self.round_id}:{self.household_id}":
            raise ValueError("visit_key is <round_id>:<household_id>")
        proposes = self.outcome is not VisitOutcome.UNCHANGED
        if proposes != (self.proposal_id is not None):
            raise ValueError("every outcome but unchanged names the proposal it becomes")
        if (self.outcome is VisitOutcome.CHANGED) != (self.household is not None):
            raise ValueError("a changed household, and only it, carries the corrected household")
        if self.household is not None and self.household.household_id != self.household_id:
            raise ValueError("the corrected household is the visited one")
        deactivates = self.outcome in DEACTIVATION_OF
        if deactivates != (self.deactivation_reason is not None and self.evidence_note is not None):
            raise ValueError("a deactivating outcome, and only it, carries the reason and evidence_note")
        if deactivates and self.deactivation_reason is not DEACTIVATION_OF[self.outcome]:
            raise ValueError(
                f"a household found {self.outcome} is deactivated as {DEACTIVATION_OF[self.outcome]}"
            )
        return self
