"""The determination rule (penetapan): what one decree puts into and takes out of the register.

A pure function of the pending candidates (Ministry acceptances not yet in any decree, keyed by
proposal id), the register in force, and the cut-off, so it gives the same answer whatever order
the acceptances were read in:
- every new household accepted up to the cut-off enters, under the id derived from its proposal;
- a correction replaces the snapshot of its (active) household, keeping the centrally set welfare
  decile; its programs (the snapshot's and those requested) are the household's programs from then
  on, so a correction can take a household out of a program as well as into one, and the decision
  names what it gained and lost (never silently); several corrections of one household in one decree:
  the one accepted last wins, since it was verified against the newest facts;
- a deactivation ends the household's membership, with its reason, and wins over a correction of
  the same household in the same decree (a decree changes a household once);
- a correction or deactivation whose household is not active, or that an acceptance of later date
  already in force overtook, is not applied: it is reported, never silently dropped.
The cut-off and order (due_in_order) and the rule for the changes of one subject already in the
register (resolve_updates) are written once here and shared with the institutions section
(institution_determination.py), each section naming its own records and reasons.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from dtks_contracts.household import Household
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_registry.domain.identity import household_id_for


class Acceptance(Protocol):
    """What the rule needs of a pending acceptance, whatever section of the register it is for."""

    @property
    def proposal_id(self) -> str: ...

    @property
    def accepted_at(self) -> dt.datetime: ...


A = TypeVar("A", bound=Acceptance)


def due_in_order(pending: Sequence[A], cutoff: dt.datetime) -> list[A]:
    """The acceptances a decree with ``cutoff`` takes, oldest first (ties by proposal id), so the
    outcome does not depend on the order they were read in."""
    return sorted(
        (c for c in pending if c.accepted_at <= cutoff), key=lambda c: (c.accepted_at, c.proposal_id)
    )


@dataclass(frozen=True)
class Wording:
    """How the not-applied reasons name one section's subject and its changes."""

    subject: str  # household | institution
    ended: str  # the state of a subject no longer in force: "is no longer active"
    ended_by: str  # "is deactivated by"
    change: str  # the name of a replacing change: "correction"


@dataclass
class Resolution(Generic[A]):
    """What the rule makes of one subject's pending changes in one decree: at most one of them is
    applied (``ending`` or ``replacing``), each other is reported with its reason."""

    ending: A | None = None
    replacing: A | None = None
    not_applied: list[tuple[A, str]] = field(default_factory=list)


def resolve_updates(
    subject_id: str,
    candidates: Sequence[A],
    *,
    known: bool,
    in_force: bool,
    last_accepted_at: dt.datetime,
    ends: Callable[[A], bool],
    wording: Wording,
) -> Resolution[A]:
    """The rule shared by every section of the register, for the changes (``candidates``, oldest
    first) of one subject that is ``known`` to the register and ``in_force`` or not:
    - a subject not in the register or no longer in force takes none of them;
    - an acceptance no later than the last one already applied to it was overtaken;
    - an ending change (deactivation, closure) wins over the others, the earliest of them (from then
      on the subject was out);
    - otherwise the change accepted last wins: it was verified against the newest facts."""
    resolution: Resolution[A] = Resolution()
    skip = resolution.not_applied.append
    if not known or not in_force:
        state = "is not in the register" if not known else wording.ended
        for c in candidates:
            skip((c, f"{wording.subject} {subject_id} {state}"))
        return resolution
    live = [c for c in candidates if c.accepted_at > last_accepted_at]
    for c in candidates:
        if c.accepted_at <= last_accepted_at:
            skip((c, "overtaken by a later acceptance already in force"))
    if not live:
        return resolution
    endings = [c for c in live if ends(c)]
    if endings:
        chosen = endings[0]
        resolution.ending = chosen
        for c in live:
            if c is not chosen:
                skip((c, f"{wording.subject} {subject_id} {wording.ended_by} proposal {chosen.proposal_id}"))
        return resolution
    chosen = live[-1]
    resolution.replacing = chosen
    for c in live[:-1]:
        skip((c, f"superseded by the later {wording.change} {chosen.proposal_id} in the same decree"))
    return resolution


HOUSEHOLDS = Wording("household", "is no longer active", "is deactivated by", "correction")


@dataclass(frozen=True)
class Candidate:
    """A proposal the Ministry accepted, waiting for a decree."""

    proposal_id: str
    kind: ProposalKind
    accepted_at: dt.datetime
    household: Household | None = None
    target_household_id: str | None = None
    deactivation_reason: DeactivationReason | None = None
    programs_requested: tuple[Program, ...] = ()
    # The household it brings in or changes: set once, when made, for a decree asks it several
    # times per candidate. Most of what this saved was building a UUID (see name_based_id).
    household_id: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.kind is ProposalKind.NEW_HOUSEHOLD:
            household_id = household_id_for(self.proposal_id)
        elif self.target_household_id is not None:
            household_id = self.target_household_id
        else:
            raise ValueError(f"proposal {self.proposal_id} ({self.kind.value}) names no household")
        object.__setattr__(self, "household_id", household_id)

    @property
    def order(self) -> tuple[dt.datetime, str]:
        return (self.accepted_at, self.proposal_id)


@dataclass(frozen=True)
class InForce:
    """A household of the register as it stands before the decree."""

    household: Household
    active: bool
    # The latest Ministry acceptance already applied to it: older pending proposals are overtaken.
    last_accepted_at: dt.datetime
    # Its event stream's version when this was read: a change is appended after exactly that one.
    stream_version: int = 0


@dataclass(frozen=True)
class Registration:
    proposal_id: str
    household: Household


@dataclass(frozen=True)
class Correction:
    proposal_id: str
    household: Household
    changed_fields: tuple[str, ...]
    programs_added: tuple[Program, ...] = ()
    programs_removed: tuple[Program, ...] = ()


@dataclass(frozen=True)
class Deactivation:
    proposal_id: str
    household_id: str
    kk_number: str
    reason: DeactivationReason


@dataclass(frozen=True)
class NotApplied:
    proposal_id: str
    household_id: str
    reason: str


@dataclass
class Decision:
    registrations: list[Registration] = field(default_factory=list)
    corrections: list[Correction] = field(default_factory=list)
    deactivations: list[Deactivation] = field(default_factory=list)
    not_applied: list[NotApplied] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return bool(self.registrations or self.corrections or self.deactivations)


def merged_programs(household: Household, requested: Sequence[Program]) -> tuple[Program, ...]:
    """The programs a determined household receives: those of the accepted snapshot plus those the
    Ministry accepted as requested."""
    return tuple(sorted(set(household.programs) | set(requested)))


def program_changes(
    before: Sequence[Program], after: Sequence[Program]
) -> tuple[tuple[Program, ...], tuple[Program, ...]]:
    """What a household gained and what it lost going from ``before`` to ``after``."""
    return tuple(sorted(set(after) - set(before))), tuple(sorted(set(before) - set(after)))


def changed_fields(before: BaseModel, after: BaseModel) -> tuple[str, ...]:
    """The top-level fields of a record (a household's, an institution's) that differ."""
    names = type(after).model_fields
    return tuple(sorted(n for n in names if getattr(before, n) != getattr(after, n)))


def decide(pending: Sequence[Candidate], register: Mapping[str, InForce], cutoff: dt.datetime) -> Decision:
    """What a decree with ``cutoff`` changes. ``register`` must hold every household a pending
    correction or deactivation targets (missing ones are reported as unknown)."""
    decision = Decision()
    updates: dict[str, list[Candidate]] = {}
    for candidate in due_in_order(pending, cutoff):
        if candidate.kind is ProposalKind.NEW_HOUSEHOLD:
            assert candidate.household is not None
            household = candidate.household.model_copy(
                update={
                    "household_id": candidate.household_id,
                    "programs": merged_programs(candidate.household, candidate.programs_requested),
                }
            )
            decision.registrations.append(Registration(candidate.proposal_id, household))
        else:
            updates.setdefault(candidate.household_id, []).append(candidate)
    for household_id, candidates in sorted(updates.items()):
        _decide_updates(decision, household_id, candidates, register.get(household_id))
    decision.registrations.sort(key=lambda r: str(r.household.household_id))
    decision.corrections.sort(key=lambda c: str(c.household.household_id))
    decision.deactivations.sort(key=lambda d: d.household_id)
    return decision


def _decide_updates(
    decision: Decision, household_id: str, candidates: list[Candidate], in_force: InForce | None
) -> None:
    resolution = resolve_updates(
        household_id,
        candidates,
        known=in_force is not None,
        in_force=in_force is not None and in_force.active,
        last_accepted_at=in_force.last_accepted_at if in_force else dt.datetime.min.replace(tzinfo=dt.UTC),
        ends=lambda c: c.kind is ProposalKind.DEACTIVATION,
        wording=HOUSEHOLDS,
    )
    decision.not_applied += (
        NotApplied(c.proposal_id, household_id, reason) for c, reason in resolution.not_applied
    )
    if resolution.ending is not None:
        assert in_force is not None and resolution.ending.deactivation_reason is not None
        decision.deactivations.append(
            Deactivation(
                resolution.ending.proposal_id,
                household_id,
                in_force.household.kk_number,
                resolution.ending.deactivation_reason,
            )
        )
    elif resolution.replacing is not None:
        assert in_force is not None
        decision.corrections.append(_correction(resolution.replacing, household_id, in_force.household))


def _correction(chosen: Candidate, household_id: str, before: Household) -> Correction:
    assert chosen.household is not None
    after = chosen.household.model_copy(
        update={
            "household_id": household_id,
            # The corrected record's programs are the household's from now on: a correction may take it
            # out of a program (PKH after the family no longer qualifies), reported below, not silent.
            "programs": merged_programs(chosen.household, chosen.programs_requested),
            # Set centrally, never by a proposal: a correction keeps the decile in force.
            "welfare_decile": chosen.household.welfare_decile or before.welfare_decile,
        }
    )
    added, removed = program_changes(before.programs, after.programs)
    return Correction(chosen.proposal_id, after, changed_fields(before, after), added, removed)
