"""Notification of a national decree to agencies: what a chunked decree costs the service per subscription.

A decree over N new households (its registered ids and changed leaves, as the registry publishes it:
chunks, then the manifest) is produced to the real topic; K agencies are subscribed to decrees, each
with a receiver in its own process. Measured:
- decided: from the first record produced to every part's delivery recorded for every agency;
- stored: the notification tables' size on disk (notifications, deliveries, kept envelopes, with
  their TOAST and indexes) once decided, and per agency;
- delivered: the sender alone, from its start to every part acknowledged by every agency;
- the benchmark process's peak resident set (the service runs in it) over the whole run.
DTKS_BENCH_NOTIFY_DECREE_HOUSEHOLDS sets N (default 200,000), _AGENCIES sets K (default 3).
"""

from __future__ import annotations

import asyncio
import os
import resource
import time

import asyncpg
import httpx

from benchmarks.decree_chunks_bench import DETERMINER, synthetic_decree
from benchmarks.figures import Figure
from benchmarks.notification_bench import _start_receiver, _until, held_back_settings
from dtks_contracts.decree_chunks import split_decree
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.topics import with_prefix
from dtks_contracts.vocabulary import Role
from dtks_notification.main import build_app
from dtks_notification.testing import produce
from dtks_runtime.auth import TokenService
from dtks_runtime.gc_policy import tune_service_process
from dtks_runtime.testing import Infra
from dtks_runtime.topics import ensure_topics

N = int(os.environ.get("DTKS_BENCH_NOTIFY_DECREE_HOUSEHOLDS", "200000"))
K = int(os.environ.get("DTKS_BENCH_NOTIFY_DECREE_AGENCIES", "3"))
STORED = "notifications", "deliveries", "agency_envelopes"


def _decree() -> list[EventEnvelope]:
    issued = synthetic_decree("1/HUK/2027", N, unpredictable=True)
    manifest, chunks = split_decree(issued)
    return [
        EventEnvelope.new(p, aggregate_version=v, actor=DETERMINER)
        for v, p in enumerate([*chunks, manifest], start=1)
    ]


def _peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


async def _stored_bytes(pool: asyncpg.Pool) -> int:
    async with pool.acquire() as conn:  # a table this version lacks counts nothing
        return int(
            await conn.fetchval(
                "SELECT coalesce(sum(pg_total_relation_size(to_regclass(t))), 0) FROM unnest($1::text[]) t",
                list(STORED),
            )
        )


async def run(infra: Infra) -> list[Figure]:
    settings = held_back_settings(infra, "notify_decree")
    prefix, database = settings.topic_prefix, settings.database_name
    await ensure_topics(infra.kafka_bootstrap, with_prefix(prefix))
    events = _decree()
    parts = len(events)
    receivers = [await _start_receiver() for _ in range(K)]
    app = build_app(settings)
    admin = await asyncpg.connect(infra.database_url)
    try:
        async with app.router.lifespan_context(app):
            tune_service_process()  # as `dtks-notification` does when it starts
            tokens = TokenService(settings.jwt_secret, settings.jwt_issuer)
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://notification") as client:
                for k, (_, url) in enumerate(receivers):
                    agency = tokens.issue(subject=f"bench-agency-{k}", role=Role.AGENCY, region="ID")
                    r = await client.post(
                        "/subscriptions",
                        headers={"Authorization": f"Bearer {agency}"},
                        json={
                            "callback_url": url,
                            "secret": "bench-secret-0123456789",
                            "event_types": ["registry.determination_issued"],
                        },
                    )
                    r.raise_for_status()
            pool: asyncpg.Pool = app.state.runtime.pool
            empty = await _stored_bytes(pool)
            t0 = time.perf_counter()
            await produce(infra.kafka_bootstrap, prefix, events)
            decided = await _until(pool, "SELECT count(*) FROM deliveries", parts * K, t0)
            async with pool.acquire() as conn:
                await conn.execute("VACUUM ANALYZE notifications, deliveries")
            stored = await _stored_bytes(pool) - empty
            peak_deciding = _peak_mib()
            stop = asyncio.Event()
            t1 = time.perf_counter()
            sending = asyncio.create_task(app.state.sender.run(stop))
            delivered = await _until(
                pool, "SELECT count(*) FROM deliveries WHERE status = 'delivered'", parts * K, t1
            )
            stop.set()
            await sending
    finally:
        for process, _ in receivers:
            process.terminate()
            await process.wait()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    peak = _peak_mib()
    what = f"{N:,} households in {parts - 1} chunks and a manifest, to {K} agencies"
    return [
        Figure("decree's parts decided for every agency", decided, unit="s", note=what),
        Figure(
            "notification tables grown by",
            stored / 2**20,
            unit="MiB",
            note=f"{stored / K / 2**20:.1f} MiB per agency",
        ),
        Figure(
            "decree's parts delivered to every agency", delivered, unit="s", note=f"{parts * K} deliveries"
        ),
        Figure(
            "benchmark process (the service) peak RSS",
            peak,
            unit="MiB",
            note=f"{peak_deciding:,.0f} MiB when decided",
        ),
    ]
