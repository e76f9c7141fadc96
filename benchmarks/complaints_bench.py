"""Complaints: civil-registry life events consumed into drafts per second; public complaints filed per second.

Set-up (not timed): the complaints service runs as its own process (deploy/local/services.py). The
register it matches life events against is what it learns from the registry's events, as deployed:
DTKS_BENCH_COMPLAINTS_HOUSEHOLDS households (default 100,000, the size of issue 17; two members
each) announced as `registry.household_registered` on the registry topic, applied by its
`complaint-status` consumer (the rate is printed, for the record).

Figures:
- life events: DTKS_BENCH_COMPLAINTS_EVENTS life events (default 100,000), produced to the
  civil-registry topic by another process once the service is waiting for them (as
  verification_bench produces its events), until the service has tallied every one (a draft opened,
  or the person not in the register); a death, a move, a birth or a new family card in turn, about
  the registered households' members, one in ten about a person not in the register;
- Kafka's ConsumerPerformance over the same topic in the same run: the ceiling beside it;
- public complaints: DTKS_BENCH_COMPLAINTS_FILINGS filings (default 10,000, after 500 unmeasured)
  through POST /public/complaints (no sign-in) from DTKS_BENCH_COMPLAINTS_CLIENTS concurrent clients
  (default 50), p50/p99. Every filing comes from its own address and NIK, as citizens file one each:
  the form's limits per address and per NIK are taken for each (their rows written), none refuses.
  The service trusts the forwarded address from 127.0.0.1 (DTKS_FORWARDED_ALLOW_IPS, as behind the
  deployment's proxy) and each request names its citizen's address in X-Forwarded-For.
Targets (issue 17): 5,000 life events/s; complaint p99 under 100 ms.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import statistics
import time
from pathlib import Path

import asyncpg

from benchmarks import profiling
from benchmarks.cpu import postgres_cpu_seconds, process_cpu_seconds
from benchmarks.figures import Figure
from benchmarks.http_load import Connection, post_request
from benchmarks.runtime_bench import _kafka_tool
from benchmarks.verification_bench import OutOfProcessProducer
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.civil_registry import ChildBorn, FamilyCardChanged, PersonDied, PersonMoved
from dtks_contracts.events.registry import HouseholdRegistered
from dtks_contracts.household import Household
from dtks_contracts.topics import CIVIL_REGISTRY_EVENTS
from dtks_registry.testing import make_household, nik
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.testing import Infra, wait_until

HOUSEHOLDS = int(os.environ.get("DTKS_BENCH_COMPLAINTS_HOUSEHOLDS", "100000"))
EVENTS = int(os.environ.get("DTKS_BENCH_COMPLAINTS_EVENTS", "100000"))
FILINGS = int(os.environ.get("DTKS_BENCH_COMPLAINTS_FILINGS", "10000"))
CLIENTS = int(os.environ.get("DTKS_BENCH_COMPLAINTS_CLIENTS", "50"))
WARM_UP = 500
SERVICES = Path(__file__).resolve().parent.parent / "deploy" / "local" / "services.py"
_DAY = dt.date(2026, 11, 2)


def _envelope(payload: EventPayload) -> EventEnvelope:
    return EventEnvelope.new(payload, aggregate_version=1, actor=None)


def _households() -> list[Household]:
    return [make_household(i, household_id=f"H-{i:07d}") for i in range(HOUSEHOLDS)]


def _life_event(i: int, households: list[Household]) -> EventPayload:
    """The i-th life event: one in ten about someone not in the register, the others in turn."""
    h = households[i % len(households)]
    head, spouse = (m.nik for m in h.members)
    lid = f"L-{i:08d}"
    if i % 10 == 9:  # a NIK beyond the register's
        return PersonDied(life_event_id=lid, nik=nik(2 * HOUSEHOLDS + i), died_on=_DAY)
    kind = i % 4
    if kind == 0:
        return PersonDied(life_event_id=lid, nik=spouse, died_on=_DAY)
    if kind == 1:
        elsewhere = "17.71.02.1002" if h.village_code != "17.71.02.1002" else "17.71.01.1001"
        return PersonMoved(life_event_id=lid, nik=spouse, from_village=h.village_code, to_village=elsewhere,
                           moved_on=_DAY)  # fmt: skip
    if kind == 2:
        return ChildBorn(life_event_id=lid, nik=nik(2 * HOUSEHOLDS + i), kk_number=h.kk_number,
                         parent_niks=(head, spouse), born_on=_DAY)  # fmt: skip
    return FamilyCardChanged(life_event_id=lid, nik=head, old_kk_number=h.kk_number,
                             new_kk_number=f"177102{i:010d}", changed_on=_DAY)  # fmt: skip


async def _produced_until(infra: Infra, system: LocalSystem, envelopes: list[EventEnvelope],
                          done: str, target: int, db_url: str) -> float:  # fmt: skip
    """Seconds from the producer's go until the service's count `done` reaches `target`."""
    watcher = await asyncpg.connect(db_url)
    try:

        async def reached() -> bool:
            return int(await watcher.fetchval(done) or 0) >= target

        async with OutOfProcessProducer(
            infra.kafka_bootstrap, system.env["DTKS_TOPIC_PREFIX"], envelopes
        ) as p:
            started = time.perf_counter()
            await p.go()
            await wait_until(reached, 1800, done)
            return time.perf_counter() - started
    finally:
        await watcher.close()


def _consumer_performance(infra: Infra, topic: str, messages: int) -> tuple[float, float]:
    out = _kafka_tool(
        infra, "org.apache.kafka.tools.ConsumerPerformance",
        "--bootstrap-server", infra.kafka_bootstrap, "--topic", topic, "--messages", str(messages),
        "--timeout", "60000",
    )  # fmt: skip
    # Columns: start.time, end.time, MB, MB.sec, nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms,
    # fetch.MB.sec, fetch.nMsg.sec: records per second overall, and after joining the group.
    row = [line for line in out.splitlines() if line and line[0].isdigit()][-1].split(",")
    return float(row[5]), float(row[9])


async def _filings(system: LocalSystem, households: list[Household], database_url: str) -> list[Figure]:
    host, _, port_text = system.urls["complaint"].removeprefix("http://").partition(":")
    port = int(port_text)

    def requests(start: int, count: int) -> list[bytes]:
        out = []
        for i in range(start, start + count):
            h = households[i % len(households)]
            body = {"nik": h.members[i // len(households) % 2].nik, "name": "Sari Wulandari",
                    "village_code": h.village_code, "phone": "081234567890", "kind": "exclusion",
                    "description": "Our household is poor and not in the register."}  # fmt: skip
            address = f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}"
            out.append(post_request(host, port, "/public/complaints", body, {"X-Forwarded-For": address}))
        return out

    statuses: dict[int, int] = {}

    async def phase(batch: list[bytes]) -> list[float]:
        queue = iter(batch)
        latencies: list[float] = []

        async def client() -> None:
            connection = Connection(host, port)
            try:
                for request in queue:
                    start = time.perf_counter()
                    status = await asyncio.wait_for(connection.send(request), 60)
                    latencies.append(time.perf_counter() - start)
                    statuses[status] = statuses.get(status, 0) + 1
            finally:
                connection.close()

        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        return latencies

    await phase(requests(0, WARM_UP))
    statuses.clear()
    batch = requests(WARM_UP, FILINGS)
    # Where the two cores go per filing (the service, PostgreSQL, this process's 50 clients); py-spy
    # on the service on request.
    pid = system.pid("complaint")
    cpu0, pg0, own0 = (
        process_cpu_seconds(pid) if pid else 0.0,
        postgres_cpu_seconds(database_url),
        time.process_time(),
    )
    profilers = profiling.start({"complaint": pid}, "filings")
    started = time.perf_counter()
    latencies = await phase(batch)
    seconds = time.perf_counter() - started
    profiling.stop(profilers)
    cpu = {"complaint": ((process_cpu_seconds(pid) if pid else 0.0) - cpu0) / FILINGS * 1000,
           "PostgreSQL": (postgres_cpu_seconds(database_url) - pg0) / FILINGS * 1000,
           "the clients": (time.process_time() - own0) / FILINGS * 1000}  # fmt: skip
    if set(statuses) != {201}:
        raise RuntimeError(f"public filings answered {statuses}")
    cuts = statistics.quantiles(latencies, n=100)
    load = f"load {os.getloadavg()[0]:.1f} of 2 cores"
    return [
        Figure("public complaints filed", FILINGS / seconds, "filings/s",
               f"{FILINGS:,} through the public form, {CLIENTS} clients, each its own address and NIK; {load}"),
        Figure("public complaint: p50 latency", cuts[49] * 1000, "ms", "round trip over HTTP"),
        Figure("public complaint: p99 latency", cuts[98] * 1000, "ms", "target: under 100 ms"),
        Figure("public complaint: CPU", sum(cpu.values()), "ms/filing",
               ", ".join(f"{name} {ms:.1f} ms" for name, ms in cpu.items())),
    ]  # fmt: skip


async def run(infra: Infra) -> list[Figure]:
    system = prepare(infra, SERVICES, label="cmpbench", extra_env={"DTKS_FORWARDED_ALLOW_IPS": "127.0.0.1"})
    db_url = infra.database_url.rpartition("/")[0] + f"/cmpbench{system.run_id}_complaint"
    households = _households()
    registered = [_envelope(HouseholdRegistered(household_id=h.household_id or "", decree_number="1/HUK/2026",
                                                household=h, proposal_id=f"P-{i}"))
                  for i, h in enumerate(households)]  # fmt: skip
    life_events = [_envelope(_life_event(i, households)) for i in range(EVENTS)]
    await asyncio.to_thread(system.command, "start", only=("complaint",))
    try:
        members = 2 * HOUSEHOLDS
        seconds = await _produced_until(infra, system, registered, "SELECT count(*) FROM register_members",
                                        members, db_url)  # fmt: skip
        print(f"complaints: register of {HOUSEHOLDS:,} households applied in {seconds:.0f} s "
              f"({HOUSEHOLDS / seconds:,.0f}/s)", flush=True)  # fmt: skip
        seconds = await _produced_until(infra, system, life_events,
                                        "SELECT sum(count) FROM life_event_tallies", EVENTS, db_url)  # fmt: skip
        conn = await asyncpg.connect(db_url)
        try:
            tallies = dict(await conn.fetch("SELECT outcome, count FROM life_event_tallies"))
        finally:
            await conn.close()
        topic = system.env["DTKS_TOPIC_PREFIX"] + CIVIL_REGISTRY_EVENTS.name
        ceiling, after_joining = await asyncio.to_thread(_consumer_performance, infra, topic, EVENTS)
        rate = EVENTS / seconds
        load = f"load {os.getloadavg()[0]:.1f} of 2 cores"
        figures = [
            Figure("life events consumed into drafts", rate, "events/s",
                   f"{EVENTS:,} against {HOUSEHOLDS:,} households ({tallies.get('drafted', 0):,} drafts, "
                   f"{tallies.get('unknown_nik', 0):,} not in the register); {rate / ceiling:.0%} of "
                   f"ConsumerPerformance; target 5,000/s; {load}"),
            Figure("Kafka ConsumerPerformance (same topic)", ceiling, "events/s", f"{EVENTS:,} records"),
            Figure("Kafka ConsumerPerformance, after joining", after_joining, "events/s", "fetch.nMsg.sec"),
        ]  # fmt: skip
        return figures + await _filings(system, households, infra.database_url)
    finally:
        await asyncio.to_thread(system.command, "stop")
        await system.drop_databases_and_topics(infra)
