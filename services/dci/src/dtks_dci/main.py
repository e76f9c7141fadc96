"""Wiring of the DCI adapter: settings, runtime, registry client, signing key, routes, workers.

**Why it reads the registry's HTTP API and keeps no read model.** Every query type the service
answers maps onto a query the registry already serves with its own indexes and scope rules: a NIK
(``GET /people/{nik}``), a family card (``GET /households?kk=``) and the expression/predicate forms
over region, welfare decile, program and status (``GET /households`` with those filters, walked
through its cursor). A copy of the register here would be a second projection to keep consistent,
replay and audit, for no query that needs it; attributes the registry cannot filter on (age, say)
are refused with the standard's reason code instead. The only events consumed are the registry's
decrees (``registry.determination_issued``, or the chunks and manifest of one too large for a
single event), to know when to notify subscribers; the records sent are read through the same HTTP
API. What this service owns: the message ids it has seen, its exchange log, its asynchronous
transactions, subscriptions and notifications, and the chunks of the decrees it pages through.
"""

from __future__ import annotations

import aiohttp
import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from dtks_contracts.topics import REGISTRY_EVENTS
from dtks_dci.adapters.grouped_writes import RequestWrites
from dtks_dci.adapters.registry import RegistryClient, TokenSource
from dtks_dci.adapters.schema import MIGRATIONS
from dtks_dci.api import router
from dtks_dci.callbacks import CallbackWorker
from dtks_dci.deps import DciDeps
from dtks_dci.domain.envelope import ERROR_STATUSES, DciError, http_error
from dtks_dci.domain.signing import b64decode_any, public_key
from dtks_dci.notify import DECREE_TYPES, DecreeNotices, NotifyWorker
from dtks_dci.settings import DciSettings
from dtks_runtime import decree_assembly
from dtks_runtime.callback_guard import CallbackGuard, Lookup, system_lookup
from dtks_runtime.consumer import only_types, per_event
from dtks_runtime.errors import status_of
from dtks_runtime.guarded_http import guarded_client
from dtks_runtime.service import ServiceRuntime, create_app, serve

CALLBACK_TASK = "dci-callbacks"
NOTIFY_TASK = "dci-notify"
DECREES_CONSUMER = "dci-decrees"
# Header-level rejections answered in the standard's HttpErrorResponse beside the err.* codes.
STATUSES = {**ERROR_STATUSES, "rjct.message_id.duplicate": 409, "rjct.message_ts.invalid": 400,
            "rjct.total_count.invalid": 400, "rjct.total_count.limit_exceeded": 413}  # fmt: skip
DESCRIPTION = """The register for partner agencies that speak the Digital Convergence Initiative's
Social Registry API (version 1.0.0, pinned; see services/dci/README.md): synchronous and
asynchronous search by NIK, KK or expression, subscriptions notified at each decree, transaction
status. Envelopes are signed (Ed25519, our key at /.well-known/jwks.json) and replays refused."""


def build_app(settings: DciSettings | None = None, *, lookup: Lookup = system_lookup) -> FastAPI:
    """``lookup`` resolves partners' callback hosts (tests pass their own to play a name server)."""
    settings = settings or DciSettings()
    settings.check()
    runtime = ServiceRuntime(service="dci", settings=settings)
    runtime.add_migrations("dci", MIGRATIONS)
    runtime.add_migrations(decree_assembly.COMPONENT, decree_assembly.MIGRATIONS)
    # The decrees, to notify subscribers; provenance verified, as what it triggers leaves the system.
    # A decree published in chunks has its chunks kept (the notify's pages are read from them) and
    # reaches the handler at its manifest once they make it whole, or its manifest is dead-lettered.
    runtime.add_consumer(
        DECREES_CONSUMER,
        [REGISTRY_EVENTS.name],
        decree_assembly.checked_decrees(
            only_types(DECREE_TYPES, per_event(DecreeNotices(settings.dci_notify_page_households)))
        ),
        verify_provenance=True,
        # The households' events (nearly all of the topic) are consumed undecoded.
        event_types={*DECREE_TYPES, *decree_assembly.DECREE_PART_TYPES},
    )
    signing_key = settings.signing_key()  # refuses to start in production without a key

    sender_keys = {
        sender: {kid: public_key(b64decode_any(raw)) for kid, raw in keys.items()}
        for sender, keys in settings.dci_sender_keys.items()
    }

    async def started(runtime: ServiceRuntime) -> None:
        # Inside the network (the identity provider's tokens): a plain client.
        http = httpx.AsyncClient(timeout=settings.dci_callback_timeout_seconds)
        runtime.on_stop(http.aclose)
        guard = CallbackGuard(settings.callback_policy, lookup)
        # Partners' callbacks: every connection to an address the guard allows at that moment.
        callbacks = guarded_client(guard, timeout=settings.dci_callback_timeout_seconds,
                                   limits=httpx.Limits(max_connections=200, max_keepalive_connections=100))  # fmt: skip
        runtime.on_stop(callbacks.aclose)
        reads = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30),
                                      connector=aiohttp.TCPConnector(limit=200))  # fmt: skip
        runtime.on_stop(reads.close)
        registry = RegistryClient(settings.registry_url, TokenSource(settings, http), reads)
        running = runtime.started()
        deps = DciDeps(running, settings, registry, callbacks, signing_key, sender_keys, STATUSES, guard,
                       RequestWrites(running.pool))  # fmt: skip
        app.state.deps = deps
        start_workers(runtime, deps)

    app = create_app(runtime, title="DTKS DCI Social Registry adapter", description=DESCRIPTION,
                     on_started=started, error_statuses=STATUSES)  # fmt: skip

    async def dci_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DciError)
        return JSONResponse(http_error(exc.code, exc.detail), status_code=status_of(exc.code, STATUSES))

    app.add_exception_handler(DciError, dci_error)
    app.include_router(router)
    return app


def start_workers(runtime: ServiceRuntime, deps: DciDeps) -> None:
    """The callback and notify workers, as the runtime's supervised tasks (a loop that dies or stops
    beating turns /healthz degraded; the runtime's stop ends them before the clients close)."""
    s = deps.settings
    worker = CallbackWorker(deps.pool, deps.callback_http, deps.registry, deps.signing_key, s.dci_registry_id,
                            s.dci_max_matches, s.dci_callback_max_attempts, s.dci_worker_poll_seconds, deps.guard)  # fmt: skip
    worker.heartbeat = lambda: runtime.heartbeat(CALLBACK_TASK)
    worker.keep_ids_seconds = 2 * (s.dci_message_max_age_seconds + s.dci_message_max_skew_seconds)
    runtime.supervise(CALLBACK_TASK, worker.run, stuck_after=worker.stuck_after)
    notifier = NotifyWorker(deps.pool, deps.callback_http, deps.registry, deps.signing_key, s.dci_registry_id,
                            s.dci_callback_max_attempts, s.dci_worker_poll_seconds, deps.guard,
                            s.dci_notify_page_households)  # fmt: skip
    notifier.heartbeat = lambda: runtime.heartbeat(NOTIFY_TASK)
    runtime.supervise(NOTIFY_TASK, notifier.run, stuck_after=notifier.stuck_after)


def run() -> None:
    # DTKS_DCI_WORKERS processes: a search's CPU is mostly this service's (schema, signatures, mapping),
    # and 50 agencies' searches queue behind one event loop (see benchmarks/dci_bench.py).
    serve(
        build_app(),
        port_env="DTKS_DCI_PORT",
        default_port=8006,
        factory="dtks_dci.main:build_app",
        workers_env="DTKS_DCI_WORKERS",
    )


if __name__ == "__main__":
    run()
