"""Verification benchmark: integrity checks/s against the civil-registry simulator, decisions/s at one tier.

Set-up (not timed): a synthetic population of DTKS_BENCH_VERIFICATION_PEOPLE people (default 100,000;
set 1000000 for the issue's full size, whose poorest 40% give about 100,000 registered households)
is loaded into the civil-registry simulator, which runs as its own process (uvicorn) on a free port;
the register is announced to the service as household_registered events on Kafka.

Figures:
- register events applied/s: the service's read model of registered households/NIKs, from Kafka;
- integrity checks/s: DTKS_BENCH_VERIFICATION_PROPOSALS new-household proposals (default 5,000)
  produced to dtks.proposal.events, until every one is checked (passed into the district queue, or
  returned) -- consumer and inbox, one batch look-up over HTTP per consumed batch, set-based
  register queries, rules, events and standings in the batch's transaction, all included;
- decisions/s at one tier: every checked proposal forwarded at the district tier through
  POST /decisions in lists of 200, by each district's verifier.
Target of the issue: 2,000 proposals checked per second.
"""

from __future__ import annotations

import asyncio
import gc
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from itertools import islice
from typing import Any

import asyncpg
import httpx

from benchmarks.figures import Figure
from dtks_civil_registry.loader import load_records_direct
from dtks_civil_registry.settings import CivilRegistrySettings
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.topics import partition_key, topic_for
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


# The events are produced by another process, as the proposal and registry services would: a
# producer inside this process would share the service's event loop and be starved by it, and the
# figures would measure the producer. The producer connects and encodes everything first, then
# sends on "go"; the clock starts at "go".
_PRODUCER = """
import asyncio, sys
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

async def main(bootstrap, path):
    with open(path, "rb") as f:
        lines = f.read().split(b"\\n")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_batch_size=512 * 1024)
    await producer.start()
    try:
        # Each record goes to the partition the default partitioner gives its key, in order.
        by_partition = {}
        for i in range(0, len(lines) - 2, 3):
            topic, key, value = lines[i].decode(), lines[i + 1], lines[i + 2]
            partitions = sorted(await producer.partitions_for(topic))
            partition = DefaultPartitioner()(key, partitions, partitions)
            by_partition.setdefault((topic, partition), []).append((key, value))
        print("ready", flush=True)
        sys.stdin.readline()
        sent = []
        for (topic, partition), records in by_partition.items():
            batch = producer.create_batch()
            for key, value in records:
                if batch.append(key=key, value=value, timestamp=None) is None:
                    sent.append(await producer.send_batch(batch, topic, partition=partition))
                    batch = producer.create_batch()
                    batch.append(key=key, value=value, timestamp=None)
            sent.append(await producer.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*sent)
    finally:
        await producer.stop()

asyncio.run(main(*sys.argv[1:3]))
"""


class OutOfProcessProducer:
    """Produces envelopes to their real (prefixed) topics from a child process."""

    def __init__(self, bootstrap: str, prefix: str, envelopes: Sequence[EventEnvelope]) -> None:
        self.bootstrap, self.prefix, self.envelopes = bootstrap, prefix, envelopes
        self._file = tempfile.NamedTemporaryFile(suffix=".records", delete=False)  # noqa: SIM115
        self._process: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> OutOfProcessProducer:
        with self._file as f:
            for e in self.envelopes:
                topic, key, value = (
                    topic_for(e.event_type, self.prefix).name.encode(),
                    partition_key(e),
                    e.to_bytes(),
                )
                assert b"\n" not in topic + key + value  # one line each
                f.write(b"\n".join((topic, key, value)) + b"\n")
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _PRODUCER,
            self.bootstrap,
            self._file.name,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        if (await self._process.stdout.readline()).strip() != b"ready":
            raise RuntimeError("the benchmark's producer process did not start")
        return self

    async def go(self) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._process.stdin.write(b"go\n")
        await self._process.stdin.drain()

    async def __aexit__(self, *exc: object) -> None:
        try:
            if self._process is not None and await self._process.wait() != 0:
                raise RuntimeError("the benchmark's producer process failed")
        finally:
            os.unlink(self._file.name)


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


def _load() -> str:
    # The machine is shared: the load beside a figure says how much of it the benchmark had.
    return f"load {os.getloadavg()[0]:.1f}"


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
    # The service runs in this process, beside millions of the set-up's objects (population,
    # register, proposals) that a service never holds; left to the collector, every full
    # collection walks them all and bills the service for it. Frozen, they are never scanned.
    gc.collect()
    gc.freeze()
    simulator, url = _spawn_simulator(infra, database)
    figures: list[Figure] = []
    try:
        await _wait_for_simulator(url)
        prefix = f"bench{uuid.uuid4().hex[:8]}."
        async with running_service(
            infra.kafka_bootstrap, infra, prefix, url, check_batch_size=500
        ) as service:
            db_url = infra.database_url.rpartition("/")[0] + "/" + (service.settings.database_name or "")

            async def register_applied() -> bool:
                health = (await service.http.get("/healthz")).json()
                return bool(health["consumers"]["verification"]["applied"] >= len(register))

            async with OutOfProcessProducer(infra.kafka_bootstrap, prefix, register) as producer:
                started = time.perf_counter()
                await producer.go()
                await wait_until(register_applied, 1800, "the register read model")
                seconds = time.perf_counter() - started

            figures.append(
                Figure(
                    "register events applied",
                    len(register) / seconds,
                    note=f"{len(register):,} households; {_load()}",
                )
            )

            async def all_checked() -> bool:
                done = await _count(
                    db_url, "SELECT count(*) FROM proposals WHERE status IN ('in_tier', 'returned')"
                )
                return done >= len(contents)

            async with OutOfProcessProducer(
                infra.kafka_bootstrap, prefix, [envelope(c) for c in contents]
            ) as producer:
                started = time.perf_counter()
                await producer.go()
                await wait_until(all_checked, 1800, "every proposal checked")
                seconds = time.perf_counter() - started
            returned = await _count(db_url, "SELECT count(*) FROM proposals WHERE status = 'returned'")
            figures.append(
                Figure(
                    "integrity checks",
                    len(contents) / seconds,
                    "checks/s",
                    f"{len(contents):,} proposals ({returned} returned), {PEOPLE:,} people, "
                    f"{len(register):,} registered households; target 2,000; {_load()}",
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
                    f"lists of {DECISION_BATCH}; {_load()}",
                )
            )
    finally:
        simulator.terminate()
        simulator.wait(30)
        gc.unfreeze()
    return figures
