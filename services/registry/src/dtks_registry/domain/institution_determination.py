"""The determination rule for institutions (#19): what one decree does to the institutions section.

The households' rule (determination.py: due_in_order and resolve_updates, shared, not copied)
applied to institutions, and as pure: a function of the pending Ministry acceptances of
institutions, the institutions in force and the cut-off.
- a registration accepted up to the cut-off enters under the id derived from its proposal;
- a change replaces the snapshot of its (open) institution; several changes of one institution in
  one decree: the one accepted last wins (it was verified against the newest facts);
- a closure takes the institution out, with its reason, and wins over a change in the same decree;
- a change or closure of an institution that is not in the register, already closed, or overtaken
  by a later acceptance in force is not applied: it is reported, never silently dropped;
- an assistance enters the decree's assistance list for an institution open after the decree (as
  this decree leaves it: a change in the same decree counts, a closure in it refuses the assistance),
  with the residents it counts in its period; for any other institution it is reported not applied.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dtks_contracts.institution import Assistance, DeterminedAssistance, Institution
from dtks_contracts.vocabulary.institutions import AssistanceBasis, ClosureReason
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
    assistance: Assistance | None = None

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
    assistance: list[DeterminedAssistance] = field(default_factory=list)

    @property
    def changes_anything(self) -> bool:
        return bool(self.registrations or self.changes or self.closures or self.assistance)


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
    assistance: list[InstitutionCandidate] = []
    for candidate in due_in_order(pending, cutoff):
        if candidate.kind is ProposalKind.INSTITUTION_ASSISTANCE:
            assistance.append(candidate)
        elif candidate.kind is ProposalKind.INSTITUTION_REGISTRATION:
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
    _decide_assistance(decision, assistance, register)
    return decision


def _decide_assistance(
    decision: InstitutionDecision,
    candidates: Sequence[InstitutionCandidate],
    register: Mapping[str, InstitutionInForce],
) -> None:
    """Each assistance for the institution as this decree leaves it; sorted by institution, then
    proposal, as the decree lists them and the assistance section orders its leaves."""
    closed = {c.institution_id for c in decision.closures}
    changed = {str(c.institution.institution_id): c.institution for c in decision.changes}
    for candidate in candidates:
        assert candidate.assistance is not None
        institution_id = candidate.institution_id
        in_force = register.get(institution_id)
        if in_force is None:
            reason = f"institution {institution_id} is not in the register"
        elif not in_force.open or institution_id in closed:
            reason = f"institution {institution_id} is closed"
        else:
            record = changed.get(institution_id, in_force.institution)
            decision.assistance.append(
                determined(candidate.proposal_id, institution_id, candidate.assistance, record)
            )
            continue
        decision.not_applied.append(NotApplied(candidate.proposal_id, institution_id, reason))
    decision.assistance.sort(key=lambda a: (a.institution_id, a.proposal_id))


def determined(
    proposal_id: str, institution_id: str, assistance: Assistance, record: Institution
) -> DeterminedAssistance:
    """The decree's entry: per resident, the named residents still cared for during the period;
    per institution, every resident cared for during it."""
    during = [
        r
        for r in record.residents
        if r.admitted_on <= assistance.ends_on
        and (r.discharged_on is None or r.discharged_on >= assistance.starts_on)
    ]
    if assistance.basis is AssistanceBasis.PER_RESIDENT:
        named = set(assistance.residents)
        counted = sum(1 for r in during if r.nik in named)
    else:
        counted = len(during)
    return DeterminedAssistance(
        proposal_id=proposal_id,
        institution_id=institution_id,
        program=assistance.program,
        starts_on=assistance.starts_on,
        ends_on=assistance.ends_on,
        basis=assistance.basis,
        residents_counted=counted,
    )


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
