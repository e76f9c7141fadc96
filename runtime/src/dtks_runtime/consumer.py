"""Consumers with effectively-once effects: inbox and effect in one transaction, offsets after.

For every batch that ``getmany`` returns, in one PostgreSQL transaction:
1. record each event in the ``inbox`` (keyed by consumer and event id); events already there were
   applied before (a redelivery after a crash or a rebalance) and are skipped;
2. apply the handler to the new events;
3. commit the transaction, and only then commit the Kafka offsets (last processed + 1).
A crash anywhere before 3 leaves neither the effect nor the inbox rows; a crash after it but
before the offset commit redelivers events that the inbox then discards. So an effect is applied
exactly once, and nothing is skipped because offsets never run ahead of effects.

A batch handler that fails is retried event by event, each in its own savepoint, so one poison
event cannot hold back its neighbours. An event that cannot be decoded, fails validation, or still
fails after bounded retries with exponential backoff goes to the consumer's dead-letter topic with
the error, the original bytes and headers, and the consumer moves on. ``dtks-dead-letters replay``
sends it back through the consumer's own retry topic (see :mod:`dtks_runtime.dead_letters`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pydantic
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError

from dtks_contracts.envelope import EventEnvelope
from dtks_runtime.event_sniff import sniff_event_type
from dtks_runtime.kafka_security import kafka_security
from dtks_runtime.outbox_relay import producer_for
from dtks_runtime.provenance import ProvenanceCheck, ProvenanceError
from dtks_runtime.telemetry import bound, consumer_span, get_logger
from dtks_runtime.topics import dead_letter_topic, retry_topic

log = get_logger(__name__)

# Records decoded between two turns of the event loop in the read-ahead. The batch being applied
# waits for the chunk in hand each time PostgreSQL answers it, so a chunk must be short next to a
# round trip: 500 records of proposals (about 60 ms) added some 100 ms to each of verification's
# 1,500-event batches; 64 keep that wait to a few milliseconds.
DECODE_CHUNK = 64

BatchHandler = Callable[[asyncpg.Connection, Sequence[EventEnvelope]], Awaitable[None]]
EventHandler = Callable[[asyncpg.Connection, EventEnvelope], Awaitable[None]]


async def claim(
    conn: asyncpg.Connection, consumer: str, deliveries: Sequence[tuple[EventEnvelope, str, int, int]]
) -> list[int]:
    """Record deliveries (event, topic, partition, offset) in the inbox of ``consumer``.

    Returns the indexes of the deliveries seen for the first time, in order: the ones to apply.
    An event already in the inbox, or met twice in the same batch (a replayed dead letter beside
    its original), is claimed once.
    """
    if not deliveries:
        return []
    rows = await conn.fetch(
        """INSERT INTO inbox (consumer, event_id, topic, kafka_partition, kafka_offset)
           SELECT $1, id, t, p, o FROM unnest($2::uuid[], $3::text[], $4::int[], $5::bigint[]) AS x(id, t, p, o)
           ON CONFLICT DO NOTHING RETURNING event_id""",
        consumer,
        [d[0].event_id for d in deliveries],
        [d[1] for d in deliveries],
        [d[2] for d in deliveries],
        [d[3] for d in deliveries],
    )
    new_ids = {r["event_id"] for r in rows}
    fresh: list[int] = []
    for index, (event, *_rest) in enumerate(deliveries):
        if event.event_id in new_ids:
            new_ids.discard(event.event_id)
            fresh.append(index)
    return fresh


class PoisonEvent(Exception):
    """Raised by a handler for an event it can never apply: dead-lettered without retries."""


def only_types(event_types: Collection[str], handler: BatchHandler) -> BatchHandler:
    """``handler`` given only the events of ``event_types``: a consumer that acts on few of its
    topic's types (DCI on the registry's decrees among its households' events) then spends no span
    or call on the rest, which the consumer still records as consumed."""
    wanted = frozenset(event_types)

    async def apply(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        chosen = [e for e in events if e.event_type in wanted]
        if chosen:
            await handler(conn, chosen)

    return apply


def per_event(handler: EventHandler) -> BatchHandler:
    """Adapt a handler of one event to the batch interface, with a span and log context per event."""

    async def apply(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        for event in events:
            with (
                bound(event_id=str(event.event_id), correlation_id=event.correlation_id),
                consumer_span(
                    f"consume {event.event_type}",
                    event.trace_context,
                    {"messaging.system": "kafka", "dtks.event_id": str(event.event_id)},
                ),
            ):
                await handler(conn, event)

    return apply


@dataclass
class _Item:
    record: ConsumerRecord
    event: EventEnvelope | None
    error: str | None = None
    passed_by: bool = False  # of a type the consumer does not read: consumed, never decoded


@dataclass
class _Fetched:
    batches: dict[TopicPartition, list[ConsumerRecord]]
    items: list[_Item]


@dataclass
class ConsumerStats:
    applied: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    batches: int = 0
    committed: int = 0  # records whose batch transaction committed (applied, duplicate or dead)
    passed_by: int = 0  # records of types the consumer does not read (``event_types``), never decoded
    last_poll: float = field(default_factory=time.monotonic)


class _WaitForBatch(ConsumerRebalanceListener):
    """Lets the batch in flight finish (effect and offsets) before partitions are handed over."""

    def __init__(self, idle: asyncio.Event) -> None:
        self.idle = idle

    async def on_partitions_revoked(self, revoked: object) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self.idle.wait(), 30)

    async def on_partitions_assigned(self, assigned: object) -> None:
        return None


class EventConsumer:
    def __init__(
        self,
        *,
        name: str,
        topics: Sequence[str],
        handler: BatchHandler,
        pool: asyncpg.Pool,
        kafka_bootstrap: str,
        topic_prefix: str = "",
        max_records: int = 2000,
        max_attempts: int = 4,
        backoff_seconds: float = 0.1,
        decode: Callable[[bytes], EventEnvelope] = EventEnvelope.from_bytes,
        provenance: ProvenanceCheck | None = None,
        security: Mapping[str, Any] | None = None,
        event_types: Collection[str] | None = None,
    ) -> None:
        self.name = name  # the consumer group, and the inbox's consumer key
        self.topics = list(topics)
        self.handler = handler
        self.pool = pool
        self.kafka_bootstrap = kafka_bootstrap
        self.dead_letter_topic = dead_letter_topic(name, topic_prefix)
        self.retry_topic = retry_topic(name, topic_prefix)
        self.max_records = max_records
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        # A record's bytes to the envelope the handler gets. It runs in the read-ahead, while the
        # previous batch is being applied: a service may return an EventEnvelope subclass that
        # carries what its handler would otherwise compute from each event in the transaction (the
        # typed payload, say). ValueError (pydantic's ValidationError is one) dead-letters the record.
        self.decode = decode
        # Records not signed by the owner of their topic and event type are dead-lettered with the
        # reason instead of applied (see dtks_runtime.provenance); None accepts whatever is on the topic.
        self.provenance = provenance
        # The only types the handler reads (None: all). A record whose bytes prove it another type
        # (dtks_runtime.event_sniff) is consumed without being decoded, checked or put in the inbox:
        # the handler would pass it by anyway, and most of a busy topic is such records (the
        # registry reads one event in several of verification's). Its offset is committed with its
        # batch, as every record's is.
        self.event_types = None if event_types is None else frozenset(event_types)
        self.security = kafka_security() if security is None else security  # the service's login
        self.stats = ConsumerStats()
        self._idle = asyncio.Event()
        self._idle.set()
        self._consumer: AIOKafkaConsumer | None = None
        # Next offset to apply per partition, as of the last committed batch: lag is measured from
        # here, not from the fetch position, which runs a batch ahead while one is being applied.
        self._applied: dict[TopicPartition, int] = {}

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; the batch in flight always finishes first.

        A failure outside a batch (the broker unreachable when the consumer starts, an error the
        client does not retry itself) starts a fresh client after a pause that grows to 10 s,
        instead of ending the task: the service recovers on its own once the broker is back.
        Nothing is lost or applied twice by it: offsets were committed after their effects only.
        """
        backoff = 0.5
        while not stop.is_set():
            started = time.monotonic()
            try:
                await self._consume(stop)
            except Exception as exc:
                if stop.is_set():
                    break
                if time.monotonic() - started > 60:
                    backoff = 0.5  # it ran for a while: a new outage, not the same one
                log.error(
                    "consumer failed; starting it again", consumer=self.name, error=repr(exc), backoff=backoff
                )
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 10.0)

    async def _consume(self, stop: asyncio.Event) -> None:
        self._applied.clear()  # what another member applied meanwhile is not ours to measure from
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.kafka_bootstrap,
            group_id=self.name,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_interval_ms=300_000,
            # A topic missing from the metadata when the group was joined is assigned to nobody until
            # the next refresh (aiokafka's default: five minutes); ensure_topics waits for new topics
            # to show, and this bounds what is left (a broker whose metadata lags) to 30 s.
            metadata_max_age_ms=30_000,
            fetch_max_bytes=16 * 1024 * 1024,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            **self.security,
        )
        producer = producer_for(self.kafka_bootstrap, security=self.security)
        consumer.subscribe([*self.topics, self.retry_topic], listener=_WaitForBatch(self._idle))
        # The next batch is fetched and decoded while the current one is applied: decoding is
        # Python's work and applying mostly PostgreSQL's, so overlapping them uses both cores.
        ahead: asyncio.Task[_Fetched] | None = None
        try:
            await consumer.start()  # inside: a client that fails to start is closed too
            await producer.start()
            self._consumer = consumer
            log.info("consumer started", consumer=self.name, topics=self.topics)
            while not stop.is_set():
                fetched = await (ahead or self._fetch(consumer))
                ahead = None
                if not fetched.batches:
                    continue
                ahead = asyncio.create_task(self._fetch(consumer))
                self._idle.clear()
                try:
                    applied = await self._process(consumer, producer, fetched)
                finally:
                    self._idle.set()
                if not applied:
                    # Rewind: the batch that failed and the one fetched behind it are read again.
                    prefetched = await ahead
                    ahead = None
                    for batch in (prefetched, fetched):
                        for tp, records in batch.batches.items():
                            consumer.seek(tp, records[0].offset)
                    await asyncio.sleep(self.backoff_seconds * 10)
        finally:
            self._consumer = None
            if ahead is not None:
                ahead.cancel()
                with contextlib.suppress(BaseException):
                    await ahead
            with contextlib.suppress(Exception):
                await consumer.stop()
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _fetch(self, consumer: AIOKafkaConsumer) -> _Fetched:
        batches = await consumer.getmany(timeout_ms=500, max_records=self.max_records)
        self.stats.last_poll = time.monotonic()
        items: list[_Item] = []
        for records in batches.values():
            for start in range(0, len(records), DECODE_CHUNK):
                items.extend(self._decode(r) for r in records[start : start + DECODE_CHUNK])
                await asyncio.sleep(0)  # let the batch being applied go on between chunks
        return _Fetched(batches, items)

    async def _process(self, consumer: AIOKafkaConsumer, producer: object, fetched: _Fetched) -> bool:
        """Apply one fetched batch and commit its offsets; False if it must be read again."""
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                dead = await self._apply(conn, fetched.items)
                # Dead letters are acknowledged by Kafka before the transaction commits, so a
                # crash in between dead-letters again (same event id) rather than losing one.
                await self._send_dead_letters(producer, dead)
        except Exception as exc:
            # Infrastructure failure (database gone, broker unreachable): nothing committed, and
            # offsets untouched; the caller rewinds to this batch and tries again after a pause.
            log.warning("batch failed; retrying it", consumer=self.name, error=repr(exc))
            return False
        self.stats.batches += 1
        self.stats.committed += len(fetched.items)
        offsets = {tp: records[-1].offset + 1 for tp, records in fetched.batches.items()}
        self._applied.update(offsets)
        await self._commit_offsets(consumer, offsets)
        return True

    async def _commit_offsets(self, consumer: AIOKafkaConsumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            # The group rebalanced under us. The effects are committed with their inbox rows, so
            # whoever gets these partitions will see the events again and skip them.
            log.warning(
                "offset commit failed after the effect; redelivery will be deduplicated", error=repr(exc)
            )

    def _decode(self, record: ConsumerRecord) -> _Item:
        if self.event_types is not None and record.value is not None:
            sniffed = sniff_event_type(record.value)
            if sniffed is not None and sniffed not in self.event_types:
                return _Item(record, None, passed_by=True)
        try:
            if record.value is None:
                raise ValueError("empty record")
            signer = (
                self.provenance.signer(record.topic, record.headers, record.value)
                if self.provenance is not None
                else None
            )
            event = self.decode(record.value)
            if self.event_types is not None and event.event_type not in self.event_types:
                return _Item(record, None, passed_by=True)  # its bytes did not prove its type
            if signer is not None:
                ProvenanceCheck.check_event_type(signer, event.event_type)
            return _Item(record, event)
        except ProvenanceError as exc:
            return _Item(record, None, str(exc))
        except (ValueError, pydantic.ValidationError) as exc:
            return _Item(record, None, f"undecodable event: {exc}")

    async def _apply(self, conn: asyncpg.Connection, items: list[_Item]) -> list[_Item]:
        """Apply the batch once; on failure, isolate the culprits. Returns the dead letters."""
        dead = [i for i in items if i.event is None and not i.passed_by]
        good = [i for i in items if i.event is not None]
        self.stats.passed_by += sum(i.passed_by for i in items)
        if not good:
            return dead  # nothing to record or apply: the batch commits its offsets (and letters)
        try:
            async with conn.transaction():  # a savepoint: the fast path, whole batch at once
                fresh = await self._record_in_inbox(conn, good)
                await self.handler(conn, [i.event for i in fresh if i.event is not None])
            self.stats.applied += len(fresh)
            self.stats.duplicates += len(good) - len(fresh)
            return dead
        except Exception as exc:
            log.info("batch handler failed; applying event by event", consumer=self.name, error=repr(exc))
        for item in good:
            error = await self._apply_one(conn, item)
            if error is not None:
                item.error = error
                dead.append(item)
        return dead

    async def _apply_one(self, conn: asyncpg.Connection, item: _Item) -> str | None:
        assert item.event is not None
        for attempt in range(1, self.max_attempts + 1):
            try:
                async with conn.transaction():
                    fresh = await self._record_in_inbox(conn, [item])
                    if fresh:
                        await self.handler(conn, [item.event])
                if fresh:
                    self.stats.applied += 1
                else:
                    self.stats.duplicates += 1
                return None
            except (PoisonEvent, pydantic.ValidationError) as exc:
                return f"{type(exc).__name__}: {exc}"
            except (asyncpg.InterfaceError, asyncpg.ConnectionDoesNotExistError):
                raise  # the connection is gone: the whole batch is retried
            except Exception as exc:
                if attempt == self.max_attempts:
                    return f"failed after {attempt} attempts: {''.join(traceback.format_exception_only(exc)).strip()}"
                await asyncio.sleep(self.backoff_seconds * 2 ** (attempt - 1))
        return None  # unreachable: the loop returns on the last attempt

    async def _record_in_inbox(self, conn: asyncpg.Connection, items: list[_Item]) -> list[_Item]:
        claimed = await claim(
            conn,
            self.name,
            [
                (i.event, i.record.topic, i.record.partition, i.record.offset)
                for i in items
                if i.event is not None
            ],
        )
        return [items[k] for k in claimed]

    async def _send_dead_letters(self, producer: object, dead: list[_Item]) -> None:
        if not dead:
            return
        futures = []
        for item in dead:
            r = item.record
            log.error(
                "event dead-lettered",
                consumer=self.name,
                topic=r.topic,
                partition=r.partition,
                offset=r.offset,
                reason=item.error,
            )
            headers = [
                *[(k, v) for k, v in (r.headers or ()) if not k.startswith("dlq.")],
                ("dlq.reason", (item.error or "unknown").encode()),
                ("dlq.consumer", self.name.encode()),
                ("dlq.topic", r.topic.encode()),
                ("dlq.partition", str(r.partition).encode()),
                ("dlq.offset", str(r.offset).encode()),
                ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
            ]
            futures.append(
                await producer.send(self.dead_letter_topic, value=r.value, key=r.key, headers=headers)  # type: ignore[attr-defined]
            )
        await asyncio.gather(*futures)
        self.stats.dead_lettered += len(dead)

    async def lag(self) -> dict[str, int]:
        """Records between what this consumer has applied and the end of each assigned partition."""
        consumer = self._consumer
        if consumer is None:
            return {}
        out: dict[str, int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:
                continue
            applied = self._applied.get(tp)
            if applied is None:  # nothing applied here yet by this process: where it will start
                with contextlib.suppress(IllegalStateError, asyncio.TimeoutError):
                    applied = await asyncio.wait_for(consumer.position(tp), 1)
            if applied is not None:
                out[f"{tp.topic}/{tp.partition}"] = max(high - applied, 0)
        return out

    def seconds_since_poll(self) -> float:
        """A liveness signal: a consumer stuck after a broker restart stops polling."""
        return time.monotonic() - self.stats.last_poll
