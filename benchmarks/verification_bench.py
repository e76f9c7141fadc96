"""Verification benchmark: integrity checks/s against the civil-registry simulator, decisions/s at one tier.

Set-up (not timed): a synthetic population of DTKS_BENCH_VERIFICATION_PEOPLE people (default 100,000;
set 1000000 for the issue's full size, whose poorest 40% give about 100,000 registered households)
is loaded into the civil-registry simulator, which runs as its own process (uvicorn) on a free port;
the register is announced to the service as household_registered events on Kafka.

Figures:
- register events applied/s: the service's read model of registered households/NIKs, from Kafka;
- integrity checks/s: DTKS_BENCH_VERIFICATION_PROPOSALS new-household proposals (default 5,000)
  produced to dtks.proposal.events, until every one is checked (passed into the district queue, or
  returned) -- consumer, pending-checks queue, batch look-ups over HTTP, rules, events, all included;
- decisions/s at one tier: every checked proposal forwarded at the district tier through
  POST /decisions in lists of 200, by each district's verifier.
Target of the issue: 2,000 proposals checked per second.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from itertools import islice
from typing import Any

import asyncpg
import httpx

from benchmarks.figures import Figure
from dtks_civil_registry.loader import load_records_direct
from dtks_civil_registry.settings import CivilRegistrySettings
from dtks_contracts.vocabulary import Role
from dtks_runtime.testing import Infra, wait_until
from dtks_synthetic import Fault, generate_population, proposals
from dtks_verification.harness import registered_events, running_service
from dtks_verification.testing import envelope, free_port, submitted

PEOPLE = int(os.environ.get("DTKS_BENCH_VERIFICATION_PEOPLE", "100000"))
PROPOSALS = int(os.environ.get("DTKS_BENCH_VERIFICATION_PROPOSALS", "5000"))
DECISION_BATCH = 200


def _chunks(items: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    while chunk := list(islice(items, size)):
        yield chunk


def _spawn_simulator(infra: Infra, database: str) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DTKS_DATABASE_URL": infra.database_url,
        "DTKS_DATABASE_NAME": database,
        "DTKS_CIVIL_REGISTRY_PORT": str(port),
        "DTKS_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", "from dtks_civil_registry.main import run; run([])"],
        env=env,
        stdout=subprocess.DEVNULL,
    )
    return process, f"http://127.0.0.1:{port}"


async def _wait_for_simulator(url: str) -> None:
    async def up() -> bool:
        try:
            async with httpx.AsyncClient() as http:
                return (await http.get(f"{url}/healthz")).status_code == 200
        except httpx.HTTPError:
            return False

    await wait_until(up, 60, "the civil-registry simulator")


async def _count(database_url: str, sql: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


async def run(infra: Infra) -> list[Figure]:
    population = generate_population("17.71", people=PEOPLE, seed=2026)
    database = f"bench_civil_{uuid.uuid4().hex[:8]}"
    settings = CivilRegistrySettings(database_url=infra.database_url, database_name=database)
    loaded = await load_records_direct(
        settings, _chunks((r.to_json() for r in population.civil_registry_records()), 20_000)
    )
    print(f"civil registry: {loaded.loaded:,} people loaded in {loaded.seconds:.0f} s", flush=True)
    register = registered_events(population)
    faults = {Fault.NAME_MISMATCH: PROPOSALS // 50, Fault.DUPLICATE_PERSON: PROPOSALS // 50}
    generated = proposals(population, PROPOSALS, faults, seed=1)
    contents = [submitted(g.body) for g in generated]
    simulator, url = _spawn_simulator(infra, database)
    figures: list[Figure] = []
    try:
        await _wait_for_simulator(url)
        prefix = f"bench{uuid.uuid4().hex[:8]}."
        async with running_service(
            infra.kafka_bootstrap, infra, prefix, url, check_batch_size=500
        ) as service:
            db_url = infra.database_url.rpartition("/")[0] + "/" + (service.settings.database_name or "")
            started = time.perf_counter()
            await service.publish(register)

            async def register_applied() -> bool:
                health = (await service.http.get("/healthz")).json()
                return bool(health["consumers"]["verification"]["applied"] >= len(register))

            await wait_until(register_applied, 1800, "the register read model")
            seconds = time.perf_counter() - started
            figures.append(
                Figure(
                    "register events applied", len(register) / seconds, note=f"{len(register):,} households"
                )
            )

            started = time.perf_counter()
            await service.publish([envelope(c) for c in contents])

            async def all_checked() -> bool:
                done = await _count(
                    db_url, "SELECT count(*) FROM proposals WHERE status IN ('in_tier', 'returned')"
                )
                return done >= len(contents)

            await wait_until(all_checked, 1800, "every proposal checked")
            seconds = time.perf_counter() - started
            returned = await _count(db_url, "SELECT count(*) FROM proposals WHERE status = 'returned'")
            figures.append(
                Figure(
                    "integrity checks",
                    len(contents) / seconds,
                    "checks/s",
                    f"{len(contents):,} proposals ({returned} returned), {PEOPLE:,} people, "
                    f"{len(register):,} registered households; target 2,000",
                )
            )

            by_district: dict[str, list[str]] = {}
            for c in contents:
                by_district.setdefault(c.village_code[:8], []).append(c.proposal_id)
            decided = 0
            started = time.perf_counter()
            for district, ids in by_district.items():
                headers = service.auth(Role.DISTRICT_VERIFIER, district)
                for start in range(0, len(ids), DECISION_BATCH):
                    batch = [
                        {"proposal_id": pid, "tier": "district", "decision": "forward"}
                        for pid in ids[start : start + DECISION_BATCH]
                    ]
                    response = await service.http.post("/decisions", json=batch, headers=headers)
                    decided += response.json()["succeeded"]
            seconds = time.perf_counter() - started
            figures.append(
                Figure(
                    "decisions at the district tier",
                    decided / seconds,
                    "decisions/s",
                    f"lists of {DECISION_BATCH}",
                )
            )
    finally:
        simulator.terminate()
        simulator.wait(30)
    return figures
