"""One function per command: check, decide, and write state and events in one unit of work.

Every handler takes the service's :class:`~dtks_proposal.deps.ProposalDeps` first. First submissions
enter through :func:`dtks_proposal.entry.enter_submissions` (alone, or batched by the group commit);
commands on an existing proposal (resubmit, withdraw) share :func:`_change_proposal`.

Idempotency: a request with a key (the client's ``proposal_id``, or an ``Idempotency-Key``
header) stores its answer in the same transaction as its effect. A retry with the same key and the
same body gets that answer again (same status and body); with a different body, a 409. Refusals
(a closed window, a validation error) change nothing and are not stored: a retry is judged afresh.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.proposal import ProposalWithdrawn
from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_proposal.adapters import proposals as repo
from dtks_proposal.adapters.institutions import find_institution
from dtks_proposal.answers import Answer, answer_body, replay_answer
from dtks_proposal.deps import ProposalDeps
from dtks_proposal.domain import status as standing_rules
from dtks_proposal.domain.assistance import assistance_refusal
from dtks_proposal.domain.proposers import proposer_refusal
from dtks_proposal.domain.submission import (
    ProposalIn,
    ResubmissionIn,
    VisitBasis,
    WithdrawalIn,
    door_errors,
    resubmitted_event,
    submitted_event,
)
from dtks_proposal.entry import AnswerKeyTaken, Entry, Outcome, enter_submissions
from dtks_proposal.errors import (
    PROPOSAL_ID_TAKEN,
    invalid,
    invalid_contract,
    proposal_changed,
    proposal_id_taken,
    proposal_not_found,
)
from dtks_proposal.timeline import own_event_entry
from dtks_runtime.auth.deps import ensure_in_scope, found_in_scope
from dtks_runtime.auth.principal import Principal
from dtks_runtime.errors import DomainError
from dtks_runtime.event_store import Causation, ConcurrencyConflict, NewEvent
from dtks_runtime.telemetry import current_trace_context

CONTENT_KEY_PREFIX = "content:"


class LostARace(Exception):
    """Another request with the same key or proposal id committed first: the transaction rolled
    back, and the submissions are decided again (one by one), which replays the winner's answer."""


def submission_key(principal: Principal, proposal: ProposalIn, header_key: str | None) -> str:
    """The key a submission's answer is kept under, so that a retry gets the first answer.

    With neither an Idempotency-Key nor a proposal_id, the key is the operator and the content's
    fingerprint: the same body from the same operator within a short window
    (``keyless_retry_window_seconds``) is answered with the first proposal instead of making a
    second one. We chose this over refusing key-less submissions because the people who send them
    are village operators on bad networks with clients that already work (older apps, scripts,
    the offline queue's items): a refusal would turn every one of their submissions into an error,
    while the retry they send when an answer is lost is exactly the duplicate this catches. The
    same household proposed twice with the same words by the same operator within the window is
    a retry in every case we know; after the window (a withdrawn proposal proposed again the next
    day) it is a new proposal. Clients that can should still send a key: only a key tells a retry
    from a new proposal with certainty.
    """
    if header_key:
        return f"submission:{principal.subject}:{header_key}"
    if proposal.proposal_id:
        return f"proposal:{proposal.proposal_id}"
    return f"{CONTENT_KEY_PREFIX}{principal.subject}:{proposal.fingerprint()}"


Enter = Callable[[Entry], Awaitable[Answer]]


def _ensure_may_propose(principal: Principal, proposal: ProposalIn, basis: VisitBasis | None = None) -> None:
    refusal = proposer_refusal(
        principal.role,
        principal.institution_id,
        proposal.kind,
        proposal.institution_id,
        from_round_visit=basis is not None,
    )
    if refusal is not None:
        raise refusal


async def _ensure_assistance_allowed(deps: ProposalDeps, principal: Principal, proposal: ProposalIn) -> None:
    """An assistance is for an institution the register holds, open, accredited today, with the
    residents named (domain/assistance.py); refused before anything is written. Another region's
    institution reads as unknown, as every id outside the caller's scope does."""
    if proposal.kind is not ProposalKind.INSTITUTION_ASSISTANCE:
        return
    assert proposal.institution_id is not None and proposal.assistance is not None  # door_errors
    found = await find_institution(deps.pool, proposal.institution_id)
    if found is not None and not principal.covers(found.village_code):
        found = None
    refusal = assistance_refusal(
        proposal.institution_id, proposal.village_code, proposal.assistance, found, deps.today()
    )
    if refusal is not None:
        raise refusal


async def submit(
    deps: ProposalDeps,
    principal: Principal,
    proposal: ProposalIn,
    *,
    header_key: str | None,
    correlation_id: str,
    proposal_id: str | None = None,
    enter: Enter | None = None,
) -> Answer:
    """Enter a first-round proposal (``proposal.submitted``).

    ``enter`` writes it: by default alone (:func:`enter_alone`); the service passes its group
    commit (:class:`dtks_proposal.group_commit.SubmissionGroup`), which writes concurrent
    submissions together and answers each after the commit that holds it.
    """
    ensure_in_scope(principal, proposal.village_code)
    _ensure_may_propose(principal, proposal)
    errors = door_errors(proposal)
    if errors:
        raise invalid([e.as_dict() for e in errors])
    await _ensure_assistance_allowed(deps, principal, proposal)
    pid = proposal.proposal_id or proposal_id or str(uuid.uuid4())
    key = submission_key(principal, proposal, header_key)
    if key.startswith(CONTENT_KEY_PREFIX):
        # An answer older than the window no longer stands for this content (see submission_key).
        window = dt.timedelta(seconds=deps.settings.keyless_retry_window_seconds)
        await repo.forget_answer_older_than(deps.pool, key, window)
    try:
        event = submitted_event(proposal, pid, principal.as_actor(), header_key or proposal.proposal_id)
    except ValueError as exc:
        raise invalid_contract(exc) from exc
    entry = Entry(
        proposal=proposal,
        event=NewEvent.of(event),
        # The request's trace, recorded in the event even when another task writes it (group commit).
        causation=Causation(
            actor=principal.as_actor(), correlation_id=correlation_id, trace_context=current_trace_context()
        ),
        submitted_by=principal.subject,
        key=key,
        fingerprint=proposal.fingerprint(),
        what="This Idempotency-Key" if header_key else f"Proposal id {proposal.proposal_id}",
    )
    if enter is not None:
        return await enter(entry)
    return await enter_alone(deps, entry)


async def write_entries(deps: ProposalDeps, entries: Sequence[Entry]) -> list[Outcome]:
    """Submissions in one unit of work, one outcome each; :class:`LostARace` (rolled back) if a key
    or a proposal id of theirs was taken by another request meanwhile."""
    try:
        async with deps.unit_of_work() as uow:
            outcomes = await enter_submissions(uow, entries, day=deps.today(), now=deps.clock())
            if any(isinstance(o, DomainError) and o.code == PROPOSAL_ID_TAKEN for o in outcomes):
                raise LostARace
    except (AnswerKeyTaken, ConcurrencyConflict) as exc:
        raise LostARace from exc
    return outcomes


async def enter_alone(deps: ProposalDeps, entry: Entry) -> Answer:
    """Write one submission in its own transaction; a lost race is answered as the winner was."""
    try:
        (outcome,) = await write_entries(deps, [entry])
    except LostARace:
        # Another request with the same key or proposal id committed first (its proposal row or its
        # answer is there): answer as it was answered.
        stored = await repo.find_answer(deps.pool, entry.key) if entry.key else None
        if stored is not None:
            return replay_answer(stored, entry.proposal.same_as, entry.what)
        raise proposal_id_taken(entry.proposal_id) from None
    if isinstance(outcome, DomainError):
        raise outcome
    return outcome


async def _load(conn: asyncpg.Connection, principal: Principal, proposal_id: str) -> repo.StoredProposal:
    stored = await repo.load_for_update(conn, proposal_id)
    # Another village's proposal is acted on as a missing one: the answer does not confirm it exists.
    return found_in_scope(principal, stored, _village_of, proposal_not_found(proposal_id))


def _village_of(stored: repo.StoredProposal) -> str:
    return stored.village_code


@dataclass(frozen=True)
class Change:
    """What a command decided for an existing proposal: its event and its new standing."""

    event: EventPayload
    standing: standing_rules.Standing
    kind: ProposalKind
    village_code: str
    content: dict[str, Any] | None = None  # the proposal's new content (a resubmission's corrections)
    gives_back_quota: bool = False


@dataclass(frozen=True)
class Kept:
    """Where a command's answer is kept (``key``) and how a repeat is recognised."""

    key: str | None
    fingerprint: str
    same_as: Callable[[str], bool]
    what: str
    status_code: int


async def _change_proposal(
    deps: ProposalDeps,
    principal: Principal,
    proposal_id: str,
    kept: Kept,
    correlation_id: str,
    decide: Callable[[repo.StoredProposal], Change],
) -> Answer:
    """The one transaction of every command on an existing proposal: load it locked (another
    village's reads as missing), replay a kept answer, let ``decide`` check and build the change,
    then append its event at the version read, save the standing, the timeline and the answer."""
    try:
        async with deps.unit_of_work() as uow:
            current = await _load(uow.conn, principal, proposal_id)
            if kept.key is not None and (stored := await repo.find_answer(uow.conn, kept.key)) is not None:
                return replay_answer(stored, kept.same_as, kept.what)
            change = decide(current)
            envelopes = await uow.append(
                aggregate_type="proposal",
                aggregate_id=proposal_id,
                expected_version=current.stream_version,
                events=[NewEvent.of(change.event)],
                causation=Causation(actor=principal.as_actor(), correlation_id=correlation_id),
            )
            await repo.save_standing(
                uow.conn,
                proposal_id,
                change.standing,
                stream_version=current.stream_version + 1,
                content=change.content,
            )
            if change.gives_back_quota:
                await repo.give_back_quota(uow.conn, proposal_id)
            await repo.add_timeline(uow.conn, [own_event_entry(envelopes[0])])
            at = envelopes[0].occurred_at
            body = answer_body(proposal_id, change.kind, change.village_code, change.standing, at)
            if kept.key is not None and not await repo.remember_answer(
                uow.conn, kept.key, kept.fingerprint, kept.status_code, body
            ):
                raise LostARace
    except (LostARace, ConcurrencyConflict):
        stored = await repo.find_answer(deps.pool, kept.key) if kept.key else None
        if stored is not None:
            return replay_answer(stored, kept.same_as, kept.what)
        raise proposal_changed() from None
    return Answer(kept.status_code, body)


async def resubmit(
    deps: ProposalDeps,
    principal: Principal,
    proposal_id: str,
    correction: ResubmissionIn,
    *,
    header_key: str | None,
    correlation_id: str,
) -> Answer:
    """Send a returned proposal back into verification with its corrections (``proposal.resubmitted``).

    A proposal made from a re-verification round's visit rests on that visit, not on a village
    meeting: it is resubmitted without a deliberation and keeps its round, its household and (unless
    a newer one is named) the visit's evidence. Over 60 lines because the checks on the basis, the
    door's rules and the one unit of work that writes the resubmission read best in their order."""
    ensure_in_scope(principal, correction.village_code)
    basis = await _visit_basis(deps, proposal_id, correction.village_code)
    _ensure_may_propose(principal, correction, basis)
    if correction.proposal_id not in (None, proposal_id):
        mismatch = {"field": "proposal_id", "message": "Leave it out or give the id in the path."}
        raise invalid([{**mismatch, "type": "mismatch"}])
    errors = door_errors(correction, basis)
    if errors:
        raise invalid([e.as_dict() for e in errors])
    await _ensure_assistance_allowed(deps, principal, correction)

    def decide(current: repo.StoredProposal) -> Change:
        mismatches = [
            {
                "field": name,
                "message": f"A resubmission keeps the proposal's {name} ({was}).",
                "type": "mismatch",
            }
            for name, was, now in (
                ("kind", current.kind, correction.kind.value),
                ("village_code", current.village_code, correction.village_code),
                *([("household_id", basis.household_id, correction.household_id)] if basis else []),
            )
            if was != now
        ]
        if mismatches:
            raise invalid(mismatches)
        if not current.standing.can_resubmit():
            raise DomainError(
                "proposal_not_returned",
                f"Proposal {proposal_id} is {current.standing.status.value}, not returned; only a returned "
                "proposal can be resubmitted.",
            )
        round_ = current.standing.round + 1
        try:
            event = resubmitted_event(
                correction, proposal_id, round_, principal.as_actor(), header_key, basis
            )
        except ValueError as exc:
            raise invalid_contract(exc) from exc
        content = event.model_dump(mode="json")
        return Change(
            event,
            standing_rules.entered(round_, correction.kind),
            correction.kind,
            correction.village_code,
            content,
        )

    key = f"resubmission:{principal.subject}:{proposal_id}:{header_key}" if header_key else None
    kept = Kept(key, correction.fingerprint(), correction.same_as, "This Idempotency-Key", 201)
    return await _change_proposal(deps, principal, proposal_id, kept, correlation_id, decide)


async def _visit_basis(deps: ProposalDeps, proposal_id: str, village_code: str) -> VisitBasis | None:
    """The round's visit a proposal was made from, if it was (its origin never changes between
    rounds, so it is read before the proposal is locked). Another village's proposal is not looked
    at: its answer must not differ from a missing one's."""
    content = await repo.content_of(deps.pool, proposal_id)
    if content is None or content.get("village_code") != village_code:
        return None
    return VisitBasis.of(content)


async def withdraw(
    deps: ProposalDeps,
    principal: Principal,
    proposal_id: str,
    withdrawal: WithdrawalIn,
    *,
    correlation_id: str,
) -> Answer:
    """Take a proposal out of every queue before the Ministry decided (``proposal.withdrawn``).

    A proposal is withdrawn once: repeating the same withdrawal returns the first answer.
    """

    def decide(current: repo.StoredProposal) -> Change:
        if not current.standing.can_withdraw():
            raise DomainError(
                "proposal_decided",
                f"Proposal {proposal_id} is {current.standing.status.value}; a proposal can be withdrawn "
                "only before the Ministry decided. Propose a correction or deactivation instead.",
            )
        event = ProposalWithdrawn(
            proposal_id=proposal_id,
            round=current.standing.round,
            village_code=current.village_code,
            withdrawn_by=principal.as_actor(),
            reason=withdrawal.reason,
        )
        standing = standing_rules.withdrawn(current.standing)
        # Withdrawn before a decision: it no longer uses its regency's quota. Once only, because a
        # proposal is withdrawn once (a repeat replays the kept answer).
        return Change(
            event, standing, ProposalKind(current.kind), current.village_code, gives_back_quota=True
        )

    kept = Kept(
        f"withdrawal:{proposal_id}",
        withdrawal.fingerprint(),
        withdrawal.same_as,
        "This proposal's withdrawal",
        200,
    )
    return await _change_proposal(deps, principal, proposal_id, kept, correlation_id, decide)
