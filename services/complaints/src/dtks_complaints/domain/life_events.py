"""Which draft proposal a life event calls for, given the registered household it touches, and what
the village may still do with a draft (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from dtks_complaints.domain.complaints import ProposalStage
from dtks_contracts.events.civil_registry import ChildBorn, FamilyCardChanged, PersonDied, PersonMoved
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_runtime.errors import DomainError


@dataclass(frozen=True)
class Household:
    household_id: str
    village_code: str
    members: int
    active: bool


@dataclass(frozen=True)
class Draft:
    kind: ProposalKind
    note: str
    deactivation_reason: DeactivationReason | None = None


LifeEvent = PersonDied | PersonMoved | ChildBorn | FamilyCardChanged


def person_looked_up(event: LifeEvent) -> list[str]:
    """The NIKs whose household the event touches: a birth's parents, else the person."""
    if isinstance(event, ChildBorn):
        return list(event.parent_niks)
    return [event.nik]


def draft_for(event: LifeEvent, household: Household) -> Draft | None:
    """The proposal the village operator is asked to confirm; None when nothing changes."""
    alone = household.members <= 1
    if isinstance(event, PersonDied):
        if alone:
            return Draft(
                ProposalKind.DEACTIVATION,
                f"The only member died on {event.died_on.isoformat()} (civil registry).",
                DeactivationReason.DIED,
            )
        return Draft(ProposalKind.CORRECTION, f"Remove the member who died on {event.died_on.isoformat()}.")
    if isinstance(event, PersonMoved):
        if event.to_village == household.village_code:
            return None  # moved into the village the household is registered in
        where = f"moved to village {event.to_village} on {event.moved_on.isoformat()}"
        if alone:
            return Draft(
                ProposalKind.DEACTIVATION,
                f"The only member {where}; tell the receiving village.",
                DeactivationReason.MOVED_AWAY,
            )
        return Draft(ProposalKind.CORRECTION, f"Remove the member who {where}; tell the receiving village.")
    if isinstance(event, ChildBorn):
        return Draft(ProposalKind.CORRECTION, f"Add the child born on {event.born_on.isoformat()}.")
    if isinstance(event, FamilyCardChanged):
        return Draft(
            ProposalKind.CORRECTION,
            f"Family card changed on {event.changed_on.isoformat()}: update the members.",
        )
    return None


class DraftStatus(StrEnum):
    DRAFT = "draft"  # waits for the village operator
    CONFIRMED = "confirmed"  # the village submitted the proposal it called for; follows that proposal
    DISMISSED = "dismissed"  # the village dismissed it with a coded reason


def ensure_undecided(status: DraftStatus, stage: ProposalStage | None, proposal_id: str | None) -> None:
    """A draft is confirmed or dismissed once: again only once the proposal made of it was withdrawn
    (as a complaint becomes actionable again)."""
    if status is DraftStatus.DISMISSED:
        raise DomainError("draft_dismissed", "The draft was dismissed already; nothing is left to do.")
    if status is DraftStatus.CONFIRMED and stage is not ProposalStage.WITHDRAWN:
        raise DomainError(
            "draft_confirmed",
            f"The draft was confirmed already as proposal {proposal_id}; it follows that proposal.",
            extra={"proposal_id": proposal_id},
        )
