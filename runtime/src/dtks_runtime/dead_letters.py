"""Dead letters: list what a consumer gave up on, and send it back to that consumer after a fix.

A replay copies the original bytes, key and headers to the consumer's retry topic, which only that
consumer reads; its inbox makes a replay of an already-applied event harmless, so replaying twice
is safe.
"""

from __future__ import annotations

from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from dtks_runtime.kafka_security import kafka_security
from dtks_runtime.outbox_relay import producer_for
from dtks_runtime.topics import dead_letter_topic, retry_topic


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        for k, v in self.headers:
            if k == name:
                return v.decode(errors="replace")
        return None

    @property
    def event_id(self) -> str | None:
        return self.header("event_id")

    @property
    def reason(self) -> str | None:
        return self.header("dlq.reason")

    def original_headers(self) -> list[tuple[str, bytes]]:
        return [(k, v) for k, v in self.headers if not k.startswith("dlq.")]


async def list_dead_letters(bootstrap: str, consumer: str, prefix: str = "") -> list[DeadLetter]:
    """Everything in the consumer's dead-letter topic, read from the start to the current end."""
    topic = dead_letter_topic(consumer, prefix)
    reader = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **kafka_security(),
    )
    await reader.start()
    try:
        partitions = reader.partitions_for_topic(topic)
        if partitions is None:
            await reader._client.force_metadata_update()
            partitions = reader.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        reader.assign(tps)
        await reader.seek_to_beginning(*tps)
        end = await reader.end_offsets(tps)
        out: list[DeadLetter] = []
        remaining = {tp for tp in tps if end[tp] > 0}
        while remaining:
            batches = await reader.getmany(*remaining, timeout_ms=2000)
            if not batches:
                break
            for tp, records in batches.items():
                for r in records:
                    if r.offset < end[tp]:
                        out.append(DeadLetter(tp.partition, r.offset, r.key, r.value, tuple(r.headers or ())))
                if records and records[-1].offset >= end[tp] - 1:
                    remaining.discard(tp)
        return sorted(out, key=lambda d: (d.partition, d.offset))
    finally:
        await reader.stop()


async def replay_dead_letters(
    bootstrap: str, consumer: str, letters: list[DeadLetter], prefix: str = ""
) -> int:
    """Send ``letters`` back to the consumer through its retry topic; returns how many were sent."""
    producer = producer_for(bootstrap)
    await producer.start()
    try:
        futures = [
            await producer.send(
                retry_topic(consumer, prefix), value=d.value, key=d.key, headers=d.original_headers()
            )
            for d in letters
        ]
        for f in futures:
            await f
    finally:
        await producer.stop()
    return len(letters)
