"""Wiring of the verification service: settings, runtime, civil-registry client, worker, routes."""

from __future__ import annotations

from fastapi import FastAPI

from dtks_runtime.gc_policy import young_threshold_at_least
from dtks_runtime.service import ServiceRuntime, create_app, serve
from dtks_verification import api, consumer, household_flags, reverification_api
from dtks_verification.adapters.civil_registry import CircuitBreaker, CivilRegistryClient
from dtks_verification.adapters.photo_store import FilesystemPhotoStore, PhotoStore, s3_store
from dtks_verification.adapters.schema import MIGRATIONS
from dtks_verification.checks_worker import STUCK_AFTER_SECONDS, PendingChecksWorker
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.photo_evidence import EvidencePolicy, load_readers
from dtks_verification.overdue_scan import OverdueScan
from dtks_verification.settings import VerificationSettings

CHECKS_WORKER_TASK = "pending-checks"
OVERDUE_SCAN_TASK = "overdue-scan"

# The unit of work of this service is a batch of checks (see dtks_runtime.gc_policy): it holds many
# objects per proposal (models, findings, rows, event envelopes) until it commits, some 200,000 for
# 2,000 proposals, so the collector's young threshold is set above that.
CHECK_BATCH_OBJECTS = 300_000

DESCRIPTION = """The integrity standard and the tiered verification (verivali) of proposals.

Proposals arrive from `dtks.proposal.events`; each is checked automatically against the register
and the civil registry (Dukcapil), then verified tier by tier (district, regency, the regent's
ratification by decree, province, Ministry). Every decision, return and acceptance is an event on
`dtks.verification.events`; the Ministry's acceptance carries the full verified household.
"""


def photo_store(settings: VerificationSettings) -> PhotoStore:
    if settings.evidence_store == "s3":
        return s3_store(
            settings.evidence_s3_endpoint_url, settings.evidence_s3_bucket, settings.evidence_s3_region
        )
    return FilesystemPhotoStore(settings.evidence_path())


def build_app(settings: VerificationSettings | None = None) -> FastAPI:
    """The verification service's app: migrations, consumers, workers, health checks and routes.

    Over 60 lines because it is the service's whole wiring in one readable place (as cosmicpython's
    bootstrap), each consumer and worker beside the setting that enables it."""
    settings = settings or VerificationSettings()
    runtime = ServiceRuntime(service="verification", settings=settings)
    runtime.add_migrations("verification", MIGRATIONS)
    intake = consumer.Intake()
    runtime.add_consumer(consumer.CONSUMER_NAME, consumer.TOPICS, intake, decode=consumer.decode_event)
    # Deaths and complaints that flag registered households for a re-verification round's visit.
    runtime.add_consumer(
        household_flags.CONSUMER_NAME,
        household_flags.TOPICS,
        household_flags.apply_flag_events,
        event_types=household_flags.EVENT_TYPES,
    )

    async def started(runtime: ServiceRuntime) -> None:
        # The runtime runs (database, topics, relay, consumers). The worker is one of its supervised
        # tasks: /healthz reports it if it dies or stops beating, and the runtime's stop ends it
        # before the pool closes; the client closes after it (on_stop).
        assert runtime.pool is not None and runtime.store is not None
        client = CivilRegistryClient(
            settings.civil_registry_url,
            timeout_seconds=settings.civil_registry_timeout_seconds,
            retries=settings.civil_registry_retries,
            backoff_seconds=settings.civil_registry_backoff_seconds,
            max_connections=settings.civil_registry_max_connections,
            breaker=CircuitBreaker(settings.breaker_failure_threshold, settings.breaker_open_seconds),
        )
        runtime.on_stop(client.aclose)
        young_threshold_at_least(CHECK_BATCH_OBJECTS)
        load_readers()
        deps = VerificationDeps(
            unit_of_work=runtime.unit_of_work,
            connection=runtime.pool.acquire,
            store=runtime.store,
            civil_registry=client,
            photo_store=photo_store(settings),
            evidence_policy=EvidencePolicy(settings.evidence_max_distance_km, settings.evidence_max_age_days),
        )
        worker = PendingChecksWorker(
            deps,
            batch_size=settings.check_batch_size,
            poll_seconds=settings.check_poll_seconds,
            retry_seconds=settings.breaker_open_seconds,
            heartbeat=lambda: runtime.heartbeat(CHECKS_WORKER_TASK),
        )
        app.state.deps = deps
        # From here on intake checks the rounds it starts (before, it queues them).
        intake.deps = deps
        app.state.checks_worker = worker
        runtime.supervise(CHECKS_WORKER_TASK, worker.run, stuck_after=STUCK_AFTER_SECONDS)
        scan = OverdueScan(
            deps,
            batch_size=settings.overdue_scan_batch,
            poll_seconds=settings.overdue_scan_seconds,
            pause=settings.overdue_scan_pause,
            heartbeat=lambda: runtime.heartbeat(OVERDUE_SCAN_TASK),
        )
        app.state.overdue_scan = scan
        if settings.overdue_scan_enabled:
            # A pass over a large backlog may take a while; stuck only well past the poll interval.
            runtime.supervise(
                OVERDUE_SCAN_TASK, scan.run, stuck_after=settings.overdue_scan_seconds * 5 + 300
            )

    app = create_app(
        runtime,
        title="DTKS verification service",
        description=DESCRIPTION,
        on_started=started,
        error_statuses={**api.ERROR_STATUSES, **reverification_api.ERROR_STATUSES},
        body_limits={
            "PUT /evidence/{sha256}": settings.evidence_max_photo_bytes,
            "POST /reverification-rounds/{round_id}/results": reverification_api.RESULTS_MAX_BYTES,
        },
    )
    app.state.intake = intake
    app.state.settings = settings
    app.include_router(api.router)
    app.include_router(reverification_api.router)
    return app


def run() -> None:
    # Safe in several processes (DTKS_WORKERS): intakes that claim NIKs of the same district wait
    # for each other (see adapters.rounds.start_rounds), the checks worker leases with SKIP LOCKED,
    # and decisions lock their proposals' rows.
    serve(
        build_app(),
        port_env="DTKS_VERIFICATION_PORT",
        default_port=8002,
        factory="dtks_verification.main:build_app",
    )
