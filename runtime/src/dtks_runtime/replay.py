"""Rebuild a projection from offset zero into fresh tables.

Domain topics keep their events forever, so any projection a consumer builds can be built again:
the replay creates a new schema, installs the runtime's tables and the projection's migrations in
it, reads the topics from the beginning to the end they had when the replay started, and applies
every event once (the inbox in the new schema drops the duplicates a relay restart may have
published). The live projection is never touched; callers compare, report or swap.

Speed. A replay reads millions of events, so three things are kept off its critical path:
- Kafka and PostgreSQL overlap: a reader task fetches and decodes the next batches while the
  writer's transaction for the current ones runs in the database (a small queue between them; the
  writer merges what has queued up into one transaction).
- A projection that reads only some event types says which (``event_types``); the others are
  recognised from their bytes (:func:`sniff_event_type`) and never parsed, validated or put in the
  inbox. Parsing an envelope costs some 25 µs, the sniff under 1 µs, and in the verification
  stream most events are tier decisions the register does not read.
- The inbox then holds only the events handed to the projection, which is all it must guard.
- The cyclic garbage collector runs rarely during a replay (:mod:`dtks_runtime.gc_policy`): each
  batch leaves tens of thousands of freshly parsed objects alive until it is written, and at the
  default threshold collecting them cost more than parsing them. Worker processes, which live for
  one replay, do not collect at all.
- A projection whose writes are keyed so that applying an event twice changes nothing may pass its
  own ``decode`` (bytes to whatever its handler reads, e.g. the envelope and its typed payload in one
  validation instead of two). The replay then skips the inbox: its insert per event is the largest
  cost a fresh projection has in PostgreSQL, and the keys already drop a relay's duplicates.
- The replay's tables are UNLOGGED and its workers commit without waiting for the disk: a schema
  rebuilt from the log is scratch until someone keeps it, and a crash of PostgreSQL during the
  replay loses nothing the log does not hold (replay again). So the rebuild writes no WAL for its
  rows, which at the national size would otherwise double its writes and flood the replicas and
  the WAL archive of a deployment with a copy of the register. A schema kept for inspection is
  made durable (:func:`make_durable`).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import time
import uuid
from collections.abc import Awaitable, Callable, Collection, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import asyncpg
import pydantic
from aiokafka import AIOKafkaConsumer, TopicPartition

from dtks_contracts.envelope import EventEnvelope
from dtks_runtime import event_store
from dtks_runtime.consumer import claim
from dtks_runtime.db import migrate
from dtks_runtime.event_sniff import sniff_event_type
from dtks_runtime.gc_policy import no_collections, rare_collections
from dtks_runtime.kafka_security import kafka_security
from dtks_runtime.provenance import ProvenanceCheck, ProvenanceError

# What a replay hands its events to: the consumer's BatchHandler (envelopes), or a handler of
# whatever the projection's own ``decode`` returns.
ProjectionHandler = Callable[[asyncpg.Connection, Sequence[Any]], Awaitable[None]]


@dataclass(frozen=True)
class ReplayReport:
    schema: str
    events_read: int
    events_applied: int  # handed to the projection: of its event types, each once (the inbox's) or as read
    seconds: float
    # Records no consumer could decode (dead-lettered live): (topic, partition, offset), passed over.
    undecodable: tuple[tuple[str, int, int], ...] = ()
    # Records whose producer is not their topic's owner (see dtks_runtime.provenance), when the
    # replay checks provenance: (topic, partition, offset, reason), passed over as the live
    # consumers dead-letter them.
    refused: tuple[tuple[str, int, int, str], ...] = ()


def fresh_schema_name(prefix: str = "replay") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


async def replay_into_schema(
    *,
    database_url: str,
    schema: str,
    migrations: Sequence[tuple[str, Sequence[str]]],
    kafka_bootstrap: str,
    topics: Sequence[str],
    handler: ProjectionHandler,
    batch_size: int = 5000,
    event_types: Collection[str] | None = None,
    decode: Callable[[bytes], Any] | None = None,
    workers: int = 1,
    provenance: ProvenanceCheck | None = None,
    deferred_indexes: Collection[str] = (),
) -> ReplayReport:
    """Replay ``topics`` from offset zero through ``handler`` into ``schema`` (created if missing).

    Over 60 lines with this docstring, which documents each parameter; the body is the schema's
    set-up, the fan-out to workers and the gathering of their reports.

    ``event_types``: the only types the handler reads (None: all). Events of other types are counted
    as read but neither decoded nor applied; the handler must ignore them anyway, so the tables come
    out the same.

    ``decode``: turns a record's bytes into what ``handler`` receives (with the ``event_type``
    attribute of an envelope), raising ValueError (or
    pydantic's ValidationError, a ValueError) for a record no consumer could apply: it is passed
    over and named in the report, as the live consumer dead-letters it. With ``decode`` there is no
    inbox: ``handler`` must be idempotent per event (keyed writes), which a redelivery then tests.

    ``workers``: processes that replay disjoint sets of partitions at once, each with its own
    connection (so the replay uses more than one core: parsing and validating is most of its
    cost). Sound because a projection may not depend on the interleaving of partitions (the
    replay already reads them in whatever order Kafka returns), and each aggregate's events share
    a partition; ``handler`` and ``decode`` must be module-level functions (they are pickled).

    ``provenance``: check that each record of the wanted types was signed by its topic's owner, and
    pass over (and report in ``refused``) those that were not, as the live consumer that checks
    provenance dead-letters them. Checked after the type sniff, so skipped types cost nothing more.

    ``deferred_indexes``: indexes of ``schema`` (by name) that ``handler`` does not read through,
    dropped while the events are applied and built again, whole, once they all are. Maintaining a
    btree row by row in random key order costs more than sorting once, and at the national size
    the indexes outgrow memory, where each insert becomes a random read. Names not in the schema
    are an error (a misspelt name would defer nothing, silently).
    """
    started = time.monotonic()
    conn = await asyncpg.connect(database_url, server_settings={"search_path": f'"{schema}"'})
    try:
        await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
        await event_store.install(conn)
        for component, steps in migrations:
            await migrate(conn, component, steps)
        await _set_persistence(conn, schema, "UNLOGGED")
        deferred = await _drop_indexes(conn, schema, deferred_indexes)
    finally:
        await conn.close()
    end = await _end_offsets(kafka_bootstrap, topics)
    groups = _split([tp for tp, offset in end.items() if offset > 0], end, max(1, workers))
    job = _Job(database_url, schema, kafka_bootstrap, handler, batch_size,
               frozenset(event_types) if event_types is not None else None, decode, provenance)  # fmt: skip
    if len(groups) <= 1:
        results = [await _replay_partitions(job, {tp: end[tp] for group in groups for tp in group})]
    else:
        loop = asyncio.get_running_loop()
        # spawn, not fork: the parent runs an event loop and Kafka's threads, which a fork would copy.
        with ProcessPoolExecutor(len(groups), mp_context=multiprocessing.get_context("spawn")) as pool:
            results = await asyncio.gather(
                *(
                    loop.run_in_executor(pool, _replay_in_process, job, {tp: end[tp] for tp in g})
                    for g in groups
                )
            )
    await _build_indexes(database_url, deferred)
    undecodable = tuple(sorted(u for r in results for u in r.undecodable))
    return ReplayReport(
        schema,
        sum(r.read for r in results),
        sum(r.applied for r in results),
        time.monotonic() - started,
        undecodable,
        tuple(sorted(u for r in results for u in r.refused)),
    )


async def _drop_indexes(conn: asyncpg.Connection, schema: str, names: Collection[str]) -> list[str]:
    """Drop the named indexes of ``schema``; their definitions, to build them again."""
    if not names:
        return []
    rows = await conn.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = $1 AND indexname = ANY($2::text[])",
        schema,
        list(names),
    )
    missing = set(names) - {r["indexname"] for r in rows}
    if missing:
        raise ValueError(f"deferred indexes not in schema {schema}: {', '.join(sorted(missing))}")
    for r in rows:
        await conn.execute(f'DROP INDEX "{schema}"."{r["indexname"]}"')
    return [r["indexdef"] for r in rows]


async def _build_indexes(database_url: str, definitions: Sequence[str]) -> None:
    """Build the deferred indexes (their definitions name their schema), each as one sort."""
    if not definitions:
        return
    conn = await asyncpg.connect(database_url)
    try:
        # The session's sort memory for the builds, not the server's (64 MB by default).
        await conn.execute("SET maintenance_work_mem = '256MB'")
        for definition in definitions:
            await conn.execute(definition)
    finally:
        await conn.close()


async def make_durable(database_url: str, schema: str) -> None:
    """Make a replay's tables logged (WAL-protected, replicated), for a schema that is kept."""
    conn = await asyncpg.connect(database_url)
    try:
        await _set_persistence(conn, schema, "LOGGED")
    finally:
        await conn.close()


async def _set_persistence(
    conn: asyncpg.Connection, schema: str, persistence: Literal["UNLOGGED", "LOGGED"]
) -> None:
    """Every table of ``schema`` not yet so, ``UNLOGGED`` or ``LOGGED`` (their sequences follow)."""
    current = "p" if persistence == "UNLOGGED" else "u"
    tables = await conn.fetch(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = $1 AND c.relkind = 'r' AND c.relpersistence::text = $2""",
        schema,
        current,
    )
    for t in tables:
        name = t["relname"].replace('"', '""')
        await conn.execute(f'ALTER TABLE "{schema}"."{name}" SET {persistence}')


_QUEUED = 2  # decoded batches waiting for the writer
_MERGED = 2  # batches the writer takes into one transaction when they have queued up


@dataclass(frozen=True)
class _Job:
    """What a worker needs to replay its partitions (picklable: the handler and decoder are
    module-level functions)."""

    database_url: str
    schema: str
    kafka_bootstrap: str
    handler: ProjectionHandler
    batch_size: int
    wanted: frozenset[str] | None
    decode: Callable[[bytes], Any] | None
    provenance: ProvenanceCheck | None = None


@dataclass
class _Outcome:
    """What one worker did: records read, events applied, records passed over."""

    read: int = 0
    applied: int = 0
    undecodable: list[tuple[str, int, int]] = field(default_factory=list)
    refused: list[tuple[str, int, int, str]] = field(default_factory=list)


async def _end_offsets(kafka_bootstrap: str, topics: Sequence[str]) -> dict[TopicPartition, int]:
    """The end of every partition of ``topics`` now: the replay reads up to there and no further."""
    reader = AIOKafkaConsumer(
        bootstrap_servers=kafka_bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **kafka_security(),
    )
    await reader.start()
    try:
        await reader._client.force_metadata_update()
        tps = [TopicPartition(t, p) for t in topics for p in sorted(reader.partitions_for_topic(t) or ())]
        return dict(await reader.end_offsets(tps)) if tps else {}
    finally:
        await reader.stop()


def _split(
    tps: Sequence[TopicPartition], end: dict[TopicPartition, int], workers: int
) -> list[list[TopicPartition]]:
    """Partitions in ``workers`` groups of about equal numbers of records (largest first, each to
    the group with the fewest so far)."""
    groups: list[list[TopicPartition]] = [[] for _ in range(min(workers, len(tps)))]
    sizes = [0] * len(groups)
    for tp in sorted(tps, key=lambda tp: (-end[tp], tp)):
        k = sizes.index(min(sizes))
        groups[k].append(tp)
        sizes[k] += end[tp]
    return [g for g in groups if g]


def _replay_in_process(job: _Job, end: dict[TopicPartition, int]) -> _Outcome:
    no_collections()  # a worker lives for this replay only (see dtks_runtime.gc_policy)
    return asyncio.run(_replay_partitions(job, end))


async def _replay_partitions(job: _Job, end: dict[TopicPartition, int]) -> _Outcome:
    """Read ``end``'s partitions from offset zero up to their end."""
    outcome = _Outcome()
    if not end:
        return outcome
    with rare_collections():
        conn = await asyncpg.connect(
            job.database_url,
            # Unlogged tables (see the module's docstring): nothing to wait for at commit.
            server_settings={"search_path": f'"{job.schema}"', "synchronous_commit": "off"},
        )
        reader = AIOKafkaConsumer(
            bootstrap_servers=job.kafka_bootstrap,
            enable_auto_commit=False,
            isolation_level="read_committed",
            **kafka_security(),  # from the environment, in the worker processes too
        )
        try:
            await reader.start()
            reader.assign(list(end))
            await reader.seek_to_beginning(*end)
            # A few batches in flight: enough to keep both sides busy, bounded memory. A worker holds
            # at most one batch being read, _QUEUED waiting and _MERGED in its transaction, decoded:
            # with the register's whole households, 4 and 4 held some 0.4-0.5 GB per worker.
            queue: asyncio.Queue[list[Any] | None] = asyncio.Queue(maxsize=_QUEUED)
            decode = job.decode or EventEnvelope.from_bytes
            try:
                async with asyncio.TaskGroup() as tasks:
                    reading = tasks.create_task(
                        _read(reader, end, job.wanted, job.batch_size, queue, outcome, decode, job.provenance)
                    )
                    writing = tasks.create_task(
                        _write(
                            conn,
                            job.handler,
                            queue,
                            max_events=_MERGED * job.batch_size,
                            inbox=job.decode is None,
                        )
                    )
            except ExceptionGroup as failed:
                # Callers see the failure itself (an undecodable event, a lost connection), as before
                # the reader and the writer became two tasks.
                raise failed.exceptions[0] from None
            outcome.read, outcome.applied = reading.result(), writing.result()
            return outcome
        finally:
            await reader.stop()
            await conn.close()


async def _read(
    reader: AIOKafkaConsumer,
    end: dict[TopicPartition, int],
    wanted: frozenset[str] | None,
    batch_size: int,
    queue: asyncio.Queue[list[Any] | None],
    outcome: _Outcome,
    decode: Callable[[bytes], Any],
    provenance: ProvenanceCheck | None,
) -> int:
    """Fetch up to the end offsets taken at the start, decode the wanted events, queue them."""
    remaining = {tp for tp, offset in end.items() if offset > 0}
    read = 0
    while remaining:
        batches = await reader.getmany(*remaining, timeout_ms=2000, max_records=batch_size)
        if not batches:
            # Transaction markers can leave the last offsets without records: check positions.
            for tp in list(remaining):
                if await reader.position(tp) >= end[tp]:
                    remaining.discard(tp)
            continue
        events: list[Any] = []
        for tp, records in batches.items():
            last = end[tp]
            for r in records:
                if r.offset >= last or r.value is None:
                    continue
                read += 1
                if wanted is not None:
                    sniffed = sniff_event_type(r.value)
                    if sniffed is not None and sniffed not in wanted:
                        continue
                try:
                    signer = (
                        provenance.signer(r.topic, r.headers, r.value) if provenance is not None else None
                    )
                    event = decode(r.value)
                    if signer is not None:
                        ProvenanceCheck.check_event_type(signer, event.event_type)
                except ProvenanceError as refused:
                    outcome.refused.append((tp.topic, tp.partition, r.offset, str(refused)))
                    continue
                except (ValueError, pydantic.ValidationError):
                    # The live consumers dead-lettered this record and applied nothing; the log
                    # keeps it forever, so the replay passes it too (and counts it) rather than
                    # failing every audit from now on.
                    outcome.undecodable.append((tp.topic, tp.partition, r.offset))
                    continue
                if wanted is None or event.event_type in wanted:
                    events.append(event)
            if records[-1].offset >= last - 1:
                remaining.discard(tp)
        if events:
            await queue.put(events)
    await queue.put(None)
    return read


async def _write(
    conn: asyncpg.Connection,
    handler: ProjectionHandler,
    queue: asyncio.Queue[list[Any] | None],
    max_events: int,
    inbox: bool,
) -> int:
    """Apply queued batches, each event once (inbox, or the handler's keys), merging what has queued up."""
    applied = 0
    done = False
    while not done:
        batch = await queue.get()
        if batch is None:
            break
        events = list(batch)
        while len(events) < max_events and not queue.empty():
            more = queue.get_nowait()
            if more is None:
                done = True
                break
            events.extend(more)
        async with conn.transaction():
            if inbox:
                events = [events[k] for k in await claim(conn, "replay", [(e, "", 0, 0) for e in events])]
            await handler(conn, events)
        applied += len(events)
    return applied
