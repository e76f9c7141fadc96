"""Complaints the village did not act on by their deadline go to the district (a supervised worker).

``escalate_due(now)`` is one pass at a given time: the worker calls it with the deps' clock every
``escalation_every_seconds``, a test with its own time (no sleeping). Rows are taken with SKIP
LOCKED, so several processes never escalate one complaint twice, and the row's status and its
complaint.escalated event commit together.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from typing import Any

import asyncpg

from dtks_complaints.adapters import complaints as repo
from dtks_complaints.deps import ComplaintsDeps
from dtks_contracts.events.complaint import ComplaintEscalated
from dtks_runtime.db import TRANSIENT_DATABASE_ERRORS
from dtks_runtime.event_store import Causation, NewEvent, StreamAppend
from dtks_runtime.telemetry import get_logger

log = get_logger(__name__)

WORKER_NAME = "escalation-worker"
BATCH = 200


class EscalationWorker:
    def __init__(self, deps: ComplaintsDeps) -> None:
        self.deps = deps
        self.last_pass: dt.datetime | None = None

    async def escalate_due(self, now: dt.datetime) -> int:
        """Escalate every open complaint due at ``now``; how many were."""
        total = 0
        while True:
            async with self.deps.unit_of_work() as uow:
                rows = await repo.due_for_update(uow.conn, now, BATCH)
                if not rows:
                    break
                appends = [
                    StreamAppend(
                        aggregate_type="complaint",
                        aggregate_id=r["complaint_id"],
                        expected_version=r["version"],
                        events=[
                            NewEvent.of(
                                ComplaintEscalated(
                                    complaint_id=r["complaint_id"],
                                    village_code=r["village_code"],
                                    district_code=r["district_code"],
                                    due_at=r["due_at"],
                                    escalated_at=now,
                                )
                            )
                        ],
                    )
                    for r in rows
                ]
                await uow.append_many(appends, causation=Causation())
                await repo.mark_escalated(uow.conn, [r["complaint_id"] for r in rows], now)
            total += len(rows)
            if len(rows) < BATCH:
                break
        self.last_pass = now
        return total

    async def run(self, stop: asyncio.Event) -> None:
        every = self.deps.settings.escalation_every_seconds
        while not stop.is_set():
            try:
                escalated = await self.escalate_due(self.deps.now())
                if escalated:
                    log.info("complaints escalated to the district", count=escalated)
            except (*TRANSIENT_DATABASE_ERRORS, asyncpg.PostgresError) as error:
                # The database away for a moment (a restart, a lost connection): the complaints wait
                # for the next pass; anything else ends the worker and turns /healthz degraded.
                log.warning("escalation pass failed", error=repr(error))
            self.deps.runtime.runtime.heartbeat(WORKER_NAME)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), every)

    async def health(self) -> tuple[bool, dict[str, Any]]:
        return True, {"last_pass": self.last_pass.isoformat() if self.last_pass else None}
