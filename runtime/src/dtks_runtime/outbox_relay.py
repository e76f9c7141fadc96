"""The outbox relay: publishes the ``events`` table to Kafka, in order, at least once.

The relay takes the committed events that are still unpublished, in insertion order (see
:mod:`dtks_runtime.event_store` for why there is no cursor to skip past a late commit), sends them
with an idempotent producer (``acks=all``) keyed by their partition key, waits for every
acknowledgement, and only then gives them their publication ``position`` in the database. A crash
between the acknowledgements and that update republishes the batch on restart, with the same event
ids, which consumers' inboxes discard; nothing is ever skipped. One relay per database is active
at a time (a session advisory lock); a second one waits as a hot standby, because two relays would
interleave batches and break the per-aggregate order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Mapping
from typing import Any, Final

import asyncpg
from aiokafka import AIOKafkaProducer

from dtks_runtime.db import advisory_key
from dtks_runtime.event_store import NOTIFY_CHANNEL
from dtks_runtime.kafka_security import kafka_security
from dtks_runtime.provenance import EventSigner
from dtks_runtime.telemetry import get_logger, kafka_headers

log = get_logger(__name__)
RELAY_LOCK = advisory_key("dtks:outbox-relay")  # one per database, whatever the relay is called


def producer_for(
    bootstrap: str, *, security: Mapping[str, Any] | None = None, **overrides: Any
) -> AIOKafkaProducer:
    """The project's producer settings: idempotent, every in-sync replica acknowledges. ``security``:
    the login (kafka_security(settings)); None reads it from the environment."""
    settings: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "enable_idempotence": True,
        "acks": "all",
        "linger_ms": 5,
        "max_batch_size": 256 * 1024,
        # Determinations list every household they fix; their topics allow records up to 64 MiB.
        "max_request_size": 64 * 1024 * 1024,
        "request_timeout_ms": 30_000,
    }
    settings.update(kafka_security() if security is None else security)
    settings.update(overrides)
    return AIOKafkaProducer(**settings)


_YIELD_AFTER_BYTES: Final = 256 * 1024  # of records sent since the relay last let requests run
_IDLE_REST: Final = 30.0  # times an empty poll's duration the relay waits before the next (see _idle_wait)


class OutboxRelay:
    def __init__(
        self,
        database_url: str,
        kafka_bootstrap: str,
        *,
        name: str = "outbox",
        batch_size: int = 2000,
        idle_poll_seconds: float = 0.5,
        signer: EventSigner | None = None,
        security: Mapping[str, Any] | None = None,
    ) -> None:
        self.database_url = database_url
        self.kafka_bootstrap = kafka_bootstrap
        self.name = name
        self.batch_size = batch_size
        self.idle_poll_seconds = idle_poll_seconds
        # Signs every record with the service's event key, so the audit trail can tell what this
        # relay published from what someone else wrote to the topic (see dtks_runtime.provenance).
        self.signer = signer
        self.security = security
        self.published = 0  # since this process started; for benchmarks and health
        self.last_progress = time.monotonic()
        self._wake = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Publish until ``stop`` is set; reconnect and resume from the cursor after any failure."""
        backoff = 0.2
        while not stop.is_set():
            try:
                await self._run_as_leader(stop)
                backoff = 0.2
            except Exception as exc:
                if stop.is_set():
                    break
                log.warning("outbox relay failed; resuming from its cursor", error=repr(exc), backoff=backoff)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), backoff)
                backoff = min(backoff * 2, 10.0)

    async def _run_as_leader(self, stop: asyncio.Event) -> None:
        conn = await asyncpg.connect(self.database_url)
        producer = producer_for(self.kafka_bootstrap, security=self.security)
        try:
            while not await conn.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK):
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
                if stop.is_set():
                    return
            await conn.add_listener(NOTIFY_CHANNEL, lambda *_: self._wake.set())
            await producer.start()
            log.info("outbox relay leading", relay=self.name)
            while not stop.is_set():
                polled = time.monotonic()
                sent = await self._publish_batch(conn, producer)
                if sent < self.batch_size:
                    self._wake.clear()
                    waiter = asyncio.ensure_future(self._wake.wait())
                    stopper = asyncio.ensure_future(stop.wait())
                    await asyncio.wait(
                        {waiter, stopper},
                        timeout=self._idle_wait(sent, time.monotonic() - polled),
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    waiter.cancel()
                    stopper.cancel()
        finally:
            with contextlib.suppress(Exception):
                await producer.stop()
            with contextlib.suppress(Exception):
                await conn.close()  # also releases the session advisory lock

    def _idle_wait(self, sent: int, seconds: float) -> float:
        """How long to wait for a NOTIFY before polling again.

        A poll that found nothing walked the unpublished rows' index past every row of the
        transactions still open, and a decree holds one per household it changes for as long as it
        runs: each poll longer than the one before. Beside a decree over 100,000 households, polls
        every half second spent 3.2 s in 42 polls (76 ms each on average); a decree over a million
        runs ten times as long with ten times the rows. So after an empty poll the relay rests
        _IDLE_REST times as long as that poll took, at least ``idle_poll_seconds``: at most about a
        thirty-first of its time polling, while an idle system, whose empty polls take a
        millisecond, still polls every ``idle_poll_seconds``. A commit wakes it at once (NOTIFY)
        whatever the rest, so the rest delays only appends that do not notify (verification's
        overdue notices). Beside a first decree over a million households, on two cores where the
        decree's own writes need that CPU: with a rest of ten times, 28.2 s of PostgreSQL's CPU in
        83 polls; with thirty, 7.6 and 9.4 s in 32 and 28 polls (7 December)."""
        if sent:
            return self.idle_poll_seconds
        return max(self.idle_poll_seconds, _IDLE_REST * seconds)

    async def _publish_batch(self, conn: asyncpg.Connection, producer: AIOKafkaProducer) -> int:
        # The headers' fields read by PostgreSQL: decoding each whole envelope here only for them
        # cost the event loop some 50 µs per 7 KB notice.
        rows = await conn.fetch(
            """SELECT seq, topic, partition_key, event_id, event_type, envelope::text AS body,
                      envelope->>'correlation_id' AS correlation_id,
                      (envelope->'trace_context')::text AS trace_context
               FROM events WHERE position IS NULL ORDER BY seq LIMIT $1""",
            self.batch_size,
        )
        if not rows:
            return 0
        futures = []
        since_yield = 0
        for n, row in enumerate(rows, 1):
            if n % 64 == 0 or since_yield > _YIELD_AFTER_BYTES:
                # The relay shares the service's event loop: a full batch (about 40 µs a record, more
                # for large ones) would hold every request of the process for some 80 ms.
                await asyncio.sleep(0)
                since_yield = 0
            body: str = row["body"]
            value = body.encode()
            since_yield += len(value)
            headers = [
                ("event_id", str(row["event_id"]).encode()),
                ("event_type", row["event_type"].encode()),
                ("correlation_id", (row["correlation_id"] or "").encode()),
                *kafka_headers(json.loads(row["trace_context"] or "null") or {}),
                *(self.signer.headers(value) if self.signer is not None else ()),
            ]
            futures.append(
                await producer.send(
                    row["topic"], value=value, key=row["partition_key"].encode(), headers=headers
                )
            )
        # Every record acknowledged by the broker before it counts as published: never skip, at
        # worst resend. Positions continue from the highest one given, in the order just sent.
        await asyncio.gather(*futures)
        await conn.execute(
            """WITH base AS (SELECT coalesce(max(position), 0) AS p FROM events)
               UPDATE events SET position = base.p + x.n
               FROM base, unnest($1::bigint[]) WITH ORDINALITY AS x(seq, n)
               WHERE events.seq = x.seq""",
            [r["seq"] for r in rows],
        )
        self.published += len(rows)
        self.last_progress = time.monotonic()
        return len(rows)

    async def lag(self, conn: asyncpg.Connection) -> int:
        """Events committed but not yet published."""
        return int(await conn.fetchval("SELECT count(*) FROM events WHERE position IS NULL"))

    async def backlog(self, conn: asyncpg.Connection) -> tuple[int, float]:
        """Events committed but not yet published, and the age in seconds of the oldest of them
        (0 when none wait): a count alone cannot tell a busy relay from one that stopped."""
        row = await conn.fetchrow(
            """SELECT count(*) AS lag,
                      coalesce(extract(epoch FROM now() - (SELECT recorded_at FROM events
                          WHERE position IS NULL ORDER BY seq LIMIT 1)), 0)::float8 AS oldest
               FROM events WHERE position IS NULL"""
        )
        assert row is not None
        return int(row["lag"]), max(float(row["oldest"]), 0.0)
