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
import contextlib
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
    """Produces envelopes to their real (prefixed) topics from a child process.

    The child sends nothing until `go`. So if the measurement fails before `go` (or the parent
    gives up), waiting for the child to finish would wait forever: it is stopped instead, and the
    error surfaces at once. Its readiness and its sending are waited for with time limits."""

    READY_SECONDS = 300.0
    SENDING_SECONDS = 600.0

    def __init__(self, bootstrap: str, prefix: str, envelopes: Sequence[EventEnvelope]) -> None:
        self.bootstrap, self.prefix, self.envelopes = bootstrap, prefix, envelopes
        self._file = tempfile.NamedTemporaryFile(suffix=".records", delete=False)  # noqa: SIM115
        self._process: asyncio.subprocess.Process | None = None
        self._went = False

    async def __aenter__(self) -> OutOfProcessProducer:
        try:
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
            line = await asyncio.wait_for(self._process.stdout.readline(), self.READY_SECONDS)
            if line.strip() != b"ready":
                raise RuntimeError("the benchmark's producer process did not start")
        except BaseException:
            await self._stop()
            raise
        return self

    async def go(self) -> None:
        assert self._process is not None and self._process.stdin is not None
        self._went = True
        self._process.stdin.write(b"go\n")
        await self._process.stdin.drain()

    async def __aexit__(self, exc_type: type[BaseException] | None, *exc: object) -> None:
        if exc_type is not None or not self._went:
            await self._stop()
            return
        assert self._process is not None
        try:
            if await asyncio.wait_for(self._process.wait(), self.SENDING_SECONDS) != 0:
                raise RuntimeError("the benchmark's producer process failed")
        except BaseException:
            await self._stop()
            raise
        os.unlink(self._file.name)

    async def _stop(self) -> None:
        """End the child (if any) without waiting for its sending, and remove the records file."""
        try:
            if self._process is not None and self._process.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    self._process.kill()
                await self._process.wait()
        finally:
            with contextlib.suppress(FileNotFoundError):
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


async def _postmaster(database_url: str) -> int:
    """The PostgreSQL server's pid: the parent of our backend, read while the backend lives (once
    the connection is closed, its /proc entry may already be gone)."""
    conn = await asyncpg.connect(database_url)
    try:
        return _parent_of(int(await conn.fetchval("SELECT pg_backend_pid()")))
    finally:
        await conn.close()


def _parent_of(pid: int) -> int:
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def _postgres_cpu_seconds(postmaster: int) -> float:
    """CPU time of the benchmark's PostgreSQL server and its backends (those gone included)."""
    tick = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    stats: dict[int, list[str]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue
        name, rest = text[text.index("(") + 1 : text.rindex(")")], text[text.rindex(")") + 2 :].split()
        parent[int(entry)] = int(rest[1])
        if name.startswith("postgres"):
            stats[int(entry)] = rest

    def ours(pid: int) -> bool:
        while pid > 1:
            if pid == postmaster:
                return True
            pid = parent.get(pid, 0)
        return False

    # Fields after the name: utime, stime, cutime, cstime are the 12th to the 15th.
    return sum(sum(int(x) for x in rest[11:15]) for pid, rest in stats.items() if ours(pid)) / tick


def _process_cpu_seconds(pid: int) -> float:
    """CPU time of one process (utime + stime), e.g. the civil-registry simulator's."""
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


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

            # One connection for the polling: a new one every 100 ms would bill PostgreSQL a
            # backend start each time, in the CPU per proposal measured below.
            watcher = await asyncpg.connect(db_url)

            async def all_checked() -> bool:
                done = await watcher.fetchval(
                    "SELECT count(*) FROM proposals WHERE status IN ('in_tier', 'returned')"
                )
                return int(done) >= len(contents)

            async with OutOfProcessProducer(
                infra.kafka_bootstrap, prefix, [envelope(c) for c in contents]
            ) as producer:
                started = time.perf_counter()
                postmaster = await _postmaster(infra.database_url)
                cpu, pg_cpu = time.process_time(), _postgres_cpu_seconds(postmaster)
                sim_cpu = _process_cpu_seconds(simulator.pid)
                await producer.go()
                await wait_until(all_checked, 1800, "every proposal checked")
                seconds = time.perf_counter() - started
                cpu, pg_cpu = time.process_time() - cpu, _postgres_cpu_seconds(postmaster) - pg_cpu
                sim_cpu = _process_cpu_seconds(simulator.pid) - sim_cpu
            await watcher.close()
            returned = await _count(db_url, "SELECT count(*) FROM proposals WHERE status = 'returned'")
            figures.append(
                Figure(
                    "integrity checks",
                    len(contents) / seconds,
                    "checks/s",
                    f"{len(contents):,} proposals ({returned} returned), {PEOPLE:,} people, "
                    f"{len(register):,} registered households; target 2,000; CPU per proposal: "
                    f"service {cpu / len(contents) * 1000:.3f} ms, PostgreSQL "
                    f"{pg_cpu / len(contents) * 1000:.3f} ms (simulator's included), simulator "
                    f"{sim_cpu / len(contents) * 1000:.3f} ms; {_load()}",
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
