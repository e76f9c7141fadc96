"""Registry benchmark: replay of the verification stream into a fresh projection, and a decree.

Figures, all from one run on this machine:
- replay: events/s from offset zero on dtks.verification.events into fresh tables of the registry's
  projection (runtime replay: the reader fetches ahead of the writer; events of the projection's
  types are recognised from their bytes, parsed, deduplicated through the inbox and written in bulk,
  the others counted and left unparsed), beside Kafka's own ConsumerPerformance on the same topic
  (the ceiling); target 50,000 events/s;
- decree: seconds to issue one determination over N pending candidates (decide, write the register,
  append N household events and the decree to the outbox, hash the register), on the replayed tables.
Sizes: DTKS_BENCH_REGISTRY_EVENTS (default 300,000; the issue's full size is 2,000,000) events of which
DTKS_BENCH_REGISTRY_CANDIDATES (default 20,000; full size 500,000) are Ministry acceptances of new
households, the rest tier decisions the projection reads and skips, as in a real quarter.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import json
import os
import time
import uuid

import asyncpg
from aiokafka import AIOKafkaProducer

from benchmarks.figures import Figure
from benchmarks.runtime_bench import _kafka_tool
from dtks_contracts.actor import Actor
from dtks_contracts.events.verification import VerifiedAtTier
from dtks_contracts.topics import VERIFICATION_EVENTS, partition_key, topic_for, with_prefix
from dtks_contracts.vocabulary.roles import Role
from dtks_contracts.vocabulary.tiers import Tier
from dtks_registry.adapters.projection import PROJECTION_EVENT_TYPES, PROJECTION_TOPICS, apply_events
from dtks_registry.adapters.schema import MIGRATIONS
from dtks_registry.domain.periods import parse_period
from dtks_registry.handlers import DeterminationRequest, issue_determination
from dtks_registry.testing import acceptance, envelope, make_household
from dtks_runtime.event_store import EventStore
from dtks_runtime.replay import replay_into_schema
from dtks_runtime.testing import Infra
from dtks_runtime.topics import ensure_topics

EVENTS = int(os.environ.get("DTKS_BENCH_REGISTRY_EVENTS", "300000"))
CANDIDATES = int(os.environ.get("DTKS_BENCH_REGISTRY_CANDIDATES", "20000"))
DETERMINER = Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID")


def _filler_template() -> dict[str, object]:
    verifier = Actor(subject="kec-1", role=Role.DISTRICT_VERIFIER, region="17.71.01")
    payload = VerifiedAtTier(proposal_id="p", round=1, village_code="17.71.01.1001", tier=Tier.DISTRICT,
                             verifier=verifier, note="Checked at the district office")  # fmt: skip
    return json.loads(envelope(payload, actor=verifier).to_bytes())


async def _produce(bootstrap: str, topic: str) -> float:
    """Fill the verification topic; returns the acceptance cut-off."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=512 * 1024,
                                compression_type=None)  # fmt: skip
    await producer.start()
    template = _filler_template()
    accepted_at = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    stride = max(1, EVENTS // max(1, CANDIDATES))  # acceptances spread evenly through the stream
    try:
        pending = []
        for i in range(EVENTS):
            if i % stride == 0 and i // stride < CANDIDATES:
                e = acceptance(f"bench-{i}", accepted_at=accepted_at, household=make_household(i))
                value, key = e.to_bytes(), partition_key(e)
            else:
                doc = copy.copy(template)
                proposal_id = f"bench-f{i}"
                doc["event_id"] = str(uuid.uuid4())
                doc["payload"] = {**template["payload"], "proposal_id": proposal_id}  # type: ignore[dict-item]
                value, key = json.dumps(doc).encode(), proposal_id.encode()
            pending.append(await producer.send(topic, value=value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return accepted_at.timestamp()


def _consumer_performance(infra: Infra, topic: str) -> float:
    out = _kafka_tool(
        infra, "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", infra.kafka_bootstrap, "--topic", topic, "--messages", str(EVENTS),
        "--timeout", "60000",
    )  # fmt: skip
    row = [line for line in out.splitlines() if line and line[0].isdigit()][-1].split(",")
    return float(row[5])


async def run(infra: Infra) -> list[Figure]:
    prefix = f"rbench{uuid.uuid4().hex[:6]}."
    await ensure_topics(infra.kafka_bootstrap, with_prefix(prefix))
    topic = VERIFICATION_EVENTS.with_prefix(prefix).name
    db = f"bench_registry_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(infra.database_url)
    await admin.execute(f'CREATE DATABASE "{db}"')
    await admin.close()
    url = infra.database_url.rsplit("/", 1)[0] + f"/{db}"
    figures: list[Figure] = []
    try:
        t0 = time.perf_counter()
        await _produce(infra.kafka_bootstrap, topic)
        figures.append(
            Figure(
                f"fill topic with {EVENTS:,} envelopes (aiokafka, acks=1)",
                EVENTS / (time.perf_counter() - t0),
            )
        )
        ceiling = await asyncio.to_thread(_consumer_performance, infra, topic)

        schema = "replay_bench"
        report = await replay_into_schema(
            database_url=url, schema=schema, migrations=[("registry", MIGRATIONS)],
            kafka_bootstrap=infra.kafka_bootstrap, topics=[f"{prefix}{t}" for t in PROJECTION_TOPICS],
            handler=apply_events, event_types=PROJECTION_EVENT_TYPES,
        )  # fmt: skip
        assert report.events_read == EVENTS, f"replay read {report.events_read} of {EVENTS}"
        replay_rate = report.events_read / report.seconds
        figures.append(Figure(f"replay into a fresh projection ({EVENTS:,} events)", replay_rate,
                              note=f"{replay_rate / ceiling:.0%} of ConsumerPerformance; target 50,000; "
                                   f"{report.events_applied:,} applied"))  # fmt: skip
        figures.append(Figure("Kafka ConsumerPerformance (same topic)", ceiling))

        conn = await asyncpg.connect(url, server_settings={"search_path": schema})
        try:
            candidates = await conn.fetchval("SELECT count(*) FROM candidates")
            store = EventStore(
                lambda e: topic_for(e.event_type, prefix).name, lambda e: partition_key(e).decode()
            )
            t0 = time.perf_counter()
            document, _ = await issue_determination(
                conn, store, DeterminationRequest("1/BENCH/2027", parse_period("2027-01"), dt.datetime.now(dt.UTC)),
                DETERMINER, "bench",
            )  # fmt: skip
            seconds = time.perf_counter() - t0
        finally:
            await conn.close()
        assert len(document["registered"]) == candidates == CANDIDATES
        figures.append(Figure(f"decree over {CANDIDATES:,} candidates", seconds, unit="seconds",
                              note=f"{CANDIDATES / seconds:,.0f} households/s"))  # fmt: skip
    finally:
        admin = await asyncpg.connect(infra.database_url)
        await admin.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await admin.close()
    return figures
