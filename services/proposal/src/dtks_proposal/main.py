"""Wiring of the proposal service: settings, runtime, consumer, the handlers' dependencies, group
commit, import worker, routes, and the table of its error codes."""

from __future__ import annotations

from fastapi import FastAPI

from dtks_contracts.topics import VERIFICATION_EVENTS
from dtks_proposal import api
from dtks_proposal import round_outcomes as round_outcomes_consumer
from dtks_proposal.adapters.schema import MIGRATIONS
from dtks_proposal.consumer import CONSUMER_NAME, EVENT_TYPES, TOPICS, status_handler
from dtks_proposal.deps import bootstrap
from dtks_proposal.errors import ERROR_STATUSES
from dtks_proposal.group_commit import SubmissionGroup
from dtks_proposal.importer import ImportWorker
from dtks_proposal.round_outcomes import RoundOutcomes
from dtks_proposal.settings import ProposalSettings
from dtks_runtime import freezes
from dtks_runtime.body_limits import MiB
from dtks_runtime.service import ServiceRuntime, create_app, serve

DESCRIPTION = """Village operators submit proposals (*pengusulan*): new households, corrections and
deactivations, one by one, as an offline queue (`POST /proposals/batch`) or as a bulk file
(`POST /imports`); they resubmit returned proposals and withdraw undecided ones, and follow each
proposal's status and timeline, fed by the verification and registry events. The Ministry opens and
closes proposal windows and sets quotas per regency. Every submission is idempotent (client
`proposal_id` or `Idempotency-Key`; without either, the same content from the same operator within
an hour is answered with the first proposal); every error is an RFC 9457 problem document with a
stable code. An import that keeps failing is parked as `failed` with its reason, never holding up
the others; an import can be cancelled (`POST /imports/{id}/cancellation`).
Events go out through the outbox to `dtks.proposal.events`."""

MULTIPART_ALLOWANCE = 1 * MiB


def build_app(settings: ProposalSettings | None = None) -> FastAPI:
    settings = settings or ProposalSettings()
    runtime = ServiceRuntime(service="proposal", settings=settings)
    runtime.add_migrations("proposal", MIGRATIONS)
    runtime.add_consumer(CONSUMER_NAME, TOPICS, status_handler(), event_types=EVENT_TYPES)
    # The Ministry's freeze periods into the service's own table (see dtks_runtime.freezes).
    runtime.add_consumer(
        "proposal-freezes",
        [VERIFICATION_EVENTS.name],
        freezes.apply_freeze_events,
        verify_provenance=True,
        event_types=freezes.FREEZE_EVENT_TYPES,
    )
    # Re-verification rounds' visits that propose a correction or deactivation (verification signs them).
    round_outcomes = RoundOutcomes(runtime)
    runtime.add_consumer(
        round_outcomes_consumer.CONSUMER_NAME,
        round_outcomes_consumer.TOPICS,
        round_outcomes,
        verify_provenance=True,
        event_types=round_outcomes_consumer.EVENT_TYPES,
    )
    body_limits = {
        "POST /proposals/batch": settings.batch_max_bytes,
        # The file's own limit, plus its multipart framing and the form fields beside it.
        "POST /imports": settings.import_max_bytes + MULTIPART_ALLOWANCE,
    }

    async def started(runtime: ServiceRuntime) -> None:
        # The handlers' dependencies exist once the runtime runs (its pool and store): built here,
        # once, and reached by the routes through app.state.deps.
        deps = bootstrap(runtime.started(), settings)
        app.state.deps = deps
        # Concurrent single submissions share transactions (see group_commit); off: each goes alone.
        app.state.submission_group = SubmissionGroup(deps) if settings.group_commit else None
        worker = ImportWorker(
            deps,
            chunk_households=settings.import_chunk_households,
            concurrency=settings.import_concurrency,
            max_attempts=settings.import_max_attempts,
            retry_seconds=settings.import_retry_seconds,
            stall_seconds=settings.import_stall_seconds,
        )
        # The upload route wakes it. Not started with import_worker_enabled=false (tests that work an
        # import chunk by chunk call its process_next_chunk themselves).
        app.state.import_worker = worker
        if settings.import_worker_enabled:
            # One of the runtime's supervised tasks: it gets the runtime's stop signal, is awaited
            # before the pool closes, and a worker that dies turns /healthz degraded; imports waiting
            # with no progress for import_stall_seconds turn it degraded too.
            runtime.supervise("import-worker", worker.run)
            runtime.add_health_check("imports", worker.health)

    app = create_app(
        runtime,
        title="Proposal service",
        description=DESCRIPTION,
        body_limits=body_limits,
        on_started=started,
        error_statuses=ERROR_STATUSES,
    )
    app.include_router(api.router)
    return app


def run() -> None:
    # Safe in several processes (DTKS_WORKERS): the import worker takes households with SKIP LOCKED,
    # the group commit and idempotency rely on the database, not on one process's memory.
    serve(
        build_app(),
        port_env="DTKS_PROPOSAL_PORT",
        default_port=8001,
        factory="dtks_proposal.main:build_app",
    )
