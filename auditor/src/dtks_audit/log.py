"""Reading topics from offset zero to their current end, every partition, with a plain Kafka client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    partition: int
    offset: int
    value: bytes


async def read_topic(
    bootstrap: str, topic: str, only: Collection[int] | None = None, **security: Any
) -> AsyncIterator[Record]:
    """Every record of ``topic`` (of its partitions ``only``, if given) up to the end it had when
    reading began, partition by partition (the order within a partition is the order that matters:
    one household's events share one)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, enable_auto_commit=False, max_partition_fetch_bytes=64 * 1024 * 1024,
        fetch_max_bytes=64 * 1024 * 1024, **security,
    )  # fmt: skip
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        consumer.unsubscribe()  # subscribed only to learn the partitions; read by assignment
        if not partitions:
            raise LookupError(f"topic {topic} does not exist or has no partitions")
        for partition in sorted(p for p in partitions if only is None or p in only):
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            end = (await consumer.end_offsets([tp]))[tp]
            position = await consumer.position(tp)
            while position < end:
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=10_000)
                for record in batch.get(tp, []):
                    if record.offset >= end:
                        break
                    if record.value is not None:
                        yield Record(topic, partition, record.offset, record.value)
                    position = record.offset + 1
    finally:
        await consumer.stop()


async def partitions_of(bootstrap: str, topic: str, **security: Any) -> list[int]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, enable_auto_commit=False, **security)
    await consumer.start()
    try:
        return sorted(consumer.partitions_for_topic(topic) or ())
    finally:
        await consumer.stop()
