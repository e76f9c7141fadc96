"""The whole system keeps its promises when parts of it fail while traffic flows.

The four services and the civil-registry simulator run as their own processes (tests/conftest.py's
``services``) on top of a PostgreSQL and a Kafka broker that this module starts for itself, so it
may kill them: each service is SIGKILLed and restarted mid-stream, the broker is stopped and
restarted, PostgreSQL is stopped and started again, and consumers are fed poison records. After
each fault the proposals in flight are driven through every tier to a decree, and the invariants
are checked:

- every accepted submission has exactly one current state, and the proposal service, verification
  and the registry agree on it;
- no consumer skipped or repeated an event (one entry integrity check and one acceptance re-check
  per round, every timeline and audit history without a repeated event, every consumer caught up);
- the register's hash equals a fresh replay's;
- an agency's webhook gets each public event under exactly one delivery id.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import itertools
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer

from dtks_contracts.topics import PROPOSAL_EVENTS, VERIFICATION_EVENTS
from dtks_contracts.vocabulary.roles import Role
from dtks_notification.testing import HttpReceiver, subscribed_agency
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.dead_letters import list_dead_letters
from dtks_runtime.local_system import LocalSystem
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import Infra, read_env_file
from dtks_synthetic import generate_population, proposals

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "deploy" / "local" / "stack.py"
REGENCY, PROVINCE = "17.71", "17"
TIERS = ("district", "regency", "regent", "province", "ministry")
SERVICE_NAMES = ("proposal", "verification", "registry", "notification")
# What a new household's timeline holds once determined: every event that concerns it, once.
EXPECTED_TIMELINE = {
    "proposal.submitted": 1,
    "verification.integrity_checked": 2,  # at entry, and the re-check when the Ministry accepts
    "verification.verified_at_tier": 4,  # district, regency, regent's batch, province
    "verification.batch_ratified": 1,
    "verification.accepted_by_ministry": 1,
    "registry.household_registered": 1,
}
AGENCY_SECRET = "fault-agency-secret"
tokens = TokenService(LOCAL_JWT_SECRET)

# Each test is bounded; the first one also pays for starting the stack and the services.
pytestmark = [pytest.mark.infra, pytest.mark.timeout(240)]


def say(msg: str) -> None:
    print(f"[faults {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------ the stack this module may break


@dataclass(frozen=True)
class Stack:
    """PostgreSQL and Kafka of this module only, started by deploy/local/stack.py in ``state``."""

    state: Path
    infra: Infra

    @property
    def env(self) -> dict[str, str]:
        return read_env_file(self.state / "env")

    def _run(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, str(STACK), *args, "--state-dir", str(self.state)], check=True, timeout=150
        )

    def kafka_pid(self) -> int | None:
        pid_file = self.state / "kafka" / "kafka.pid"
        return int(pid_file.read_text()) if pid_file.exists() else None

    def stop_kafka(self) -> None:
        """A clean broker shutdown (SIGTERM, as an operator or the orchestrator would)."""
        pid = self.kafka_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 60
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
        (self.state / "kafka" / "kafka.pid").unlink(missing_ok=True)

    def start(self) -> None:
        """Idempotent: starts whatever of the two is down, on the ports it had (stack.py keeps each
        server's port in its state folder, so the services' URLs stay right)."""
        self._run("start")
        assert self.env["DTKS_KAFKA_BOOTSTRAP"] == self.infra.kafka_bootstrap, "the broker moved ports"
        assert self.env["DTKS_DATABASE_URL"] == self.infra.database_url, "PostgreSQL moved ports"

    def stop_postgres(self) -> None:
        """A fast shutdown (``pg_ctl stop -m fast``), as ``stack.py stop postgres`` does it."""
        self._run("stop", "postgres")

    def start_postgres(self) -> None:
        """Back on the same port: the services keep their URLs."""
        self.start()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except (ProcessLookupError, OSError):
        return False


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    state = Path(tempfile.mkdtemp(prefix="dtks-faults-"))
    os.chmod(state, 0o755)
    try:
        subprocess.run(
            [sys.executable, str(STACK), "start", "--state-dir", str(state)], check=True, timeout=180
        )
        env = read_env_file(state / "env")
        yield Stack(
            state, Infra(env["DTKS_KAFKA_BOOTSTRAP"], env["DTKS_DATABASE_URL"], env.get("DTKS_KAFKA_LIB"))
        )
    finally:
        subprocess.run(
            [sys.executable, str(STACK), "stop", "--state-dir", str(state)], check=False, timeout=180
        )
        subprocess.run(["rm", "-rf", str(state)], check=False)


@pytest.fixture(scope="module")
def infra(stack: Stack) -> Infra:
    """Overrides the session's infra for this module: conftest's ``services`` runs on our own stack."""
    return stack.infra


# ------------------------------------------------------------------ the agency, the population


@dataclass
class World:
    services: LocalSystem
    stack: Stack
    agency: HttpReceiver  # a partner agency's webhook on loopback, keeping every POST it got
    bodies: Iterator[dict[str, Any]]
    quarters: Iterator[tuple[int, int]] = field(
        default_factory=lambda: ((y, m) for y in itertools.count(2030) for m in (1, 4, 7, 10))
    )

    def deliveries(self) -> list[tuple[str, dict[str, Any]]]:
        """(delivery id, event) of every webhook the agency got so far."""
        return [
            (r.headers["x-dtks-delivery-id"], json.loads(r.body)["event"]) for r in list(self.agency.requests)
        ]

    def deliveries_by_event(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = defaultdict(set)
        for delivery_id, event in self.deliveries():
            out[str(event["event_id"])].add(delivery_id)
        return out

    def agency_events(self, event_type: str) -> list[dict[str, Any]]:
        return [e for _, e in self.deliveries() if e["event_type"] == event_type]

    def take(self, n: int) -> list[dict[str, Any]]:
        return list(itertools.islice(self.bodies, n))

    @property
    def prefix(self) -> str:
        return self.services.env["DTKS_TOPIC_PREFIX"]


@pytest.fixture(scope="module")
def world(services: LocalSystem, stack: Stack) -> Iterator[World]:
    population = generate_population(REGENCY, people=3000, seed=11)
    records = [r.to_json() for r in population.civil_registry_records()]
    loaded = httpx.post(f"{services.urls['civil-registry']}/people", json={"people": records}, timeout=300)
    assert loaded.status_code == 200, loaded.text
    public_events = ["registry.determination_issued", "registry.household_registered"]
    with subscribed_agency(services, AGENCY_SECRET, public_events) as agency:
        drawn = [p.body for p in proposals(population, 70, seed=11) if p.fault is None]
        yield World(services, stack, agency, iter(drawn))


# ------------------------------------------------------------------ a client that rides out faults


class Unavailable(Exception):
    """A service or the infrastructure under it cannot answer right now: try again."""


class Driver:
    """Moves proposals through every tier over HTTP, as the demo does, retrying what a fault
    interrupted. Every retry is safe: submissions carry their proposal_id, decisions and
    ratifications are only sent for proposals that still wait at that tier."""

    def __init__(self, world: World, http: httpx.AsyncClient) -> None:
        self.world = world
        self.urls = world.services.urls
        self.http = http
        self.villages: dict[str, str] = {}
        self.interruptions = 0

    @staticmethod
    def headers(role: Role, region: str) -> dict[str, str]:
        token = tokens.issue(subject=f"faults-{role.value}@{region}", role=role, region=region)
        return {"Authorization": f"Bearer {token}"}

    async def request(
        self,
        method: str,
        service: str,
        path: str,
        role: Role,
        region: str,
        *,
        ok: tuple[int, ...] = (200,),
        **kwargs: Any,
    ) -> httpx.Response:
        try:
            response = await self.http.request(
                method, f"{self.urls[service]}{path}", headers=self.headers(role, region), **kwargs
            )
        except httpx.TransportError as exc:
            self.interruptions += 1
            raise Unavailable(f"{service}: {exc!r}") from exc
        if response.status_code >= 500:
            self.interruptions += 1
            raise Unavailable(f"{method} {path} -> {response.status_code}: {response.text[:300]}")
        assert response.status_code in ok, f"{method} {path} -> {response.status_code}: {response.text[:800]}"
        return response

    async def retrying(self, what: str, attempt: Any, within: float = 120) -> Any:
        deadline = time.monotonic() + within
        while True:
            try:
                return await attempt()
            except Unavailable as exc:
                if time.monotonic() > deadline:
                    raise AssertionError(f"{what}: still unavailable after {within:.0f} s: {exc}") from exc
                await asyncio.sleep(0.5)

    # --- submitting

    async def submit(self, bodies: list[dict[str, Any]]) -> list[str]:
        by_village: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for body in bodies:
            by_village[body["village_code"]].append(body)
            self.villages[body["proposal_id"]] = body["village_code"]
        for village, items in by_village.items():

            async def post(village: str = village, items: list[dict[str, Any]] = items) -> None:
                answer = (
                    await self.request(
                        "POST",
                        "proposal",
                        "/proposals/batch",
                        Role.VILLAGE_OPERATOR,
                        village,
                        ok=(200, 207),
                        json={"items": items},
                    )
                ).json()
                refused = [r for r in answer["results"] if r["status"] >= 300]
                if any(r["status"] >= 500 for r in refused):
                    raise Unavailable(f"batch items failed: {refused[:2]}")
                assert not refused, f"proposals refused at the door: {refused[:2]}"

            await self.retrying(f"submitting to {village}", post)
        return [b["proposal_id"] for b in bodies]

    # --- where each proposal stands in verification

    async def standing(self, pid: str) -> tuple[str, str | None]:
        response = await self.request(
            "GET", "verification", f"/proposals/{pid}/verification", Role.AUDITOR, "ID", ok=(200, 404)
        )
        if response.status_code == 404:  # proposal.submitted not consumed yet
            return ("unseen", None)
        body = response.json()
        return (body["status"], body["tier"])

    @staticmethod
    def position(standing: tuple[str, str | None]) -> int:
        status, tier = standing
        if status in ("unseen", "checking"):
            return -1
        if status == "in_tier":
            assert tier is not None
            return TIERS.index(tier)
        if status in ("accepting", "accepted"):
            return len(TIERS)
        raise AssertionError(f"a proposal left the path: {standing}")

    def actor(self, tier: str, pid: str) -> tuple[Role, str]:
        if tier == "district":
            return (Role.DISTRICT_VERIFIER, self.villages[pid].rsplit(".", 1)[0])
        return {
            "regency": (Role.REGENCY_OPERATOR, REGENCY),
            "regent": (Role.REGENT, REGENCY),
            "province": (Role.PROVINCE_VERIFIER, PROVINCE),
            "ministry": (Role.MINISTRY_VERIFIER, "ID"),
        }[tier]

    async def past(self, tier: str, ids: list[str], within: float = 120) -> None:
        """Decide (or ratify) every proposal of ``ids`` at ``tier`` as it arrives there, until all
        are beyond it."""
        index = TIERS.index(tier)
        deadline = time.monotonic() + within
        attempt = 0
        while True:
            try:
                standings = {pid: await self.standing(pid) for pid in ids}
                here = [pid for pid, s in standings.items() if self.position(s) == index]
                if all(self.position(s) > index for s in standings.values()):
                    return
                if here:
                    attempt += 1
                    await (self._ratify(here, attempt) if tier == "regent" else self._forward(tier, here))
            except Unavailable:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"proposals did not pass the {tier} tier within {within:.0f} s: {standings}"
                )
            await asyncio.sleep(0.5)

    async def _forward(self, tier: str, ids: list[str]) -> None:
        by_actor: dict[tuple[Role, str], list[str]] = defaultdict(list)
        for pid in ids:
            by_actor[self.actor(tier, pid)].append(pid)
        for (role, region), mine in by_actor.items():
            items = [{"proposal_id": pid, "tier": tier, "decision": "forward"} for pid in mine]
            # A refusal here means another attempt got there first; the standings tell on the next pass.
            await self.request("POST", "verification", "/decisions", role, region, json=items)

    async def _ratify(self, ids: list[str], attempt: int) -> None:
        number = f"400/{attempt:03d}/KPTS/{time.time_ns() % 10**9}"
        body = {
            "regency_code": REGENCY,
            "decree_number": number,
            "decree_date": dt.date.today().isoformat(),
            "proposal_ids": ids,
        }
        await self.request(
            "POST", "verification", "/ratifications", Role.REGENT, REGENCY, ok=(200, 201, 409), json=body
        )

    async def through_every_tier(self, ids: list[str]) -> None:
        for tier in TIERS:
            await self.past(tier, ids)

    # --- the register

    async def in_register(self, ids: list[str], within: float = 120) -> dict[str, str]:
        """Waits until the registry has every acceptance; returns proposal id -> household id."""
        found: dict[str, str] = {}
        deadline = time.monotonic() + within
        while len(found) < len(ids):
            for pid in ids:
                if pid in found:
                    continue
                with contextlib.suppress(Unavailable):
                    r = await self.request(
                        "GET", "registry", f"/candidates/{pid}", Role.AUDITOR, "ID", ok=(200, 404)
                    )
                    if r.status_code == 200:
                        found[pid] = r.json()["household_id"]
            if time.monotonic() > deadline:
                raise AssertionError(f"the registry did not receive {set(ids) - set(found)}")
            await asyncio.sleep(0.5)
        return found

    async def determine(self) -> dict[str, Any]:
        year, month = next(self.world.quarters)
        number = f"{year}{month:02d}/HUK/FAULTS"
        body = {
            "decree_number": number,
            "period": f"{year}-{month:02d}",
            "cutoff": dt.datetime.now(dt.UTC).isoformat(),
        }

        async def issue() -> dict[str, Any]:
            r = await self.request(
                "POST",
                "registry",
                "/determinations",
                Role.MINISTRY_DETERMINER,
                "ID",
                ok=(200, 201),
                json=body,
            )
            return dict(r.json())

        return dict(await self.retrying(f"issuing {number}", issue))


# ------------------------------------------------------------------ the invariants


async def settled(driver: Driver, within: float = 120) -> dict[str, dict[str, Any]]:
    """Waits until every service is healthy with all consumers caught up and its outbox empty."""
    deadline = time.monotonic() + within
    last: dict[str, Any] = {}
    while True:
        health: dict[str, dict[str, Any]] = {}
        try:
            for name in SERVICE_NAMES:
                r = await driver.http.get(f"{driver.urls[name]}/healthz", timeout=10)
                health[name] = r.json()
            if all(
                h["status"] == "ok"
                and h["outbox_lag"] == 0
                and not h["stopped_tasks"]
                and all(c["lag"] == 0 and c["seconds_since_poll"] < 10 for c in h["consumers"].values())
                for h in health.values()
            ):
                return health
            last = health
        except (httpx.TransportError, ValueError) as exc:
            last = {"error": repr(exc)}
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the system did not settle within {within:.0f} s: {json.dumps(last)[:3000]}"
            )
        await asyncio.sleep(0.5)


async def check_invariants(
    driver: Driver, world: World, household_of: dict[str, str], decree: dict[str, Any], *, replay: bool = True
) -> None:
    ids = list(household_of)
    await settled(driver)
    get = driver.request

    # Exactly one current state per accepted submission, and every service agrees on it.
    listed: Counter[str] = Counter()
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"region": REGENCY, "limit": 500, **({"cursor": cursor} if cursor else {})}
        page = (
            await get("GET", "proposal", "/proposals", Role.REGENCY_OPERATOR, REGENCY, params=params)
        ).json()
        listed.update(item["proposal_id"] for item in page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert {pid: listed[pid] for pid in ids} == dict.fromkeys(ids, 1), "a proposal listed twice or not at all"
    assert set(household_of.values()) <= set(decree["registered"]), (
        "an accepted household missing from the decree"
    )

    type_counts = []
    for pid in ids:
        village = driver.villages[pid]
        proposal = (await get("GET", "proposal", f"/proposals/{pid}", Role.VILLAGE_OPERATOR, village)).json()
        assert (proposal["status"], proposal["round"]) == ("determined", 1), (pid, proposal["status"])
        verification = (
            await get("GET", "verification", f"/proposals/{pid}/verification", Role.AUDITOR, "ID")
        ).json()
        assert (verification["status"], verification["round"], verification["pending_check"]) == (
            "accepted",
            1,
            None,
        )
        # One entry check and one acceptance re-check in the round: none skipped, none repeated.
        stages = Counter((c.get("round"), c.get("stage")) for c in verification["checks"])
        assert len(verification["checks"]) == 2 and all(n == 1 for n in stages.values()), verification[
            "checks"
        ]
        timeline_ids = [e["event_id"] for e in proposal["timeline"]]
        assert len(timeline_ids) == len(set(timeline_ids)), f"{pid}: an event applied twice to its timeline"
        type_counts.append(tuple(sorted(Counter(e["event"] for e in proposal["timeline"]).items())))
        history = (
            await get("GET", "registry", f"/audit/households/{household_of[pid]}/history", Role.AUDITOR, "ID")
        ).json()["events"]
        history_ids = [e["event_id"] for e in history]
        assert len(history_ids) == len(set(history_ids)), f"{pid}: an event recorded twice in the audit log"
    # Every proposal walked the same path, so every timeline holds the same events, each once.
    assert Counter(type_counts) == {tuple(sorted(EXPECTED_TIMELINE.items())): len(ids)}, Counter(type_counts)
    await no_real_event_dead_lettered(driver, world)

    if replay:
        await replay_reproduces(driver, decree)
    await delivered_once(world, household_of, decree)


async def replay_reproduces(driver: Driver, decree: dict[str, Any]) -> None:
    """The register's hash equals a fresh replay's."""
    report = (
        await driver.request(
            "POST", "registry", "/audit/replays", Role.AUDITOR, "ID", json={"mode": "verify"}, timeout=300
        )
    ).json()
    assert report["ok"] is True, json.dumps(report)[:2000]
    replayed = {d["decree_number"]: d for d in report["decrees"]}[decree["decree_number"]]
    assert (
        replayed["replayed_hash"]
        == replayed["recorded_hash"]
        == replayed["live_hash"]
        == decree["register_hash"]
    )


async def delivered_once(world: World, household_of: dict[str, str], decree: dict[str, Any]) -> None:
    """The agency gets every public event of this decree, each under exactly one delivery id."""

    async def all_delivered() -> bool:
        registered = {
            e["payload"]["household_id"] for e in world.agency_events("registry.household_registered")
        }
        decrees = {
            e["payload"]["decree_number"] for e in world.agency_events("registry.determination_issued")
        }
        return set(household_of.values()) <= registered and decree["decree_number"] in decrees

    deadline = time.monotonic() + 90
    while not await all_delivered():
        assert time.monotonic() < deadline, "the agency did not receive every registration and the decree"
        await asyncio.sleep(0.5)
    by_event = world.deliveries_by_event()
    assert all(len(d) == 1 for d in by_event.values()), {e: d for e, d in by_event.items() if len(d) > 1}
    per_household = Counter(
        e["payload"]["household_id"] for e in world.agency_events("registry.household_registered")
    )
    assert all(per_household[h] >= 1 for h in household_of.values())
    distinct = Counter(
        e["payload"]["household_id"]
        for e in {
            str(e["event_id"]): e for e in world.agency_events("registry.household_registered")
        }.values()
    )
    assert all(distinct[h] == 1 for h in household_of.values()), "a household registered by two events"


async def no_real_event_dead_lettered(driver: Driver, world: World) -> None:
    """A fault may delay an event, never make a consumer give up on it: the only dead letters allowed
    are records that are not events at all (the relay gives every real one an event_id header)."""
    for name in SERVICE_NAMES:
        health = (await driver.http.get(f"{driver.urls[name]}/healthz", timeout=10)).json()
        for consumer in health["consumers"]:
            letters = await list_dead_letters(world.stack.infra.kafka_bootstrap, consumer, world.prefix)
            real = [(d.event_id, d.reason) for d in letters if d.event_id is not None]
            assert not real, f"{consumer} gave up on real events: {real[:3]}"


# ------------------------------------------------------------------ faults


def sigkill(services: LocalSystem, name: str) -> None:
    """SIGKILL the service's whole process group (services.py starts each in its own session)."""
    pid = services.pid(name)
    assert pid is not None, f"{name} was never started"
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid), f"{name} survived SIGKILL"


async def kill_and_restart(services: LocalSystem, name: str) -> None:
    await asyncio.to_thread(sigkill, services, name)
    say(f"{name} killed")
    await asyncio.to_thread(services.command, "start", only=(name,))
    say(f"{name} restarted")


async def ensure_everything_up(world: World) -> None:
    """For finally blocks: whatever a test stopped is running again for the next one."""
    await asyncio.to_thread(world.stack.start)
    await asyncio.to_thread(world.services.command, "start")


async def drive_to_decree(driver: Driver, ids: list[str]) -> tuple[dict[str, str], dict[str, Any]]:
    await driver.through_every_tier(ids)
    household_of = await driver.in_register(ids)
    decree = await driver.determine()
    return household_of, decree


async def test_each_service_killed_mid_stream_loses_and_repeats_nothing(world: World) -> None:
    async with httpx.AsyncClient(timeout=30) as http:
        driver = Driver(world, http)
        bodies = world.take(15)
        try:
            # Kills land while proposals are being submitted, checked, decided and accepted.
            async def pipeline() -> tuple[dict[str, str], dict[str, Any]]:
                ids: list[str] = []
                for start in range(0, len(bodies), 3):
                    ids += await driver.submit(bodies[start : start + 3])
                    await asyncio.sleep(0.3)
                await driver.through_every_tier(ids)
                return await driver.in_register(ids), {}

            async def killer() -> None:
                for name in ("proposal", "verification", "civil-registry", "registry", "notification"):
                    await asyncio.sleep(2)
                    await kill_and_restart(world.services, name)

            (household_of, _), _ = await asyncio.gather(pipeline(), killer())
            # The decree is being delivered and projected when the registry and notification die.
            decree = await driver.determine()
            await kill_and_restart(world.services, "notification")
            await kill_and_restart(world.services, "registry")
            say(f"driver rode out {driver.interruptions} interruptions")
            await check_invariants(driver, world, household_of, decree)
        finally:
            await ensure_everything_up(world)


Outage = Callable[[Driver, list[str], list[dict[str, Any]]], Awaitable[list[str]]]


async def ride_out(world: World, outage: Outage) -> None:
    """Six proposals are submitted; ``outage(driver, their ids, six more bodies)`` stops part of the
    infrastructure, submits the six more (returning their ids) and starts it again; then all twelve
    go to a decree and the invariants are checked. Whatever is still down is started again after."""
    async with httpx.AsyncClient(timeout=30) as http:
        driver = Driver(world, http)
        first, during = world.take(6), world.take(6)
        try:
            ids = await driver.submit(first)
            ids += await outage(driver, ids, during)
            household_of, decree = await drive_to_decree(driver, ids)
            await check_invariants(driver, world, household_of, decree)
        finally:
            await ensure_everything_up(world)


async def test_kafka_broker_stopped_and_restarted_mid_stream(world: World) -> None:
    async def broker_outage(driver: Driver, ids: list[str], during: list[dict[str, Any]]) -> list[str]:
        await driver.past("district", ids)  # district decisions are now on their way through Kafka
        await asyncio.to_thread(world.stack.stop_kafka)
        say("kafka stopped")
        # The proposal service still accepts submissions, at once: they wait in its outbox.
        before = driver.interruptions
        submitted = await driver.submit(during)
        assert driver.interruptions == before, "a submission failed while only the broker was down"
        say("submitted while the broker was down")
        await asyncio.sleep(3)
        await asyncio.to_thread(world.stack.start)
        say("kafka restarted")
        return submitted

    await ride_out(world, broker_outage)


async def test_postgres_restarted_mid_stream(world: World) -> None:
    async def database_outage(driver: Driver, ids: list[str], during: list[dict[str, Any]]) -> list[str]:
        # The database goes while the first submissions are being relayed, checked and consumed.
        await asyncio.to_thread(world.stack.stop_postgres)
        say("postgres stopped")
        # Submissions while the database is down are not accepted; the client retries them.
        submitting = asyncio.create_task(driver.submit(during))
        await asyncio.sleep(6)
        await asyncio.to_thread(world.stack.start_postgres)
        say("postgres started")
        return await submitting

    await ride_out(world, database_outage)


POISON_LEFT_IN_THE_LOG: dict[str, Any] = {}


async def test_a_poison_event_is_dead_lettered_and_the_consumers_go_on(world: World) -> None:
    bootstrap = world.stack.infra.kafka_bootstrap
    poison = {
        PROPOSAL_EVENTS.name: ["verification", "notification-rules", "registry-audit"],
        VERIFICATION_EVENTS.name: [
            "proposal-status",
            "registry-projection",
            "notification-rules",
            "registry-audit",
        ],
    }
    garbage = [
        b"\x00\x01 not an event",
        json.dumps({"event_type": "verification.accepted_by_ministry"}).encode(),
    ]
    async with httpx.AsyncClient(timeout=30) as http:
        driver = Driver(world, http)
        bodies = world.take(6)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        sent: dict[str, set[tuple[int, int]]] = defaultdict(set)
        try:
            # The poison shares partitions with the real traffic that follows it (same keys).
            for topic in poison:
                for body in bodies:
                    for value in garbage:
                        meta = await producer.send_and_wait(
                            world.prefix + topic, value=value, key=body["proposal_id"].encode()
                        )
                        sent[topic].add((meta.partition, meta.offset))
        finally:
            await producer.stop()
        ids = await driver.submit(bodies)
        household_of, decree = await drive_to_decree(driver, ids)
        # The replay over the poisoned log is the next test's subject.
        await check_invariants(driver, world, household_of, decree, replay=False)
        POISON_LEFT_IN_THE_LOG["decree"] = decree
        for topic, consumers in poison.items():
            for consumer in consumers:
                letters = [
                    d
                    for d in await list_dead_letters(bootstrap, consumer, world.prefix)
                    if d.header("dlq.topic") == world.prefix + topic
                ]
                got = [
                    (int(d.header("dlq.partition") or -1), int(d.header("dlq.offset") or -1)) for d in letters
                ]
                # Every poison record dead-lettered, each once: the consumer neither stalled nor looped on it.
                assert sorted(got) == sorted(sent[topic]), (
                    f"{consumer} on {topic}: {got} != {sorted(sent[topic])}"
                )
        # What an operator sees: dtks-dead-letters lists each of them, with the topic it came from.
        listed = await asyncio.to_thread(
            subprocess.run,
            [str(ROOT / ".venv" / "bin" / "dtks-dead-letters"), "list", "--consumer", "verification"],
            env=world.services.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        lines = [json.loads(line) for line in listed.stdout.splitlines()]
        # (partition and offset there are the dead-letter topic's own; the origin is "from")
        poisoned = world.prefix + PROPOSAL_EVENTS.name
        assert [d["from"] for d in lines] == [poisoned] * len(sent[PROPOSAL_EVENTS.name]), lines
        assert all(d["event_id"] is None and "undecodable" in d["reason"] for d in lines), lines


async def test_the_auditors_replay_reproduces_the_register_over_a_poisoned_log(world: World) -> None:
    decree = POISON_LEFT_IN_THE_LOG.get("decree")
    if decree is None:
        pytest.skip("needs the decree of the poison test, which did not get that far")
    async with httpx.AsyncClient(timeout=30) as http:
        await replay_reproduces(Driver(world, http), decree)
