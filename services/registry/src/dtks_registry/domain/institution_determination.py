"""The determination rule for institutions (#19): what one decree does to the institutions section.

The households' rule (determination.py) applied to institutions, and as pure: a function of the
pending Ministry acceptances of institutions, the institutions in force and the cut-off.
- a registration accepted up to the cut-off enters under the id derived from its proposal;
- a change replaces the snapshot of its (open) institution; several changes of one institution in
  one decree: the one accepted last wins (it was verified against the newest facts);
- a closure takes the institution out, with its reason, and wins over a change in the same decree;
- a change or closure of an institution that is not in the register, already closed, or overtaken
  by a later acceptance in force is not applied: it is reported, never silently dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dtks_contracts.institution import Institution
from dtks_contracts.vocabulary.institutions import ClosureReason
from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_registry.domain.determination import NotApplied
from dtks_registry.domain.identity import institution_id_for


@dataclass(frozen=True)
class InstitutionCandidate:
    """An institution proposal the Ministry accepted, waiting for a decree."""

    proposal_id: str
    kind: ProposalKind
    accepted_at: dt.datetime
    institution: Institution | None = None
    target_institution_id: str | None = None
    closure_reason: ClosureReason | None = None

    @property
    def institution_id(self) -> str:
        if self.kind is ProposalKind.INSTITUTION_REGISTRATION:
            return institution_id_for(self.proposal_id)
        assert self.target_institution_id is not None
        return self.target_institution_id

    @property
    def order(self) -> tuple[dt.datetime, str]:
        return (self.accepted_at, self.proposal_id)


@dataclass(frozen=True)
class InstitutionInForce:
    institution: Institution
    open: bool
    last_accepted_at: dt.datetime


@dataclass(frozen=True)
class InstitutionRegistration:
    proposal_id: str
    institution: Institution


@dataclass(frozen=True)
class InstitutionChange:
    proposal_id: str
    institution: Institution
    changed_fields: tuple[str, ...]


@dataclass(frozen=True)
class InstitutionClosure:
    proposal_id: str
    institution_id: str
    registration_number: str
    reason: ClosureReason


@dataclass
class InstitutionDecision:
    registrations: list[InstitutionRegistration] = field(default_factory=list)
    changes: list[InstitutionChange] = field(default_factory=list)
    closures: list[InstitutionClosure] = field(default_factory=list)
    not_applied: list[NotApplied] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return bool(self.registrations or self.changes or self.closures)


def _changed_fields(before: Institution, after: Institution) -> tuple[str, ...]:
    return tuple(sorted(n for n in type(after).model_fields if getattr(before, n) != getattr(after, n)))


def decide_institutions(
    pending: Sequence[InstitutionCandidate],
    register: Mapping[str, InstitutionInForce],
    cutoff: dt.datetime,
) -> InstitutionDecision:
    """What a decree with ``cutoff`` changes in the institutions section. ``register`` must hold every
    institution a pending change or closure targets (missing ones are reported as unknown)."""
    decision = InstitutionDecision()
    due = sorted((c for c in pending if c.accepted_at <= cutoff), key=lambda c: c.order)
    updates: dict[str, list[InstitutionCandidate]] = {}
    for candidate in due:
        if candidate.kind is ProposalKind.INSTITUTION_REGISTRATION:
            assert candidate.institution is not None
            registered = candidate.institution.model_copy(update={"institution_id": candidate.institution_id})
            decision.registrations.append(InstitutionRegistration(candidate.proposal_id, registered))
        else:
            updates.setdefault(candidate.institution_id, []).append(candidate)
    for institution_id, candidates in sorted(updates.items()):
        _decide_updates(decision, institution_id, candidates, register.get(institution_id))
    decision.registrations.sort(key=lambda r: str(r.institution.institution_id))
    decision.changes.sort(key=lambda c: str(c.institution.institution_id))
    decision.closures.sort(key=lambda c: c.institution_id)
    return decision


def _decide_updates(
    decision: InstitutionDecision,
    institution_id: str,
    candidates: list[InstitutionCandidate],
    in_force: InstitutionInForce | None,
) -> None:
    def skip(c: InstitutionCandidate, reason: str) -> None:
        decision.not_applied.append(NotApplied(c.proposal_id, institution_id, reason))

    if in_force is None or not in_force.open:
        state = "is not in the register" if in_force is None else "is closed"
        for c in candidates:
            skip(c, f"institution {institution_id} {state}")
        return
    live = [c for c in candidates if c.accepted_at > in_force.last_accepted_at]
    for c in candidates:
        if c.accepted_at <= in_force.last_accepted_at:
            skip(c, "overtaken by a later acceptance already in force")
    if not live:
        return
    closures = [c for c in live if c.kind is ProposalKind.INSTITUTION_CLOSURE]
    if closures:
        chosen = closures[0]  # the earliest: from then on the institution was closed
        assert chosen.closure_reason is not None
        decision.closures.append(
            InstitutionClosure(
                chosen.proposal_id,
                institution_id,
                in_force.institution.registration_number,
                chosen.closure_reason,
            )
        )
        for c in live:
            if c is not chosen:
                skip(c, f"institution {institution_id} is closed by proposal {chosen.proposal_id}")
        return
    chosen = live[-1]
    for c in live[:-1]:
        skip(c, f"superseded by the later change {chosen.proposal_id} in the same decree")
    assert chosen.institution is not None
    after = chosen.institution.model_copy(update={"institution_id": institution_id})
    decision.changes.append(
        InstitutionChange(chosen.proposal_id, after, _changed_fields(in_force.institution, after))
    )
