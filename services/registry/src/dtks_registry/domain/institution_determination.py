"""The determination rule for institutions (#19): what one decree does to the institutions section.

The households' rule (determination.py: due_in_order and resolve_updates, shared, not copied)
applied to institutions, and as pure: a function of the pending Ministry acceptances of
institutions, the institutions in force and the cut-off.
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
from dtks_registry.domain.determination import (
    NotApplied,
    Wording,
    changed_fields,
    due_in_order,
    resolve_updates,
)
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
    # Its event stream's version when this was read: a change is appended after exactly that one.
    stream_version: int = 0


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


INSTITUTIONS = Wording("institution", "is closed", "is closed by", "change")


def decide_institutions(
    pending: Sequence[InstitutionCandidate],
    register: Mapping[str, InstitutionInForce],
    cutoff: dt.datetime,
) -> InstitutionDecision:
    """What a decree with ``cutoff`` changes in the institutions section. ``register`` must hold every
    institution a pending change or closure targets (missing ones are reported as unknown)."""
    decision = InstitutionDecision()
    updates: dict[str, list[InstitutionCandidate]] = {}
    for candidate in due_in_order(pending, cutoff):
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
    resolution = resolve_updates(
        institution_id,
        candidates,
        known=in_force is not None,
        in_force=in_force is not None and in_force.open,
        last_accepted_at=in_force.last_accepted_at if in_force else dt.datetime.min.replace(tzinfo=dt.UTC),
        ends=lambda c: c.kind is ProposalKind.INSTITUTION_CLOSURE,
        wording=INSTITUTIONS,
    )
    decision.not_applied += (
        NotApplied(c.proposal_id, institution_id, reason) for c, reason in resolution.not_applied
    )
    if resolution.ending is not None:
        assert in_force is not None and resolution.ending.closure_reason is not None
        decision.closures.append(
            InstitutionClosure(
                resolution.ending.proposal_id,
                institution_id,
                in_force.institution.registration_number,
                resolution.ending.closure_reason,
            )
        )
    elif resolution.replacing is not None:
        assert in_force is not None and resolution.replacing.institution is not None
        after = resolution.replacing.institution.model_copy(update={"institution_id": institution_id})
        decision.changes.append(
            InstitutionChange(
                resolution.replacing.proposal_id, after, changed_fields(in_force.institution, after)
            )
        )
