"""Wiring of the registry service: settings, runtime, consumers, routes."""

from __future__ import annotations

from fastapi import FastAPI

from dtks_contracts.topics import REGISTRY_EVENTS, VERIFICATION_EVENTS
from dtks_registry import api, candidates_api, institutions_api, proofs_api
from dtks_registry.adapters import audit_log, public_check_limit
from dtks_registry.adapters.projection import PROJECTION_EVENT_TYPES, apply_events
from dtks_registry.adapters.public_check_limit import PublicCheckLimit
from dtks_registry.adapters.public_topic import PublicRepublisher
from dtks_registry.adapters.schema import MIGRATIONS
from dtks_registry.decree_proofs import DecreeTrees
from dtks_registry.deps import bootstrap
from dtks_registry.settings import RegistrySettings
from dtks_runtime import freezes
from dtks_runtime.body_limits import MiB
from dtks_runtime.kafka_security import kafka_security
from dtks_runtime.service import ServiceRuntime, create_app, serve

DESCRIPTION = """The authoritative register (DTKS): built from the Ministry's acceptances and the registry's
own events, fixed quarterly by decree (penetapan), queried by region-scoped staff and partner agencies,
checked by citizens without login, and rebuildable by auditors from the event log."""


def build_app(settings: RegistrySettings | None = None) -> FastAPI:
    settings = settings or RegistrySettings()
    runtime = ServiceRuntime(service="registry", settings=settings)
    runtime.add_migrations("registry", MIGRATIONS)
    runtime.add_migrations(public_check_limit.COMPONENT, public_check_limit.MIGRATIONS)
    # Candidates from the Ministry's acceptances. The registry's own events are applied when they are
    # recorded (same writer, same transaction); replays read them back from the topic.
    # Every consumer of the registry checks who produced what it reads (dtks_runtime.provenance): the
    # audit history, the register its replays rebuild, and the agencies' public copy must not take
    # in events written to the broker by anyone but the owning service's relay. Other services'
    # consumers trust the broker's ACLs; verification costs a few µs an event (see the README).
    # Each reads a few of verification's types (most of its stream is tier decisions): the others
    # are consumed undecoded, unchecked and out of the inbox (EventConsumer's event_types).
    runtime.add_consumer(
        "registry-projection",
        [VERIFICATION_EVENTS.name],
        apply_events,
        verify_provenance=True,
        event_types=PROJECTION_EVENT_TYPES,
    )
    runtime.add_consumer(
        "registry-audit", list(audit_log.AUDIT_TOPICS), audit_log.record, verify_provenance=True
    )
    # The Ministry's freeze periods into a table of the registry's own (see dtks_runtime.freezes).
    runtime.add_consumer(
        "registry-freezes",
        [VERIFICATION_EVENTS.name],
        freezes.apply_freeze_events,
        verify_provenance=True,
        event_types=freezes.FREEZE_EVENT_TYPES,
    )
    republisher = PublicRepublisher(settings.kafka_bootstrap, settings.topic_prefix, kafka_security(settings))
    runtime.add_consumer("registry-public", [REGISTRY_EVENTS.name], republisher, verify_provenance=True)
    runtime.on_stop(republisher.close)  # run after the consumers that publish through it stopped
    # A statistics agency's ranking comes in batches of up to 10,000 households (about 70 bytes each).
    body_limits = {"POST /welfare-deciles": 4 * MiB}
    settings.check_client_address_rule()
    # One allowance per client address across every process of the service (kept in PostgreSQL).
    limit = PublicCheckLimit(
        rate_per_second=settings.registry_public_check_per_minute / 60,
        burst=settings.registry_public_check_burst,
    )

    async def started(runtime: ServiceRuntime) -> None:
        started = runtime.started()
        app.state.deps = bootstrap(started, settings.decree_chunk_records)
        pool = started.pool
        runtime.supervise("public-check-pruner", lambda stop: limit.prune_until(pool, stop))

    app = create_app(
        runtime,
        title="DTKS registry service",
        description=DESCRIPTION,
        body_limits=body_limits,
        error_statuses={**api.ERROR_STATUSES, **proofs_api.ERROR_STATUSES, **institutions_api.ERROR_STATUSES},
        on_started=started,
    )
    app.state.settings = settings
    app.state.public_check_limit = limit
    app.state.decree_signer = settings.decree_signer()
    app.state.decree_trees = DecreeTrees()
    app.include_router(api.router)
    app.include_router(candidates_api.router)
    app.include_router(proofs_api.router)
    app.include_router(institutions_api.router)
    return app


def run() -> None:
    # Safe in several processes (DTKS_WORKERS): the citizens' check limit is kept in the database.
    serve(
        build_app(),
        port_env="DTKS_REGISTRY_PORT",
        default_port=8003,
        factory="dtks_registry.main:build_app",
    )
