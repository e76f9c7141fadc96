"""Event payloads of all services, and the registry of event types.

`EVENT_TYPES` maps each event type to its payload class at its current schema version. Importing
this package also registers the upcasters that live next to the payload classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.civil_registry import ChildBorn, FamilyCardChanged, PersonDied, PersonMoved
from dtks_contracts.events.complaint import (
    ComplaintClosed,
    ComplaintEscalated,
    ComplaintFiled,
    ComplaintLinked,
    LifeEventDraftConfirmed,
    LifeEventDraftDismissed,
)
from dtks_contracts.events.determination_chunks import DeterminationChunk, DeterminationManifest
from dtks_contracts.events.governance import (
    DeadlineSet,
    FreezeDeclared,
    FreezeLifted,
    FreezeShortened,
    FrozenAction,
    ItemOverdue,
    ItemsOverdue,
    OverdueGroup,
)
from dtks_contracts.events.notification import NotificationDelivered, NotificationFailed
from dtks_contracts.events.proposal import (
    ProposalResubmitted,
    ProposalSubmitted,
    ProposalWindowSet,
    ProposalWithdrawn,
)
from dtks_contracts.events.registry import (
    DecreeKeyActivated,
    DecreeSignature,
    DeterminationIssued,
    HouseholdCorrected,
    HouseholdDeactivated,
    HouseholdRegistered,
    InstitutionAssistanceDetermined,
    InstitutionChanged,
    InstitutionClosed,
    InstitutionRegistered,
    Period,
    RegisterCounts,
    WelfareDecileSet,
)
from dtks_contracts.events.reverification import (
    ReverificationRoundClosed,
    ReverificationRoundOpened,
    ReverificationVisitRecorded,
)
from dtks_contracts.events.verification import (
    AcceptedByMinistry,
    BatchRatified,
    FieldVisitPhoto,
    FieldVisitRecorded,
    Finding,
    IntegrityChecked,
    ReturnedAtTier,
    SentBackForCorrection,
    VerifiedAtTier,
)


class UnknownEventTypeError(LookupError):
    """An event type this version of the contracts does not know."""


_PAYLOAD_CLASSES: Final[tuple[type[EventPayload], ...]] = (
    ProposalSubmitted,
    ProposalResubmitted,
    ProposalWithdrawn,
    IntegrityChecked,
    VerifiedAtTier,
    ReturnedAtTier,
    SentBackForCorrection,
    FieldVisitRecorded,
    ReverificationRoundOpened,
    ReverificationVisitRecorded,
    ReverificationRoundClosed,
    ProposalWindowSet,
    BatchRatified,
    AcceptedByMinistry,
    FreezeDeclared,
    FreezeShortened,
    FreezeLifted,
    DeadlineSet,
    ItemOverdue,
    ItemsOverdue,
    DeterminationIssued,
    DeterminationManifest,
    DeterminationChunk,
    HouseholdRegistered,
    HouseholdCorrected,
    HouseholdDeactivated,
    WelfareDecileSet,
    InstitutionRegistered,
    InstitutionChanged,
    InstitutionClosed,
    InstitutionAssistanceDetermined,
    DecreeKeyActivated,
    NotificationDelivered,
    NotificationFailed,
    ComplaintFiled,
    ComplaintLinked,
    ComplaintClosed,
    ComplaintEscalated,
    LifeEventDraftConfirmed,
    LifeEventDraftDismissed,
    PersonDied,
    PersonMoved,
    ChildBorn,
    FamilyCardChanged,
)


def _registry(classes: tuple[type[EventPayload], ...]) -> Mapping[str, type[EventPayload]]:
    result: dict[str, type[EventPayload]] = {}
    for cls in classes:
        if cls.event_type in result:
            raise RuntimeError(f"event type {cls.event_type} is defined twice")
        result[cls.event_type] = cls
    return MappingProxyType(result)


EVENT_TYPES: Final[Mapping[str, type[EventPayload]]] = _registry(_PAYLOAD_CLASSES)


def payload_class(event_type: str) -> type[EventPayload]:
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise UnknownEventTypeError(f"unknown event type {event_type!r}") from None


__all__ = [
    "EVENT_TYPES",
    "AcceptedByMinistry",
    "BatchRatified",
    "ChildBorn",
    "ComplaintClosed",
    "ComplaintEscalated",
    "ComplaintFiled",
    "ComplaintLinked",
    "DeadlineSet",
    "DecreeKeyActivated",
    "DecreeSignature",
    "DeterminationIssued",
    "EventPayload",
    "FamilyCardChanged",
    "FieldVisitPhoto",
    "FieldVisitRecorded",
    "Finding",
    "FreezeDeclared",
    "FreezeLifted",
    "FreezeShortened",
    "FrozenAction",
    "HouseholdCorrected",
    "HouseholdDeactivated",
    "HouseholdRegistered",
    "InstitutionAssistanceDetermined",
    "InstitutionChanged",
    "InstitutionClosed",
    "InstitutionRegistered",
    "IntegrityChecked",
    "ItemOverdue",
    "ItemsOverdue",
    "LifeEventDraftConfirmed",
    "LifeEventDraftDismissed",
    "NotificationDelivered",
    "NotificationFailed",
    "OverdueGroup",
    "Period",
    "PersonDied",
    "PersonMoved",
    "ProposalResubmitted",
    "ProposalSubmitted",
    "ProposalWindowSet",
    "ProposalWithdrawn",
    "RegisterCounts",
    "ReturnedAtTier",
    "ReverificationRoundClosed",
    "ReverificationRoundOpened",
    "ReverificationVisitRecorded",
    "SentBackForCorrection",
    "UnknownEventTypeError",
    "VerifiedAtTier",
    "WelfareDecileSet",
    "payload_class",
]
