"""The civil registry's life events, published to Kafka as the civil registry's data sharing would.

Each event is a contract envelope (``civil_registry.person_died`` and the others) on
``dtks.civil_registry.events``, keyed by its ``life_event_id``, signed as the owner
``civil_registry`` signs. The producer starts at the first publication, so a simulator that never
publishes never needs a broker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka import AIOKafkaProducer

from dtks_civil_registry.settings import CivilRegistrySettings
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.topics import CIVIL_REGISTRY_EVENTS, partition_key, topic_for
from dtks_runtime.kafka_security import kafka_security
from dtks_runtime.outbox_relay import producer_for
from dtks_runtime.topics import ensure_topics

OWNER = "civil_registry"


class LifeEventFeed:
    def __init__(self, settings: CivilRegistrySettings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._starting = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._starting:
            if self._producer is None:
                s = self.settings
                security = kafka_security(s)
                await ensure_topics(
                    s.kafka_bootstrap, [CIVIL_REGISTRY_EVENTS.with_prefix(s.topic_prefix)], security=security
                )
                producer = producer_for(s.kafka_bootstrap, security=security)
                await producer.start()
                self._producer = producer
            return self._producer

    async def publish(self, envelopes: Sequence[EventEnvelope]) -> None:
        """Every envelope acknowledged by the broker when this returns."""
        producer = await self._started()
        signer = self.settings.event_signer(OWNER)
        futures = []
        for e in envelopes:
            value = e.to_bytes()
            headers = [
                ("event_id", str(e.event_id).encode()),
                ("event_type", e.event_type.encode()),
                ("correlation_id", e.correlation_id.encode()),
                *signer.headers(value),
            ]
            futures.append(
                await producer.send(
                    topic_for(e.event_type, self.settings.topic_prefix).name,
                    value=value,
                    key=partition_key(e),
                    headers=headers,
                )
            )
        await asyncio.gather(*futures)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
