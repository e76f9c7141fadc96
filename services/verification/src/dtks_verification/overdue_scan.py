"""The overdue scan: announces items past their deadline, once per stay at a tier and level.

Level 1: the item waited past its tier's deadline; the tier's own officers are told. Level 2: it
waited a second deadline as long again; the officers of the tier above are told (district ->
regency -> province -> Ministry; the regent's tier -> province). The Ministry's items have no tier
above and stop at level 1. Announcements are `verification.items_overdue` notices, one per tier,
level and region of a batch (at most 1,000 items each), which the notification service turns into
one inbox notice per region; the registry files each under its items' households. The scan never
moves or decides an item, and never locks or writes its row.

A supervised worker (`runtime.supervise`). Each pass reads the deadline policies and the freezes
once, computes with the domain's calendar which entry days are overdue at which level under each
calendar in use (the country's, and those of regions with a policy or a freeze of their own; the
clock is the deps object's, and freezes pause deadlines), and hands them to PostgreSQL; then it
counts the waiting items queue by queue and announces them in batches of about `batch_size` items,
each one statement and one short transaction (adapters.overdue_marks), pausing after each batch for
`pause` times as long as the batch took: the scan shares PostgreSQL and the machine's cores with
the officers' decisions, and a pass that never rests takes them from the decisions. Several
processes may scan at once: the marks' key lets each group of items through once. A pass that dies
(a restart, a lost connection) loses nothing: every batch committed its marks with its notices, and
the next pass skips what they marked. Each pass is recorded in `overdue_passes`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

from dtks_contracts.vocabulary import Tier, tier_region_length
from dtks_runtime.db import TRANSIENT_DATABASE_ERRORS
from dtks_runtime.event_store import Causation
from dtks_runtime.telemetry import get_logger
from dtks_runtime.unit_of_work import on_connection
from dtks_verification.adapters import governance, overdue_marks
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.deadlines import (
    Policies,
    calendar_for,
    deadline_regions,
    overdue_days,
    working_days,
)
from dtks_verification.domain.freezes import Freeze
from dtks_verification.domain.working_days import local_date, start_of

TIER_ABOVE: Final = {
    Tier.DISTRICT: Tier.REGENCY,
    Tier.REGENCY: Tier.PROVINCE,
    Tier.RATIFICATION: Tier.PROVINCE,
    Tier.PROVINCE: Tier.MINISTRY,
}
log = get_logger(__name__)


class OverdueScan:
    def __init__(
        self,
        deps: VerificationDeps,
        *,
        batch_size: int = 10000,
        poll_seconds: float = 60.0,
        pause: float = 0.0,
        heartbeat: Callable[[], None] = lambda: None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self.deps = deps
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.pause = pause
        self.heartbeat = heartbeat
        self.sleep, self.timer = sleep, timer

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.scan_once()
            except TRANSIENT_DATABASE_ERRORS as exc:
                # PostgreSQL restarting or a connection lost: the items wait for the next pass. If this
                # task ended, no item would be announced overdue again until the process restarts.
                log.warning("overdue scan failed; retrying", error=repr(exc))
            self.heartbeat()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_seconds)

    async def scan_once(self) -> int:
        """One pass over every waiting item: how many announcements it made."""
        now = self.deps.clock()
        async with self.deps.connection() as conn:
            since = await overdue_marks.oldest_entry(conn)
            if since is None:
                return 0
            policies = await governance.deadline_policies(conn)
            freezes = await governance.freezes_between(conn, since, now)
            calendars, dues = _calendars(policies, freezes, local_date(since), now)
            if not dues:
                return 0
            await overdue_marks.prepare(conn, calendars, dues)
            # Nothing that entered on or after the last overdue entry day can be due.
            before = start_of(max(d.entered_on for d in dues) + dt.timedelta(days=1))
            units = on_connection(conn, self.deps.store)
            causation = Causation()
            pass_id = await overdue_marks.begin_pass(conn)
            announced = 0
            batches = overdue_marks.batches(await overdue_marks.queues(conn, before), self.batch_size)
            async with overdue_marks.pass_settings(conn):
                for number, batch in enumerate(batches, start=1):
                    started = self.timer()
                    async with units() as uow:
                        announced += await overdue_marks.announce(uow, pass_id, batch, before, now, causation)
                    self.heartbeat()
                    if number < len(batches):
                        # Paced by the batch's own duration: the busier the database, the longer each
                        # batch takes and the longer the scan rests, so it takes a share of the
                        # machine, not all. Between transactions: nothing is held while it rests.
                        await self.sleep((self.timer() - started) * self.pause)
            await overdue_marks.end_pass(conn, pass_id, announced)
            return announced


def _calendars(
    policies: Policies, freezes: Sequence[Freeze], since: dt.date, now: dt.datetime
) -> tuple[list[overdue_marks.Calendar], list[overdue_marks.Due]]:
    """The calendars in use at each tier (one per distinct deadline and paused days) and, for
    each, the entry days from `since` whose items are overdue at `now`, per level."""
    calendars: list[overdue_marks.Calendar] = []
    dues: list[overdue_marks.Due] = []
    numbered: dict[tuple[Tier, int, frozenset[dt.date]], int] = {}
    for tier in Tier:
        notify = {1: tier} | ({2: TIER_ABOVE[tier]} if tier in TIER_ABOVE else {})
        for region in sorted(deadline_regions(policies, freezes, tier)):
            calendar = calendar_for(freezes, tier, region)
            days = working_days(policies, tier, region)
            key = (tier, days, calendar.closed)
            if key not in numbered:
                number = numbered[key] = len(numbered)
                dues.extend(
                    overdue_marks.Due(
                        number,
                        d.entered_on,
                        d.level,
                        d.working_days,
                        d.due_date,
                        notify[d.level].value,
                        tier_region_length(notify[d.level]),
                    )
                    for d in overdue_days(calendar, days, len(notify), since, now)
                )
            calendars.append(overdue_marks.Calendar(tier.value, region, numbered[key]))
    return calendars, dues
