"""The digest schedule: every DTKS_NOTIFICATION_DIGEST_SECONDS, one message per tier and region
about the proposals that arrived in its queue since the last digest (and are still there)."""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Callable

import asyncpg

from dtks_contracts.vocabulary.tiers import Tier
from dtks_notification.adapters import records
from dtks_notification.adapters.records import ChannelsOn
from dtks_notification.domain.digest import compose_digest
from dtks_runtime.telemetry import get_logger

log = get_logger(__name__)

# The schedule's loop turns (and beats) at least this often between digests, so a loop that stopped
# turning is seen in /healthz long before the next digest was due.
TICK_SECONDS = 30.0


class DigestScheduler:
    def __init__(
        self, *, pool: asyncpg.Pool, interval: float, channels: ChannelsOn, attempt_limit: int
    ) -> None:
        self.pool, self.interval, self.channels, self.attempt_limit = pool, interval, channels, attempt_limit
        self.heartbeat: Callable[[], None] = lambda: None

    @property
    def stuck_after(self) -> float:
        """Seconds between beats before /healthz calls the schedule stuck: a tick and a slow round."""
        return min(self.interval, TICK_SECONDS) + 300.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            due = time.monotonic() + self.interval
            while not stop.is_set() and (left := due - time.monotonic()) > 0:
                self.heartbeat()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), min(left, TICK_SECONDS))
            if stop.is_set():
                return
            self.heartbeat()
            try:
                await self.run_once()
            except Exception as exc:  # the next tick tries again; arrivals stay until told
                log.warning("digest round failed", error=repr(exc))

    async def run_once(self) -> int:
        """Send the digests that are due now; returns how many notifications it decided.

        Arrivals are taken out of the table in the same transaction that records their digest, so
        each arrival is told exactly once; SKIP LOCKED lets two service instances share the work.
        """
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """DELETE FROM queue_arrivals WHERE ctid IN (
                       SELECT ctid FROM queue_arrivals FOR UPDATE SKIP LOCKED)
                   RETURNING tier, region, proposal_id"""
            )
            groups: dict[tuple[str, str], list[str]] = defaultdict(list)
            for r in rows:
                groups[(r["tier"], r["region"])].append(r["proposal_id"])
            digest_id = uuid.uuid4()
            notices = [
                compose_digest(Tier(t), region, ids, digest_id) for (t, region), ids in sorted(groups.items())
            ]
            await records.record_notices(
                conn,
                notices,
                correlation_ids={n.notification_id: str(digest_id) for n in notices},
                channels=self.channels,
                attempt_limit=self.attempt_limit,
            )
        if notices:
            log.info("queue digests decided", digests=len(notices), arrivals=len(rows))
        return len(notices)
