"""A consumer whose broker cannot be reached recovers on its own once it can."""

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import asyncpg
import pytest

from dtks_runtime.consumer import EventConsumer
from dtks_runtime.event_store import EventStore
from dtks_runtime.outbox_relay import OutboxRelay
from dtks_runtime.testing import append_one, make_consumer_topics, new_id, record_effect, wait_until

pytestmark = pytest.mark.infra


class Door:
    """A TCP port in front of the broker: closed (nothing listens) until opened, then forwarding.

    Clients bootstrap through it; the broker's metadata then names its own address, so only the
    first contact goes through the door, which is what a broker down at start-up takes away."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = int(s.getsockname()[1])
        self.server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._forward, "127.0.0.1", self.port)

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


@pytest.fixture
async def door(kafka_bootstrap: str) -> AsyncIterator[Door]:
    door = Door(kafka_bootstrap)
    yield door
    await door.close()


async def test_a_consumer_started_while_the_broker_is_unreachable_consumes_once_it_is_back(
    pool: asyncpg.Pool,
    store: EventStore,
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    topic_prefix: str,
    door: Door,
) -> None:
    group = f"c-{new_id()}"
    await make_consumer_topics(kafka_bootstrap, group, topic_prefix)

    consumer = EventConsumer(
        name=group, topics=[topic], handler=record_effect, pool=pool,
        kafka_bootstrap=door.address, topic_prefix=topic_prefix,
    )  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    relay = OutboxRelay(database_url, kafka_bootstrap)
    relay_task = asyncio.create_task(relay.run(stop))
    try:
        await asyncio.sleep(3)  # its first attempts fail: nothing listens at the broker's address
        assert not task.done(), f"the consumer gave up: {task.exception() if task.done() else ''}"
        await door.open()
        await append_one(pool, store, "thing-1", 0)

        async def applied() -> bool:
            async with pool.acquire() as conn:
                return bool(await conn.fetchval("SELECT count(*) FROM effects"))

        await wait_until(applied, 60, "the event applied once the broker could be reached")
        assert consumer.stats.applied == 1
    finally:
        stop.set()
        await asyncio.gather(task, relay_task, return_exceptions=True)
