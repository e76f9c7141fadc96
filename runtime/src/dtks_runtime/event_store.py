"""The event store: append-only streams in PostgreSQL, read back per stream or in one global order.

The ``events`` table is also the transactional outbox. A service changes its state and appends
its events on one connection in one transaction, so both commit or neither does; the relay
(:mod:`dtks_runtime.outbox_relay`) then publishes them to Kafka.

How the outbox avoids the gap. A sequence number handed out at insert becomes visible only at
commit, so a slow transaction's row (41) can appear after a quick one's (42) was already read, and
a relay that remembers "the highest number I published" skips it forever. We never keep such a
cursor. Every row is inserted *unpublished* (``position IS NULL``); the relay publishes whatever
committed rows are still unpublished, in insertion order (``seq``), and only after Kafka
acknowledged them gives them their ``position``, so a row that commits late is simply picked up
by the next batch. ``position`` is then the one global order: publication order, handed out by
the single active relay, gap-free and stable, which is what a cursor reader (``read_published``)
needs. Per-stream order holds because a writer can append version v+1 only after it saw v
committed, so v was inserted (and got its ``seq``) first.

We chose this over a table lock that serializes appends until commit (the eventsourcing library's
way): that lock makes every commit wait for the previous one's disk flush, capping a service at a
few hundred append transactions per second and defeating PostgreSQL's group commit; and over
high-water-mark gap detection (Marten, Axon), which needs timeouts to tell a slow transaction
from a rolled-back one. The price is one UPDATE per published batch.
"""

from __future__ import annotations

import contextlib
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from pydantic import BaseModel

from dtks_contracts.envelope import Actor, EventEnvelope
from dtks_contracts.events import UnknownEventTypeError
from dtks_runtime.db import migrate
from dtks_runtime.sql_arrays import unnest_literals
from dtks_runtime.telemetry import current_trace_context

NOTIFY_CHANNEL = "dtks_events"

MIGRATIONS = [
    """
    CREATE TABLE events (
        seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- insertion order
        position        bigint UNIQUE,  -- publication order; NULL until the relay published it
        stream_id       text        NOT NULL,
        stream_version  integer     NOT NULL CHECK (stream_version > 0),
        event_id        uuid        NOT NULL UNIQUE,
        event_type      text        NOT NULL,
        topic           text        NOT NULL,
        partition_key   text        NOT NULL,
        envelope        jsonb       NOT NULL,
        recorded_at     timestamptz NOT NULL DEFAULT now(),
        UNIQUE (stream_id, stream_version)
    )
    """,
    # The relay's work list stays small however long the log grows.
    "CREATE INDEX events_unpublished ON events (seq) WHERE position IS NULL",
    """
    CREATE TABLE inbox (
        consumer      text        NOT NULL,
        event_id      uuid        NOT NULL,
        topic         text        NOT NULL,
        kafka_partition integer   NOT NULL,
        kafka_offset  bigint      NOT NULL,
        processed_at  timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (consumer, event_id)
    )
    """,
    # Event id first: ids are unique across consumers, so each index descent is decided by the
    # uuid and the consumer name is compared (under the database's collation) only on a real
    # duplicate. Measured on 10k-row batches: about 17% less time per inbox insert.
    "ALTER TABLE inbox DROP CONSTRAINT inbox_pkey, ADD PRIMARY KEY (event_id, consumer)",
    # Envelopes over 2 KB (decree chunks, overdue notices, bulk results) are compressed with LZ4
    # rather than pglz: the overdue scan's statements over a million items took 3.8 s instead of
    # 4.5. New rows only; a server built without LZ4 keeps pglz.
    """
    DO $$ BEGIN
        ALTER TABLE events ALTER COLUMN envelope SET COMPRESSION lz4;
    EXCEPTION WHEN feature_not_supported THEN NULL;
    END $$
    """,
]


async def install(conn: asyncpg.Connection) -> None:
    """Create the runtime's tables (events, which is also the outbox, and inbox) in the current database."""
    await migrate(conn, "dtks_runtime", MIGRATIONS)


class ConcurrencyConflict(Exception):
    """Another writer appended to the stream first. Reload the aggregate and decide again."""

    def __init__(self, stream_id: str, expected: int, actual: int | None) -> None:
        self.stream_id, self.expected, self.actual = stream_id, expected, actual
        seen = "a concurrent append" if actual is None else f"version {actual}"
        super().__init__(f"stream {stream_id}: expected version {expected}, found {seen}")


@dataclass(frozen=True)
class NewEvent:
    """An event a handler decided on, before the store gives it an id, a version and a time."""

    event_type: str
    schema_version: int
    payload: dict[str, Any]

    @classmethod
    def of(cls, payload: BaseModel) -> NewEvent:
        """From a contracts payload model carrying ``event_type`` and ``schema_version`` class vars."""
        return cls(
            event_type=payload.event_type,  # type: ignore[attr-defined]
            schema_version=payload.schema_version,  # type: ignore[attr-defined]
            payload=payload.model_dump(mode="json"),
        )


@dataclass(frozen=True)
class Causation:
    """Who caused the events and in answer to what: carried into every envelope."""

    actor: Actor | None = None
    correlation_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    causation_id: str | None = None
    # The W3C trace context to record; None: the active span's. Given when the events are appended
    # on behalf of a request from another task (a group commit of concurrent submissions).
    trace_context: Mapping[str, str] | None = None

    @classmethod
    def following(cls, event: EventEnvelope, actor: Actor | None = None) -> Causation:
        """Events caused by consuming ``event``: same correlation, caused by that event."""
        return cls(actor=actor, correlation_id=event.correlation_id, causation_id=str(event.event_id))


Resolver = Callable[[EventEnvelope], str]


@dataclass(frozen=True)
class StreamAppend:
    """The events for one stream in an :meth:`EventStore.append_many`."""

    aggregate_type: str
    aggregate_id: str
    expected_version: int
    events: Sequence[NewEvent]
    # This stream's own cause, when streams of one call answer different flows (the notification
    # sender records attempts for notifications of many events at once); None: the call's causation.
    causation: Causation | None = None


@dataclass(frozen=True)
class PreparedAppend:
    """Appends built into envelopes and serialized, not yet written (:meth:`EventStore.prepare_many`,
    then :meth:`EventStore.insert_prepared`). One entry per event in each tuple but ``expected``."""

    envelopes: tuple[EventEnvelope, ...]
    stream_ids: tuple[str, ...]
    topics: tuple[str, ...]
    keys: tuple[str, ...]
    bodies: tuple[str, ...]  # each envelope's JSON, as the log stores it
    expected: tuple[tuple[str, int], ...]  # (stream id, version) of each stream that must exist at it

    @classmethod
    def joined(cls, parts: Sequence[PreparedAppend]) -> PreparedAppend:
        """Several prepared in turn, written as one (each stream still once in all)."""
        streams = [set(p.stream_ids) for p in parts]  # each part names its streams once already
        if len(set[str]().union(*streams)) != sum(map(len, streams)):
            raise ValueError("append_many: each stream may appear once; put its events in one StreamAppend")
        return cls(
            envelopes=tuple(e for p in parts for e in p.envelopes),
            stream_ids=tuple(s for p in parts for s in p.stream_ids),
            topics=tuple(t for p in parts for t in p.topics),
            keys=tuple(k for p in parts for k in p.keys),
            bodies=tuple(b for p in parts for b in p.bodies),
            expected=tuple(x for p in parts for x in p.expected),
        )


@dataclass(frozen=True)
class SelectedAppend:
    """Events of one type, one per row of a query the caller writes, appended by the same statement
    that selects them (:meth:`EventStore.append_selected`).

    For appends too many to build one by one in Python (an overdue scan announces hundreds of
    thousands of waiting items at once, in the same process as the service's requests): here
    PostgreSQL builds the envelopes around the payloads, and nothing per event runs in Python.

    ``ctes`` are the WITH entries the statement starts with (``name AS (...)``, comma-separated);
    they may lock, insert and update the caller's own tables, so a state change and its events are
    one statement in the caller's transaction. ``source`` names the entry whose rows are the events,
    with the columns ``aggregate_id`` (text), ``aggregate_version`` (integer: the stream's next
    version, 1 for a new stream; a stream may have several rows with consecutive versions),
    ``partition_key`` (text: the record key the store's key resolver gives such an event) and
    ``payload`` (jsonb: the payload as its contract's model dumps it). ``result`` is a SELECT list
    over the entries, returned beside ``appended``, the count of events appended.
    """

    aggregate_type: str
    event_type: str
    schema_version: int
    ctes: str
    source: str
    result: str = "NULL AS nothing"
    # Wake the outbox relay at commit (pg_notify), as every other append does. False for a bulk
    # append that can wait for the relay's idle poll (half a second): a NOTIFY takes a database-wide
    # lock at commit, held through the commit's WAL flush, that every notifying transaction queues
    # on, so a large commit that notifies holds up the officers' small ones behind it.
    wake_relay: bool = True


# The unique key that refuses a second writer of one stream version (see the table above).
_STREAM_VERSION_KEY = "events_stream_id_stream_version_key"
_DUPLICATE_KEY = re.compile(r"\(stream_id, stream_version\)=\((?P<stream>.*), (?P<version>\d+)\)")


class EventStore:
    def __init__(self, topic_for: Resolver, key_for: Resolver | None = None) -> None:
        # Which topic each event goes to and with which record key. The contracts define both
        # (dtks_contracts.topics); the default key, the aggregate id, keeps a stream in order.
        self._topic_for = topic_for
        self._key_for = key_for or (lambda e: e.aggregate_id)

    async def append(
        self,
        conn: asyncpg.Connection,
        *,
        aggregate_type: str,
        aggregate_id: str,
        expected_version: int,
        events: Sequence[NewEvent],
        causation: Causation,
    ) -> list[EventEnvelope]:
        """Append ``events`` to the stream if it is still at ``expected_version`` (0: a new stream).

        Must run inside the caller's transaction, so the caller's state change commits with it.
        Raises :class:`ConcurrencyConflict` if another writer got there first: never overwrites.
        """
        return await self.append_many(
            conn,
            [StreamAppend(aggregate_type, aggregate_id, expected_version, events)],
            causation=causation,
        )

    async def append_many(
        self, conn: asyncpg.Connection, appends: Sequence[StreamAppend], *, causation: Causation
    ) -> list[EventEnvelope]:
        """Append to many streams at once, all or nothing, with one version check and one insert.

        For commands that change many aggregates together (a decree registering hundreds of
        thousands of households): one append per stream would cost several round trips each.
        Same rules as :meth:`append`: inside the caller's transaction, and a
        :class:`ConcurrencyConflict` if any stream moved. :meth:`prepare_many` and
        :meth:`insert_prepared` are its two halves, for a caller that builds one batch while the
        database writes the one before.
        """
        if not conn.is_in_transaction():
            raise RuntimeError("append must run inside a transaction (state and events commit together)")
        prepared = self.prepare_many(appends, causation=causation)
        await self.insert_prepared(conn, prepared)
        return list(prepared.envelopes)

    def prepare_many(self, appends: Sequence[StreamAppend], *, causation: Causation) -> PreparedAppend:
        """The envelopes of ``appends``, with their ids, versions, topics, keys and JSON: everything
        :meth:`append_many` does in Python, and nothing in the database."""
        appends = [a for a in appends if a.events]
        stream_ids = [f"{a.aggregate_type}:{a.aggregate_id}" for a in appends]
        if len(set(stream_ids)) != len(stream_ids):
            raise ValueError("append_many: each stream may appear once; put its events in one StreamAppend")
        now = datetime.now(UTC)
        trace_context = current_trace_context()
        rows: list[tuple[str, EventEnvelope]] = []
        for stream_id, a in zip(stream_ids, appends, strict=True):
            cause = a.causation or causation
            for i, e in enumerate(a.events, start=1):
                rows.append(
                    (
                        stream_id,
                        EventEnvelope(
                            event_id=uuid.uuid4(),
                            event_type=e.event_type,
                            schema_version=e.schema_version,
                            aggregate_type=a.aggregate_type,
                            aggregate_id=a.aggregate_id,
                            aggregate_version=a.expected_version + i,
                            occurred_at=now,
                            actor=cause.actor,
                            correlation_id=cause.correlation_id,
                            causation_id=cause.causation_id,
                            trace_context=trace_context
                            if cause.trace_context is None
                            else dict(cause.trace_context),
                            payload=e.payload,
                        ),
                    )
                )
        return PreparedAppend(
            envelopes=tuple(e for _, e in rows),
            stream_ids=tuple(s for s, _ in rows),
            topics=tuple(self._topic_for(e) for _, e in rows),
            keys=tuple(self._key_for(e) for _, e in rows),
            bodies=tuple(e.model_dump_json() for _, e in rows),
            # Streams expected to be new need no read: any existing stream has a version 1, so
            # inserting version 1 again breaks UNIQUE (stream_id, stream_version) and surfaces as a
            # conflict. That saves a round trip for every new proposal, household or notification.
            expected=tuple((s, a.expected_version) for s, a in zip(stream_ids, appends, strict=True)
                           if a.expected_version != 0),
        )  # fmt: skip

    async def insert_prepared(self, conn: asyncpg.Connection, prepared: PreparedAppend) -> None:
        """Write what :meth:`prepare_many` built: the version check of the streams not new, then one
        insert. Inside the caller's transaction; :class:`ConcurrencyConflict` if any stream moved."""
        if not conn.is_in_transaction():
            raise RuntimeError("append must run inside a transaction (state and events commit together)")
        if not prepared.envelopes:
            return
        if prepared.expected:
            rows = await conn.fetch(
                """SELECT stream_id, max(stream_version) AS v FROM events
                   WHERE stream_id = ANY($1::text[]) GROUP BY stream_id""",
                [s for s, _ in prepared.expected],
            )
            current = {r["stream_id"]: r["v"] for r in rows}
            for stream_id, expected in prepared.expected:
                if current.get(stream_id, 0) != expected:
                    raise ConcurrencyConflict(stream_id, expected, current.get(stream_id, 0))
        try:
            # ORDER BY ordinality: seq follows the given order, so a stream's versions stay in order.
            # The relay's wake-up NOTIFY rides in the same statement (one round trip, not two); it is
            # delivered at commit, like the rows.
            await conn.execute(
                f"""WITH inserted AS (
                        INSERT INTO events (stream_id, stream_version, event_id, event_type, topic,
                                            partition_key, envelope)
                        SELECT s, v, id, t, tp, k, env::jsonb
                        FROM unnest($1::text[], $2::int[], $3::uuid[], $4::text[], $5::text[], $6::text[],
                                    $7::text[]) WITH ORDINALITY AS x(s, v, id, t, tp, k, env, n)
                        ORDER BY n
                    )
                    SELECT pg_notify('{NOTIFY_CHANNEL}', '')""",
                prepared.stream_ids,
                [e.aggregate_version for e in prepared.envelopes],
                [e.event_id for e in prepared.envelopes],
                [e.event_type for e in prepared.envelopes],
                prepared.topics,
                prepared.keys,
                prepared.bodies,
            )
        except asyncpg.UniqueViolationError as exc:
            # A writer that read the same version committed first: surface it, never drop events.
            first = prepared.envelopes[0]
            raise ConcurrencyConflict(prepared.stream_ids[0], first.aggregate_version - 1, None) from exc

    async def append_selected(
        self,
        conn: asyncpg.Connection,
        selected: SelectedAppend,
        args: Sequence[object] = (),
        *,
        causation: Causation,
    ) -> dict[str, Any]:
        """Run the caller's statement and append one event per row of its ``source`` (see
        :class:`SelectedAppend`), all in one statement inside the caller's transaction; ``args``
        are its parameters $1, $2, ... Returns ``appended`` and the columns of ``result``.

        The same rules as :meth:`append_many`, checked in SQL: a row's stream must be at the version
        before the row's (in the log, or by a row before it in the same statement), else
        :class:`ConcurrencyConflict`, and the caller's transaction must be rolled back (leaving the
        unit of work with the exception does that). A version already taken is refused by the
        log's unique key; the version before is looked for by a second statement, whose snapshot
        sees what writers committed while the first ran (a caller that locks its rows, as it
        must, may be handed rows another writer moved on meanwhile). One appended envelope, read back, is checked
        against the contracts (its payload too, for an event type they know) and against the
        store's topic and key resolvers, so a query that builds them wrongly fails at once instead
        of publishing.

        Over 60 lines because building the envelopes in SQL, the version checks (the unique key, then the
        gap check with a fresh snapshot) and the read-back check of one envelope against the contracts are
        one guarded sequence; each step explains the one after it.
        """
        if not conn.is_in_transaction():
            raise RuntimeError("append must run inside a transaction (state and events commit together)")
        template = EventEnvelope(
            event_id=uuid.UUID(int=0),
            event_type=selected.event_type,
            schema_version=selected.schema_version,
            aggregate_type=selected.aggregate_type,
            aggregate_id=selected.aggregate_type,
            aggregate_version=1,
            occurred_at=datetime.now(UTC),
            actor=causation.actor,
            correlation_id=causation.correlation_id,
            causation_id=causation.causation_id,
            trace_context=current_trace_context()
            if causation.trace_context is None
            else dict(causation.trace_context),
            payload={},
        )
        per_row = {"event_id", "aggregate_id", "aggregate_version", "payload"}
        common = template.model_dump_json(exclude=per_row)
        n = len(args)
        prefix, event_type, topic, envelope = (f"${n + i}" for i in range(1, 5))
        notify = f"(SELECT pg_notify('{NOTIFY_CHANNEL}', '') FROM _sample)" if selected.wake_relay else "NULL"

        statement = f"""
            WITH {selected.ctes},
            _rows AS (
                SELECT s.aggregate_id, s.aggregate_version, s.partition_key, s.payload,
                       gen_random_uuid() AS event_id,
                       lag(s.aggregate_version) OVER (PARTITION BY s.aggregate_id
                                                      ORDER BY s.aggregate_version) AS previous
                FROM {selected.source} s
            ),
            -- Rows whose version before is not a row before them here: the log must have it, which
            -- the next statement checks (this one's snapshot may predate the commit that wrote it).
            _unchained AS (
                SELECT r.aggregate_id, r.aggregate_version FROM _rows r
                WHERE r.aggregate_version > 1 AND r.previous IS DISTINCT FROM r.aggregate_version - 1
            ),
            _appended AS (
                INSERT INTO events (stream_id, stream_version, event_id, event_type, topic, partition_key,
                                    envelope)
                SELECT {prefix} || r.aggregate_id, r.aggregate_version, r.event_id, {event_type}, {topic},
                       r.partition_key,
                       {envelope}::jsonb || jsonb_build_object(
                           'event_id', r.event_id, 'aggregate_id', r.aggregate_id,
                           'aggregate_version', r.aggregate_version, 'payload', r.payload)
                FROM _rows r
                -- seq in version order, so a stream's versions are published in order
                ORDER BY r.aggregate_version, r.aggregate_id
                RETURNING envelope, topic, partition_key
            ),
            _sample AS (SELECT envelope::text AS envelope, topic, partition_key FROM _appended LIMIT 1)
            SELECT (SELECT count(*) FROM _appended) AS appended,
                   (SELECT array_agg(aggregate_id ORDER BY aggregate_id, aggregate_version)::text
                    FROM _unchained) AS _unchained_ids,
                   (SELECT array_agg(aggregate_version ORDER BY aggregate_id, aggregate_version)::text
                    FROM _unchained) AS _unchained_versions,
                   (SELECT envelope FROM _sample) AS _sample_envelope,
                   (SELECT topic FROM _sample) AS _sample_topic,
                   (SELECT partition_key FROM _sample) AS _sample_key,
                   {notify} AS _notified,
                   {selected.result}"""
        try:
            row = await conn.fetchrow(
                statement,
                *args,
                f"{selected.aggregate_type}:",
                selected.event_type,
                self._topic_for(template),
                common,
            )
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name != _STREAM_VERSION_KEY:
                raise
            found = _DUPLICATE_KEY.search(exc.detail or "")
            stream_id = found["stream"] if found else f"{selected.aggregate_type}:?"
            version = int(found["version"]) - 1 if found else 0
            raise ConcurrencyConflict(stream_id, version, None) from exc
        assert row is not None
        if row["_unchained_ids"] is not None:
            gap = await conn.fetchrow(
                f"""SELECT x.id, x.version FROM {unnest_literals("text", "int")} AS x(id, version)
                    WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.stream_id = $3 || x.id
                                                            AND e.stream_version = x.version - 1)
                    LIMIT 1""",
                row["_unchained_ids"],
                row["_unchained_versions"],
                f"{selected.aggregate_type}:",
            )
            if gap is not None:
                raise ConcurrencyConflict(f"{selected.aggregate_type}:{gap['id']}", gap["version"] - 1, None)
        if row["_sample_envelope"] is not None:
            self._check_sample(row["_sample_envelope"], row["_sample_topic"], row["_sample_key"])
        return {k: v for k, v in row.items() if not k.startswith("_")}

    def _check_sample(self, envelope_json: str, topic: str, key: str) -> None:
        envelope = EventEnvelope.from_bytes(envelope_json)
        # An event type of the caller's own (the tests') is one the contracts cannot check.
        with contextlib.suppress(UnknownEventTypeError):
            envelope.typed_payload()
        expected = (self._topic_for(envelope), self._key_for(envelope))
        if (topic, key) != expected:
            raise ValueError(
                f"selected {envelope.event_type} events went to topic {topic!r} with key {key!r}, "
                f"where the store sends them to {expected[0]!r} with key {expected[1]!r}"
            )

    async def read_stream(
        self, conn: asyncpg.Connection, aggregate_type: str, aggregate_id: str
    ) -> list[EventEnvelope]:
        rows = await conn.fetch(
            "SELECT envelope::text AS e FROM events WHERE stream_id = $1 ORDER BY stream_version",
            f"{aggregate_type}:{aggregate_id}",
        )
        return [EventEnvelope.from_bytes(r["e"]) for r in rows]

    async def read_published(
        self, conn: asyncpg.Connection, after_position: int = 0, limit: int = 1000
    ) -> list[tuple[int, EventEnvelope]]:
        """Published events after ``after_position`` in the one global order: a gap-free cursor."""
        rows = await conn.fetch(
            """SELECT position, envelope::text AS e FROM events
               WHERE position > $1 ORDER BY position LIMIT $2""",
            after_position,
            limit,
        )
        return [(r["position"], EventEnvelope.from_bytes(r["e"])) for r in rows]

    async def read_all(
        self, conn: asyncpg.Connection, after_seq: int = 0, limit: int = 1000
    ) -> list[tuple[int, EventEnvelope]]:
        """Every committed event in insertion order (``seq``), published or not.

        A snapshot for audits and tests, not a cursor over a live store: a slow transaction can
        still commit a lower ``seq`` after this read. Follow a live store with ``read_published``.
        """
        rows = await conn.fetch(
            "SELECT seq, envelope::text AS e FROM events WHERE seq > $1 ORDER BY seq LIMIT $2",
            after_seq,
            limit,
        )
        return [(r["seq"], EventEnvelope.from_bytes(r["e"])) for r in rows]
