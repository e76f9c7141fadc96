"""The worker that runs queued integrity checks: the entry checks that intake could not conclude
(the civil registry did not answer its look-up; see `consumer.Intake`), again and again while the
registry is down, until it answers; and the Ministry's re-checks that waited for it.

Each round: lease a batch of due checks (oldest first), look their people up in batches, and
conclude the ones whose look-ups succeeded in one transaction. Checks whose look-ups failed get
`not_before` pushed out (the circuit breaker's open time) and keep their place; none is failed.
A crash mid-batch leaves the lease to expire, and the checks run again.

Two batches are in flight at once: while one is concluded (rules, events, standings: our CPU and
the database), the next one's people are looked up (the civil registry's time), so neither waits
for the other. Leases keep the two apart.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass

import asyncpg

from dtks_runtime.db import TRANSIENT_DATABASE_ERRORS
from dtks_runtime.telemetry import get_logger
from dtks_verification.adapters import pending_checks, proposals
from dtks_verification.adapters.civil_registry import CivilRegistryUnavailable
from dtks_verification.checks import run_checks, wanted
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.integrity import CivilPerson

log = get_logger(__name__)

LEASE_SECONDS = 60.0
# A round that outlives two leases has lost its checks to the next lease anyway: the worker is stuck.
STUCK_AFTER_SECONDS = 2 * LEASE_SECONDS
_DB_ERRORS = (*TRANSIENT_DATABASE_ERRORS, asyncpg.PostgresError)


@dataclass(frozen=True)
class LookedUp:
    """A leased batch with what the civil registry said about each check's people."""

    checks: list[pending_checks.PendingCheck]
    records: dict[str, proposals.ProposalRecord]
    civil: dict[str, dict[str, CivilPerson | None]]


class PendingChecksWorker:
    def __init__(
        self,
        deps: VerificationDeps,
        *,
        batch_size: int,
        poll_seconds: float,
        retry_seconds: float,
        heartbeat: Callable[[], None] = lambda: None,
    ) -> None:
        self.deps = deps
        # Called at each turn of the loop, idle ones too: the runtime reports the worker stuck when
        # it stops (see ServiceRuntime.supervise's stuck_after).
        self.heartbeat = heartbeat
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.retry_seconds = retry_seconds
        self.checked = 0
        self.deferred = 0

    async def run(self, stop: asyncio.Event) -> None:
        ahead: asyncio.Task[LookedUp | None] | None = None
        try:
            while not stop.is_set():
                self.heartbeat()
                task, ahead = ahead or asyncio.create_task(self.lease_and_look_up()), None
                try:
                    batch = await task
                    if batch is not None:
                        # The next batch's look-ups run while this one is concluded.
                        ahead = asyncio.create_task(self.lease_and_look_up())
                        await self.conclude(batch)
                except Exception as exc:
                    # Any failed round (asyncpg raises InternalClientError, not a PostgresError, on a
                    # connection cut mid-reset when PostgreSQL restarts) is retried: if this task
                    # died, integrity checks would stop until the process restarts.
                    log.warning("pending checks round failed; retrying", error=repr(exc))
                    batch = None
                if batch is None:
                    with contextlib.suppress(asyncio.TimeoutError):
                        await asyncio.wait_for(stop.wait(), self.poll_seconds)
        finally:
            if ahead is not None:
                await self._give_back(ahead)

    async def lease_and_look_up(self) -> LookedUp | None:
        """Lease due checks and look their people up; None if there is nothing to do now (no due
        check, or the civil registry is unavailable and the leased checks were deferred)."""
        async with self.deps.unit_of_work() as uow:
            checks = await pending_checks.lease_checks(uow.conn, self.batch_size, LEASE_SECONDS)
            if not checks:
                return None
            records = await proposals.load_many(uow.conn, [c.proposal_id for c in checks])
        leased = [(check, records.get(check.proposal_id)) for check in checks]
        try:
            found = await self.deps.civil_registry.people_of_many([wanted(record) for _, record in leased])
        except CivilRegistryUnavailable as exc:
            # Nobody is failed: the checks keep their place and are tried again after a pause.
            async with self.deps.unit_of_work() as uow:
                ids = [c.proposal_id for c in checks]
                await pending_checks.defer_checks(uow.conn, ids, self.retry_seconds, str(exc))
            self.deferred += len(checks)
            log.info("integrity checks wait for the civil registry", waiting=len(checks), error=str(exc))
            return None
        civil = {check.proposal_id: people for (check, _), people in zip(leased, found, strict=True)}
        return LookedUp(checks, records, civil)

    async def conclude(self, batch: LookedUp) -> None:
        self.checked += await run_checks(self.deps, batch.checks, batch.civil, batch.records)

    async def _give_back(self, ahead: asyncio.Task[LookedUp | None]) -> None:
        """On stop: a batch leased ahead is handed back at once rather than left to its lease."""
        try:
            batch = await ahead
        except Exception as exc:  # its lease expires on its own
            log.warning("pending checks look-ahead failed while stopping", error=repr(exc))
            return
        if batch is not None:
            with contextlib.suppress(*_DB_ERRORS):
                async with self.deps.unit_of_work() as uow:
                    await pending_checks.release_checks(uow.conn, [c.proposal_id for c in batch.checks])
