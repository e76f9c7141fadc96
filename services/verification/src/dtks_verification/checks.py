"""The worker that runs queued integrity checks: always right after a submission, and again and
again while the civil registry is down, until it answers.

Each round: lease a batch of due checks (oldest first), look their people up concurrently, and
conclude the ones whose look-ups succeeded in one transaction. Checks whose look-ups failed get
`not_before` pushed out (the circuit breaker's open time) and keep their place; none is failed.
A crash mid-batch leaves the lease to expire, and the checks run again.
"""

from __future__ import annotations

import asyncio
import contextlib

import asyncpg

from dtks_runtime.telemetry import get_logger
from dtks_verification.adapters import postgres as pg
from dtks_verification.adapters.civil_registry import CivilRegistryUnavailable
from dtks_verification.handlers import Verification

log = get_logger(__name__)

LEASE_SECONDS = 60.0


class PendingChecksWorker:
    def __init__(
        self, verification: Verification, *, batch_size: int, poll_seconds: float, retry_seconds: float
    ) -> None:
        self.verification = verification
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.checked = 0
        self.deferred = 0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                busy = await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("pending checks round failed; retrying", error=repr(exc))
                busy = False
            if not busy:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_seconds)

    async def run_once(self) -> bool:
        """One batch; True if there was work (so the next batch follows at once)."""
        pool = self.verification.pool
        async with pool.acquire() as conn:
            checks = await pg.lease_checks(conn, self.batch_size, LEASE_SECONDS)
            if not checks:
                return False
            records = await pg.load_many(conn, [c.proposal_id for c in checks])
        leased = [(check, records.get(check.proposal_id)) for check in checks]
        wanted = [self.verification.wanted(record) for _, record in leased]
        try:
            found = await self.verification.civil_registry.people_of_many(wanted)
        except CivilRegistryUnavailable as exc:
            # Nobody is failed: the checks keep their place and are tried again after a pause.
            async with pool.acquire() as conn:
                await pg.defer_checks(conn, [c.proposal_id for c in checks], self.retry_seconds, str(exc))
            self.deferred += len(checks)
            log.info("integrity checks wait for the civil registry", waiting=len(checks), error=str(exc))
            return False
        civil = {check.proposal_id: people for (check, _), people in zip(leased, found, strict=True)}
        self.checked += await self.verification.run_checks(checks, civil)
        return True
