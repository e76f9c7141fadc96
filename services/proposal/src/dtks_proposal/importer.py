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
from typing import Any, BinaryIO

import asyncpg

from dtks_contracts.actor import Actor
from dtks_proposal.adapters import imports as staging
from dtks_proposal.deps import ProposalDeps
from dtks_proposal.domain.bulk_file import (
    RowRejection,
    RowSource,
    StagingPlanner,
    build_household,
    household_rejected,
)
from dtks_proposal.domain.submission import submitted_event
from dtks_proposal.entry import Entry, enter_submissions
from dtks_proposal.errors import PROPOSAL_ID_REPEATED, PROPOSAL_ID_TAKEN
from dtks_runtime.db import TRANSIENT_DATABASE_ERRORS
from dtks_runtime.errors import DomainError
from dtks_runtime.event_store import Causation, NewEvent
from dtks_runtime.telemetry import bound, get_logger
from dtks_runtime.unit_of_work import UnitOfWork

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
    deps: ProposalDeps,
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
    content_hash = await asyncio.to_thread(_content_hash, upload)
    existing = await staging.find_by_hash(deps.pool, uploader.region, content_hash)
    if existing is not None:
        return existing, False
    source = await asyncio.to_thread(RowSource, upload, filename)
    try:
        import_id = uuid.uuid4()
        planner = StagingPlanner()
        async with deps.unit_of_work() as uow:
            conn = uow.conn
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
        again = await staging.find_by_hash(deps.pool, uploader.region, content_hash)
        assert again is not None
        return again, False
    return import_id, True


class ImportWorker:
    def __init__(
        self,
        deps: ProposalDeps,
        *,
        chunk_households: int = 500,
        idle_seconds: float = 1.0,
        concurrency: int = 2,
        max_attempts: int = 5,
        retry_seconds: float = 2.0,
        stall_seconds: float = 300.0,
    ) -> None:
        self.deps = deps
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
        job: staging.ImportJob | None = None
        try:
            async with self.deps.unit_of_work() as uow:
                job = await staging.claim_job(uow.conn)
                if job is None:
                    return False
                with bound(correlation_id=job.correlation_id, import_id=str(job.import_id)):
                    households = await staging.pending_households(
                        uow.conn, job.import_id, self.chunk_households
                    )
                    if households is None:
                        return False  # the rest is being worked on by other chunks
                    if not households:
                        await staging.complete(uow.conn, job.import_id)
                        log.info("import completed", import_id=str(job.import_id))
                        return True
                    await self._chunk(uow, job, households)
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
        reason = _reason(exc)
        with bound(correlation_id=job.correlation_id, import_id=str(job.import_id)):
            try:
                attempt = await staging.record_failure(
                    self.deps.pool,
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
        backlog = await staging.backlog(self.deps.pool)
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
        self, uow: UnitOfWork, job: staging.ImportJob, households: list[staging.PendingHousehold]
    ) -> None:
        """Build every household of the chunk in Python, enter them as every first submission enters
        (:func:`~dtks_proposal.entry.enter_submissions`: windows, quotas, taken ids, in a constant
        number of statements), then record the chunk's rejections and progress."""
        actor = Actor.model_validate(job.uploaded_by)
        causation = Causation(actor=actor, correlation_id=job.correlation_id)
        rejections: list[RowRejection] = []
        entries: list[tuple[staging.PendingHousehold, Entry]] = []
        for household in households:
            proposal, rejected = build_household(
                household.kk_number, household.rows, job.defaults, job.uploader_region
            )
            if proposal is None:
                rejections += rejected
                continue
            pid = proposal.proposal_id or imported_proposal_id(job.import_id, household.kk_number)
            key = f"import:{job.import_id}:{household.kk_number}"
            try:
                event = NewEvent.of(submitted_event(proposal, pid, actor, key))
            except ValueError as exc:
                rejections += household_rejected(household.kk_number, household.rows, "kk_number", str(exc))
                continue
            entry = Entry(proposal, event, causation, actor.subject, import_id=job.import_id)
            entries.append((household, entry))
        # The windows stay locked until this chunk commits: one closed meanwhile applies from the next.
        outcomes = await enter_submissions(
            uow, [e for _, e in entries], day=self.deps.today(), now=self.deps.clock()
        )
        done: dict[int, str | None] = {h.group_no: None for h in households}
        for (household, entry), outcome in zip(entries, outcomes, strict=True):
            if isinstance(outcome, DomainError):
                field, reason = _rejection(outcome, entry.proposal_id)
                rejections += household_rejected(
                    household.kk_number, household.rows, field, reason, code=outcome.code
                )
            else:
                done[household.group_no] = entry.proposal_id
        await staging.add_rejections(uow.conn, job.import_id, rejections)
        accepted = sum(1 for pid in done.values() if pid is not None)
        await staging.finish_households(
            uow.conn,
            job.import_id,
            done,
            rows_done=sum(len(h.rows) for h in households),
            accepted=accepted,
            rejected=len(households) - accepted,
        )


def _rejection(refused: DomainError, proposal_id: str) -> tuple[str, str]:
    """The column and reason an import reports for a household its entry refused."""
    if refused.code == PROPOSAL_ID_REPEATED:  # two households of one file under one client id
        return "proposal_id", f"proposal id {proposal_id} is already given to another household of this file"
    if refused.code == PROPOSAL_ID_TAKEN:  # the file named a proposal id that already exists
        return "proposal_id", f"proposal {proposal_id} was already submitted; nothing new was created"
    return "village_code", refused.detail  # its window is closed or its quota used up


def _is_outage(exc: BaseException) -> bool:
    """A failure of the connection or the server, not of the import's data: it says nothing
    about the import and is not counted against it (the worker just tries again)."""
    return isinstance(
        exc,
        (
            *TRANSIENT_DATABASE_ERRORS,
            asyncpg.exceptions.InsufficientResourcesError,  # out of connections, memory or disk
            asyncpg.exceptions.TransactionRollbackError,  # a serialization failure or deadlock
        ),
    )


def _reason(exc: BaseException) -> str:
    """The class and the first line of the message: PostgreSQL's DETAIL line ("Failing row
    contains ...") would put names and NIKs into the import's status and /healthz."""
    return f"{type(exc).__name__}: {str(exc).split(chr(10), 1)[0][:300]}"


async def _first(*events: asyncio.Event) -> None:
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
