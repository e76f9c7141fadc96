"""How first submissions enter: one function, however many arrive together.

A single ``POST /proposals``, a group of concurrent ones (:mod:`dtks_proposal.group_commit`) and a
chunk of an import's households (:mod:`dtks_proposal.importer`) all call :func:`enter_submissions`
with the submissions that passed the door, inside the caller's unit of work, and get one outcome
per submission, in order: the answer (201, or the kept answer replayed) or the refusal.

The rules, the same for every path: a key with a kept answer replays it (a different body under it
is refused), a closed window or used-up quota refuses (earlier submissions of the batch counting
against the quota in order), a proposal id named twice in the batch goes to the first, and an id
that already names a proposal is refused without counting against the quota. Nothing of a refused
submission is written. Four statements whatever the batch's size (see adapters.proposals): under a
hundred concurrent clients the machinery per transaction, not the proposal, is what costs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TypeAlias

from dtks_contracts.events.governance import FrozenAction
from dtks_proposal.adapters import proposals as repo
from dtks_proposal.answers import Answer, answer_body, replay_answer
from dtks_proposal.domain import status as standing_rules
from dtks_proposal.domain.submission import ProposalIn
from dtks_proposal.domain.windows import Window, admits, regency_of
from dtks_proposal.errors import PROPOSAL_ID_REPEATED, proposal_id_taken
from dtks_proposal.timeline import own_event_entry
from dtks_runtime.errors import DomainError
from dtks_runtime.event_store import Causation, NewEvent, StreamAppend
from dtks_runtime.freezes import Freeze, freezes_ending_after, frozen, holding
from dtks_runtime.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class Entry:
    """A first submission that passed the door, ready to be written."""

    proposal: ProposalIn
    event: NewEvent  # proposal.submitted, dumped once: its payload is also the proposal's content
    causation: Causation
    submitted_by: str
    key: str | None = None  # the answer is kept under it (imports keep none)
    fingerprint: str = ""
    what: str = ""  # how a refused replay names the key ("This Idempotency-Key", "Proposal id ...")
    import_id: uuid.UUID | None = None
    # A re-verification round's outcome (dtks_proposal.round_outcomes): admitted by the round the
    # Ministry or the regency opened, not by the regency's window and quota nor stopped by a freeze
    # of new proposals, which govern villages' own proposals. Refusing it here would lose what a
    # field officer already recorded.
    admitted_by_round: bool = False

    @property
    def proposal_id(self) -> str:
        return str(self.event.payload["proposal_id"])

    @property
    def regency(self) -> str:
        return regency_of(self.proposal.village_code)


Outcome: TypeAlias = Answer | DomainError


class AnswerKeyTaken(Exception):
    """An idempotency key of the batch was kept by another transaction first: roll back and decide
    those submissions again (the answer kept is then replayed)."""


async def enter_submissions(
    uow: UnitOfWork, entries: Sequence[Entry], *, day: dt.date, now: dt.datetime
) -> list[Outcome]:
    """Enter ``entries`` in ``uow``'s transaction; one outcome per entry, in order.

    Raises :class:`AnswerKeyTaken` when a key was taken meanwhile (the caller's transaction must roll
    back). The windows stay locked until the caller commits. A freeze of new proposals holding at
    `now` in an entry's region refuses it (dtks_runtime.freezes; the table is filled from
    verification's freeze events).
    """
    if not entries:
        return []
    keys = [e.key for e in entries if e.key]
    stored, windows = await repo.answers_and_windows(uow.conn, keys, [(e.regency, e.key) for e in entries])
    freezes = await freezes_ending_after(uow.conn, now)
    outcomes, admitted = decide_entries(entries, stored, windows, day, freezes=freezes, now=now)
    accepted = [i for i, o in enumerate(outcomes) if o is None]
    if not accepted:  # every one replayed or refused: nothing to write
        return [o for o in outcomes if o is not None]
    created = await repo.insert_proposals(uow.conn, [_new_proposal(entries[i]) for i in accepted])
    entered = []
    for i in accepted:
        e = entries[i]
        if e.proposal_id in created:
            entered.append(i)
            continue
        outcomes[i] = proposal_id_taken(e.proposal_id)  # never a second proposal under one id
        if e.regency in windows and not e.admitted_by_round:
            admitted[e.regency] -= 1
    envelopes = await uow.append_many(
        [
            StreamAppend("proposal", entries[i].proposal_id, 0, [entries[i].event], entries[i].causation)
            for i in entered
        ],
        causation=entries[0].causation,
    )
    answers = []
    for i, envelope in zip(entered, envelopes, strict=True):
        e = entries[i]
        body = answer_body(
            e.proposal_id,
            e.proposal.kind,
            e.proposal.village_code,
            standing_rules.entered(1, e.proposal.kind),
            envelope.occurred_at,
        )
        outcomes[i] = Answer(201, body)
        if e.key is not None:
            answers.append(repo.AnswerToKeep(e.key, e.fingerprint, 201, body))
    if not await repo.record_entered(
        uow.conn, [own_event_entry(e) for e in envelopes], dict(admitted), answers
    ):
        raise AnswerKeyTaken
    return [o for o in outcomes if o is not None]


def decide_entries(
    entries: Sequence[Entry],
    stored: dict[str, repo.StoredAnswer],
    windows: dict[str, Window],
    day: dt.date,
    *,
    freezes: Sequence[Freeze] = (),
    now: dt.datetime | None = None,
) -> tuple[list[Outcome | None], Counter[str]]:
    """Each entry's replay or refusal (None: it may enter), and the places taken in each quota.
    A kept answer is replayed even during a freeze (what was accepted before it is kept); a new
    submission in a freeze's scope is refused before it counts against a quota."""
    outcomes: list[Outcome | None] = []
    admitted: Counter[str] = Counter()
    named: set[str] = set()
    for e in entries:
        if e.key and e.key in stored:
            try:
                outcomes.append(replay_answer(stored[e.key], e.proposal.same_as, e.what))
            except DomainError as refused:
                outcomes.append(refused)
            continue
        if e.admitted_by_round and e.proposal_id not in named:
            named.add(e.proposal_id)
            outcomes.append(None)
            continue
        freeze = holding(freezes, FrozenAction.NEW_PROPOSALS, e.proposal.village_code, now) if now else None
        if freeze is not None:
            outcomes.append(frozen(freeze, FrozenAction.NEW_PROPOSALS, e.proposal.village_code))
            continue
        window = windows.get(e.regency)
        if window is not None:
            refusal = admits(replace(window, used=window.used + admitted[e.regency]), day)
            if refusal is not None:
                outcomes.append(refusal.as_error())
                continue
        if e.proposal_id in named:
            outcomes.append(DomainError(PROPOSAL_ID_REPEATED, f"Proposal id {e.proposal_id} is named twice."))
            continue
        named.add(e.proposal_id)
        if window is not None:
            admitted[e.regency] += 1
        outcomes.append(None)
    return outcomes, admitted


def _new_proposal(e: Entry) -> repo.NewProposal:
    return repo.NewProposal(
        proposal_id=e.proposal_id,
        kind=e.proposal.kind.value,
        village_code=e.proposal.village_code,
        regency_code=e.regency,
        standing=standing_rules.entered(1, e.proposal.kind),
        content=e.event.payload,
        target_household_id=e.proposal.household_id,
        submitted_by=e.submitted_by,
        import_id=e.import_id,
    )
