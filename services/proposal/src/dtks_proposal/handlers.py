"""One function per command: check, decide, and write state and events in one transaction.

Idempotency: a request with a key (the client's ``proposal_id``, or an ``Idempotency-Key``
header) stores its answer in the same transaction as its effect. A retry with the same key and the
same body gets that answer again (same status and body); with a different body, a 409. Refusals
(a closed window, a validation error) change nothing and are not stored: a retry is judged afresh.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pydantic

from dtks_contracts.events.proposal import ProposalSubmitted
from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_proposal.adapters import proposals as repo
from dtks_proposal.domain import status as standing_rules
from dtks_proposal.domain.submission import (
    ProposalIn,
    ResubmissionIn,
    WithdrawalIn,
    door_errors,
    resubmitted_event,
    submitted_event,
)
from dtks_proposal.domain.windows import Refusal, admits, regency_of
from dtks_proposal.timeline import own_event_entry
from dtks_runtime.auth.deps import ensure_in_scope, found_in_scope
from dtks_runtime.auth.principal import Principal
from dtks_runtime.event_store import Causation, ConcurrencyConflict, NewEvent
from dtks_runtime.problems import Problem
from dtks_runtime.service import ServiceRuntime
from dtks_runtime.telemetry import current_trace_context

# Indonesia's western time (WIB): the day a window opens or closes, as the Ministry states it.
WIB = dt.timezone(dt.timedelta(hours=7), "WIB")


def today() -> dt.date:
    return dt.datetime.now(WIB).date()


@dataclass(frozen=True)
class Answer:
    status_code: int
    body: dict[str, Any]
    replayed: bool = False


class _KeyTaken(Exception):
    """Another request with the same key or proposal id committed first."""


def invalid(errors: list[dict[str, str]]) -> Problem:
    names = ", ".join(sorted({e["field"] for e in errors}))
    return Problem(422, "invalid_proposal", f"The proposal has fields to correct: {names}.", errors=errors)


def _contract_problem(exc: ValueError) -> Problem:
    if isinstance(exc, pydantic.ValidationError):
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "request", "message": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
    else:
        errors = [{"field": "request", "message": str(exc), "type": "invalid"}]
    return invalid(errors)


def window_problem(refusal: Refusal) -> Problem:
    code = refusal.code.value.lower()
    return Problem(
        409,
        code,
        refusal.message,
        extra={
            "reason_code": refusal.code.value,
            "until": refusal.until.isoformat() if refusal.until else None,
        },
    )


def replay_answer(stored: repo.StoredAnswer, same_as: Callable[[str], bool], what: str) -> Answer:
    """The stored answer again, if the request is the one it answered (``same_as`` its fingerprint)."""
    if not same_as(stored.fingerprint):
        # Name what the client sent and can change (it may have sent no key at all).
        if "Idempotency-Key" in what:
            advice = "send the original body again, or use a new Idempotency-Key for a new proposal."
        elif what.startswith("Proposal id"):
            advice = "send the original body again, or give a new proposal a new proposal_id."
        else:
            advice = "it is done once, as first sent."
        raise Problem(
            409, "idempotency_key_reused", f"{what} was already used for a different request; {advice}"
        )
    return Answer(stored.status_code, stored.body, replayed=True)


CONTENT_KEY_PREFIX = "content:"


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


def _keyless_window(runtime: ServiceRuntime) -> dt.timedelta:
    seconds = getattr(runtime.settings, "keyless_retry_window_seconds", 3600.0)
    return dt.timedelta(seconds=float(seconds))


@dataclass(frozen=True)
class Submission:
    """A first-round proposal that passed the door, ready to be written."""

    principal: Principal
    proposal: ProposalIn
    event: ProposalSubmitted
    key: str | None
    fingerprint: str
    what: str  # how a refused replay names the key ("This Idempotency-Key", "Proposal id ...")
    correlation_id: str
    # The request's trace, recorded in the event even when another task writes it (group commit).
    trace_context: dict[str, str]

    @property
    def regency(self) -> str:
        return regency_of(self.proposal.village_code)

    def causation(self) -> Causation:
        return Causation(
            actor=self.principal.as_actor(),
            correlation_id=self.correlation_id,
            trace_context=self.trace_context,
        )


Enter = Callable[[Submission], Awaitable[Answer]]


async def submit(
    runtime: ServiceRuntime,
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
    assert runtime.pool is not None and runtime.store is not None
    ensure_in_scope(principal, proposal.village_code)
    errors = door_errors(proposal)
    if errors:
        raise invalid([e.as_dict() for e in errors])
    pid = proposal.proposal_id or proposal_id or str(uuid.uuid4())
    key = submission_key(principal, proposal, header_key)
    if key.startswith(CONTENT_KEY_PREFIX):
        # An answer older than the window no longer stands for this content (see submission_key).
        await repo.forget_answer_older_than(runtime.pool, key, _keyless_window(runtime))
    try:
        event = submitted_event(proposal, pid, principal.as_actor(), header_key or proposal.proposal_id)
    except ValueError as exc:
        raise _contract_problem(exc) from exc
    submission = Submission(
        principal=principal,
        proposal=proposal,
        event=event,
        key=key,
        fingerprint=proposal.fingerprint(),
        what="This Idempotency-Key" if header_key else f"Proposal id {proposal.proposal_id}",
        correlation_id=correlation_id,
        trace_context=current_trace_context(),
    )
    if enter is not None:
        return await enter(submission)
    return await enter_alone(runtime, submission)


async def enter_alone(runtime: ServiceRuntime, s: Submission) -> Answer:
    """Write one submission in its own transaction; a lost race is answered as the winner was."""
    assert runtime.pool is not None
    try:
        return await _enter(runtime, s)
    except (_KeyTaken, ConcurrencyConflict):
        # Another request with the same key or proposal id committed first (the event store sees
        # the proposal's stream taken, or the proposal row or answer is): answer as it was answered.
        stored = await repo.find_answer(runtime.pool, s.key) if s.key else None
        if stored is not None:
            return replay_answer(stored, s.proposal.same_as, s.what)
        raise Problem(
            409,
            "proposal_id_taken",
            f"Proposal id {s.event.proposal_id} already names another proposal; use a new id for a new "
            "proposal.",
        ) from None


async def _enter(runtime: ServiceRuntime, s: Submission) -> Answer:
    """One transaction, five round trips: BEGIN, the stored answer or the window, the event, the
    proposal with its timeline, quota and answer, COMMIT. It used to be ten, plus two for the answer
    looked up outside; under load each one is a wait for the connection."""
    assert runtime.pool is not None and runtime.store is not None
    event, key = s.event, s.key
    async with runtime.pool.acquire() as conn, conn.transaction():
        stored, window = await repo.answer_or_window(conn, key, s.regency)
        if stored is not None:
            return replay_answer(stored, s.proposal.same_as, s.what)
        refusal = admits(window, today())
        if refusal is not None:
            raise window_problem(refusal)
        new_event = NewEvent.of(event)  # dumped once: the event's payload is also the proposal's content
        envelopes = await runtime.store.append(
            conn,
            aggregate_type="proposal",
            aggregate_id=event.proposal_id,
            expected_version=0,
            events=[new_event],
            causation=s.causation(),
        )
        body = submitted_body(s, envelopes[0].occurred_at)
        recorded = await repo.record_submission(
            conn,
            new_proposal(s, new_event),
            own_event_entry(envelopes[0]),
            counts_against_quota=window is not None,
            answer=repo.AnswerToKeep(key, s.fingerprint, 201, body) if key is not None else None,
        )
        if not recorded:
            raise _KeyTaken
    return Answer(201, body)


def new_proposal(s: Submission, event: NewEvent) -> repo.NewProposal:
    return repo.NewProposal(
        proposal_id=s.event.proposal_id,
        kind=s.proposal.kind.value,
        village_code=s.proposal.village_code,
        regency_code=s.regency,
        standing=standing_rules.entered(1),
        content=event.payload,
        target_household_id=s.proposal.household_id,
        submitted_by=s.principal.subject,
    )


def submitted_body(s: Submission, at: dt.datetime) -> dict[str, Any]:
    return answer_body(
        s.event.proposal_id, s.proposal.kind, s.proposal.village_code, standing_rules.entered(1), at
    )


def answer_body(
    proposal_id: str,
    kind: ProposalKind,
    village_code: str,
    standing: standing_rules.Standing,
    at: dt.datetime,
) -> dict[str, Any]:
    return {
        "proposal_id": proposal_id,
        "kind": kind.value,
        "village_code": village_code,
        "status": standing.status.value,
        "round": standing.round,
        "waiting_at": standing.waiting_at,
        "recorded_at": at.isoformat(),
        "links": {"self": f"/proposals/{proposal_id}"},
    }


def proposal_not_found(proposal_id: str) -> Problem:
    return Problem(404, "proposal_not_found", f"There is no proposal {proposal_id}; check the id.")


async def _load(conn: asyncpg.Connection, principal: Principal, proposal_id: str) -> repo.StoredProposal:
    stored = await repo.load_for_update(conn, proposal_id)
    # Another village's proposal is acted on as a missing one: the answer does not confirm it exists.
    return found_in_scope(principal, stored, _village_of, proposal_not_found(proposal_id))


def _village_of(stored: repo.StoredProposal) -> str:
    return stored.village_code


async def resubmit(
    runtime: ServiceRuntime,
    principal: Principal,
    proposal_id: str,
    correction: ResubmissionIn,
    *,
    header_key: str | None,
    correlation_id: str,
) -> Answer:
    """Send a returned proposal back into verification with its corrections (``proposal.resubmitted``)."""
    assert runtime.pool is not None and runtime.store is not None
    ensure_in_scope(principal, correction.village_code)
    if correction.proposal_id not in (None, proposal_id):
        raise invalid(
            [
                {
                    "field": "proposal_id",
                    "message": "Leave it out or give the id in the path.",
                    "type": "mismatch",
                }
            ]
        )
    errors = door_errors(correction)
    if errors:
        raise invalid([e.as_dict() for e in errors])
    key = f"resubmission:{principal.subject}:{proposal_id}:{header_key}" if header_key else None
    fingerprint = correction.fingerprint()
    if key is not None and (stored := await repo.find_answer(runtime.pool, key)) is not None:
        return replay_answer(stored, correction.same_as, "This Idempotency-Key")
    try:
        async with runtime.pool.acquire() as conn, conn.transaction():
            current = await _load(conn, principal, proposal_id)
            mismatches = [
                {
                    "field": name,
                    "message": f"A resubmission keeps the proposal's {name} ({was}).",
                    "type": "mismatch",
                }
                for name, was, now in (
                    ("kind", current.kind, correction.kind.value),
                    ("village_code", current.village_code, correction.village_code),
                )
                if was != now
            ]
            if mismatches:
                raise invalid(mismatches)
            if not current.standing.can_resubmit():
                raise Problem(
                    409,
                    "proposal_not_returned",
                    f"Proposal {proposal_id} is {current.standing.status.value}, not returned; only a returned "
                    "proposal can be resubmitted.",
                )
            round_ = current.standing.round + 1
            try:
                event = resubmitted_event(correction, proposal_id, round_, principal.as_actor(), header_key)
            except ValueError as exc:
                raise _contract_problem(exc) from exc
            standing = standing_rules.entered(round_)
            envelopes = await runtime.store.append(
                conn,
                aggregate_type="proposal",
                aggregate_id=proposal_id,
                expected_version=current.stream_version,
                events=[NewEvent.of(event)],
                causation=Causation(actor=principal.as_actor(), correlation_id=correlation_id),
            )
            await repo.save_standing(
                conn,
                proposal_id,
                standing,
                stream_version=current.stream_version + 1,
                content=event.model_dump(mode="json"),
            )
            await repo.add_timeline(conn, [own_event_entry(envelopes[0])])
            body = answer_body(
                proposal_id, correction.kind, correction.village_code, standing, envelopes[0].occurred_at
            )
            if key is not None and not await repo.remember_answer(conn, key, fingerprint, 201, body):
                raise _KeyTaken
    except (_KeyTaken, ConcurrencyConflict):
        stored = await repo.find_answer(runtime.pool, key) if key else None
        if stored is not None:
            return replay_answer(stored, correction.same_as, "This Idempotency-Key")
        raise Problem(
            409, "proposal_changed", "The proposal changed meanwhile; load it and try again."
        ) from None
    return Answer(201, body)


async def withdraw(
    runtime: ServiceRuntime,
    principal: Principal,
    proposal_id: str,
    withdrawal: WithdrawalIn,
    *,
    correlation_id: str,
) -> Answer:
    """Take a proposal out of every queue before the Ministry decided (``proposal.withdrawn``).

    A proposal is withdrawn once: repeating the same withdrawal returns the first answer.
    """
    assert runtime.pool is not None and runtime.store is not None
    from dtks_contracts.events.proposal import ProposalWithdrawn

    key = f"withdrawal:{proposal_id}"
    fingerprint = withdrawal.fingerprint()
    try:
        async with runtime.pool.acquire() as conn, conn.transaction():
            current = await _load(conn, principal, proposal_id)
            if (stored := await repo.find_answer(conn, key)) is not None:
                return replay_answer(stored, withdrawal.same_as, "This proposal's withdrawal")
            if not current.standing.can_withdraw():
                raise Problem(
                    409,
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
            envelopes = await runtime.store.append(
                conn,
                aggregate_type="proposal",
                aggregate_id=proposal_id,
                expected_version=current.stream_version,
                events=[NewEvent.of(event)],
                causation=Causation(actor=principal.as_actor(), correlation_id=correlation_id),
            )
            await repo.save_standing(conn, proposal_id, standing, stream_version=current.stream_version + 1)
            # Withdrawn before a decision: it no longer uses its regency's quota. Once only, because a
            # proposal is withdrawn once (a repeat replays the stored answer above).
            await repo.give_back_quota(conn, proposal_id)
            await repo.add_timeline(conn, [own_event_entry(envelopes[0])])
            body = answer_body(
                proposal_id,
                ProposalKind(current.kind),
                current.village_code,
                standing,
                envelopes[0].occurred_at,
            )
            await repo.remember_answer(conn, key, fingerprint, 200, body)
    except ConcurrencyConflict:
        raise Problem(
            409, "proposal_changed", "The proposal changed meanwhile; load it and try again."
        ) from None
    return Answer(200, body)
