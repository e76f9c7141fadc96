"""The agency-facing copy of the registry's determined facts on dtks.registry.public.

The event store routes each event type to its owner's topic, so the copy is made by a small
consumer of the registry's own topic: it republishes every public event type with the same bytes,
the same event id and the same key; an institution's event only with its residents masked
(dtks_contracts.masking.for_agency), since an agency reads institutions' residents masked. At least once (a crash after the send and before the inbox
commit sends again); agencies deduplicate by event id, as every consumer in the project does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.masking import for_agency
from dtks_contracts.topics import PUBLIC_EVENT_TYPES, REGISTRY_PUBLIC, partition_key
from dtks_runtime.outbox_relay import producer_for


class PublicRepublisher:
    def __init__(
        self, kafka_bootstrap: str, topic_prefix: str, security: dict[str, Any] | None = None
    ) -> None:
        self.kafka_bootstrap = kafka_bootstrap
        self.security = security
        self.topic = REGISTRY_PUBLIC.with_prefix(topic_prefix).name
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = producer_for(self.kafka_bootstrap, security=self.security)
                await producer.start()
                self._producer = producer
            return self._producer

    async def __call__(self, conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        public = [e for e in events if e.event_type in PUBLIC_EVENT_TYPES]
        if not public:
            return
        producer = await self._started()
        futures = [
            await producer.send(
                self.topic,
                value=agency_copy(e),
                key=partition_key(e),
                headers=[("event_id", str(e.event_id).encode()), ("event_type", e.event_type.encode())],
            )
            for e in public
        ]
        # Acknowledged before the inbox commits: an event is never marked done without its copy.
        await asyncio.gather(*futures)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def agency_copy(event: EventEnvelope) -> bytes:
    """The record value an agency reads: the event's own bytes, unless masking changed its payload."""
    payload = for_agency(event.event_type, event.payload)
    if payload == event.payload:
        return event.to_bytes()
    return event.model_copy(update={"payload": payload}).to_bytes()
