"""Events of the complaints service (topic dtks.complaint.events, keyed by complaint_id; the village's
decisions on life-event drafts by draft_id).

A complaint's events carry what the recap statistics and the household's audit history need (kind,
village, the NIK or household it names, the proposal it became, the outcome), never the
complainant's phone number: that is kept by the complaints service only to give the answer.
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from dtks_contracts.actor import Actor
from dtks_contracts.events.base import EventPayload
from dtks_contracts.identifiers import DecreeNumber, EntityId, Nik
from dtks_contracts.regions import DistrictCode, VillageCode
from dtks_contracts.text import FreeText
from dtks_contracts.timestamps import UtcDateTime
from dtks_contracts.vocabulary.complaints import (
    ComplaintChannel,
    ComplaintClosingReason,
    ComplaintKind,
    DraftDismissalReason,
)
from dtks_contracts.vocabulary.proposals import ProposalKind


class _ComplaintEvent(EventPayload):
    aggregate_type: ClassVar[str] = "complaint"
    aggregate_id_field: ClassVar[str] = "complaint_id"

    complaint_id: EntityId
    village_code: VillageCode


class ComplaintFiled(_ComplaintEvent):
    event_type: ClassVar[str] = "complaint.filed"
    schema_version: ClassVar[int] = 1

    kind: ComplaintKind
    channel: ComplaintChannel
    complainant_nik: Nik
    subject_nik: Nik | None = Field(default=None, description="The NIK an inclusion complaint names")
    subject_household_id: EntityId | None = Field(
        default=None, description="The registered household an inclusion or data-error complaint names"
    )
    subject_proposal_id: EntityId | None = Field(
        default=None, description="The proposal a complaint about its handling names"
    )
    filed_by: Actor | None = Field(
        default=None, description="The welfare post officer; none for the public form"
    )
    due_at: UtcDateTime = Field(description="When the complaint is escalated to the district if not acted on")


class ComplaintLinked(_ComplaintEvent):
    """The village turned the complaint into a proposal (or tied it to one): its status follows it."""

    event_type: ClassVar[str] = "complaint.linked"
    schema_version: ClassVar[int] = 1

    proposal_id: EntityId
    linked_by: Actor


class ComplaintClosed(_ComplaintEvent):
    event_type: ClassVar[str] = "complaint.closed"
    schema_version: ClassVar[int] = 1

    reason: ComplaintClosingReason
    note: FreeText | None = None
    closed_by: Actor | None = Field(default=None, description="None when the decree closed it")
    proposal_id: EntityId | None = None
    decree_number: DecreeNumber | None = None


class ComplaintEscalated(_ComplaintEvent):
    """Not acted on by its deadline: it now waits at the district as well."""

    event_type: ClassVar[str] = "complaint.escalated"
    schema_version: ClassVar[int] = 1

    district_code: DistrictCode
    due_at: UtcDateTime
    escalated_at: UtcDateTime


class _LifeEventDraftEvent(EventPayload):
    """A draft proposal a civil-registry life event opened for a registered household: the village
    operator confirms it (the proposal made of it then runs the tiers) or dismisses it."""

    aggregate_type: ClassVar[str] = "life_event_draft"
    aggregate_id_field: ClassVar[str] = "draft_id"

    draft_id: EntityId
    life_event_id: EntityId = Field(description="The civil registry's id of the life event")
    village_code: VillageCode
    household_id: EntityId = Field(description="The registered household the life event touches")


class LifeEventDraftConfirmed(_LifeEventDraftEvent):
    """The village submitted the proposal the draft called for; the draft follows that proposal."""

    event_type: ClassVar[str] = "complaint.life_event_draft_confirmed"
    schema_version: ClassVar[int] = 1

    proposal_id: EntityId
    proposal_kind: ProposalKind
    confirmed_by: Actor


class LifeEventDraftDismissed(_LifeEventDraftEvent):
    event_type: ClassVar[str] = "complaint.life_event_draft_dismissed"
    schema_version: ClassVar[int] = 1

    reason: DraftDismissalReason
    note: FreeText | None = None
    dismissed_by: Actor
