"""The complaints service's commands: file (public or at the welfare post), track, close, link.

Each write is one unit of work: the complaint's row and its event (the outbox) commit together.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg

from dtks_complaints.adapters import complaints as repo
from dtks_complaints.deps import ComplaintsDeps
from dtks_complaints.domain import complaints as rules
from dtks_complaints.domain.complaints import ComplaintIn, ComplaintStatus, ProposalStage
from dtks_complaints.errors import complaint_not_found, too_many, tracking_code_unknown
from dtks_contracts.actor import Actor
from dtks_contracts.events.complaint import ComplaintClosed, ComplaintFiled, ComplaintLinked
from dtks_contracts.timestamps import utc_now
from dtks_contracts.vocabulary.complaints import ComplaintChannel, ComplaintClosingReason
from dtks_runtime.auth.principal import Principal
from dtks_runtime.client_limit import take_in_order
from dtks_runtime.event_store import Causation, NewEvent
from dtks_runtime.unit_of_work import UnitOfWork, UnitsOfWork, on_connection


@dataclass(frozen=True)
class Filed:
    complaint_id: str
    tracking_code: str
    body: dict[str, Any]


async def admit_public_filing(deps: ComplaintsDeps, conn: asyncpg.Connection, client: str, nik: str) -> None:
    """The public form's limits, per client address and per NIK: a 429 that says when to come back.
    The NIK's allowance is the same whether or not the NIK is in the register (nothing is looked up).

    Both in one statement (a round trip fewer on every filing), outside any transaction: the NIK's
    is taken only if the address's admitted, and each take stands whatever becomes of the filing."""
    refused, wait = await take_in_order(
        conn, [(deps.limits.client, f"client:{client}"), (deps.limits.nik, f"nik:{nik}")]
    )
    if refused == 0:
        raise too_many(wait, "complaints from your address")
    if refused == 1:
        raise too_many(wait, "complaints for this NIK")


async def file_public(
    deps: ComplaintsDeps, complaint: ComplaintIn, client: str, correlation_id: str
) -> Filed:
    """A filing through the public form: its limits, then the complaint, on one connection of the
    pool. Taken from the pool once instead of once for each: at 50 clients on a pool of 10 the
    requests queue for connections, and a second acquisition was a second place in that queue."""
    async with deps.pool.acquire() as conn:
        await admit_public_filing(deps, conn, client, complaint.nik)
        return await file(
            deps,
            complaint,
            channel=ComplaintChannel.PUBLIC_FORM,
            filed_by=None,
            correlation_id=correlation_id,
            units=on_connection(conn, deps.runtime.store),
        )


async def file(
    deps: ComplaintsDeps,
    complaint: ComplaintIn,
    *,
    channel: ComplaintChannel,
    filed_by: Actor | None,
    correlation_id: str,
    units: UnitsOfWork | None = None,
) -> Filed:
    """``units``: where the filing's unit of work comes from (the service's pool unless given)."""
    complaint_id = str(uuid.uuid4())
    code = rules.new_tracking_code()
    filed_at = deps.now()
    due = rules.due_at(filed_at, deps.deadline)
    event = ComplaintFiled(
        complaint_id=complaint_id,
        village_code=complaint.village_code,
        kind=complaint.kind,
        channel=channel,
        complainant_nik=complaint.nik,
        subject_nik=complaint.subject_nik,
        subject_household_id=complaint.subject_household_id,
        subject_proposal_id=complaint.subject_proposal_id,
        filed_by=filed_by,
        due_at=due,
    )
    async with (units or deps.unit_of_work)() as uow:
        await repo.insert(
            uow.conn,
            complaint_id=complaint_id,
            digest=rules.tracking_digest(code),
            complaint=complaint,
            channel=channel.value,
            filed_at=filed_at,
            due_at=due,
        )
        await uow.append(
            aggregate_type="complaint",
            aggregate_id=complaint_id,
            expected_version=0,
            events=[NewEvent.of(event)],
            causation=Causation(actor=filed_by, correlation_id=correlation_id),
        )
    body = {
        "complaint_id": complaint_id,
        "tracking_code": code,
        "status": ComplaintStatus.OPEN.value,
        "next_step": rules.next_step(ComplaintStatus.OPEN, due=due),
        "due_at": due.isoformat(),
    }
    return Filed(complaint_id, code, body)


async def track(deps: ComplaintsDeps, client: str, code: str) -> dict[str, Any]:
    """Status and next step of one complaint, to whoever holds its code: nothing else of it."""
    async with deps.pool.acquire() as conn:
        wait = await deps.limits.tracking.take(conn, f"track:{client}")
        if wait > 0:
            raise too_many(wait, "tracking checks from your address")
        row = await repo.by_tracking(conn, rules.tracking_digest(code))
    if row is None:
        raise tracking_code_unknown()
    status = ComplaintStatus(row["status"])
    stage = ProposalStage(row["proposal_stage"]) if row["proposal_stage"] else None
    reason = ComplaintClosingReason(row["closing_reason"]) if row["closing_reason"] else None
    return {
        "status": status.value,
        "next_step": rules.next_step(status, due=row["due_at"], stage=stage, reason=reason),
        "filed_on": row["filed_at"].date().isoformat(),
    }


async def _load(uow_conn: Any, principal: Principal, complaint_id: str) -> Any:
    row = await repo.load_for_update(uow_conn, complaint_id)
    # Another village's complaint reads as missing, as an unknown id does.
    if row is None or not principal.covers(row["village_code"]):
        raise complaint_not_found(complaint_id)
    return row


async def close(
    deps: ComplaintsDeps,
    principal: Principal,
    complaint_id: str,
    reason: ComplaintClosingReason,
    note: str | None,
    *,
    correlation_id: str,
) -> dict[str, Any]:
    rules.ensure_operator_reason(reason)
    async with deps.unit_of_work() as uow:
        row = await _load(uow.conn, principal, complaint_id)
        rules.ensure_actionable(repo.status_of(row), _stage(row))
        event = ComplaintClosed(
            complaint_id=complaint_id,
            village_code=row["village_code"],
            reason=reason,
            note=note,
            closed_by=principal.as_actor(),
        )
        await uow.append(
            aggregate_type="complaint",
            aggregate_id=complaint_id,
            expected_version=row["version"],
            events=[NewEvent.of(event)],
            causation=Causation(actor=principal.as_actor(), correlation_id=correlation_id),
        )
        await repo.mark_closed(uow.conn, complaint_id, reason=reason.value, at=deps.now())
    return {"complaint_id": complaint_id, "status": "closed", "reason": reason.value}


async def link(
    deps: ComplaintsDeps, principal: Principal, complaint_id: str, proposal_id: str, *, correlation_id: str
) -> dict[str, Any]:
    async with deps.unit_of_work() as uow:
        # The proposal's progress first (the consumer takes it before the complaints it closes).
        progress = await repo.progress_for_update(uow.conn, proposal_id)
        row = await _load(uow.conn, principal, complaint_id)
        status = repo.status_of(row)
        if status is ComplaintStatus.IN_PROPOSAL and row["proposal_id"] == proposal_id:
            # The same link sent again (a retry): the first answer, nothing written twice.
            return {"complaint_id": complaint_id, "status": status.value, "proposal_id": proposal_id}
        rules.ensure_actionable(status, _stage(row))
        event = ComplaintLinked(
            complaint_id=complaint_id,
            village_code=row["village_code"],
            proposal_id=proposal_id,
            linked_by=principal.as_actor(),
        )
        await uow.append(
            aggregate_type="complaint",
            aggregate_id=complaint_id,
            expected_version=row["version"],
            events=[NewEvent.of(event)],
            causation=Causation(actor=principal.as_actor(), correlation_id=correlation_id),
        )
        await repo.mark_linked(uow.conn, complaint_id, proposal_id)
        if progress["decree_number"] is not None:
            # Linked to a proposal already decided: closed by that decree at once.
            await _close_by_decree(uow, row, proposal_id, progress["decree_number"], correlation_id)
            return {
                "complaint_id": complaint_id,
                "status": ComplaintStatus.CLOSED.value,
                "proposal_id": proposal_id,
            }
        if progress["stage"] is not None:
            await repo.set_stage(uow.conn, complaint_id, ProposalStage(progress["stage"]))
    return {
        "complaint_id": complaint_id,
        "status": ComplaintStatus.IN_PROPOSAL.value,
        "proposal_id": proposal_id,
    }


async def _close_by_decree(
    uow: UnitOfWork, row: Any, proposal_id: str, decree_number: str, correlation_id: str
) -> None:
    closing = ComplaintClosed(
        complaint_id=row["complaint_id"],
        village_code=row["village_code"],
        reason=ComplaintClosingReason.RESOLVED_BY_DECREE,
        proposal_id=proposal_id,
        decree_number=decree_number,
    )
    await uow.append(
        aggregate_type="complaint",
        aggregate_id=row["complaint_id"],
        expected_version=row["version"] + 1,
        events=[NewEvent.of(closing)],
        causation=Causation(correlation_id=correlation_id),
    )
    await repo.mark_closed(
        uow.conn,
        row["complaint_id"],
        reason=ComplaintClosingReason.RESOLVED_BY_DECREE.value,
        at=utc_now(),
        decree_number=decree_number,
    )


def _stage(row: Any) -> ProposalStage | None:
    return ProposalStage(row["proposal_stage"]) if row["proposal_stage"] else None


def queue_item(row: dict[str, Any], now: Any) -> dict[str, Any]:
    """One complaint as the operator's queue shows it, with its age."""
    age = now - row["filed_at"]
    return {
        "complaint_id": row["complaint_id"],
        "kind": row["kind"],
        "channel": row["channel"],
        "village_code": row["village_code"],
        "status": row["status"],
        "complainant": {
            "nik": row["complainant_nik"],
            "name": row["complainant_name"],
            "phone": row["phone"],
        },
        "description": row["description"],
        "subject_nik": row["subject_nik"],
        "subject_household_id": row["subject_household_id"],
        "subject_proposal_id": row["subject_proposal_id"],
        "proposal_id": row["proposal_id"],
        "proposal_stage": row["proposal_stage"],
        "filed_at": row["filed_at"].isoformat(),
        "due_at": row["due_at"].isoformat(),
        "age_days": round(age.total_seconds() / 86400, 2),
        "overdue": now >= row["due_at"],
    }
