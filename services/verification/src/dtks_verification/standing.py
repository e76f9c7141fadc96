"""Recording what a command decided about proposals, and how a proposal's standing reads in the API.

Every use case (checks, intake, decisions, ratification) ends the same way: per proposal, the
events to append to its stream and where it stands after them, written together in the command's
unit of work by :func:`record`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from dtks_contracts.events.base import EventPayload
from dtks_runtime.event_store import Causation, NewEvent, StreamAppend
from dtks_runtime.unit_of_work import UnitOfWork
from dtks_verification.adapters import proposals
from dtks_verification.adapters.proposals import ProposalRecord
from dtks_verification.domain.workflow import API_TIER_OF, Refusal, Status, VerificationState


@dataclass(frozen=True)
class Change:
    """What a command decided for one proposal: the events to append to its stream (after the
    version it was loaded at, in `record`) and its standing after them."""

    record: ProposalRecord
    events: Sequence[EventPayload]
    causation: Causation
    standing: VerificationState


async def record(uow: UnitOfWork, changes: Sequence[Change], *, extra: Sequence[StreamAppend] = ()) -> None:
    """Append to many proposals' streams (and `extra` streams) and store their new standings, in a
    handful of statements whatever their number (one append per proposal costs four round trips).
    Each proposal appears once in `changes`."""
    if not changes and not extra:
        return
    await uow.append_many(
        [
            *extra,
            *(
                StreamAppend(
                    "proposal",
                    c.record.state.proposal_id,
                    c.record.stream_version,
                    [NewEvent.of(e) for e in c.events],
                    c.causation,
                )
                for c in changes
            ),
        ],
        causation=Causation(),
    )
    await proposals.save_many(
        uow.conn, [(c.standing, c.record.stream_version + len(c.events)) for c in changes]
    )


def outcome(state: VerificationState) -> dict[str, Any]:
    """How a proposal stands, as the API reports it."""
    return {
        "proposal_id": state.proposal_id,
        "round": state.round,
        "status": state.status.value,
        "tier": API_TIER_OF[state.tier]
        if state.tier is not None and state.status is Status.IN_TIER
        else None,
    }


def not_found(proposal_id: str) -> Refusal:
    return Refusal(
        "proposal_not_found",
        f"No proposal {proposal_id} has reached verification; check the id, or wait until its "
        "submission has been received.",
    )
