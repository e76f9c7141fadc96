"""Events of the verification service (topic dtks.verification.events).

Per-proposal events are keyed by proposal_id so that one proposal's history stays in order. The
regent's decree over a batch is one event keyed by batch_id, and each proposal in the batch also
gets its own `verified_at_tier` at the ratification tier, which keeps its per-proposal order intact.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, ClassVar, Literal

from pydantic import Field, StringConstraints, field_validator, model_validator

from dtks_contracts.actor import Actor
from dtks_contracts.events.base import EventPayload, check_institution_consistency, check_kind_consistency
from dtks_contracts.household import Household
from dtks_contracts.identifiers import DecreeNumber, EntityId, Nik
from dtks_contracts.institution import Assistance, Institution
from dtks_contracts.model_base import ContractModel
from dtks_contracts.regions import RegencyCode, VillageCode
from dtks_contracts.text import FreeText, LineCheck, SafeStr
from dtks_contracts.timestamps import UtcDateTime
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_contracts.vocabulary.reasons import ReasonCode, describe
from dtks_contracts.vocabulary.tiers import IntegrityStage, Tier

Note = FreeText


class Finding(ContractModel):
    """One thing wrong with a proposal, pinned to a field and, where it concerns a person, a member."""

    code: ReasonCode
    message: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), LineCheck
    ]
    field_path: SafeStr | None = Field(
        default=None, max_length=300, description="e.g. household.members[2].birth_date"
    )
    member_nik: Nik | None = None

    @classmethod
    def of(
        cls,
        code: ReasonCode,
        *,
        detail: str | None = None,
        field_path: str | None = None,
        member_nik: str | None = None,
    ) -> Finding:
        """A finding whose message is the code's standard sentence, plus the specific detail."""
        message = describe(code) if detail is None else f"{describe(code)} {detail}"
        return cls(code=code, message=message, field_path=field_path, member_nik=member_nik)


FlagCode = Literal["resident_in_registered_household", "member_resident_in_institution"]

# The sentences a verifier reads with each flag (flags are no reasons for a return: the verifier judges).
FLAG_MESSAGES: dict[str, str] = {
    "resident_in_registered_household": (
        "This resident is also a member of a household in the register; judge whether both are "
        "right, so the person does not draw aid twice."
    ),
    "member_resident_in_institution": (
        "This member is also a current resident of an institution in the register; judge whether "
        "both are right, so the person does not draw aid twice."
    ),
}


class Flag(ContractModel):
    """Something for the verifier to judge that does not fail the integrity check (#19: a person
    living in an institution and also counted in a registered household could draw aid twice)."""

    code: FlagCode
    message: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000), LineCheck
    ]
    field_path: SafeStr | None = Field(default=None, max_length=300)
    member_nik: Nik | None = None

    @classmethod
    def of(cls, code: FlagCode, *, detail: str, field_path: str, member_nik: str) -> Flag:
        return cls(
            code=code,
            message=f"{FLAG_MESSAGES[code]} {detail}",
            field_path=field_path,
            member_nik=member_nik,
        )


class _ProposalVerificationEvent(EventPayload):
    aggregate_type: ClassVar[str] = "proposal"
    aggregate_id_field: ClassVar[str] = "proposal_id"

    proposal_id: EntityId
    round: int = Field(ge=1)
    # Carried on every event so that queues, scopes and notifications need no join.
    village_code: VillageCode


class IntegrityChecked(_ProposalVerificationEvent):
    """The automatic integrity standard ran, at entry or at the Ministry."""

    event_type: ClassVar[str] = "verification.integrity_checked"
    schema_version: ClassVar[int] = 1

    stage: IntegrityStage
    passed: bool
    findings: tuple[Finding, ...] = ()
    # Matters for the verifier to judge, which do not fail the check (e.g. an institution's resident
    # who is also a member of a registered household, #19).
    flags: tuple[Flag, ...] = ()

    @model_validator(mode="after")
    def _passed_means_no_findings(self) -> IntegrityChecked:
        if self.passed == bool(self.findings):
            raise ValueError("passed must be true exactly when there are no findings")
        return self


class VerifiedAtTier(_ProposalVerificationEvent):
    """A tier checked the proposal and forwards it to the next tier. The Ministry does not use this
    event: its forward is `verification.accepted_by_ministry`."""

    event_type: ClassVar[str] = "verification.verified_at_tier"
    schema_version: ClassVar[int] = 1

    tier: Tier
    verifier: Actor
    note: Note | None = None
    batch_id: EntityId | None = Field(default=None, description="Ratification tier only: the batch")
    decree_number: DecreeNumber | None = Field(default=None, description="Ratification tier only: the decree")

    @model_validator(mode="after")
    def _tier_details(self) -> VerifiedAtTier:
        if self.tier is Tier.MINISTRY:
            raise ValueError("the Ministry forwards with verification.accepted_by_ministry")
        is_ratification = self.tier is Tier.RATIFICATION
        if is_ratification != (self.batch_id is not None) or is_ratification != (
            self.decree_number is not None
        ):
            raise ValueError("batch_id and decree_number are given exactly at the ratification tier")
        return self


class ReturnedAtTier(_ProposalVerificationEvent):
    """A tier sent the proposal back to the village operator, with the reasons to act on."""

    event_type: ClassVar[str] = "verification.returned_at_tier"
    schema_version: ClassVar[int] = 1

    tier: Tier = Field(description="Where the proposal stood; the first tier for returns at entry")
    returned_by: Actor | None = Field(
        default=None, description="None when the integrity standard returned it"
    )
    reasons: tuple[Finding, ...] = Field(min_length=1)
    note: Note | None = None


class SentBackForCorrection(_ProposalVerificationEvent):
    """The Ministry's integrity re-check failed: the proposal goes back to the regency's social
    service for correction (the integrity standard's failures are the regency's to correct, as the
    regulation says), not to the village; it now waits in that tier's queue, and the village is told.

    A separate event type, not a field on ``returned_at_tier``: a reader that ignores unknown fields
    would take a ``returned_at_tier`` for a return to the village and let the village resubmit."""

    event_type: ClassVar[str] = "verification.sent_back_for_correction"
    schema_version: ClassVar[int] = 1

    tier: Tier = Field(description="Where the proposal stood when its check failed: the Ministry")
    to_tier: Tier = Field(description="Whose queue it waits in now: the regency's social service")
    returned_by: Actor | None = Field(
        default=None, description="None when the integrity standard sent it back"
    )
    reasons: tuple[Finding, ...] = Field(min_length=1)
    note: Note | None = None


class FieldVisitPhoto(ContractModel):
    subject: Literal["roof", "floor", "walls", "head"]
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$", description="Content hash of the photo")
    location: Annotated[str, StringConstraints(min_length=1, max_length=400), LineCheck] = Field(
        description="Where the photo is stored (key or URI)"
    )


class FieldVisitRecorded(_ProposalVerificationEvent):
    """A district verifier or regency operator recorded a field visit's evidence for the proposal."""

    event_type: ClassVar[str] = "verification.field_visit_recorded"
    schema_version: ClassVar[int] = 1

    visit_id: int = Field(ge=1)
    tier: Tier = Field(description="The tier of the officer who recorded it")
    officer: Annotated[str, StringConstraints(min_length=1, max_length=200), LineCheck]
    visit_date: dt.date
    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
    photos: tuple[FieldVisitPhoto, ...] = Field(default=(), max_length=20)
    recorded_by: Actor


class BatchRatified(EventPayload):
    """The regent or mayor ratified a regency's verified batch by decree."""

    event_type: ClassVar[str] = "verification.batch_ratified"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "ratification_batch"
    aggregate_id_field: ClassVar[str] = "batch_id"

    batch_id: EntityId
    regency_code: RegencyCode
    decree_number: DecreeNumber
    decree_date: dt.date
    proposal_ids: tuple[EntityId, ...] = Field(min_length=1)
    ratified_by: Actor

    @field_validator("proposal_ids")
    @classmethod
    def _unique(cls, proposal_ids: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(proposal_ids)) != len(proposal_ids):
            raise ValueError("a proposal appears more than once in the batch")
        return proposal_ids


class AcceptedByMinistry(_ProposalVerificationEvent):
    """The Ministry accepted the proposal; it enters the register at the next determination.

    Carries the verified content in full (event-carried state transfer): the registry builds the
    register from this stream and its own, without asking the proposal service anything.
    """

    event_type: ClassVar[str] = "verification.accepted_by_ministry"
    schema_version: ClassVar[int] = 1

    kind: ProposalKind
    household: Household | None = None
    target_household_id: EntityId | None = None
    deactivation_reason: DeactivationReason | None = None
    programs_requested: tuple[Program, ...] = ()
    # Institutions (LKS); absent from a household's acceptance, so its bytes are unchanged.
    institution: Institution | None = Field(default=None, exclude_if=lambda value: value is None)
    target_institution_id: EntityId | None = Field(default=None, exclude_if=lambda value: value is None)
    closure_reason: ClosureReason | None = Field(default=None, exclude_if=lambda value: value is None)
    assistance: Assistance | None = Field(default=None, exclude_if=lambda value: value is None)
    accepted_at: UtcDateTime
    accepted_by: Actor | None = Field(default=None, description="The ministry verifier; None if automatic")

    @model_validator(mode="after")
    def _consistent(self) -> AcceptedByMinistry:
        check_kind_consistency(self.kind, self.household, self.target_household_id, self.deactivation_reason)
        check_institution_consistency(
            self.kind, self.institution, self.target_institution_id, self.closure_reason, self.assistance
        )
        if self.household is not None and self.household.village_code != self.village_code:
            raise ValueError("household.village_code differs from the proposal's village_code")
        if self.institution is not None and self.institution.village_code != self.village_code:
            raise ValueError("institution.village_code differs from the proposal's village_code")
        return self
