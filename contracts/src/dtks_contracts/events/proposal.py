"""Events of the proposal service (topic dtks.proposal.events, keyed by proposal_id)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, ClassVar

from pydantic import Field, StringConstraints, model_validator

from dtks_contracts.actor import Actor
from dtks_contracts.events.base import EventPayload, check_institution_consistency, check_kind_consistency
from dtks_contracts.household import Deliberation, Household
from dtks_contracts.identifiers import EntityId
from dtks_contracts.institution import Assistance, Institution
from dtks_contracts.regions import RegencyCode, VillageCode
from dtks_contracts.text import FreeText, LineCheck
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import (
    DeactivationReason,
    ProposalKind,
    ProposalOrigin,
    ProposalSubject,
)

Note = FreeText


class ProposalContent(EventPayload):
    """What a proposal says, in full, every round: a resubmission replaces the whole content, so
    each event can be read without replaying the rounds before it."""

    aggregate_type: ClassVar[str] = "proposal"
    aggregate_id_field: ClassVar[str] = "proposal_id"

    proposal_id: EntityId
    round: int = Field(ge=1, description="1 for the first submission, +1 for every resubmission")
    kind: ProposalKind
    origin: ProposalOrigin
    village_code: VillageCode
    deliberation: Deliberation | None = Field(
        default=None, description="Required for village proposals; civil-registry events have none"
    )
    household: Household | None = Field(default=None, description="For new households and corrections")
    target_household_id: EntityId | None = Field(
        default=None, description="For corrections and deactivations"
    )
    deactivation_reason: DeactivationReason | None = None
    evidence_note: Note | None = Field(default=None, description="Why the household should be deactivated")
    programs_requested: tuple[Program, ...] = ()
    submitted_by: Actor | None = Field(
        default=None, description="The operator; none for civil-registry events"
    )
    # Institutions (LKS), added after the first events were written: absent from a household's
    # proposal, so the bytes of household events are what they were before these fields existed.
    institution: Institution | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="For an institution's registration and changes",
    )
    target_institution_id: EntityId | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="For an institution's changes and closure",
    )
    closure_reason: ClosureReason | None = Field(
        default=None, exclude_if=lambda value: value is None, description="For an institution's closure"
    )
    # An institution's assistance (#19), added later: absent from other proposals, so their bytes
    # are unchanged.
    assistance: Assistance | None = Field(
        default=None, exclude_if=lambda value: value is None, description="For an institution's assistance"
    )
    # Re-verification rounds, added later: absent from other proposals, so their bytes are unchanged.
    reverification_round_id: EntityId | None = Field(
        default=None,
        exclude_if=lambda value: value is None,
        description="The re-verification round whose field visit made the proposal",
    )
    civil_registry_ref: Annotated[str, StringConstraints(min_length=1, max_length=200), LineCheck] | None = (
        Field(
            default=None, description="The civil-registry life event (death, move) that started the proposal"
        )
    )
    idempotency_key: Annotated[str, StringConstraints(min_length=1, max_length=200), LineCheck] | None = (
        Field(default=None, description="The client's key; a retry with the same key is the same submission")
    )

    @model_validator(mode="after")
    def _consistent(self) -> ProposalContent:
        check_kind_consistency(self.kind, self.household, self.target_household_id, self.deactivation_reason)
        check_institution_consistency(
            self.kind, self.institution, self.target_institution_id, self.closure_reason, self.assistance
        )
        if self.kind is ProposalKind.DEACTIVATION and self.evidence_note is None:
            raise ValueError("a deactivation needs an evidence_note saying what shows the reason")
        if self.kind is ProposalKind.INSTITUTION_CLOSURE and self.evidence_note is None:
            raise ValueError("a closure needs an evidence_note saying what shows the reason")
        if self.institution is not None and self.institution.village_code != self.village_code:
            raise ValueError(
                f"institution.village_code {self.institution.village_code} differs from the proposal's "
                f"village_code {self.village_code}"
            )
        institutional = self.kind.subject is ProposalSubject.INSTITUTION
        if institutional != (self.origin is ProposalOrigin.SOCIAL_SERVICE):
            raise ValueError("institutions' proposals, and only they, come from the social service")
        if self.household is not None and self.household.village_code != self.village_code:
            raise ValueError(
                f"household.village_code {self.household.village_code} differs from the proposal's "
                f"village_code {self.village_code}"
            )
        if self.origin is ProposalOrigin.VILLAGE:
            if self.deliberation is None:
                raise ValueError("a village proposal needs the deliberation (musdes/muskel) that agreed it")
            if self.submitted_by is None:
                raise ValueError("a village proposal needs submitted_by")
        elif self.origin is ProposalOrigin.SOCIAL_SERVICE:
            if self.submitted_by is None:
                raise ValueError("an institution's proposal needs submitted_by")
        elif self.origin is ProposalOrigin.RE_VERIFICATION:
            if self.submitted_by is None or self.reverification_round_id is None:
                raise ValueError("a re-verification proposal names its round and the officer who visited")
            if self.kind not in (ProposalKind.CORRECTION, ProposalKind.DEACTIVATION):
                raise ValueError("a re-verification round proposes corrections and deactivations only")
        elif self.civil_registry_ref is None:
            raise ValueError("a civil-registry proposal needs civil_registry_ref")
        return self


class ProposalSubmitted(ProposalContent):
    """A proposal entered for the first time (round 1)."""

    event_type: ClassVar[str] = "proposal.submitted"
    schema_version: ClassVar[int] = 1

    @model_validator(mode="after")
    def _first_round(self) -> ProposalSubmitted:
        if self.round != 1:
            raise ValueError(
                f"a first submission is round 1, got round {self.round}; use proposal.resubmitted"
            )
        return self


class ProposalResubmitted(ProposalContent):
    """A returned proposal, corrected and submitted again; it runs all tiers again."""

    event_type: ClassVar[str] = "proposal.resubmitted"
    schema_version: ClassVar[int] = 1

    correction_note: Note | None = Field(default=None, description="What the operator changed")

    @model_validator(mode="after")
    def _later_round(self) -> ProposalResubmitted:
        if self.round < 2:
            raise ValueError(f"a resubmission is round 2 or later, got round {self.round}")
        return self


class ProposalWithdrawn(EventPayload):
    """The village withdrew its proposal; it leaves every queue and never reaches the register."""

    event_type: ClassVar[str] = "proposal.withdrawn"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "proposal"
    aggregate_id_field: ClassVar[str] = "proposal_id"

    proposal_id: EntityId
    round: int = Field(ge=1)
    village_code: VillageCode
    withdrawn_by: Actor
    reason: Note


class ProposalWindowSet(EventPayload):
    """The Ministry opened or closed a regency's proposal window, or changed its period or quota.

    A decision about whose proposals are admitted, so it is in the log (not only a row): a household's
    audit history shows the windows its regency worked under, and a replay sees them."""

    event_type: ClassVar[str] = "proposal.window_set"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "proposal_window"
    aggregate_id_field: ClassVar[str] = "regency_code"

    regency_code: RegencyCode
    open: bool
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    quota: int | None = Field(
        default=None, ge=0, description="Proposals admitted in the period; None: no quota"
    )
    set_by: Actor

    @model_validator(mode="after")
    def _period_in_order(self) -> ProposalWindowSet:
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("the period ends before it starts")
        return self
