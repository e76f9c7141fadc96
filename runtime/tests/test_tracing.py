"""A trace started at an HTTP request continues through the outbox and Kafka into the consumer's span."""

import asyncio

import asyncpg
import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from dtks_contracts.envelope import EventEnvelope
from dtks_runtime.consumer import EventConsumer, per_event
from dtks_runtime.event_store import Causation, EventStore
from dtks_runtime.outbox_relay import OutboxRelay
from dtks_runtime.telemetry import configure_tracing, http_server_telemetry
from dtks_runtime.testing import happened, make_consumer_topics, new_id, record_effect, wait_until

pytestmark = pytest.mark.infra


async def test_the_consumer_span_belongs_to_the_trace_of_the_http_request(
    pool: asyncpg.Pool,
    store: EventStore,
    database_url: str,
    kafka_bootstrap: str,
    topic: str,
    topic_prefix: str,
) -> None:
    spans = InMemorySpanExporter()
    configure_tracing("runtime-test", "none", extra=spans)
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)

    app = FastAPI(telemetry=http_server_telemetry())

    @app.post("/things/{thing_id}")
    async def create(thing_id: str) -> dict[str, str]:
        async with pool.acquire() as conn, conn.transaction():
            await store.append(
                conn, aggregate_type="thing", aggregate_id=thing_id, expected_version=0,
                events=[happened()], causation=Causation(),
            )  # fmt: skip
        return {"id": thing_id}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # The caller's own trace, continued by the server span (W3C traceparent).
    caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    traceparent = f"00-{caller_trace}-00f067aa0ba902b7-01"
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        response = await client.post("/things/traced", headers={"traceparent": traceparent})
        assert (await client.get("/healthz")).status_code == 200  # and no span for it
    assert response.status_code == 200

    seen: list[EventEnvelope] = []

    async def handler(conn: asyncpg.Connection, event: EventEnvelope) -> None:
        seen.append(event)
        await record_effect(conn, [event])

    group = f"c-{new_id()}"
    await make_consumer_topics(kafka_bootstrap, group, topic_prefix)
    consumer = EventConsumer(
        name=group, topics=[topic], handler=per_event(handler), pool=pool,
        kafka_bootstrap=kafka_bootstrap, topic_prefix=topic_prefix,
    )  # fmt: skip
    relay = OutboxRelay(database_url, kafka_bootstrap)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]

    async def consumed() -> bool:
        return bool(seen)

    await wait_until(consumed, what="the event consumed")
    stop.set()
    await asyncio.gather(*tasks)
    provider.force_flush()

    finished = spans.get_finished_spans()
    server = [s for s in finished if s.kind == SpanKind.SERVER and "/things" in s.name]
    consumed_spans = [
        s for s in finished if s.kind == SpanKind.CONSUMER and s.name == "consume test.happened"
    ]
    assert len(server) == 1 and consumed_spans
    assert format(server[0].context.trace_id, "032x") == caller_trace
    paths = [(s.attributes or {}).get("url.path") for s in finished if s.kind == SpanKind.SERVER]
    assert "/healthz" not in paths and "/things/traced" in paths
    assert seen[0].trace_context["traceparent"].split("-")[1] == format(server[0].context.trace_id, "032x")
    assert consumed_spans[0].context.trace_id == server[0].context.trace_id
    assert consumed_spans[0].parent is not None
