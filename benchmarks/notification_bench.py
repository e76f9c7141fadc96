"""Notification benchmark: notifications decided and delivered per second to a local webhook receiver.

One agency subscription matches every event. N ``registry.household_registered`` events are produced
to the real topic; the service decides for each one webhook notification (plus the village
operator's inbox item) in its consumer, and its sender signs and POSTs each to a receiver running in
its own process, recording every attempt and its ``notification.delivered`` event in the outbox.
Two phases, so that each figure is one part's own rate on this 2-core machine:
- decided: with the sender held back, webhook notifications recorded (with their deliveries and
  the operators' inbox items) per second, from the first event produced to the last decision;
- delivered: then the sender alone: deliveries signed, POSTed, acknowledged by the receiver and
  recorded with their ``notification.delivered`` event per second (target 2,000).
DTKS_BENCH_NOTIFICATIONS sets N (default 20,000; runs in about a minute).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid

import asyncpg
import httpx

from benchmarks.figures import Figure
from dtks_contracts.events import HouseholdRegistered
from dtks_contracts.topics import with_prefix
from dtks_contracts.vocabulary import Role
from dtks_notification.main import build_app
from dtks_notification.settings import NotificationSettings
from dtks_notification.testing import envelope, household, produce
from dtks_runtime.auth import TokenService
from dtks_runtime.gc_policy import tune_service_process
from dtks_runtime.testing import Infra
from dtks_runtime.topics import ensure_topics

N = int(os.environ.get("DTKS_BENCH_NOTIFICATIONS", "20000"))


async def _start_receiver() -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "dtks_notification.testing", "0", stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    port = int((await process.stdout.readline()).decode().strip())
    return process, f"http://127.0.0.1:{port}/hook"


async def _until(pool: asyncpg.Pool, sql: str, target: int, t0: float, limit: float = 900) -> float:
    while True:
        async with pool.acquire() as conn:
            if await conn.fetchval(sql) >= target:
                return time.perf_counter() - t0
        if time.perf_counter() - t0 > limit:
            raise TimeoutError(f"{sql} did not reach {target} within {limit} s")
        await asyncio.sleep(0.2)


def held_back_settings(infra: Infra, name: str) -> NotificationSettings:
    """A service of its own (database and topic prefix) whose sender the benchmark starts by hand,
    after the decisions, and which may call receivers on this machine."""
    return NotificationSettings(
        kafka_bootstrap=infra.kafka_bootstrap,
        database_url=infra.database_url,
        database_name=f"bench_{name}_{uuid.uuid4().hex[:8]}",
        topic_prefix=f"bench{uuid.uuid4().hex[:8]}.",
        log_level="warning",
        notification_sender_enabled=False,
        notification_allow_private_callbacks=True,
    )


async def run(infra: Infra) -> list[Figure]:
    settings = held_back_settings(infra, "notification")
    prefix, database = settings.topic_prefix, settings.database_name
    await ensure_topics(infra.kafka_bootstrap, with_prefix(prefix))
    base = household("h-0", programs=["PKH"])
    events = [
        envelope(
            HouseholdRegistered(
                household_id=f"h-{i}",
                decree_number="D-BENCH",
                proposal_id=f"p-{i}",
                household=base.model_copy(update={"household_id": f"h-{i}"}),
            )
        )
        for i in range(N)
    ]
    receiver, url = await _start_receiver()
    app = build_app(settings)
    admin = await asyncpg.connect(infra.database_url)
    try:
        async with app.router.lifespan_context(app):
            # As `dtks-notification` does when it starts (dtks_runtime.service.serve).
            tune_service_process()
            tokens = TokenService(settings.jwt_secret, settings.jwt_issuer)
            agency = tokens.issue(subject="bench-agency", role=Role.AGENCY, region="ID")
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://notification") as client:
                r = await client.post(
                    "/subscriptions",
                    headers={"Authorization": f"Bearer {agency}"},
                    json={"callback_url": url, "secret": "bench-secret-0123456789"},
                )
                r.raise_for_status()
            pool: asyncpg.Pool = app.state.runtime.pool
            t0 = time.perf_counter()
            await produce(infra.kafka_bootstrap, prefix, events)
            produced = time.perf_counter() - t0
            decided = await _until(pool, "SELECT count(*) FROM deliveries WHERE channel = 'webhook'", N, t0)
            stop = asyncio.Event()
            t1 = time.perf_counter()
            sending = asyncio.create_task(app.state.sender.run(stop))
            delivered = await _until(
                pool, "SELECT count(*) FROM deliveries WHERE status = 'delivered'", N, t1
            )
            stop.set()
            await sending
            async with pool.acquire() as conn:
                events_out = await conn.fetchval(
                    "SELECT count(*) FROM events WHERE event_type = 'notification.delivered'"
                )
    finally:
        receiver.terminate()
        await receiver.wait()
        await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        await admin.close()
    return [
        Figure("events produced to Kafka", N / produced, note=f"{N} household_registered"),
        Figure("notifications decided (webhook + inbox item each)", N / decided, unit="notif/s"),
        Figure(
            "notifications delivered to webhook (signed, recorded, event)",
            N / delivered,
            unit="notif/s",
            note=f"target 2,000/s; {events_out} notification.delivered events",
        ),
    ]
