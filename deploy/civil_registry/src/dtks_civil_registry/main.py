"""Wiring of the civil-registry (Dukcapil) simulator, and its command line.

    dtks-civil-registry                      serve on DTKS_CIVIL_REGISTRY_PORT (default 8005)
    dtks-civil-registry load FILE.jsonl      load people (one record per line) through the HTTP API
                        [--url URL]          (default http://127.0.0.1:$DTKS_CIVIL_REGISTRY_PORT)
                        [--direct]           or straight into the database (COPY), no server needed
                        [--batch N]          records per request/transaction (default 20000)

Kafka only for its life events (``POST /admin/life-events``): published to dtks.civil_registry.events
as the civil registry's data sharing would; the producer starts at the first publication.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

import asyncpg
from fastapi import FastAPI

from dtks_civil_registry import api
from dtks_civil_registry.adapters import people_store
from dtks_civil_registry.adapters.life_event_feed import LifeEventFeed
from dtks_civil_registry.domain.outage import Outage
from dtks_civil_registry.settings import DEFAULT_PORT, CivilRegistrySettings
from dtks_runtime.body_limits import BodyLimits
from dtks_runtime.db import create_pool, ensure_database, migrate
from dtks_runtime.http_edge import install_http_edge
from dtks_runtime.problems import install_problem_handlers
from dtks_runtime.telemetry import configure_logging, get_logger

log = get_logger(__name__)
PORT_ENV = "DTKS_CIVIL_REGISTRY_PORT"
# Room per person in a bulk load's body: a synthetic person's record is 310-350 bytes of JSON.
PERSON_BYTES = 512


async def open_database(settings: CivilRegistrySettings) -> asyncpg.Pool:
    """The simulator's own database, created and migrated if needed; returns a pool."""
    url = await ensure_database(settings.database_url, settings.database)
    pool = await create_pool(url)
    async with pool.acquire() as conn:
        await migrate(conn, "civil_registry", people_store.MIGRATIONS)
    return pool


def build_app(settings: CivilRegistrySettings | None = None) -> FastAPI:
    settings = settings or CivilRegistrySettings()
    configure_logging("civil_registry", settings.log_level)
    outage = Outage()
    feed = LifeEventFeed(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool = await open_database(settings)
        if settings.civil_registry_outage_seconds > 0:
            outage.start(settings.civil_registry_outage_seconds)
        log.info("civil registry simulator started", database=settings.database)
        try:
            yield
        finally:
            await feed.close()
            await app.state.pool.close()

    app = FastAPI(
        title="Civil registry (Dukcapil) simulator",
        description="People by NIK, families by KK number, bulk loading, and a switch for simulated outages.",
        version="1.0.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.outage = outage
    app.state.life_event_feed = feed
    install_problem_handlers(app)
    app.add_middleware(api.OutageGuard, outage=outage)
    # The services' HTTP edge (body limits, correlation ids), installed last so it is outermost. The
    # simulator has no tokens; its bulk load takes a whole batch of people in one body.
    limits = BodyLimits(
        settings.http_max_body_bytes, {"POST /people": settings.civil_registry_max_batch * PERSON_BYTES}
    )
    install_http_edge(app, limits=limits, tokens=None)
    app.include_router(api.router)
    app.include_router(api.admin)
    return app


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="dtks-civil-registry", description="Civil-registry simulator")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("serve", help="serve the HTTP API (the default)")
    load = sub.add_parser("load", help="load people from a JSON Lines file")
    load.add_argument("file", help="JSON Lines, one person per line (dtks-synthetic civil_registry.jsonl)")
    load.add_argument("--url", default=None, help="the simulator's base URL")
    load.add_argument("--direct", action="store_true", help="COPY into the database instead of HTTP")
    load.add_argument("--batch", type=int, default=20_000)
    return parser


def run(argv: Sequence[str] | None = None) -> None:
    args = _parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "load":
        from dtks_civil_registry import loader

        settings = CivilRegistrySettings()
        if args.direct:
            loaded = asyncio.run(loader.load_file_direct(args.file, settings, batch=args.batch))
        else:
            url = args.url or f"http://127.0.0.1:{os.environ.get(PORT_ENV, DEFAULT_PORT)}"
            loaded = asyncio.run(loader.load_file_http(args.file, url, batch=args.batch))
        print(
            f"loaded {loaded.loaded} people ({loaded.changed} changed) in {loaded.seconds:.1f} s",
            file=sys.stderr,
        )
        return
    from dtks_runtime.service import serve

    serve(build_app(), port_env=PORT_ENV, default_port=DEFAULT_PORT)
