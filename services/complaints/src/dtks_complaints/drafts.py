"""The village's decisions on life-event drafts: confirm (tie the draft to the proposal the operator
submitted for it) or dismiss with a coded reason; and the drafts as the queue shows them.

Confirming follows the complaints' link exactly: the console submits the proposal the draft calls
for to the proposal service with the operator's own token (the operator checks the pre-filled form
first), then ties the draft to it here. The draft then follows that proposal through the progress
the ``complaint-status`` consumer records (:func:`dtks_complaints.adapters.drafts.follow`). Each
decision is one unit of work: the row and its event (the outbox) commit together.
"""

from __future__ import annotations

import json
from typing import Any

from dtks_complaints.adapters import complaints as complaint_rows
from dtks_complaints.adapters import drafts as repo
from dtks_complaints.deps import ComplaintsDeps
from dtks_complaints.domain.complaints import ProposalStage
from dtks_complaints.domain.life_events import DraftStatus, ensure_undecided
from dtks_complaints.errors import draft_not_found
from dtks_contracts.events.complaint import LifeEventDraftConfirmed, LifeEventDraftDismissed
from dtks_contracts.vocabulary.complaints import DraftDismissalReason
from dtks_contracts.vocabulary.proposals import ProposalKind
from dtks_runtime.auth.principal import Principal
from dtks_runtime.event_store import Causation, NewEvent


async def _load(conn: Any, principal: Principal, draft_id: str) -> Any:
    row = await repo.load_for_update(conn, draft_id)
    # Another village's draft reads as missing, as an unknown id does (as complaints do).
    if row is None or not principal.covers(row["village_code"]):
        raise draft_not_found(draft_id)
    return row


def _stage(row: Any) -> ProposalStage | None:
    return ProposalStage(row["proposal_stage"]) if row["proposal_stage"] else None


async def confirm(
    deps: ComplaintsDeps, principal: Principal, draft_id: str, proposal_id: str, *, correlation_id: str
) -> dict[str, Any]:
    async with deps.unit_of_work() as uow:
        # The proposal's progress first, locked, as a complaint's link takes it: the consumer
        # recording the proposal's events waits, so none of them is missed by this draft.
        progress = await complaint_rows.progress_for_update(uow.conn, proposal_id)
        row = await _load(uow.conn, principal, draft_id)
        status = DraftStatus(row["status"])
        if status is DraftStatus.CONFIRMED and row["proposal_id"] == proposal_id:
            # The same confirmation sent again (a resent form): the first answer, nothing written twice.
            return view(await repo.load(uow.conn, draft_id), deps)
        ensure_undecided(status, _stage(row), row["proposal_id"])
        actor = principal.as_actor()
        event = LifeEventDraftConfirmed(
            draft_id=draft_id,
            life_event_id=row["life_event_id"],
            village_code=row["village_code"],
            household_id=row["household_id"],
            proposal_id=proposal_id,
            proposal_kind=ProposalKind(row["proposal_kind"]),
            confirmed_by=actor,
        )
        await uow.append(
            aggregate_type="life_event_draft",
            aggregate_id=draft_id,
            expected_version=row["version"],
            events=[NewEvent.of(event)],
            causation=Causation(actor=actor, correlation_id=correlation_id),
        )
        stage = ProposalStage(progress["stage"]) if progress["stage"] else ProposalStage.SUBMITTED
        await repo.mark_confirmed(
            uow.conn,
            draft_id,
            proposal_id,
            stage=stage,
            decree_number=progress["decree_number"],
            at=deps.now(),
        )
        return view(await repo.load(uow.conn, draft_id), deps)


async def dismiss(
    deps: ComplaintsDeps,
    principal: Principal,
    draft_id: str,
    reason: DraftDismissalReason,
    note: str | None,
    *,
    correlation_id: str,
) -> dict[str, Any]:
    async with deps.unit_of_work() as uow:
        row = await _load(uow.conn, principal, draft_id)
        ensure_undecided(DraftStatus(row["status"]), _stage(row), row["proposal_id"])
        actor = principal.as_actor()
        event = LifeEventDraftDismissed(
            draft_id=draft_id,
            life_event_id=row["life_event_id"],
            village_code=row["village_code"],
            household_id=row["household_id"],
            reason=reason,
            note=note,
            dismissed_by=actor,
        )
        await uow.append(
            aggregate_type="life_event_draft",
            aggregate_id=draft_id,
            expected_version=row["version"],
            events=[NewEvent.of(event)],
            causation=Causation(actor=actor, correlation_id=correlation_id),
        )
        await repo.mark_dismissed(uow.conn, draft_id, reason.value, note, deps.now())
        return view(await repo.load(uow.conn, draft_id), deps)


async def one(deps: ComplaintsDeps, principal: Principal, draft_id: str) -> dict[str, Any]:
    row = await repo.load(deps.pool, draft_id)
    if row is None or not principal.covers(row["village_code"]):
        raise draft_not_found(draft_id)
    return view(row, deps)


def view(row: Any, deps: ComplaintsDeps) -> dict[str, Any]:
    """One draft as the village's queue and the pre-filled proposal form read it, with its age."""
    age = deps.now() - row["created_at"]
    return {
        "draft_id": row["draft_id"],
        "life_event_id": row["life_event_id"],
        "event_type": row["event_type"],
        "nik": row["nik"],
        "person_name": row["person_name"],
        "household_id": row["household_id"],
        "village_code": row["village_code"],
        "proposal_kind": row["proposal_kind"],
        "deactivation_reason": row["deactivation_reason"],
        "note": row["note"],
        # The life event as the civil registry sent it (dates, the receiving village, a child's
        # parents, a new family card): what the proposal form is filled in with.
        "life_event": json.loads(row["details"]) if row["details"] else None,
        "to_village": row["to_village"],
        "status": row["status"],
        "proposal_id": row["proposal_id"],
        "proposal_stage": row["proposal_stage"],
        "decree_number": row["decree_number"],
        "dismissal_reason": row["dismissal_reason"],
        "dismissal_note": row["dismissal_note"],
        "created_at": row["created_at"].isoformat(),
        "decided_at": row["decided_at"].isoformat() if row["decided_at"] else None,
        "age_days": max(round(age.total_seconds() / 86400, 2), 0.0),
    }


def arrival(row: Any) -> dict[str, Any]:
    """A registered person another village's draft says moved here: the receiving village's note."""
    details = json.loads(row["details"]) if row["details"] else {}
    return {
        "life_event_id": row["life_event_id"],
        "nik": row["nik"],
        "person_name": row["person_name"],
        "from_village": row["village_code"],
        "moved_on": details.get("moved_on"),
        "noted_at": row["created_at"].isoformat(),
        # Whether the village the person left has acted on it yet (confirmed: leaves its register).
        "leaving_village_decision": row["status"],
    }
