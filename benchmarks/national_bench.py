"""National scale (#21): the register loaded through the events at several sizes, and what grows with it.

``python -m benchmarks national`` (``make bench-national``); not in ``make bench``'s default set, since
a million households takes the better part of an hour here. Sizes in households from
``DTKS_BENCH_NATIONAL_SIZES`` (default ``100000,300000,1000000``; with
``DTKS_BENCH_NATIONAL_ONLY_FIRST_DECREE=1`` each size stops after step 1's decree). For each size a fresh system runs
the registry alone (the register's own service, as its own process) on the run's PostgreSQL and Kafka:

1. **load**: N households (two members each), spread over every village of the country's list (real
   codes, all provinces), as the Ministry's acceptances on the verification topic, signed as its
   relay sends them, projected by the registry's live consumer into candidates; then one decree over
   the N (POST /determinations); then until its changes are published and read (the registry's
   outbox and consumers at lag 0), vacuumed and written back;
2. **decree**: N/10 more acceptances and a second decree over them on the register of N (the
   issue's 1,000,000 candidates over 10,000,000 households, at a tenth);
3. **queries** at rest, from 10 clients (``DTKS_BENCH_NATIONAL_CLIENTS``): the citizens' check
   (GET /public/registration-status, a registered head of household's NIK and name) and a district's
   first page of households
   (GET /households?region=), p50/p99;
4. **export** of one province as of the second decree (GET /determinations/{decree}/export, CSV):
   seconds and megabytes;
5. **replay** for the auditor (POST /audit/replays, mode verify): the whole log read into a fresh
   projection and every decree's hash compared with the replay's and the live register's;
   events/s beside Kafka's ConsumerPerformance over the same topics, and the whole check's seconds;
6. the registry's **memory**: the largest proportional set size of its process, and of it with its
   children (the replay's workers), sampled every quarter second through each step.
Targets (issue 21, at 10,000,000 households): replay at 100,000 events/s or better and at least 20%
of ConsumerPerformance; registry memory under 1.5 GB at any point; a decree over 1,000,000
candidates under 5 minutes; the citizens' check p99 under 50 ms. The figures at each size show how
each grows; the README extrapolates.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import gc
import os
import statistics
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import httpx
import psutil

from benchmarks import profiling
from benchmarks.cpu import service_and_postgres
from benchmarks.dci_bench import _at_rest, _written_back
from benchmarks.figures import Figure
from benchmarks.governance_bench import _villages
from benchmarks.http_load import get_request, timed
from benchmarks.registry_bench import _consumer_performance
from dtks_contracts.household import Household
from dtks_contracts.vocabulary import Role
from dtks_registry.adapters.projection import PROJECTION_TOPICS
from dtks_registry.testing import acceptance, make_household, produce
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.replay import _end_offsets
from dtks_runtime.testing import Infra, wait_until

SIZES = [int(s) for s in os.environ.get("DTKS_BENCH_NATIONAL_SIZES", "100000,300000,1000000").split(",")]
QUERIES = int(os.environ.get("DTKS_BENCH_NATIONAL_QUERIES", "2000"))  # of each kind, after 200 unmeasured
CLIENTS = int(os.environ.get("DTKS_BENCH_NATIONAL_CLIENTS", "10"))  # concurrent query clients
# Stop each size after its first decree: for working on the decree, whose figure needs the load
# before it but none of the steps after.
ONLY_FIRST_DECREE = os.environ.get("DTKS_BENCH_NATIONAL_ONLY_FIRST_DECREE") == "1"
CHUNK = 20_000  # households generated and produced at a time: the benchmark's own memory stays flat
SAMPLE_EVERY = 997  # one household in so many is kept for the queries
SERVICES = Path(__file__).resolve().parent.parent / "deploy" / "local" / "services.py"
PROVINCE = "17"  # Bengkulu: the province exported
HTTP_TIMEOUT = 7200.0  # a decree over a million candidates or a whole replay is one request


class _PeakMemory:
    """The largest memory of a process, and of it with its children (the replay's workers), sampled
    every quarter second: proportional set sizes (a page shared by n processes counts 1/n in each),
    so the sum is what they hold together."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak, self.own_peak = pid, 0, 0
        self._task: asyncio.Task[None] | None = None

    def _pss(self) -> tuple[int, int]:
        """Bytes of proportional set size: the process's own, and with its children's (psutil, as
        the pipeline benchmark's monitor reads resident sets)."""
        process = psutil.Process(self.pid)
        own = process.memory_full_info().pss
        total = own
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                total += child.memory_full_info().pss
        return own, total

    async def _sample(self) -> None:
        while True:
            own, total = await asyncio.to_thread(self._pss)
            self.own_peak, self.peak = max(self.own_peak, own), max(self.peak, total)
            await asyncio.sleep(0.25)

    def start(self) -> None:
        self.peak = self.own_peak = 0
        self._task = asyncio.create_task(self._sample())

    async def stop(self) -> str:
        """The peaks since start, said in MB."""
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        if self.peak == self.own_peak:
            return f"{self.own_peak / 1e6:,.0f} MB"
        return f"{self.own_peak / 1e6:,.0f} MB (with its workers {self.peak / 1e6:,.0f} MB)"


def _households(first: int, count: int, villages: list[str]) -> Iterator[list[Household]]:
    for start in range(first, first + count, CHUNK):
        yield [
            make_household(i, village=villages[(i * 7919) % len(villages)])
            for i in range(start, min(first + count, start + CHUNK))
        ]


async def _accept(system: LocalSystem, infra: Infra, first: int, count: int, villages: list[str],
                  accepted_at: dt.datetime) -> tuple[list[tuple[str, str]], float]:  # fmt: skip
    """`count` acceptances produced and projected as candidates; the kept heads' (NIK, name) and the
    seconds until the registry had projected them all."""
    kept: list[tuple[str, str]] = []
    database = system.env["DTKS_DATABASE_NAME"].replace("{service}", "registry")
    conn = await asyncpg.connect(infra.database_url.rsplit("/", 1)[0] + "/" + database)
    started = time.perf_counter()
    try:
        before = int(await conn.fetchval("SELECT count(*) FROM candidates"))
        for households in _households(first, count, villages):
            await produce(infra.kafka_bootstrap, system.env["DTKS_TOPIC_PREFIX"], [
                acceptance(f"prop-{h.kk_number}", accepted_at=accepted_at, household=h) for h in households
            ])  # fmt: skip
            kept += [(h.members[0].nik, h.members[0].name) for h in households[::SAMPLE_EVERY]]

        async def projected() -> bool:
            return int(await conn.fetchval("SELECT count(*) FROM candidates")) >= before + count

        await wait_until(projected, what="acceptances projected", within=HTTP_TIMEOUT)
    finally:
        await conn.close()
    return kept, time.perf_counter() - started


async def _decree(system: LocalSystem, number: str, period: str, cutoff: dt.datetime) -> float:
    async with httpx.AsyncClient(base_url=system.urls["registry"], timeout=HTTP_TIMEOUT) as client:
        started = time.perf_counter()
        issued = await client.post(
            "/determinations",
            json={"decree_number": number, "period": period, "cutoff": cutoff.isoformat()},
            headers=system.headers(Role.MINISTRY_DETERMINER, "ID"),
        )
        if issued.status_code != 201:
            raise RuntimeError(f"decree {number} refused: {issued.status_code} {issued.text[:500]}")
        return time.perf_counter() - started


async def _latencies(host: str, port: int, make: Callable[[int], bytes], count: int) -> list[float]:
    """Milliseconds of `count` requests from CLIENTS at once (each answer must be 200)."""
    return [s * 1000 for s in await timed(host, port, (make(n) for n in range(count)), CLIENTS)]


def _cuts(latencies: list[float]) -> tuple[float, float]:
    cuts = statistics.quantiles(latencies, n=100)
    return cuts[49], cuts[98]


async def _queries(
    system: LocalSystem, infra: Infra, pid: int, heads: list[tuple[str, str]], districts: list[str]
) -> list[Figure]:
    reader = system.headers(Role.MINISTRY_VERIFIER, "ID")
    host, _, port_text = system.urls["registry"].removeprefix("http://").partition(":")
    port = int(port_text)

    def check(n: int) -> bytes:
        # Citizens come from many addresses, through the proxy the registry trusts: each check
        # draws on its own address's allowance, as theirs do (one address for all would queue
        # every check on one bucket's row).
        nik, name = heads[(n * 31) % len(heads)]
        citizen = {"X-Forwarded-For": f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}"}
        return get_request(host, port, "/public/registration-status", {"nik": nik, "name": name}, citizen)

    def region(n: int) -> bytes:
        district = districts[(n * 7919) % len(districts)]
        return get_request(host, port, "/households", {"region": district, "limit": "100"}, reader)

    figures = []
    for name, make in (("citizens' check", check), ("a district's households", region)):
        await _latencies(host, port, make, 200)
        started, cpu, own = time.perf_counter(), _cpu(pid, infra), time.process_time()
        p50, p99 = _cuts(await _latencies(host, port, make, QUERIES))
        rate = QUERIES / (time.perf_counter() - started)
        # CPU per query of each party on the two cores, the clients' own included: with all of them
        # on one machine, a query's wait is mostly the others' turns (benchmarks.http_load).
        registry, postgres = (1000 * s / QUERIES for s in _cpu(pid, infra, cpu))
        clients = 1000 * (time.process_time() - own) / QUERIES
        spent = f"CPU per query: registry {registry:.2f} ms, PostgreSQL {postgres:.2f} ms, clients {clients:.2f} ms"
        figures += [Figure(f"{name} p50", p50, "ms", f"{QUERIES:,} from {CLIENTS} clients, {rate:,.0f}/s"),
                    Figure(f"{name} p99", p99, "ms", spent)]  # fmt: skip
    # The citizens' check answers "registered" for a kept head: the register really holds them.
    nik, name = heads[0]
    async with httpx.AsyncClient(base_url=system.urls["registry"]) as client:
        answer = (await client.get("/public/registration-status", params={"nik": nik, "name": name})).json()
    if not answer["registered"]:
        raise RuntimeError(f"a registered head was not found by the citizens' check: {answer}")
    return figures


async def _export(system: LocalSystem, decree: str) -> tuple[float, int]:
    headers = system.headers(Role.MINISTRY_VERIFIER, "ID")
    size = 0
    async with httpx.AsyncClient(base_url=system.urls["registry"], timeout=HTTP_TIMEOUT) as client:
        started = time.perf_counter()
        url = f"/determinations/{decree}/export"
        async with client.stream("GET", url, params={"region": PROVINCE}, headers=headers) as answer:
            if answer.status_code != 200:
                raise RuntimeError(f"export refused: {answer.status_code} {(await answer.aread())[:300]!r}")
            async for block in answer.aiter_bytes():
                size += len(block)
        return time.perf_counter() - started, size


async def _replay(system: LocalSystem) -> dict[str, object]:
    async with httpx.AsyncClient(base_url=system.urls["registry"], timeout=HTTP_TIMEOUT) as client:
        started = time.perf_counter()
        answer = await client.post(
            "/audit/replays", json={"mode": "verify"}, headers=system.headers(Role.AUDITOR, "ID")
        )
        if answer.status_code != 200:
            raise RuntimeError(f"replay refused: {answer.status_code} {answer.text[:500]}")
        report: dict[str, object] = answer.json()
        report["wall_seconds"] = time.perf_counter() - started
        return report


def _steps(replay: dict[str, object]) -> str:
    """The verification's steps and their seconds, as it reports them."""
    steps: dict[str, float] = replay.get("step_seconds") or {}  # type: ignore[assignment]
    return ", ".join(f"{name.replace('_', ' ')} {seconds:.0f} s" for name, seconds in steps.items())


async def _topic_sizes(bootstrap: str, topics: list[str]) -> dict[str, int]:
    sizes = dict.fromkeys(topics, 0)
    for partition, end in (await _end_offsets(bootstrap, topics)).items():
        sizes[partition.topic] += end
    return sizes


def _cpu(pid: int, infra: Infra, since: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float]:
    """CPU seconds of the registry (with its children) and of PostgreSQL, used since ``since``."""
    registry, postgres = service_and_postgres(pid, infra.database_url)
    return registry - since[0], postgres - since[1]


async def _one_size(infra: Infra, size: int, villages: list[str], districts: list[str]) -> list[Figure]:
    extra = {
        "DTKS_REGISTRY_PUBLIC_CHECK_PER_MINUTE": "1000000000",
        "DTKS_REGISTRY_PUBLIC_CHECK_BURST": "1000000000",
        "DTKS_FORWARDED_ALLOW_IPS": "127.0.0.1",
    }
    system = prepare(infra, SERVICES, label="natbench", extra_env=extra)
    await asyncio.to_thread(system.command, "start", only=("registry",))
    pid = system.pid("registry")
    assert pid is not None
    memory = _PeakMemory(pid)
    tag = f"{size:,} households"
    figures: list[Figure] = []

    def tagged() -> list[Figure]:
        return [Figure(f"[{tag}] {f.name}", f.rate, f.unit, f.note) for f in figures]

    def report(figure: Figure) -> None:
        figures.append(figure)
        print(f"national [{tag}] {figure.name}: {figure.rate:,.1f} {figure.unit} {figure.note}", flush=True)

    try:
        now = dt.datetime.now(dt.UTC)
        memory.start()
        heads, projected = await _accept(system, infra, 0, size, villages, now - dt.timedelta(hours=3))
        report(Figure("acceptances projected", size / projected, "households/s", f"{projected:.0f} s"))
        profilers = profiling.start({"registry": pid}, f"decree-{size}")
        cpu = _cpu(pid, infra)
        async with profiling.statements(infra.database_url, f"decree-{size}"):
            seconds = await _decree(system, "1/HUK/2027", "2027-01", now - dt.timedelta(hours=2, minutes=30))
        cpu = _cpu(pid, infra, since=cpu)
        profiling.stop(profilers)
        report(Figure("first decree", seconds, "s", f"over {size:,} candidates ({size / seconds:,.0f}/s); "
                                                     f"CPU: registry {cpu[0]:.1f} s, PostgreSQL {cpu[1]:.1f} s"))  # fmt: skip
        if ONLY_FIRST_DECREE:
            await memory.stop()
            return tagged()
        profilers = profiling.start({"registry": pid}, f"settling-{size}")
        settled = await _at_rest(system, ("registry",))
        profiling.stop(profilers)
        written = await _written_back(infra, system)
        report(Figure("changes published and read", settled, "s",
                      f"then written back in {written:.0f} s; registry peak PSS {await memory.stop()}"))  # fmt: skip

        more = max(1, size // 10)
        memory.start()
        await _accept(system, infra, size, more, villages, now - dt.timedelta(hours=2))
        cpu = _cpu(pid, infra)
        async with profiling.statements(infra.database_url, f"second-decree-{size}"):
            seconds = await _decree(system, "2/HUK/2027", "2027-04", now - dt.timedelta(hours=1))
        cpu = _cpu(pid, infra, since=cpu)
        report(Figure("second decree", seconds, "s", f"over {more:,} candidates on a register of {size:,}; "
                                                      f"CPU: registry {cpu[0]:.1f} s, PostgreSQL {cpu[1]:.1f} s; "
                                                      f"registry peak PSS {await memory.stop()}"))  # fmt: skip
        await _at_rest(system, ("registry",))
        await _written_back(infra, system)

        memory.start()
        # The load generator holds every kept head and village: its own full collections (three of
        # 61-104 ms during the queries of a run at 100,000) stalled its clients, counted as the
        # registry's latency. Frozen, they are not walked again.
        gc.collect()
        gc.freeze()
        profilers = profiling.start({"registry": pid}, f"queries-{size}")
        for figure in await _queries(system, infra, pid, heads, districts):
            report(figure)
        profiling.stop(profilers)
        seconds, size_bytes = await _export(system, "2/HUK/2027")
        report(Figure(f"export of province {PROVINCE}", seconds, "s",
                      f"{size_bytes / 1e6:,.1f} MB of CSV; registry peak PSS {await memory.stop()}"))  # fmt: skip

        prefix = system.env["DTKS_TOPIC_PREFIX"]
        sizes = await _topic_sizes(infra.kafka_bootstrap, [prefix + t for t in PROJECTION_TOPICS])
        memory.start()
        profilers = profiling.start({"registry": pid}, f"replay-{size}")
        cpu = _cpu(pid, infra)
        async with profiling.statements(infra.database_url, f"replay-{size}"):
            replay = await _replay(system)
        cpu = _cpu(pid, infra, since=cpu)
        profiling.stop(profilers)
        peak = await memory.stop()
        if not replay.get("ok"):
            raise RuntimeError(f"the replay does not match the register: {str(replay)[:2000]}")
        ceiling_seconds = 0.0
        for topic, n in sizes.items():
            if n:
                ceiling_seconds += n / await asyncio.to_thread(_consumer_performance, infra, topic, n)
        ceiling = sum(sizes.values()) / ceiling_seconds
        rate = float(replay["events_per_second"])  # type: ignore[arg-type]
        report(Figure("replay", rate, "events/s",
                      f"{replay['events_read']:,} events, {rate / ceiling:.0%} of ConsumerPerformance "
                      f"({ceiling:,.0f}/s); every decree's hash equal; the whole check {replay['wall_seconds']:.0f} s "
                      f"({_steps(replay)}); CPU over the whole check: registry with its workers {cpu[0]:.1f} s, PostgreSQL {cpu[1]:.1f} s; "
                      f"registry peak PSS {peak}"))  # fmt: skip
    finally:
        await asyncio.to_thread(system.command, "stop")
        await system.drop_databases_and_topics(infra)
    return tagged()


async def run(infra: Infra) -> list[Figure]:
    villages = _villages()
    districts = sorted({v[:8] for v in villages})
    figures: list[Figure] = []
    for size in SIZES:
        figures += await _one_size(infra, size, villages, districts)
    return figures
