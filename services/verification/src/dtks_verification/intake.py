"""The entry checks of the rounds intake starts, in the consumer's own transaction.

Intake (`consumer.Intake`) writes the rounds of a batch without queueing their checks when the
civil registry was asked about their people; then either the answer came and the checks are
concluded here at once (:func:`check_new_rounds`), or it did not and they are queued for the
checks worker (:func:`queue_new_rounds`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from dtks_contracts.vocabulary import IntegrityStage
from dtks_runtime.unit_of_work import UnitOfWork
from dtks_verification.adapters import pending_checks, proposals
from dtks_verification.adapters.pending_checks import PendingCheck
from dtks_verification.adapters.rounds import NewRound
from dtks_verification.checks import CheckToRun, conclude
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.integrity import CivilPerson
from dtks_verification.domain.workflow import Status


async def check_new_rounds(
    deps: VerificationDeps,
    uow: UnitOfWork,
    rounds: Sequence[NewRound],
    civil: Mapping[str, CivilPerson | None],
) -> int:
    """The entry checks of rounds that intake started unqueued in `uow`'s transaction, with the
    civil registry's records of their people (`civil`, by NIK, looked up for the batch):
    concluded in that same transaction, beside the events' inbox rows. Returns how many."""
    due = await _started(uow.conn, rounds)
    await pending_checks.drop_checks(uow.conn, [d.check.proposal_id for d in due if d.record.state.round > 1])
    await conclude(deps, uow, due, lambda pid: civil)
    return len(due)


async def queue_new_rounds(uow: UnitOfWork, rounds: Sequence[NewRound]) -> int:
    """Queue the entry checks of rounds started unqueued, for the worker (the civil registry
    did not answer intake's look-up). Returns how many."""
    due = await _started(uow.conn, rounds)
    await pending_checks.enqueue_checks(uow.conn, [d.check for d in due])
    return len(due)


async def _started(conn: asyncpg.Connection, rounds: Sequence[NewRound]) -> list[CheckToRun]:
    """Of `rounds` started in `conn`'s transaction, each proposal's current round still waiting
    for its entry check, as the check to run. Left out: an earlier round of a proposal in the
    same batch, the same round arriving twice (the first started it), a round that did not
    start, a proposal withdrawn later in the batch."""
    records = await proposals.current_rounds(conn, {r.content.proposal_id: r.content for r in rounds})
    due = []
    seen = set()
    for r in rounds:
        pid = r.content.proposal_id
        record = records.get(pid)
        if pid in seen or record is None or record.state.status is not Status.CHECKING:
            continue
        if r.content.round != record.state.round:
            continue
        seen.add(pid)
        check = PendingCheck(
            pid,
            record.state.round,
            IntegrityStage.ENTRY.value,
            correlation_id=r.correlation_id,
            causation_id=r.causation_id,
        )
        due.append(CheckToRun(check, record))
    return due
