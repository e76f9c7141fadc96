"""The rules of a complaint, with no I/O: what a filing must name, where a complaint stands, what
its complainant is told next, when it is due, and what an operator may still do with it."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dtks_contracts.identifiers import EntityId, Nik
from dtks_contracts.regions import VillageCode
from dtks_contracts.text import FreeText, Name
from dtks_contracts.vocabulary.complaints import (
    CLOSING_MESSAGES,
    OPERATOR_CLOSING_REASONS,
    ComplaintClosingReason,
    ComplaintKind,
)
from dtks_runtime.errors import DomainError

# Indonesian mobile numbers as people write them: 08..., +628... or 628..., 10 to 15 digits.
PHONE_PATTERN = r"^(\+?62|0)8[0-9]{7,12}$"
# Letters a person reads off a slip of paper without confusing them (no 0/O, 1/I/L).
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_LENGTH = 12  # 31^12, about 2^59: not found by trying at the tracking check's rate


class ComplaintStatus(StrEnum):
    OPEN = "open"  # waits for the village operator
    ESCALATED = "escalated"  # not acted on in time: waits at the district as well
    IN_PROPOSAL = "in_proposal"  # the village made a proposal of it; follows that proposal
    CLOSED = "closed"


class ProposalStage(StrEnum):
    SUBMITTED = "submitted"
    VERIFYING = "verifying"
    RETURNED = "returned"
    ACCEPTED = "accepted"
    WITHDRAWN = "withdrawn"


class ComplaintIn(BaseModel):
    """What the public form (or the welfare post's officer) sends."""

    model_config = ConfigDict(extra="forbid")

    nik: Nik = Field(description="The complainant's NIK, as on the identity card")
    name: Name = Field(description="The complainant's name, as on the identity card")
    village_code: VillageCode
    phone: str = Field(pattern=PHONE_PATTERN, description="Where the answer is sent; kept for that only")
    kind: ComplaintKind
    description: FreeText = Field(description="What is wrong, in the complainant's words")
    subject_nik: Nik | None = Field(
        default=None, description="Inclusion: the NIK that should not be registered"
    )
    subject_household_id: EntityId | None = Field(
        default=None, description="Inclusion or data error: the registered household meant"
    )
    subject_proposal_id: EntityId | None = Field(default=None, description="Proposal handling: the proposal")

    @model_validator(mode="after")
    def _names_what_its_kind_needs(self) -> ComplaintIn:
        if self.kind is ComplaintKind.INCLUSION and not (self.subject_nik or self.subject_household_id):
            raise ValueError(
                "an inclusion complaint names the household (subject_household_id) or a NIK (subject_nik)"
            )
        if self.kind is ComplaintKind.PROPOSAL_HANDLING and not self.subject_proposal_id:
            raise ValueError(
                "a complaint about a proposal's handling names the proposal (subject_proposal_id)"
            )
        return self


def new_tracking_code() -> str:
    return "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))


def tracking_digest(code: str) -> bytes:
    """What is stored of a tracking code: its hash, so the table alone lets nobody check a complaint."""
    return hashlib.sha256(code.strip().upper().encode()).digest()


def due_at(filed_at: dt.datetime, deadline: dt.timedelta) -> dt.datetime:
    return filed_at + deadline


def is_due(status: ComplaintStatus, due: dt.datetime, now: dt.datetime) -> bool:
    """Escalated once: only a complaint still waiting for its village, past its deadline."""
    return status is ComplaintStatus.OPEN and now >= due


def ensure_actionable(status: ComplaintStatus, stage: ProposalStage | None = None) -> None:
    """A village may close a complaint or make a proposal of it while it waits (open or escalated),
    and again once the proposal made of it was withdrawn."""
    if status is ComplaintStatus.CLOSED:
        raise DomainError("complaint_closed", "The complaint is closed already; nothing is left to do.")
    if status is ComplaintStatus.IN_PROPOSAL and stage is not ProposalStage.WITHDRAWN:
        raise DomainError(
            "complaint_linked",
            "The complaint follows a proposal already; it closes when that proposal is decided.",
        )


def ensure_operator_reason(reason: ComplaintClosingReason) -> None:
    if reason not in OPERATOR_CLOSING_REASONS:
        raise DomainError(
            "closing_reason_not_allowed",
            f"{reason} is set when a decree decides the proposal; choose another reason.",
            errors=[{"field": "reason", "message": "not for an operator to choose", "type": "not_allowed"}],
        )


def next_step(
    status: ComplaintStatus,
    *,
    due: dt.datetime,
    stage: ProposalStage | None = None,
    reason: ComplaintClosingReason | None = None,
) -> str:
    """What the complainant is told comes next: about their complaint only."""
    if status is ComplaintStatus.OPEN:
        return f"Your village's operator will look at your complaint by {due.date().isoformat()}."
    if status is ComplaintStatus.ESCALATED:
        return "Your village did not act in time; the district now follows your complaint too."
    if status is ComplaintStatus.CLOSED:
        return CLOSING_MESSAGES[reason] if reason else "The complaint is closed."
    return {
        None: "Your village made a proposal of your complaint; it is being verified.",
        ProposalStage.SUBMITTED: "Your village made a proposal of your complaint; it is being verified.",
        ProposalStage.VERIFYING: "The proposal made of your complaint is being verified by the tiers.",
        ProposalStage.RETURNED: "The proposal was returned to your village for correction; it will be sent again.",
        ProposalStage.ACCEPTED: "The Ministry accepted the proposal; it takes effect with the next determination decree.",
        ProposalStage.WITHDRAWN: "The village withdrew the proposal; it will act on your complaint again.",
    }[stage]
