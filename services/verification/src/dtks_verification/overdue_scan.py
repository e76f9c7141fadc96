"""The overdue scan: announces items past their deadline, once per stay at a tier and level.

Level 1: the item waited past its tier's deadline; the tier's own officers are told. Level 2: it
waited a second deadline as long again; the officers of the tier above are told (district ->
regency -> province -> Ministry; the regent's tier -> province). The Ministry's items have no tier
above and stop at level 1. Each announcement is a `verification.item_overdue` event on the item's
own stream (its history shows when it became overdue), which the notification service turns into
an inbox notice. The scan never moves or decides an item.

A supervised worker (`runtime.supervise`): each pass computes one cutoff per tier, regency and
level from the calendar (with the clock of the deps object, and freezes pausing deadlines), then
announces up to `batch_size` items per transaction with rows locked SKIP LOCKED, so several
processes may scan and decisions never wait for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from typing import Final

from dtks_contracts.events.governance import ItemOverdue
from dtks_contracts.vocabulary import Tier, tier_region
from dtks_runtime.db import TRANSIENT_DATABASE_ERRORS
from dtks_runtime.event_store import Causation, NewEvent, StreamAppend
from dtks_runtime.telemetry import get_logger
from dtks_verification.adapters import governance, overdue_marks, tier_queues
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.deadlines import calendar_for, working_days

TIER_ABOVE: Final = {
    Tier.DISTRICT: Tier.REGENCY,
    Tier.REGENCY: Tier.PROVINCE,
    Tier.RATIFICATION: Tier.PROVINCE,
    Tier.PROVINCE: Tier.MINISTRY,
}
_FREEZE_HORIZON = dt.timedelta(days=1600)
log = get_logger(__name__)


class OverdueScan:
    def __init__(
        self,
        deps: VerificationDeps,
        *,
        batch_size: int = 500,
        poll_seconds: float = 60.0,
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        self.deps = deps
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.heartbeat = heartbeat

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                announced = await self.scan_once()
            except TRANSIENT_DATABASE_ERRORS as exc:
                # PostgreSQL restarting or a connection lost: the items wait for the next pass. If this
                # task ended, no item would be announced overdue again until the process restarts.
                log.warning("overdue scan failed; retrying", error=repr(exc))
                announced = 0
            self.heartbeat()
            if announced < self.batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)

    async def scan_once(self) -> int:
        """One batch: how many announcements it made (fewer than the batch: nothing else is due)."""
        now = self.deps.clock()
        async with self.deps.unit_of_work() as uow:
            pairs = await tier_queues.waiting_regencies(uow.conn, "ID")
            policies = await governance.deadline_policies(uow.conn)
            freezes = await governance.freezes_between(uow.conn, now - _FREEZE_HORIZON, now)
            cutoffs = []
            days_of: dict[tuple[Tier, str], int] = {}
            for tier, regency in pairs:
                calendar = calendar_for(freezes, tier, regency)
                days = days_of[(tier, regency)] = working_days(policies, tier, regency)
                for level in (1, 2) if tier in TIER_ABOVE else (1,):
                    cutoffs.append((tier, regency, calendar.overdue_before(days * level, now), level))
            rows = await overdue_marks.unannounced(uow.conn, cutoffs, self.batch_size)
            if not rows:
                return 0
            events: dict[str, list[ItemOverdue]] = defaultdict(list)
            versions: dict[str, int] = {}
            marks = []
            for r in rows:
                tier, pid, level = Tier(r["tier"]), r["proposal_id"], r["level"]
                days = days_of[(tier, r["village_code"][:5])] * level
                notify = TIER_ABOVE[tier] if level == 2 else tier
                calendar = calendar_for(freezes, tier, r["village_code"])
                events[pid].append(
                    ItemOverdue(
                        proposal_id=pid,
                        round=r["round"],
                        village_code=r["village_code"],
                        tier=tier,
                        level=level,
                        working_days=days,
                        due_date=calendar.due_date(r["entered_at"], days),
                        notify_tier=notify,
                        notify_region=tier_region(notify, r["village_code"]),
                    )
                )
                versions.setdefault(pid, r["stream_version"])
                marks.append((pid, tier.value, r["entered_at"], level))
            causation = Causation()
            await uow.append_many(
                [
                    StreamAppend("proposal", pid, versions[pid], [NewEvent.of(e) for e in evs], causation)
                    for pid, evs in events.items()
                ],
                causation=causation,
            )
            await overdue_marks.mark(
                uow.conn, marks, {pid: versions[pid] + len(evs) for pid, evs in events.items()}
            )
        return len(rows)
