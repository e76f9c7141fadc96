"""Wiring of the complaints service: settings, runtime, the proposal-following consumer, the
escalation worker, routes, and the table of its error codes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from fastapi import FastAPI

from dtks_complaints import api, life_events
from dtks_complaints.adapters.schema import MIGRATIONS
from dtks_complaints.consumer import CONSUMER_NAME, EVENT_TYPES, TOPICS, status_handler
from dtks_complaints.deps import LIMIT_TABLE, bootstrap
from dtks_complaints.errors import ERROR_STATUSES
from dtks_complaints.escalation import WORKER_NAME, EscalationWorker
from dtks_complaints.settings import ComplaintsSettings
from dtks_contracts.timestamps import utc_now
from dtks_runtime import client_limit
from dtks_runtime.service import ServiceRuntime, create_app, serve

DESCRIPTION = """Citizens complain without signing in (`POST /public/complaints`: NIK, name as on the
identity card, village, phone for the answer, what is wrong) or at their village's welfare post, and
follow their complaint by its tracking code (status and next step only). The village operator sees
the complaints waiting with their ages and closes each with a coded reason or ties it to the proposal
made of it, whose decree then closes it. Complaints not acted on by their deadline are escalated to
the district. Events go out through the outbox to `dtks.complaint.events`."""


def build_app(
    settings: ComplaintsSettings | None = None, now: Callable[[], dt.datetime] = utc_now
) -> FastAPI:
    """``now``: the clock deadlines, ages and escalations read (a test passes its own)."""
    settings = settings or ComplaintsSettings()
    # "complaint": the owner of dtks.complaint.events and the signer its records carry.
    runtime = ServiceRuntime(service="complaint", settings=settings)
    runtime.add_migrations("complaint", MIGRATIONS)
    # Not a projection of events: its own component, left alone by a replay.
    runtime.add_migrations("complaints-form-limit", client_limit.migrations(LIMIT_TABLE))
    runtime.add_consumer(
        CONSUMER_NAME, TOPICS, status_handler(lambda: runtime.started().store), event_types=EVENT_TYPES
    )
    runtime.add_consumer(life_events.CONSUMER_NAME, life_events.TOPICS, life_events.draft_opener(now))

    async def started(runtime: ServiceRuntime) -> None:
        deps = bootstrap(runtime.started(), settings, now)
        app.state.deps = deps
        worker = EscalationWorker(deps)
        app.state.escalation_worker = worker
        if settings.escalation_worker_enabled:
            runtime.supervise(WORKER_NAME, worker.run, stuck_after=settings.escalation_every_seconds * 5 + 60)
        # The three limits share one table: pruned by the slowest to refill (the NIK's, a day), so no
        # bucket still short of tokens is dropped.
        slowest = max(deps.limits.all(), key=lambda limit: limit.refill_seconds)
        runtime.supervise("form-limit-pruner", lambda stop: slowest.prune_until(deps.pool, stop, every=300))

    app = create_app(
        runtime,
        title="Complaints service",
        description=DESCRIPTION,
        on_started=started,
        error_statuses=ERROR_STATUSES,
    )
    app.include_router(api.router)
    return app


def run() -> None:
    serve(
        build_app(),
        port_env="DTKS_COMPLAINTS_PORT",
        default_port=8007,
        factory="dtks_complaints.main:build_app",
    )
