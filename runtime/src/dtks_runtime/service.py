"""Wiring shared by every service: database, event store, relay, consumers, and the HTTP app around them.

A service's ``main.py`` builds a :class:`ServiceRuntime`, registers its migrations and consumers,
and hands :func:`create_app` its routers; everything else (tables of the runtime, topics, the
relay, tracing, problem documents, health with consumer lag) is done here once.

Health, as orchestrators expect it, is two questions. ``/readyz``: may this process take traffic
now (started, not stopping, its database and broker reachable)? ``/healthz``: is it doing its work,
with the detailed report: 200 ``ok``, or 503 ``degraded`` with the same body when the database or
the broker is unreachable, the outbox's oldest event or a consumer's last poll is older than its
limit (``RuntimeSettings.health_*``), a supervised task died or went silent past its limit, or a
check a service added fails. Both stay cheap enough to poll every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from fastapi import FastAPI
from fastapi.responses import JSONResponse

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import EVENT_TYPES
from dtks_contracts.topics import partition_key, topic_for, with_prefix
from dtks_contracts.upcasting import verify_upcaster_chains
from dtks_runtime import event_store
from dtks_runtime.auth.oidc import ProviderKeys
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.body_limits import BodyLimits
from dtks_runtime.consumer import BatchHandler, EventConsumer
from dtks_runtime.db import create_pool, ensure_database, migrate
from dtks_runtime.event_store import EventStore
from dtks_runtime.gc_policy import tune_service_process
from dtks_runtime.health import BrokerProbe, database_reachable, timed
from dtks_runtime.http_edge import install_http_edge
from dtks_runtime.kafka_security import kafka_security
from dtks_runtime.outbox_relay import OutboxRelay
from dtks_runtime.problems import install_problem_handlers
from dtks_runtime.settings import RuntimeSettings
from dtks_runtime.telemetry import (
    configure_logging,
    configure_tracing,
    get_logger,
    http_server_telemetry,
)
from dtks_runtime.topics import consumer_topics, ensure_topics
from dtks_runtime.unit_of_work import UnitOfWork, unit_of_work

log = get_logger(__name__)

# A service's own health check: returns whether its part is healthy and the figures that say why.
HealthCheck = Callable[[], Awaitable[tuple[bool, dict[str, Any]]]]


@dataclass(frozen=True)
class StartedRuntime:
    """A started :class:`ServiceRuntime` (see :meth:`ServiceRuntime.started`): what handlers reach
    the database through, with nothing left to assert."""

    runtime: ServiceRuntime
    pool: asyncpg.Pool
    store: EventStore

    @property
    def settings(self) -> RuntimeSettings:
        return self.runtime.settings

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """One transaction with the store bound to it (see dtks_runtime.unit_of_work)."""
        return unit_of_work(self.pool, self.store)


@dataclass(frozen=True)
class _ConsumerSpec:
    """A consumer asked for with :meth:`ServiceRuntime.add_consumer`, made when the runtime starts."""

    name: str
    topics: list[str]
    handler: BatchHandler
    decode: Callable[[bytes], EventEnvelope]
    verify_provenance: bool
    event_types: Collection[str] | None


@dataclass
class ServiceRuntime:
    """The long-running parts of one service process."""

    service: str  # e.g. "proposal"; also names its database dtks_<service>
    settings: RuntimeSettings
    migrations: list[tuple[str, Sequence[str]]] = field(default_factory=list)
    pool: asyncpg.Pool | None = None
    store: EventStore | None = None
    relay: OutboxRelay | None = None
    consumers: list[EventConsumer] = field(default_factory=list)
    _consumer_specs: list[_ConsumerSpec] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _health_checks: dict[str, HealthCheck] = field(default_factory=dict)
    _closers: list[Callable[[], Awaitable[Any]]] = field(default_factory=list)
    # Supervised tasks that promised a heartbeat: name -> (seconds of silence allowed, last beat).
    _heartbeats: dict[str, tuple[float, float]] = field(default_factory=dict)
    _broker: BrokerProbe | None = None
    accepting: bool = False  # started and not stopping: what /readyz reports
    database_url: str = ""

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        """One transaction with the store bound to it (see dtks_runtime.unit_of_work)."""
        return self.started().unit_of_work()

    def started(self) -> StartedRuntime:
        """This runtime as typed once started: its pool and store are there, not Optional.

        Take it once where a service builds its dependencies (``create_app(on_started=)``) instead of
        asserting ``runtime.pool is not None`` in every handler; before :meth:`start` it raises."""
        if self.pool is None or self.store is None:
            raise RuntimeError(f"{self.service}: the runtime has not started (no pool or store yet)")
        return StartedRuntime(self, self.pool, self.store)

    def topic(self, name: str) -> str:
        return f"{self.settings.topic_prefix}{name}"

    def add_migrations(self, component: str, steps: Sequence[str]) -> None:
        self.migrations.append((component, steps))

    def add_consumer(
        self,
        name: str,
        topics: Sequence[str],
        handler: BatchHandler,
        *,
        decode: Callable[[bytes], EventEnvelope] = EventEnvelope.from_bytes,
        verify_provenance: bool = False,
        event_types: Collection[str] | None = None,
    ) -> None:
        """``name`` is the consumer group; ``topics`` are contract names, prefixed here. ``decode``
        turns a record's value into the envelope ``handler`` receives (see EventConsumer).
        ``verify_provenance``: dead-letter records not signed by their topic's owner (the audit
        trail's consumers; see dtks_runtime.provenance). ``event_types``: the only types ``handler``
        reads; the others are consumed undecoded (see EventConsumer). A name no contract gives is
        refused here: the misspelt type's events would be passed by, unread and unreported."""
        unknown = sorted(set(event_types or ()) - EVENT_TYPES.keys())
        if unknown:
            raise ValueError(f"consumer {name}: no contract has the event type {', '.join(unknown)}")
        self._consumer_specs.append(
            _ConsumerSpec(
                name, [self.topic(t) for t in topics], handler, decode, verify_provenance, event_types
            )
        )

    def add_health_check(self, name: str, check: HealthCheck) -> None:
        """Add a check of a service's own part (a worker's progress, say) to ``/healthz``: it answers
        ``(healthy, details)``; an unhealthy or failing check turns the status to ``degraded``."""
        self._health_checks[name] = check

    async def _run_health_checks(self) -> dict[str, dict[str, Any]]:
        results: dict[str, dict[str, Any]] = {}
        for name, check in self._health_checks.items():
            try:
                healthy, details = await check()
            except Exception as error:  # a check that cannot run is itself a finding
                healthy, details = False, {"error": repr(error)}
            results[name] = {"ok": healthy, **details}
        return results

    async def start(self) -> None:
        s = self.settings
        # Every stored schema version must lift to the current one before any event is read.
        verify_upcaster_chains()
        self.database_url = await ensure_database(s.database_url, s.database_for(self.service))
        self.pool = await create_pool(self.database_url, max_size=s.db_pool_max_size)
        async with self.pool.acquire() as conn:
            await event_store.install(conn)
            for component, steps in self.migrations:
                await migrate(conn, component, steps)
        specs = list(with_prefix(s.topic_prefix))
        for asked in self._consumer_specs:
            specs += consumer_topics(asked.name, s.topic_prefix)
        security = kafka_security(s)  # the service's own login, for every client below
        await ensure_topics(s.kafka_bootstrap, specs, security=security)
        prefix = s.topic_prefix
        self.store = EventStore(
            topic_for=lambda e: topic_for(e.event_type, prefix).name,
            key_for=lambda e: partition_key(e).decode(),
        )
        self._broker = BrokerProbe(
            s.kafka_bootstrap,
            timeout=s.health_probe_timeout_seconds,
            cache_seconds=s.health_probe_cache_seconds,
            security=security,
        )
        self.relay = OutboxRelay(
            self.database_url,
            s.kafka_bootstrap,
            name=f"{self.service}-outbox",
            signer=s.event_signer(self.service),
            security=security,
        )
        self._stop = asyncio.Event()
        self._tasks.append(asyncio.create_task(self.relay.run(self._stop), name="outbox-relay"))
        for spec in self._consumer_specs:
            consumer = EventConsumer(
                name=spec.name,
                topics=spec.topics,
                handler=spec.handler,
                pool=self.pool,
                kafka_bootstrap=s.kafka_bootstrap,
                topic_prefix=prefix,
                decode=spec.decode,
                provenance=s.provenance_check() if spec.verify_provenance else None,
                security=security,
                event_types=spec.event_types,
            )
            self.consumers.append(consumer)
            self._tasks.append(asyncio.create_task(consumer.run(self._stop), name=f"consumer-{spec.name}"))
        self.accepting = True

    def supervise(
        self,
        name: str,
        run: Callable[[asyncio.Event], Coroutine[Any, Any, None]],
        *,
        stuck_after: float | None = None,
    ) -> asyncio.Task[None]:
        """Run a service's own long-running work (a worker loop) as one of the runtime's tasks.

        Like the relay and the consumers it gets the runtime's stop signal, is awaited by
        :meth:`stop` before the pool closes, and is watched by :meth:`health`: a task that ends
        while the service runs (crashed or cancelled) turns the status to ``degraded``, so a
        monitor sees it instead of the service silently doing less. Call after :meth:`start`.

        A task alive but stuck (waiting on a lock, a loop that no longer turns) looks the same as a
        working one from outside; with ``stuck_after`` the task promises to call
        ``runtime.heartbeat(name)`` at least that often (each turn of its loop, idle turns too), and
        a longer silence turns the status to ``degraded`` with the task in ``stuck_tasks``.
        """
        if self.pool is None:
            raise RuntimeError("supervise() needs a started runtime (its pool and stop signal)")
        if stuck_after is not None:
            self._heartbeats[name] = (stuck_after, time.monotonic())
        task = asyncio.create_task(run(self._stop), name=name)
        task.add_done_callback(self._report_end)
        self._tasks.append(task)
        return task

    def heartbeat(self, name: str) -> None:
        """The supervised task ``name`` is making progress (see :meth:`supervise`'s ``stuck_after``)."""
        if name in self._heartbeats:
            self._heartbeats[name] = (self._heartbeats[name][0], time.monotonic())

    def on_stop(self, close: Callable[[], Awaitable[Any]]) -> None:
        """Run ``close`` (a client's ``close``, say) when the service stops: after its tasks ended,
        so nothing a supervised worker or a consumer still uses is closed under it, and before the
        pool closes. Closers run last registered first; one that fails is logged, the others run."""
        self._closers.append(close)

    def _report_end(self, task: asyncio.Task[None]) -> None:
        if self._stop.is_set():
            return  # stopping: every task is meant to end
        if task.cancelled():
            log.error("supervised task cancelled", task=task.get_name())
        else:
            log.error("supervised task ended", task=task.get_name(), error=repr(task.exception()))

    async def stop(self) -> None:
        self.accepting = False  # /readyz turns away new traffic while the tasks wind down
        self._stop.set()
        for task in self._tasks:
            # A task that failed earlier was reported then (log, /healthz); stopping goes on.
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 30)
        self._tasks.clear()
        while self._closers:
            close = self._closers.pop()
            try:
                await close()
            except Exception as error:
                log.error("closing on stop failed", error=repr(error))
        if self.pool is not None:
            await self.pool.close()
        if self._broker is not None:
            await self._broker.close()

    async def readiness(self) -> dict[str, Any]:
        """May this process take traffic: started and not stopping, database and broker reachable."""
        assert self.pool is not None and self._broker is not None
        timeout = self.settings.health_probe_timeout_seconds
        (database, db_details), (broker, broker_details) = await asyncio.gather(
            database_reachable(self.pool, timeout), self._broker.check()
        )
        ready = self.accepting and database and broker
        return {
            "status": "ready" if ready else "not_ready",
            "service": self.service,
            "accepting": self.accepting,
            "database": database,
            "broker": broker,
            "details": {"database": db_details, "broker": broker_details},
        }

    async def health(self) -> dict[str, Any]:
        """The detailed report of ``/healthz`` (see the module's docstring for what degrades it).

        Over 60 lines because every probe (database, broker, relay, workers, the service's own checks)
        runs at once under one timeout and is gathered here into one report; each is a small nested
        coroutine sharing the settings and the report."""
        assert self.pool is not None and self.relay is not None and self._broker is not None
        s = self.settings
        timeout = s.health_probe_timeout_seconds
        relay, pool = self.relay, self.pool
        backlog: tuple[int, float] | None = None

        async def read_outbox() -> None:
            # Reaching the outbox is the database probe: a pooled connection, one indexed query.
            nonlocal backlog
            async with pool.acquire(timeout=timeout) as conn:
                backlog = await relay.backlog(conn)

        (database, db_details), (broker, broker_details) = await asyncio.gather(
            timed(read_outbox, timeout), self._broker.check()
        )
        checks: dict[str, dict[str, Any]] = {
            "database": {"ok": database, **db_details},
            "broker": {"ok": broker, **broker_details},
        }
        if backlog is not None:
            waiting, oldest = backlog
            checks["outbox"] = {
                "ok": oldest <= s.health_max_outbox_age_seconds,
                "lag": waiting,
                "oldest_seconds": round(oldest, 1),
                "max_seconds": s.health_max_outbox_age_seconds,
            }

        async def lag_of(consumer: EventConsumer) -> int | None:
            # Without the broker a partition's position may wait for it: bounded, then unknown.
            try:
                return sum((await asyncio.wait_for(consumer.lag(), timeout)).values())
            except Exception:
                return None

        lags = await asyncio.gather(*(lag_of(c) for c in self.consumers))
        consumers = {}
        silent = []
        for c, lag in zip(self.consumers, lags, strict=True):
            since_poll = c.seconds_since_poll()
            if since_poll > s.health_max_seconds_since_poll:
                silent.append(c.name)
            consumers[c.name] = {
                "lag": lag,
                "seconds_since_poll": round(since_poll, 1),
                "applied": c.stats.applied,
                "duplicates": c.stats.duplicates,
                "dead_lettered": c.stats.dead_lettered,
                # Records of types it does not read (its event_types), consumed undecoded: why a
                # consumer of a busy topic applied few.
                "passed_by": c.stats.passed_by,
            }
        if self.consumers:
            checks["consumers"] = {
                "ok": not silent,
                "not_polling": silent,
                "max_seconds_since_poll": s.health_max_seconds_since_poll,
            }
        tasks = {t.get_name(): _task_state(t) for t in self._tasks}
        dead_tasks = [name for name, state in tasks.items() if state != "running"]
        now = time.monotonic()
        heartbeats = {
            name: {"seconds_since_heartbeat": round(now - last, 1), "stuck_after": limit}
            for name, (limit, last) in self._heartbeats.items()
        }
        stuck_tasks = [
            name
            for name, beat in heartbeats.items()
            if tasks.get(name) == "running" and beat["seconds_since_heartbeat"] > beat["stuck_after"]
        ]
        checks.update(await self._run_health_checks())
        failing = [name for name, result in checks.items() if not result["ok"]]
        return {
            "status": "ok" if not dead_tasks and not stuck_tasks and not failing else "degraded",
            "service": self.service,
            # None while the database cannot be read: unknown, not zero.
            "outbox_lag": backlog[0] if backlog is not None else None,
            "consumers": consumers,
            "tasks": tasks,
            "stopped_tasks": dead_tasks,
            "stuck_tasks": stuck_tasks,
            "heartbeats": heartbeats,
            "checks": checks,
            "failing_checks": failing,
        }


def _task_state(task: asyncio.Task[None]) -> str:
    """running, cancelled, stopped (returned), or failed with the error's repr."""
    if not task.done():
        return "running"
    if task.cancelled():
        return "cancelled"
    error = task.exception()
    return "stopped" if error is None else f"failed: {error!r}"


def create_app(
    runtime: ServiceRuntime,
    *,
    title: str,
    description: str,
    version: str = "1.0.0",
    on_started: Callable[[ServiceRuntime], Awaitable[None]] | None = None,
    body_limits: Mapping[str, int] | None = None,
    error_statuses: Mapping[str, int] | None = None,
) -> FastAPI:
    """The FastAPI app of a service: lifespan runs the runtime; tracing, problems and health built in.

    Over 60 lines because the app's lifespan, middleware, error handlers and health routes are put
    together in one place, in the order they must run, so that no service wires one of them itself.

    ``on_started``: a service's own start, once the runtime runs (its pool, store and stop signal
    exist): where it starts its workers (``runtime.supervise``) and registers what to close when it
    stops (``runtime.on_stop``), instead of wrapping the app's lifespan by hand.

    ``body_limits``: the routes whose bodies may be larger than ``DTKS_HTTP_MAX_BODY_BYTES``, as
    ``{"POST /imports": bytes}`` (see dtks_runtime.body_limits).

    ``error_statuses``: the service's table from a domain error's code to its HTTP status
    (see dtks_runtime.errors); a code not in it answers 422."""
    settings = runtime.settings
    settings.check_production_safety()
    configure_logging(runtime.service, settings.log_level)
    configure_tracing(runtime.service, settings.otel_exporter)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await runtime.start()
        try:
            if on_started is not None:
                await on_started(runtime)
            if os.environ.get("DTKS_TUNE_GC") == "1":  # set by serve(): a service process, not a test
                tune_service_process()
            log.info("service started", service=runtime.service)
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=title,
        description=description,
        version=version,
        lifespan=lifespan,
        telemetry=http_server_telemetry(),
    )
    app.state.runtime = runtime
    provider = None
    if settings.oidc_issuer:
        provider = ProviderKeys(settings.oidc_issuer, settings.oidc_audience, settings.oidc_jwks_url)
        runtime.add_health_check("identity_provider", provider.health)
    app.state.tokens = TokenService(settings.shared_secret(), settings.jwt_issuer, provider=provider)
    install_problem_handlers(app, error_statuses)
    # Body limits per route (the service's own beside the default) and correlation ids; see http_edge.
    limits = BodyLimits(settings.http_max_body_bytes, dict(body_limits or {}))
    install_http_edge(app, limits=limits, tokens=app.state.tokens)

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="Liveness and the detailed report: outbox lag, consumers, tasks, checks",
        responses={503: {"description": "Degraded: the same report, with `failing_checks` and the tasks"}},
    )
    async def healthz() -> JSONResponse:
        report = await runtime.health()
        return JSONResponse(report, status_code=200 if report["status"] == "ok" else 503)

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: started, and the database and the broker reachable",
        responses={503: {"description": "Not ready: the same body says which part is missing"}},
    )
    async def readyz() -> JSONResponse:
        report = await runtime.readiness()
        return JSONResponse(report, status_code=200 if report["status"] == "ready" else 503)

    return app


def _settings_of(app: FastAPI) -> RuntimeSettings:
    """The settings ``app`` was built with: its runtime's, or (the simulator) its own."""
    runtime = getattr(app.state, "runtime", None)
    if isinstance(runtime, ServiceRuntime):
        return runtime.settings
    settings = getattr(app.state, "settings", None)
    return settings if isinstance(settings, RuntimeSettings) else RuntimeSettings()


def serve(
    app: FastAPI,
    *,
    port_env: str,
    default_port: int,
    factory: str | None = None,
    workers_env: str | None = None,
) -> None:
    """Run one service with uvicorn on 127.0.0.1 (DTKS_BIND_HOST to change) and its port.

    ``workers_env``: the service's own process count (``DTKS_DCI_WORKERS``, say), read before
    ``DTKS_WORKERS``, for a system whose other services run one process.

    ``DTKS_WORKERS`` > 1 runs that many processes on the port, each building its app from
    ``factory`` (``"module:function"``), for a service whose requests need more than one core. Each
    process runs the whole runtime: the relay leads in one of them at a time (an advisory lock), the
    consumers share their partitions as one group, and background work must take its own rows
    (``SKIP LOCKED``) to be safe in several processes.
    """

    import uvicorn

    host = os.environ.get("DTKS_BIND_HOST", "127.0.0.1")
    port = int(os.environ.get(port_env, str(default_port)))
    workers = int(
        (os.environ.get(workers_env) if workers_env else None) or os.environ.get("DTKS_WORKERS", "1")
    )
    # Tuned in each process as its app starts (see create_app), so worker processes are tuned too.
    os.environ["DTKS_TUNE_GC"] = "1"
    # uvicorn picks uvloop and httptools (dependencies of the runtime) when they are installed: a
    # cheaper event loop and HTTP parser than asyncio's and h11, per request and per database round trip.
    options: dict[str, Any] = {"host": host, "port": port, "log_config": None, "access_log": False}
    # Forwarded headers only from the proxies the settings name. uvicorn's own default believes
    # X-Forwarded-For from 127.0.0.1, so any local client could claim any address (and get a fresh
    # allowance of the citizens' check with each claim).
    proxies = _settings_of(app).forwarded_allow_ips.strip()
    options.update(proxy_headers=bool(proxies), forwarded_allow_ips=proxies)
    if workers > 1:
        if factory is None:
            raise RuntimeError("DTKS_WORKERS > 1 needs the service's app factory")
        uvicorn.run(factory, factory=True, workers=workers, lifespan="on", **options)
    else:
        uvicorn.run(app, lifespan="on", **options)
