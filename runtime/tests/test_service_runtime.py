"""A service assembled from the runtime: lifespan, topics from the contracts, relay, consumer, health."""

import asyncio
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg
import httpx
import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.proposal import ProposalWithdrawn
from dtks_contracts.topics import PROPOSAL_EVENTS
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.consumer import per_event
from dtks_runtime.db import ensure_database
from dtks_runtime.event_store import Causation, NewEvent
from dtks_runtime.outbox_relay import RELAY_LOCK
from dtks_runtime.service import ServiceRuntime, create_app
from dtks_runtime.settings import RuntimeSettings
from dtks_runtime.testing import Infra, wait_until

pytestmark = pytest.mark.infra


@pytest.fixture
def settings(infra: Infra, topic_prefix: str) -> RuntimeSettings:
    """A service on the session's stack, with a database and topics of its own."""
    return RuntimeSettings(
        kafka_bootstrap=infra.kafka_bootstrap,
        database_url=infra.database_url,
        database_name=f"svc_{uuid.uuid4().hex[:10]}",
        topic_prefix=topic_prefix,
    )


async def test_a_service_publishes_through_its_outbox_consumes_and_reports_health(
    settings: RuntimeSettings,
) -> None:
    seen: list[EventEnvelope] = []

    async def on_proposal_event(conn: asyncpg.Connection, event: EventEnvelope) -> None:
        seen.append(event)
        await conn.execute("INSERT INTO withdrawals (proposal_id) VALUES ($1)", event.aggregate_id)

    runtime = ServiceRuntime(service="probe", settings=settings)
    runtime.add_migrations("probe", ["CREATE TABLE withdrawals (proposal_id text PRIMARY KEY)"])
    runtime.add_consumer("probe-watcher", [PROPOSAL_EVENTS.name], per_event(on_proposal_event))
    # A consumer of another type of the same topic passes the withdrawal by, and says so.
    runtime.add_consumer(
        "probe-submissions",
        [PROPOSAL_EVENTS.name],
        per_event(on_proposal_event),
        event_types={"proposal.submitted"},
    )
    app = create_app(runtime, title="probe", description="a service made of the runtime alone")

    async with app.router.lifespan_context(app):
        assert runtime.pool is not None and runtime.store is not None
        proposal_id = str(uuid.uuid4())
        operator = Actor(subject="op-1", role=Role.VILLAGE_OPERATOR, region="17.71.01.1001")
        withdrawn = ProposalWithdrawn(
            proposal_id=proposal_id, round=1, village_code="17.71.01.1001", withdrawn_by=operator,
            reason="entered twice by mistake",
        )  # fmt: skip
        async with runtime.pool.acquire() as conn, conn.transaction():
            await runtime.store.append(
                conn,
                aggregate_type="proposal",
                aggregate_id=proposal_id,
                expected_version=0,
                events=[NewEvent.of(withdrawn)],
                causation=Causation(actor=operator),
            )

        async def consumed() -> bool:
            return bool(seen) and runtime.consumers[1].stats.passed_by == 1

        await wait_until(consumed, what="the event back from Kafka")
        assert seen[0].payload_as(ProposalWithdrawn) == withdrawn
        assert seen[0].actor == operator
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            answer = await client.get("/healthz", headers={"X-Correlation-Id": "follow-me-1"})
            fresh = await client.get("/healthz")
        health = answer.json()
        # The correlation id a client sends comes back; without one, the service makes one up.
        assert answer.headers["x-correlation-id"] == "follow-me-1"
        assert uuid.UUID(fresh.headers["x-correlation-id"])
        assert health["status"] == "ok"
        assert health["outbox_lag"] == 0
        assert health["consumers"]["probe-watcher"]["applied"] == 1
        assert health["consumers"]["probe-watcher"]["lag"] == 0
        assert health["consumers"]["probe-watcher"]["passed_by"] == 0
        assert health["consumers"]["probe-submissions"]["applied"] == 0
        assert health["consumers"]["probe-submissions"]["passed_by"] == 1
        assert len(seen) == 1  # the withdrawal, applied by the watcher alone


async def test_a_supervised_task_is_stopped_with_the_service_and_health_reports_when_it_dies(
    settings: RuntimeSettings,
) -> None:
    runtime = ServiceRuntime(service="probe", settings=settings)
    app = create_app(runtime, title="probe", description="a service with workers of its own")
    stopped_cleanly: list[str] = []
    fail_now = asyncio.Event()

    async def steady(stop: asyncio.Event) -> None:
        await stop.wait()
        stopped_cleanly.append("steady")

    async def fragile(stop: asyncio.Event) -> None:
        await fail_now.wait()
        raise RuntimeError("the worker's loop broke")

    async with app.router.lifespan_context(app):
        runtime.supervise("steady-worker", steady)
        runtime.supervise("fragile-worker", fragile)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
            health = (await client.get("/healthz")).json()
            assert health["status"] == "ok", health
            assert health["tasks"]["steady-worker"] == health["tasks"]["fragile-worker"] == "running"
            fail_now.set()

            async def reported() -> bool:
                return (await client.get("/healthz")).json()["status"] == "degraded"

            await wait_until(reported, 10, "the dead worker in /healthz")
            health = (await client.get("/healthz")).json()
        assert health["stopped_tasks"] == ["fragile-worker"]
        assert health["tasks"]["fragile-worker"].startswith("failed: RuntimeError")
        assert health["tasks"]["steady-worker"] == "running"
    assert stopped_cleanly == ["steady"]  # the runtime's stop reached it and waited for it


async def test_work_started_by_on_started_is_supervised_and_its_closers_run_after_it_stopped(
    settings: RuntimeSettings,
) -> None:
    """A service starts its workers from ``on_started`` rather than wrapping the lifespan by hand:
    they are the runtime's tasks, and what they use is closed by ``on_stop`` only once they ended."""
    order: list[str] = []

    async def started(runtime: ServiceRuntime) -> None:
        async def worker(stop: asyncio.Event) -> None:
            await stop.wait()
            await asyncio.sleep(0.1)  # winding down still uses its client
            order.append("worker ended")

        async def close(what: str) -> None:
            order.append(f"{what} closed")

        runtime.on_stop(lambda: close("session"))
        runtime.on_stop(lambda: close("channel"))  # registered last, closed first
        runtime.supervise("own-worker", worker)

    runtime = ServiceRuntime(service="probe", settings=settings)
    app = create_app(
        runtime, title="probe", description="a service with a start of its own", on_started=started
    )
    async with app.router.lifespan_context(app):
        assert (await runtime.health())["tasks"]["own-worker"] == "running"
        assert order == []
    assert order == ["worker ended", "channel closed", "session closed"]


async def test_a_supervised_worker_silent_past_its_limit_is_reported_stuck_until_it_beats_again(
    settings: RuntimeSettings,
) -> None:
    runtime = ServiceRuntime(service="probe", settings=settings)
    app = create_app(runtime, title="probe", description="a service with a worker that hangs")
    hang, resume = asyncio.Event(), asyncio.Event()

    def worker(name: str) -> Callable[[asyncio.Event], Coroutine[Any, Any, None]]:
        async def loop(stop: asyncio.Event) -> None:
            while not stop.is_set():
                runtime.heartbeat(name)
                if name == "hanging-worker" and hang.is_set():
                    await resume.wait()  # a lock never released, say: alive, doing nothing
                    hang.clear()
                await asyncio.sleep(0.05)

        return loop

    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        runtime.supervise("steady-worker", worker("steady-worker"), stuck_after=1.0)
        runtime.supervise("hanging-worker", worker("hanging-worker"), stuck_after=1.0)
        answer = await client.get("/healthz")
        assert (answer.status_code, answer.json()["status"], answer.json()["stuck_tasks"]) == (200, "ok", [])
        hang.set()

        async def stuck() -> bool:
            return (await client.get("/healthz")).status_code == 503

        await wait_until(stuck, 5, "the silent worker in /healthz")
        answer = await client.get("/healthz")
        health = answer.json()
        assert (health["status"], health["stuck_tasks"], health["stopped_tasks"]) == (
            "degraded",
            ["hanging-worker"],
            [],
        )
        assert health["tasks"]["hanging-worker"] == "running"  # alive: only its silence tells
        assert health["heartbeats"]["hanging-worker"]["seconds_since_heartbeat"] > 1.0
        assert health["heartbeats"]["steady-worker"]["seconds_since_heartbeat"] < 1.0
        resume.set()

        async def beating_again() -> bool:
            return (await client.get("/healthz")).status_code == 200

        await wait_until(beating_again, 5, "the worker beating again")


async def test_readiness_and_the_detailed_health_report_the_database_and_the_broker(
    settings: RuntimeSettings,
) -> None:
    runtime = ServiceRuntime(service="probe", settings=settings)
    app = create_app(runtime, title="probe", description="a service on a reachable stack")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert (ready.json()["status"], ready.json()["database"], ready.json()["broker"]) == (
            "ready",
            True,
            True,
        )
        health = (await client.get("/healthz")).json()
        assert health["checks"]["database"]["ok"] and health["checks"]["broker"]["ok"], health
        assert health["checks"]["outbox"] == {
            "ok": True,
            "lag": 0,
            "oldest_seconds": 0.0,
            "max_seconds": settings.health_max_outbox_age_seconds,
        }


async def test_an_outbox_that_is_not_relayed_and_a_consumer_that_stopped_polling_turn_health_degraded(
    settings: RuntimeSettings,
) -> None:
    settings = settings.model_copy(
        update={"health_max_outbox_age_seconds": 1.0, "health_max_seconds_since_poll": 1.0}
    )
    release = asyncio.Event()

    async def slow(conn: asyncpg.Connection, event: EventEnvelope) -> None:
        await release.wait()  # a batch that does not end: the consumer polls no more

    runtime = ServiceRuntime(service="probe", settings=settings)
    runtime.add_consumer("probe-slow", [PROPOSAL_EVENTS.name], per_event(slow))
    app = create_app(runtime, title="probe", description="a service whose relay and consumer stall")
    # Another holder of the relay's lock keeps this service's relay a standby: nothing is published.
    url = await ensure_database(settings.database_url, settings.database_for("probe"))
    holder = await asyncpg.connect(url)
    await holder.execute("SELECT pg_advisory_lock($1)", RELAY_LOCK)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
        ):
            assert runtime.pool is not None and runtime.store is not None
            assert (await client.get("/healthz")).status_code == 200
            operator = Actor(subject="op-1", role=Role.VILLAGE_OPERATOR, region="17.71.01.1001")
            withdrawn = ProposalWithdrawn(
                proposal_id=str(uuid.uuid4()), round=1, village_code="17.71.01.1001",
                withdrawn_by=operator, reason="entered twice by mistake",
            )  # fmt: skip
            async with runtime.pool.acquire() as conn, conn.transaction():
                await runtime.store.append(
                    conn,
                    aggregate_type="proposal",
                    aggregate_id=withdrawn.proposal_id,
                    expected_version=0,
                    events=[NewEvent.of(withdrawn)],
                    causation=Causation(actor=operator),
                )

            async def failing(*names: str) -> bool:
                answer = await client.get("/healthz")
                return answer.status_code == 503 and answer.json()["failing_checks"] == list(names)

            await wait_until(lambda: failing("outbox"), 10, "the unrelayed outbox in /healthz")
            outbox = (await client.get("/healthz")).json()["checks"]["outbox"]
            # The figure is rounded to a tenth: an event 1.04 s old fails the check and reads 1.0.
            assert outbox["lag"] == 1 and outbox["oldest_seconds"] >= 1.0, outbox
            await holder.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK)  # published, then stuck
            await wait_until(lambda: failing("consumers"), 20, "the consumer that stopped polling")
            report = (await client.get("/healthz")).json()
            assert report["checks"]["consumers"]["not_polling"] == ["probe-slow"]
            assert report["consumers"]["probe-slow"]["seconds_since_poll"] >= 1.0  # rounded to a tenth
            release.set()

            async def ok() -> bool:
                return (await client.get("/healthz")).status_code == 200

            await wait_until(ok, 10, "health ok once the batch is done")
    finally:
        release.set()
        await holder.close()


async def test_a_service_health_check_that_fails_or_raises_turns_health_degraded(
    settings: RuntimeSettings,
) -> None:
    runtime = ServiceRuntime(service="probe", settings=settings)
    app = create_app(runtime, title="probe", description="a service with checks of its own")
    state = {"healthy": True, "raise": False}

    async def import_queue() -> tuple[bool, dict[str, object]]:
        if state["raise"]:
            raise RuntimeError("cannot read the queue")
        return state["healthy"], {"oldest_waiting_seconds": 3}

    runtime.add_health_check("imports", import_queue)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        health = (await client.get("/healthz")).json()
        assert health["status"] == "ok", health
        assert health["checks"]["imports"] == {"ok": True, "oldest_waiting_seconds": 3}
        state["healthy"] = False
        health = (await client.get("/healthz")).json()
        assert (health["status"], health["failing_checks"]) == ("degraded", ["imports"])
        state["raise"] = True
        health = (await client.get("/healthz")).json()
        assert health["status"] == "degraded"
        assert health["checks"]["imports"]["error"].startswith("RuntimeError")


async def test_processes_of_one_service_starting_at_once_share_its_database_and_migrations(
    infra: Infra,
) -> None:
    """DTKS_WORKERS starts several processes together: none may fail on the other's creations."""
    from dtks_runtime.db import ensure_database, migrate

    for _ in range(3):
        name = f"race_{uuid.uuid4().hex[:10]}"
        urls = await asyncio.gather(*(ensure_database(infra.database_url, name) for _ in range(4)))
        assert len(set(urls)) == 1
        conns = [await asyncpg.connect(urls[0]) for _ in range(4)]
        try:
            steps = ["CREATE TABLE raced (id int PRIMARY KEY)", "INSERT INTO raced VALUES (1)"]
            await asyncio.gather(*(migrate(c, "race", steps) for c in conns))
            assert await conns[0].fetchval("SELECT count(*) FROM raced") == 1
        finally:
            for c in conns:
                await c.close()


def test_a_consumer_of_an_event_type_no_contract_has_is_refused_when_added() -> None:
    # A misspelt type would pass every event of the real one by, unread; so the service does not start.
    async def ignore(conn: asyncpg.Connection, event: EventEnvelope) -> None:
        return None

    runtime = ServiceRuntime(
        service="probe", settings=RuntimeSettings(database_url="postgresql://unused/probe")
    )
    with pytest.raises(ValueError, match=r"proposal\.submited"):
        runtime.add_consumer(
            "probe-typo", [PROPOSAL_EVENTS.name], per_event(ignore),
            event_types={"proposal.submitted", "proposal.submited"},
        )  # fmt: skip
    runtime.add_consumer(
        "probe-real", [PROPOSAL_EVENTS.name], per_event(ignore), event_types={"proposal.submitted"}
    )
