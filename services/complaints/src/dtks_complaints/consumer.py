"""A complaint made into a proposal follows that proposal (consumer ``complaint-status``), and so
does a life-event draft confirmed into one (its stage and decree, no event of its own).

Verification events move its stage (returned, verifying, accepted), a withdrawal says so, and the
registry's household event of the decree that decided the proposal closes the complaint with
RESOLVED_BY_DECREE, appending complaint.closed in the same transaction as the inbox rows, so a
redelivered event closes nothing twice. Events of proposals no complaint follows are acknowledged
and ignored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from dtks_complaints.adapters import complaints as repo
from dtks_complaints.adapters import drafts as draft_rows
from dtks_complaints.domain.complaints import ProposalStage
from dtks_complaints.life_events import SNAPSHOTS, project_register
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.complaint import ComplaintClosed
from dtks_contracts.timestamps import utc_now
from dtks_contracts.topics import PROPOSAL_EVENTS, REGISTRY_EVENTS, VERIFICATION_EVENTS
from dtks_contracts.vocabulary.complaints import ComplaintClosingReason
from dtks_runtime.consumer import BatchHandler
from dtks_runtime.event_store import Causation, EventStore, NewEvent

CONSUMER_NAME = "complaint-status"
TOPICS = [PROPOSAL_EVENTS.name, VERIFICATION_EVENTS.name, REGISTRY_EVENTS.name]

STAGES: dict[str, ProposalStage] = {
    "proposal.resubmitted": ProposalStage.VERIFYING,
    "proposal.withdrawn": ProposalStage.WITHDRAWN,
    "verification.verified_at_tier": ProposalStage.VERIFYING,
    "verification.returned_at_tier": ProposalStage.RETURNED,
    # Back at the regency's social service for correction: still being verified, not with the village.
    "verification.sent_back_for_correction": ProposalStage.VERIFYING,
    "verification.accepted_by_ministry": ProposalStage.ACCEPTED,
}
DECIDED = frozenset(
    {"registry.household_registered", "registry.household_corrected", "registry.household_deactivated"}
)
# Every type the handler reads (the register's members' too). The consumer passes the others by
# undecoded (EventConsumer's event_types): a decree's chunks, the welfare deciles, institutions.
EVENT_TYPES = frozenset({*STAGES, *DECIDED, *SNAPSHOTS})


def status_handler(store: Callable[[], EventStore]) -> BatchHandler:
    """``store``: the started runtime's event store (there once the runtime runs)."""

    async def apply(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        await project_register(conn, events)
        relevant = [e for e in events if e.event_type in STAGES or e.event_type in DECIDED]
        for event in relevant:
            event.typed_payload()  # a payload that breaks its contract is dead-lettered
        proposal_ids = sorted({str(e.payload["proposal_id"]) for e in relevant if "proposal_id" in e.payload})
        if not proposal_ids:
            return
        # First the progress rows (in key order: no deadlock between batches); a link waiting on one
        # of them commits first, and the query below, a new snapshot, then sees it.
        progress: dict[str, tuple[str | None, str | None]] = {}
        for event in relevant:
            pid = str(event.payload["proposal_id"])
            stage, decree = progress.get(pid, (None, None))
            if event.event_type in DECIDED:
                decree = str(event.payload["decree_number"])
            else:
                stage = STAGES[event.event_type].value
            progress[pid] = (stage, decree)
        recorded = [(pid, *progress[pid]) for pid in sorted(progress)]
        await repo.record_progress(conn, recorded)
        # Life-event drafts confirmed into these proposals follow them the same way.
        await draft_rows.follow(conn, recorded)
        following: dict[str, list[asyncpg.Record]] = {}
        for row in await repo.linked_to(conn, proposal_ids):
            following.setdefault(row["proposal_id"], []).append(row)
        closed: set[str] = set()
        for event in relevant:
            for row in following.get(str(event.payload.get("proposal_id")), []):
                cid = row["complaint_id"]
                if cid in closed:
                    continue
                if event.event_type in DECIDED:
                    await _close_by_decree(conn, store(), row, event)
                    closed.add(cid)
                else:
                    await repo.set_stage(conn, cid, STAGES[event.event_type])

    return apply


async def _close_by_decree(
    conn: asyncpg.Connection, store: EventStore, row: asyncpg.Record, event: EventEnvelope
) -> None:
    closing = ComplaintClosed(
        complaint_id=row["complaint_id"],
        village_code=row["village_code"],
        reason=ComplaintClosingReason.RESOLVED_BY_DECREE,
        proposal_id=row["proposal_id"],
        decree_number=str(event.payload["decree_number"]),
    )
    await store.append(
        conn,
        aggregate_type="complaint",
        aggregate_id=row["complaint_id"],
        expected_version=row["version"],
        events=[NewEvent.of(closing)],
        causation=Causation.following(event),
    )
    await repo.mark_closed(
        conn,
        row["complaint_id"],
        reason=ComplaintClosingReason.RESOLVED_BY_DECREE.value,
        at=utc_now(),
        decree_number=str(event.payload["decree_number"]),
    )
