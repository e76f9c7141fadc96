"""Helpers for tests of the runtime and of services built on it (no mocks: real database, real broker)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.topics import partition_key, topic_for
from dtks_runtime.event_store import Causation, EventStore, NewEvent
from dtks_runtime.outbox_relay import producer_for
from dtks_runtime.provenance import EventSigner, development_key
from dtks_runtime.telemetry import kafka_headers
from dtks_runtime.topics import consumer_topics, ensure_topics


async def make_consumer_topics(bootstrap: str, name: str, prefix: str) -> None:
    await ensure_topics(bootstrap, consumer_topics(name, prefix))


async def record_effect(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
    """The effect under test: counts applications, so a double apply shows up as 2."""
    await conn.executemany(
        """INSERT INTO effects (event_id, aggregate_id) VALUES ($1, $2)
           ON CONFLICT (event_id) DO UPDATE SET applied = effects.applied + 1""",
        [(e.event_id, e.aggregate_id) for e in events],
    )


def happened(n: int = 0) -> NewEvent:
    return NewEvent("test.happened", 1, {"n": n})


async def append_one(
    pool: asyncpg.Pool, store: EventStore, aggregate_id: str, version: int, n: int = 0
) -> None:
    async with pool.acquire() as conn, conn.transaction():
        await store.append(
            conn,
            aggregate_type="thing",
            aggregate_id=aggregate_id,
            expected_version=version,
            events=[happened(n)],
            causation=Causation(),
        )


async def wait_until(
    check: Callable[[], Awaitable[bool]], within: float = 60, what: str = "condition"
) -> None:
    """Poll ``check`` until it holds; the tests await an observable state instead of sleeping blindly."""
    deadline = asyncio.get_running_loop().time() + within
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@asynccontextmanager
async def every_pooled_connection(pool: asyncpg.Pool) -> AsyncIterator[list[asyncpg.Connection]]:
    """All of ``pool``'s connections at once (as many as it may hold), for a test to set or read what
    each carries; a service's consumers give theirs back between batches."""
    async with AsyncExitStack() as stack:
        yield [await stack.enter_async_context(pool.acquire()) for _ in range(pool.get_max_size())]


async def plans_run(pool: asyncpg.Pool, fragment: str) -> tuple[int, int]:
    """Custom and generic plans run so far, over every connection of ``pool``, by the prepared
    statements whose text contains ``fragment`` (PostgreSQL counts them per session)."""
    custom = generic = 0
    async with every_pooled_connection(pool) as connections:
        for conn in connections:
            for row in await conn.fetch(
                """SELECT custom_plans, generic_plans FROM pg_prepared_statements
                   WHERE strpos(statement, $1) > 0""",
                fragment,
            ):
                custom, generic = custom + row["custom_plans"], generic + row["generic_plans"]
    return custom, generic


def new_id() -> str:
    return uuid.uuid4().hex[:12]


@dataclass(frozen=True)
class Infra:
    kafka_bootstrap: str
    database_url: str  # an admin URL of the server; tests and benchmarks create their own databases
    kafka_lib: str | None  # Kafka's jars, for running Kafka's own tools (the benchmark ceiling)


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line.removeprefix("export ").split("=", 1)
            env[key] = value
    return env


@contextmanager
def private_stack(stack_script: Path) -> Iterator[Infra]:
    """Start PostgreSQL and Kafka on free ports in a temporary folder with ``deploy/local/stack.py``;
    stop them on exit. Two runs on one machine never share anything."""
    state = Path(tempfile.mkdtemp(prefix="dtks-run-"))
    os.chmod(state, 0o755)
    subprocess.run([sys.executable, str(stack_script), "start", "--state-dir", str(state)], check=True)
    try:
        env = read_env_file(state / "env")
        yield Infra(env["DTKS_KAFKA_BOOTSTRAP"], env["DTKS_DATABASE_URL"], env.get("DTKS_KAFKA_LIB"))
    finally:
        subprocess.run([sys.executable, str(stack_script), "stop", "--state-dir", str(state)], check=False)
        shutil.rmtree(state, ignore_errors=True)


@contextmanager
def configured_infra(stack_script: Path) -> Iterator[Infra]:
    """The stack to use: the one named by DTKS_KAFKA_BOOTSTRAP and DTKS_DATABASE_URL if both are set
    (reuse only when told to), testcontainers if DTKS_TESTCONTAINERS=1, else a private local stack."""
    bootstrap, url = os.environ.get("DTKS_KAFKA_BOOTSTRAP"), os.environ.get("DTKS_DATABASE_URL")
    if bootstrap and url:
        yield Infra(bootstrap, url, os.environ.get("DTKS_KAFKA_LIB"))
    elif os.environ.get("DTKS_TESTCONTAINERS") == "1":
        from testcontainers.kafka import KafkaContainer
        from testcontainers.postgres import PostgresContainer

        with (
            PostgresContainer("postgres:15", driver=None) as pg,
            KafkaContainer("apache/kafka:4.1.1").with_kraft() as kafka,
        ):
            yield Infra(kafka.get_bootstrap_server(), pg.get_connection_url(), None)
    else:
        with private_stack(stack_script) as infra:
            yield infra


def relay_headers(e: EventEnvelope, value: bytes) -> list[tuple[str, bytes]]:
    """The headers the owning service's relay would give ``e``, signed with its development key."""
    owner = e.event_type.partition(".")[0]
    return [
        ("event_id", str(e.event_id).encode()),
        ("event_type", e.event_type.encode()),
        ("correlation_id", e.correlation_id.encode()),
        *kafka_headers(e.trace_context),
        *EventSigner(owner, development_key(owner)).headers(value),
    ]


async def publish_events(bootstrap: str, prefix: str, envelopes: Sequence[EventEnvelope]) -> None:
    """Publish other services' events as their relays would: to the contract topic (prefixed), keyed
    as the contracts say, with the relay's headers and signature. Tests drive a service with these."""
    producer = producer_for(bootstrap)
    await producer.start()
    try:
        futures = []
        for e in envelopes:
            value = e.to_bytes()
            futures.append(
                await producer.send(
                    topic_for(e.event_type, prefix).name,
                    value=value,
                    key=partition_key(e),
                    headers=relay_headers(e, value),
                )
            )
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
