"""Decisions at the tiers: a forward to the next tier or a return to the village, one or a list.

A list is recorded together, each decision standing or falling alone: the proposals are locked and
loaded at once, every decision is judged in memory in list order (a later one on the same proposal
sees the earlier), and the events and standings are written in a few statements. The Ministry's
forward is its acceptance: the integrity standard runs again (see `checks.conclusion`), with the
civil registry's records looked up for the whole list before the transaction, never holding a lock.
If the registry does not answer, the acceptances wait in `accepting` and the checks worker
concludes them when it answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg

from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.governance import FrozenAction
from dtks_contracts.events.verification import Finding, ReturnedAtTier, VerifiedAtTier
from dtks_contracts.vocabulary import IntegrityStage, ReasonCode, Tier
from dtks_runtime.auth import Principal
from dtks_runtime.event_store import Causation
from dtks_verification.adapters import field_visits, governance, pending_checks, proposals, register
from dtks_verification.adapters.civil_registry import CivilRegistryUnavailable
from dtks_verification.adapters.pending_checks import PendingCheck
from dtks_verification.adapters.proposals import ProposalRecord
from dtks_verification.checks import conclusion, wanted
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.freezes import ensure_not_frozen
from dtks_verification.domain.integrity import CivilPerson, RegisterFacts
from dtks_verification.domain.workflow import (
    Decision,
    Refusal,
    Status,
    VerificationState,
    authorize_at_tier,
    decide,
    parse_tier,
)
from dtks_verification.standing import Change, not_found, outcome, record


@dataclass(frozen=True)
class DecisionCommand:
    proposal_id: str
    tier: str
    decision: Decision
    reasons: tuple[ReasonCode, ...] = ()
    note: str | None = None

    @property
    def is_acceptance(self) -> bool:
        return self.tier == "ministry" and self.decision is Decision.FORWARD


@dataclass(frozen=True)
class CivilAnswer:
    """What the civil registry said about the people of a proposal's round."""

    round: int
    people: Mapping[str, CivilPerson | None]


@dataclass(frozen=True)
class AcceptanceReads:
    """What the Ministry's acceptances in a list need, read once for the whole list, by proposal."""

    civil: Mapping[str, CivilAnswer]
    facts: Mapping[str, RegisterFacts]
    visits: Mapping[str, Sequence[Mapping[str, Any]]]


async def decide_one(
    deps: VerificationDeps, principal: Principal, command: DecisionCommand, correlation_id: str
) -> dict[str, Any]:
    (result,) = await decide_many(deps, principal, [command], correlation_id)
    if isinstance(result, Refusal):
        raise result
    return result


async def decide_many(
    deps: VerificationDeps,
    principal: Principal,
    commands: Sequence[DecisionCommand | Refusal],
    correlation_id: str,
) -> list[dict[str, Any] | Refusal]:
    """Each command's outcome (the proposal's new standing) or refusal, in list order; a Refusal
    given in place of a command (an item that did not parse) is answered as it is."""
    causation = Causation(actor=principal.as_actor(), correlation_id=correlation_id)
    valid = [c for c in commands if isinstance(c, DecisionCommand)]
    acceptances = list(dict.fromkeys(c.proposal_id for c in valid if c.is_acceptance))
    civil = await _look_up_for_acceptance(deps, acceptances)
    results: list[dict[str, Any] | Refusal] = []
    async with deps.unit_of_work() as uow:
        records = await proposals.load_many(uow.conn, [c.proposal_id for c in valid], for_update=True)
        reads = await _acceptance_reads(uow.conn, [records[p] for p in acceptances if p in records], civil)
        now = deps.clock()
        freezes = await governance.freezes_ending_after(uow.conn, now)
        # Per proposal: what the list decided so far, as one change from the record as loaded.
        decided: dict[str, Change] = {}
        waiting: list[PendingCheck] = []
        for command in commands:
            if isinstance(command, Refusal):
                results.append(command)
                continue
            earlier = decided.get(command.proposal_id)
            try:
                change = _judged(
                    principal, command, earlier, records.get(command.proposal_id), reads, causation, deps
                )
                # A freeze refuses the decision itself; the proposal keeps waiting where it is.
                ensure_not_frozen(freezes, FrozenAction.TIER_DECISIONS, change.record.state.village_code, now)
            except Refusal as refusal:
                results.append(refusal)
                continue
            decided[command.proposal_id] = change
            if command.is_acceptance and change.standing.status is Status.ACCEPTING:
                waiting.append(_recheck(change.standing, command, causation))
            results.append(outcome(change.standing))
        await record(uow, list(decided.values()))
        # A proposal reaches `accepting` at most once in a list (it then awaits no tier).
        await pending_checks.enqueue_checks(uow.conn, waiting)
    return results


def _judged(
    principal: Principal,
    command: DecisionCommand,
    earlier: Change | None,
    loaded: ProposalRecord | None,
    reads: AcceptanceReads,
    causation: Causation,
    deps: VerificationDeps,
) -> Change:
    """One decision on a proposal as the list left it (`earlier`; else as `loaded`, None: unknown),
    as the change the list makes to it so far. Raises a Refusal."""
    state: VerificationState | None
    if earlier is not None:
        loaded, state = earlier.record, earlier.standing
    else:
        state = loaded.state if loaded is not None else None
    if command.is_acceptance:
        change = _judge_acceptance(principal, command, loaded, state, reads, causation, deps)
    else:
        change = _judge(principal, command, loaded, state, causation)
    assert loaded is not None  # the judges refuse an unknown proposal
    events = [*(earlier.events if earlier is not None else ()), *change.events]
    return Change(loaded, events, causation, change.standing)


async def _look_up_for_acceptance(
    deps: VerificationDeps, proposal_ids: Sequence[str]
) -> dict[str, CivilAnswer]:
    """The civil registry's records of the people of the proposals the Ministry forwards, for
    the whole list in one or two batch requests; empty when the registry does not answer.
    Only proposals waiting in a queue are looked up (the others will be refused)."""
    if not proposal_ids:
        return {}
    async with deps.connection() as conn:
        records = await proposals.load_many(conn, proposal_ids)
    live = [r for r in records.values() if r.state.status is Status.IN_TIER]
    try:
        found = await deps.civil_registry.people_of_many([wanted(r) for r in live])
    except CivilRegistryUnavailable:
        return {}
    return {
        r.state.proposal_id: CivilAnswer(r.state.round, people) for r, people in zip(live, found, strict=True)
    }


async def _acceptance_reads(
    conn: asyncpg.Connection, accepted: Sequence[ProposalRecord], civil: Mapping[str, CivilAnswer]
) -> AcceptanceReads:
    facts = await register.register_facts(conn, accepted) if accepted else {}
    visits = await field_visits.visits_of_many(conn, [r.state.proposal_id for r in accepted])
    return AcceptanceReads(civil, facts, visits)


def _judge_acceptance(
    principal: Principal,
    command: DecisionCommand,
    loaded: ProposalRecord | None,
    state: VerificationState | None,
    reads: AcceptanceReads,
    causation: Causation,
    deps: VerificationDeps,
) -> Change:
    """The Ministry's forward of a proposal in `state` (None: unknown): the integrity standard
    runs again and the proposal is accepted or returned; without the civil registry's answer
    it waits in `accepting` (no event yet). Raises a Refusal."""
    if loaded is None or state is None:
        raise not_found(command.proposal_id)
    authorize_at_tier(Tier.MINISTRY, principal.role, principal.region, state.village_code)
    accepting = decide(state, Tier.MINISTRY, Decision.FORWARD)
    pid = accepting.proposal_id
    looked_up = reads.civil.get(pid)
    # People looked up for another round's content (resubmitted meanwhile) do not count.
    if looked_up is None or looked_up.round != accepting.round:
        return Change(loaded, [], causation, accepting)
    return conclusion(
        replace(loaded, state=accepting),
        IntegrityStage.MINISTRY,
        reads.facts[pid],
        looked_up.people,
        causation,
        command.note,
        reads.visits.get(pid, []),
        deps.clock(),
    )


def _recheck(state: VerificationState, command: DecisionCommand, causation: Causation) -> PendingCheck:
    return PendingCheck(
        state.proposal_id,
        state.round,
        IntegrityStage.MINISTRY.value,
        requested_by=causation.actor,
        note=command.note,
        correlation_id=causation.correlation_id,
    )


def _judge(
    principal: Principal,
    command: DecisionCommand,
    loaded: ProposalRecord | None,
    state: VerificationState | None,
    causation: Causation,
) -> Change:
    """A forward (below the Ministry) or a return on a proposal in `state` (None: unknown): its
    event and the new state, or a Refusal."""
    tier = parse_tier(command.tier)
    if command.decision is Decision.RETURN and not command.reasons:
        raise Refusal(
            "reasons_required", "A return needs at least one reason code for the village to act on."
        )
    if loaded is None or state is None:
        raise not_found(command.proposal_id)
    authorize_at_tier(tier, principal.role, principal.region, state.village_code)
    new_state = decide(state, tier, command.decision)
    common = {"proposal_id": state.proposal_id, "round": state.round, "village_code": state.village_code}
    actor = causation.actor
    event: EventPayload
    if command.decision is Decision.RETURN:
        reasons = tuple(Finding.of(code) for code in command.reasons)
        event = ReturnedAtTier(**common, tier=tier, returned_by=actor, reasons=reasons, note=command.note)
    else:
        event = VerifiedAtTier(**common, tier=tier, verifier=actor, note=command.note)
    return Change(loaded, [event], causation, new_state)
