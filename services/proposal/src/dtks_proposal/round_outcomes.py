"""Re-verification rounds' outcomes become proposals here (consumer ``proposal-round-outcomes``).

Verification owns rounds and their visits; a visit that finds a registered household changed, moved,
not found or no longer eligible is the event ``verification.reverification_visit_recorded`` naming
the proposal it becomes (its id derived from the round and the household). This consumer enters that
proposal, a correction pre-filled from the register's record or a deactivation, through
:func:`dtks_proposal.entry.enter_submissions`, the one entry path every submission takes, in the
consumer's transaction beside the inbox rows: the proposal is entered exactly once, and from there it
runs the tiers like any other (verification's intake reads its ``proposal.submitted``).

Only the verification service's signed records are read (``verify_provenance``): a proposal that
enters the register's workflow without a village's deliberation must come from a round's visit.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.proposal import ProposalSubmitted
from dtks_contracts.events.reverification import ReverificationVisitRecorded
from dtks_contracts.timestamps import utc_now
from dtks_contracts.topics import VERIFICATION_EVENTS
from dtks_contracts.vocabulary.proposals import ProposalKind, ProposalOrigin
from dtks_proposal.deps import today_in_wib
from dtks_proposal.domain.submission import ProposalIn
from dtks_proposal.entry import Entry, enter_submissions
from dtks_proposal.errors import PROPOSAL_ID_TAKEN
from dtks_runtime.errors import DomainError
from dtks_runtime.event_store import Causation, NewEvent
from dtks_runtime.service import ServiceRuntime
from dtks_runtime.unit_of_work import UnitOfWork

CONSUMER_NAME = "proposal-round-outcomes"
TOPICS = [VERIFICATION_EVENTS.name]
# The one type it reads of verification's stream; the rest is consumed undecoded (EventConsumer).
EVENT_TYPES = frozenset({ReverificationVisitRecorded.event_type})


def entry_of(event: EventEnvelope) -> Entry | None:
    """The proposal a round's visit names, as an entry (None: the visit proposes nothing)."""
    visit = event.payload_as(ReverificationVisitRecorded)
    if visit.proposal_id is None:
        return None
    kind = ProposalKind.CORRECTION if visit.household is not None else ProposalKind.DEACTIVATION
    submitted = ProposalSubmitted(
        proposal_id=visit.proposal_id,
        round=1,
        kind=kind,
        origin=ProposalOrigin.RE_VERIFICATION,
        village_code=visit.village_code,
        household=visit.household,
        target_household_id=visit.household_id,
        deactivation_reason=visit.deactivation_reason,
        evidence_note=visit.evidence_note,
        submitted_by=visit.recorded_by,
        reverification_round_id=visit.round_id,
    )
    proposal = ProposalIn(
        proposal_id=visit.proposal_id,
        kind=kind,
        village_code=visit.village_code,
        household=visit.household,
        household_id=visit.household_id,
        reason=visit.deactivation_reason.value if visit.deactivation_reason else None,
        evidence_note=visit.evidence_note,
    )
    return Entry(
        proposal=proposal,
        event=NewEvent.of(submitted),
        causation=Causation.following(event, visit.recorded_by),
        submitted_by=visit.recorded_by.subject,
        admitted_by_round=True,
    )


class RoundOutcomes:
    """The consumer's batch handler, appending with the runtime's event store (which exists before
    any consumer runs)."""

    def __init__(self, runtime: ServiceRuntime) -> None:
        self.runtime = runtime

    async def __call__(self, conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        visits = [e for e in events if e.event_type in EVENT_TYPES]
        entries = [entry for entry in map(entry_of, visits) if entry is not None]
        if not entries:
            return
        store = self.runtime.store
        assert store is not None, "the runtime creates its store before it starts its consumers"
        outcomes = await enter_submissions(
            UnitOfWork(conn, store), entries, day=today_in_wib(), now=utc_now()
        )
        for entry, outcome in zip(entries, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                if outcome.code == PROPOSAL_ID_TAKEN:
                    continue  # entered before (the visit's event read again after its offsets were lost)
                # Nothing else refuses a round's outcome (its round admitted it); a refusal here is a
                # defect: fail the batch, so the runtime isolates and dead-letters the event.
                raise RuntimeError(
                    f"round outcome {entry.proposal_id} refused: {outcome.code}: {outcome.detail}"
                )
