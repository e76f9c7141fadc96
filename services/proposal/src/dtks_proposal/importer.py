"""Bulk import: stage the upload durably, then turn it into proposals in the background.

Upload (``POST /imports``): the file is read from the spooled upload a chunk of rows at a time, and
every row is written to ``import_rows`` with the household (KK) it belongs to, in one transaction;
the answer comes after that commit. The same
file (same SHA-256) from the same region is staged once: a re-upload answers with the first import.

Worker: takes an unfinished import and works off its households in chunks. One chunk is one
transaction: the accepted households' proposals, their ``proposal.submitted`` events (the outbox),
the rejected rows, the households marked done and the progress counters commit together. A process
killed mid-chunk leaves nothing of that chunk, and the restarted worker does it again, so no row
is lost and none is doubled. A chunk that fails for its data (not an outage of the database) is
retried after a growing pause while other imports go on, and after ``max_attempts`` failures in a
row the import is parked as ``failed`` with the reason; an operator may cancel an import, and a
chunk in progress then rolls back. Proposal ids of imported households are derived from the import and
the KK number (or taken from the file's ``proposal_id``), never drawn at random. Chunks of one
import may run at once: each locks its own households (``SKIP LOCKED``), and their progress updates
of the import's row wait for each other only at the end of the chunk.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import uuid
from collections import Counter
from dataclasses import replace
from typing import Any, BinaryIO

import asyncpg

from dtks_contracts.actor import Actor
from dtks_proposal.adapters import imports as staging
from dtks_proposal.adapters import proposals as repo
from dtks_proposal.domain import status as standing_rules
from dtks_proposal.domain.bulk_file import (
    RowRejection,
    RowSource,
    StagingPlanner,
    build_household,
    household_rejected,
)
from dtks_proposal.domain.submission import ProposalIn, submitted_event
from dtks_proposal.domain.windows import admits, regency_of
from dtks_proposal.handlers import today
from dtks_proposal.timeline import own_event_entry
from dtks_runtime.event_store import Causation, NewEvent, StreamAppend
from dtks_runtime.service import ServiceRuntime
from dtks_runtime.telemetry import bound, get_logger

log = get_logger(__name__)

IMPORT_NAMESPACE = uuid.UUID("6b1d5f0e-3c2a-4e8b-9f61-2d7c4a9e8b10")


def imported_proposal_id(import_id: uuid.UUID, kk_number: str) -> str:
    return str(uuid.uuid5(IMPORT_NAMESPACE, f"{import_id}:{kk_number}"))


# Rows read from the upload, placed and copied into import_rows at a time: a few MB of Python
# objects, whatever the file's size.
STAGE_CHUNK_ROWS = 5_000
HASH_BLOCK_BYTES = 1 << 20


def _content_hash(upload: BinaryIO) -> str:
    """SHA-256 of the whole upload, read a block at a time; leaves the file at its start."""
    digest = hashlib.sha256()
    upload.seek(0)
    while block := upload.read(HASH_BLOCK_BYTES):
        digest.update(block)
    upload.seek(0)
    return digest.hexdigest()


async def stage_upload(
    runtime: ServiceRuntime,
    *,
    upload: BinaryIO,
    filename: str | None,
    uploader: Actor,
    defaults: dict[str, Any],
    correlation_id: str,
) -> tuple[uuid.UUID, bool]:
    """Stage an uploaded file; returns the import id and whether it is new (False: the same file was
    staged). The file is read from ``upload`` (the spooled request body) a chunk of rows at a time,
    each chunk copied into the staging transaction before the next is read, so memory stays flat
    however large the file. Reading and parsing run off the event loop (seconds of CPU for a large
    file), so other requests go on. A file found unreadable part-way raises FileRefused and the
    transaction leaves nothing."""
    assert runtime.pool is not None
    content_hash = await asyncio.to_thread(_content_hash, upload)
    existing = await staging.find_by_hash(runtime.pool, uploader.region, content_hash)
    if existing is not None:
        return existing, False
    source = await asyncio.to_thread(RowSource, upload, filename)
    try:
        import_id = uuid.uuid4()
        planner = StagingPlanner()
        async with runtime.pool.acquire() as conn, conn.transaction():
            created = await staging.begin_stage(
                conn,
                import_id=import_id,
                content_hash=content_hash,
                region=uploader.region,
                uploaded_by=uploader.model_dump(mode="json"),
                correlation_id=correlation_id,
                filename=filename,
                file_format=source.format,
                defaults=defaults,
            )
            while created and (rows := await asyncio.to_thread(source.take, STAGE_CHUNK_ROWS)):
                await staging.stage_rows(conn, import_id, planner.place(rows))
            if created:
                await staging.finish_stage(conn, import_id, planner)
    finally:
        source.close()
    if not created:
        again = await staging.find_by_hash(runtime.pool, uploader.region, content_hash)
        assert again is not None
        return again, False
    return import_id, True


class ImportWorker:
    def __init__(
        self,
        runtime: ServiceRuntime,
        *,
        chunk_households: int = 500,
        idle_seconds: float = 1.0,
        concurrency: int = 2,
        max_attempts: int = 5,
        retry_seconds: float = 2.0,
        stall_seconds: float = 300.0,
    ) -> None:
        self.runtime = runtime
        self.chunk_households = chunk_households
        self.idle_seconds = idle_seconds
        self.max_attempts = max_attempts
        self.retry_seconds = retry_seconds
        self.stall_seconds = stall_seconds
        # Figures for /healthz: failed chunks in a row (any import) and the last failure.
        self.failures_in_a_row = 0
        self.last_failure: str | None = None
        # Chunks worked at once. Two overlap one chunk's Python (parsing rows, building events) with
        # the other's statements and commit, instead of each side waiting for the other.
        self.concurrency = concurrency
        self.wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Work off staged imports until ``stop`` with ``concurrency`` chunks at a time."""
        await asyncio.gather(*(self._work(stop) for _ in range(self.concurrency)))

    async def _work(self, stop: asyncio.Event) -> None:
        """One chunk after another until ``stop``; a failing chunk is retried after a pause."""
        while not stop.is_set():
            try:
                worked = await self.process_next_chunk()
                self.failures_in_a_row = 0
            except Exception as exc:
                self.failures_in_a_row += 1
                self.last_failure = _reason(exc)
                log.warning("import chunk failed; it will be retried", error=repr(exc))
                worked = False
            if worked:
                continue
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(_first(self.wake, stop), self.idle_seconds)

    async def process_next_chunk(self) -> bool:
        """Process one chunk of the oldest unfinished import; False if there was nothing to do.

        A chunk that fails for its data counts against its import (see :meth:`_failed`) and the
        exception goes on to the caller; an outage of the database counts against nothing.
        """
        runtime = self.runtime
        assert runtime.pool is not None
        job: staging.ImportJob | None = None
        try:
            async with runtime.pool.acquire() as conn, conn.transaction():
                job = await staging.claim_job(conn)
                if job is None:
                    return False
                with bound(correlation_id=job.correlation_id, import_id=str(job.import_id)):
                    households = await staging.pending_households(conn, job.import_id, self.chunk_households)
                    if households is None:
                        return False  # the rest is being worked on by other chunks
                    if not households:
                        await staging.complete(conn, job.import_id)
                        log.info("import completed", import_id=str(job.import_id))
                        return True
                    await self._chunk(conn, job, households)
        except staging.ImportStopped:
            log.info("import cancelled or parked meanwhile; its chunk was rolled back")
            return True
        except Exception as exc:
            if job is not None and not _is_outage(exc):
                await self._failed(job, exc)
            raise
        return True

    async def _failed(self, job: staging.ImportJob, exc: Exception) -> None:
        """Count the failure against the import: retried after a pause that grows with each
        failure (other imports are worked meanwhile), parked as failed after ``max_attempts``."""
        assert self.runtime.pool is not None
        reason = _reason(exc)
        with bound(correlation_id=job.correlation_id, import_id=str(job.import_id)):
            try:
                attempt = await staging.record_failure(
                    self.runtime.pool,
                    job.import_id,
                    f"A part of this import could not be written ({reason}). Households done so far "
                    "stay; correct the file and upload the households not done again.",
                    max_attempts=self.max_attempts,
                    retry_seconds=self.retry_seconds,
                )
            except Exception as again:  # the database went away meanwhile: the next try counts
                log.warning("could not record the failed import chunk", error=repr(again))
                return
        if attempt is not None and attempt.status == "failed":
            log.error("import parked as failed", import_id=str(job.import_id), attempts=attempt.attempts)

    async def health(self) -> tuple[bool, dict[str, Any]]:
        """For /healthz: degraded when imports wait and none has made progress for
        ``stall_seconds`` (the worker is stuck, dead, or every import keeps failing)."""
        assert self.runtime.pool is not None
        backlog = await staging.backlog(self.runtime.pool)
        idle = backlog.seconds_without_progress
        stuck = backlog.unfinished > 0 and idle is not None and idle > self.stall_seconds
        return not stuck, {
            "unfinished_imports": backlog.unfinished,
            "seconds_without_progress": round(idle, 1) if idle is not None else None,
            "oldest_waiting_seconds": round(backlog.oldest_waiting_seconds, 1)
            if backlog.oldest_waiting_seconds is not None
            else None,
            "stall_seconds": self.stall_seconds,
            "failed_imports": backlog.failed,
            "chunk_failures_in_a_row": self.failures_in_a_row,
            "last_chunk_failure": self.last_failure,
        }

    async def _chunk(
        self, conn: asyncpg.Connection, job: staging.ImportJob, households: list[staging.PendingHousehold]
    ) -> None:
        """Decide every household of the chunk in Python, then write the chunk in a few bulk statements.

        Round trips per chunk are constant (the windows, the proposals, one ``append_many``, the
        timeline, the quotas, the rejections, the progress), whatever the chunk's size.
        """
        assert self.runtime.store is not None
        actor = Actor.model_validate(job.uploaded_by)
        causation = Causation(actor=actor, correlation_id=job.correlation_id)
        rejections: list[RowRejection] = []
        built: list[tuple[staging.PendingHousehold, ProposalIn]] = []
        for household in households:
            proposal, rejected = build_household(
                household.kk_number, household.rows, job.defaults, job.uploader_region
            )
            if proposal is None:
                rejections += rejected
            else:
                built.append((household, proposal))
        # Locked until this chunk commits: a window closed meanwhile applies from the next chunk.
        windows = await repo.lock_windows(conn, [regency_of(p.village_code) for _, p in built])
        admitted: Counter[str] = Counter()
        day = today()
        accepted: list[tuple[staging.PendingHousehold, ProposalIn, NewEvent]] = []
        named: set[str] = set()
        for household, proposal in built:
            regency = regency_of(proposal.village_code)
            window = windows.get(regency)
            if window is not None:
                refusal = admits(replace(window, used=window.used + admitted[regency]), day)
                if refusal is not None:
                    rejections += household_rejected(
                        household.kk_number, household.rows, "village_code", refusal.message
                    )
                    continue
            pid = proposal.proposal_id or imported_proposal_id(job.import_id, household.kk_number)
            if pid in named:
                # Two households of one file under one client id: the first one has it.
                rejections += household_rejected(
                    household.kk_number,
                    household.rows,
                    "proposal_id",
                    f"proposal id {pid} is already given to another household of this file",
                )
                continue
            named.add(pid)
            key = f"import:{job.import_id}:{household.kk_number}"
            try:
                # Dumped once: the event's payload is also the proposal's content.
                event = NewEvent.of(submitted_event(proposal, pid, actor, key))
            except ValueError as exc:
                rejections += household_rejected(household.kk_number, household.rows, "kk_number", str(exc))
                continue
            if window is not None:
                admitted[regency] += 1
            accepted.append((household, proposal, event))
        created = await repo.insert_proposals(
            conn,
            [
                repo.NewProposal(
                    proposal_id=pid_of(event),
                    kind=proposal.kind.value,
                    village_code=proposal.village_code,
                    regency_code=regency_of(proposal.village_code),
                    standing=standing_rules.entered(1),
                    content=event.payload,
                    target_household_id=proposal.household_id,
                    submitted_by=actor.subject,
                    import_id=job.import_id,
                )
                for _, proposal, event in accepted
            ],
        )
        outcomes: dict[int, str | None] = {h.group_no: None for h in households}
        appends: list[StreamAppend] = []
        for household, proposal, event in accepted:
            pid = pid_of(event)
            if pid not in created:
                # The file named a proposal id that already exists: never a second proposal.
                rejections += household_rejected(
                    household.kk_number,
                    household.rows,
                    "proposal_id",
                    f"proposal {pid} was already submitted; nothing new was created",
                )
                regency = regency_of(proposal.village_code)
                if regency in windows:
                    admitted[regency] -= 1
                continue
            appends.append(StreamAppend("proposal", pid, 0, [event]))
            outcomes[household.group_no] = pid
        envelopes = await self.runtime.store.append_many(conn, appends, causation=causation)
        await repo.add_timeline(conn, [own_event_entry(e) for e in envelopes])
        await repo.count_against_quotas(conn, dict(admitted))
        await staging.add_rejections(conn, job.import_id, rejections)
        await staging.finish_households(
            conn,
            job.import_id,
            outcomes,
            rows_done=sum(len(h.rows) for h in households),
            accepted=len(appends),
            rejected=len(households) - len(appends),
        )


def _is_outage(exc: BaseException) -> bool:
    """A failure of the connection or the server, not of the import's data: it says nothing
    about the import and is not counted against it (the worker just tries again)."""
    return isinstance(
        exc,
        OSError
        | asyncio.TimeoutError
        | asyncpg.InterfaceError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError
        | asyncpg.exceptions.InsufficientResourcesError
        | asyncpg.exceptions.TransactionRollbackError,
    )


def _reason(exc: BaseException) -> str:
    """The class and the first line of the message: PostgreSQL's DETAIL line ("Failing row
    contains ...") would put names and NIKs into the import's status and /healthz."""
    return f"{type(exc).__name__}: {str(exc).split(chr(10), 1)[0][:300]}"


def pid_of(event: NewEvent) -> str:
    return str(event.payload["proposal_id"])


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
