"""The local broker is a real Kafka: idempotent and transactional produce, read_committed consume."""

import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

pytestmark = pytest.mark.infra


async def create_topic(bootstrap: str, name: str, partitions: int = 3) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=partitions, replication_factor=1)])
    finally:
        await admin.close()


async def consume(
    bootstrap: str, topic: str, expected: int, isolation: str = "read_committed"
) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"g-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        isolation_level=isolation,
    )
    await consumer.start()
    seen: list[bytes] = []
    try:
        while len(seen) < expected:
            batches = await consumer.getmany(timeout_ms=10_000)
            if not batches:
                break
            for records in batches.values():
                seen.extend(r.value for r in records if r.value is not None)
        await consumer.commit()
    finally:
        await consumer.stop()
    return seen


async def test_idempotent_producer_round_trip(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}idempotent"
    await create_topic(kafka_bootstrap, topic)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for i in range(50):
            await producer.send(topic, key=f"k{i % 5}".encode(), value=f"v{i}".encode())
        await producer.flush()
    finally:
        await producer.stop()
    seen = await consume(kafka_bootstrap, topic, 50)
    assert sorted(seen) == sorted(f"v{i}".encode() for i in range(50))


async def test_transactional_produce_hides_aborted_records(kafka_bootstrap: str, topic_prefix: str) -> None:
    topic = f"{topic_prefix}tx"
    await create_topic(kafka_bootstrap, topic, partitions=1)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, transactional_id=f"tx-{uuid.uuid4()}")
    await producer.start()
    try:
        async with producer.transaction():
            await producer.send(topic, b"committed-1")
            await producer.send(topic, b"committed-2")
        await producer.begin_transaction()
        await producer.send(topic, b"aborted")
        await producer.abort_transaction()
        async with producer.transaction():
            await producer.send(topic, b"committed-3")
    finally:
        await producer.stop()
    assert await consume(kafka_bootstrap, topic, 3) == [b"committed-1", b"committed-2", b"committed-3"]
    # A read_uncommitted reader sees the aborted record too, which proves the filter above is real.
    assert b"aborted" in await consume(kafka_bootstrap, topic, 4, isolation="read_uncommitted")
