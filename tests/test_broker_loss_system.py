"""The system loses and repeats nothing when one broker of a three-broker Kafka cluster dies.

This module starts its own PostgreSQL and a KRaft cluster of three brokers (``stack.py start
--kafka-brokers 3``, each broker its own process on free ports), so it may kill one: the services
(tests/conftest.py's ``services``) run against it, a steady stream of submissions and tier decisions
flows, broker 1 is SIGKILLed mid-stream and started again later. Then the invariants of
tests/test_faults_system.py hold (its driver and checks are reused, not copied): every proposal
determined exactly once and every service agreeing, no timeline or audit history with a repeated
event, nothing real dead-lettered, every public event delivered under one delivery id, and the
auditors' replay (``POST /audit/replays`` verify) reproducing the register's hash.

What makes that possible is the cluster's configuration, which the test checks first: the services'
topics have three replicas and ``min.insync.replicas=2`` (the replication follows the cluster's
size, dtks_runtime.topics), and the producers write with ``acks=all`` and idempotence, so every
acknowledged event is on two brokers when one dies, and a producer retrying into the new leader
writes no duplicate.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from dtks_contracts.topics import PROPOSAL_EVENTS, REGISTRY_EVENTS, VERIFICATION_EVENTS
from dtks_runtime.testing import Infra, read_env_file

ROOT = Path(__file__).resolve().parents[1]
STACK = ROOT / "deploy" / "local" / "stack.py"
BROKERS = 3
KILLED = 1  # node 1: the first of the bootstrap list and, at start, the active controller


def _faults() -> ModuleType:
    """tests/test_faults_system.py, whose driver and invariant checks this module reuses. Tests run
    with --import-mode=importlib, where test modules cannot import one another by name: it is loaded
    under the name pytest gives it, and pytest finds it in sys.modules when it collects it itself."""
    name = "tests.test_faults_system"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("test_faults_system.py"))
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


faults = _faults()
world = faults.world  # the module's population and partner agency, on the services of this module

# The stack (PostgreSQL, three brokers) and the services start inside the first test's budget.
pytestmark = [pytest.mark.infra, pytest.mark.timeout(420)]


@dataclass(frozen=True)
class ClusterStack(faults.Stack):  # type: ignore[name-defined,misc]
    """The faults module's Stack, on a cluster: one broker can be killed and started again."""

    def kill_broker(self, index: int) -> None:
        self._run("broker", "kill", str(index))

    def start_broker(self, index: int) -> None:
        self._run("broker", "start", str(index))


@pytest.fixture(scope="module")
def stack() -> Iterator[ClusterStack]:
    state = Path(tempfile.mkdtemp(prefix="dtks-brokers-"))
    os.chmod(state, 0o755)
    started = time.monotonic()
    try:
        subprocess.run(
            [sys.executable, str(STACK), "start", "--state-dir", str(state), "--kafka-brokers", str(BROKERS)],
            check=True,
            timeout=240,
        )
        env = read_env_file(state / "env")
        faults.say(f"PostgreSQL and {BROKERS} brokers up in {time.monotonic() - started:.0f} s")
        yield ClusterStack(
            state, Infra(env["DTKS_KAFKA_BOOTSTRAP"], env["DTKS_DATABASE_URL"], env.get("DTKS_KAFKA_LIB"))
        )
    finally:
        subprocess.run(
            [sys.executable, str(STACK), "stop", "--state-dir", str(state)], check=False, timeout=180
        )
        subprocess.run(["rm", "-rf", str(state)], check=False)


@pytest.fixture(scope="module")
def infra(stack: ClusterStack) -> Infra:
    """Overrides the session's infra for this module: conftest's ``services`` runs on the cluster."""
    return stack.infra


DOMAIN_TOPICS = (PROPOSAL_EVENTS.name, VERIFICATION_EVENTS.name, REGISTRY_EVENTS.name)


async def replication_of(bootstrap: str, prefix: str) -> dict[str, Any]:
    """Per domain topic: the replicas and in-sync replicas of each partition, and min.insync.replicas."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        names = [prefix + t for t in DOMAIN_TOPICS]
        described = await admin.describe_topics(names)
        configs = await admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, n, {"min.insync.replicas": None}) for n in names]
        )
    finally:
        await admin.close()
    min_isr = {
        topic: value
        for answer in configs
        for _, _, _, topic, entries in answer.resources
        for key, value, *_ in entries
        if key == "min.insync.replicas"
    }
    return {
        t["topic"]: {
            "replicas": sorted(len(p["replicas"]) for p in t["partitions"]),
            "isr": sorted(len(p["isr"]) for p in t["partitions"]),
            "min.insync.replicas": min_isr.get(t["topic"]),
        }
        for t in described
    }


async def test_a_broker_killed_mid_stream_loses_and_repeats_nothing(world: Any) -> None:
    bootstrap = world.stack.infra.kafka_bootstrap
    assert len(bootstrap.split(",")) == BROKERS, bootstrap
    before = await replication_of(bootstrap, world.prefix)
    for topic, seen in before.items():
        assert set(seen["replicas"]) == {3} and seen["min.insync.replicas"] == "2", (topic, seen)

    async with httpx.AsyncClient(timeout=30) as http:
        driver = faults.Driver(world, http)
        bodies = world.take(24)
        timings: dict[str, float] = {}
        t0 = time.monotonic()
        try:
            # A steady stream: three submissions every second and a half, each group driven through
            # every tier as soon as it is in, so events are produced and consumed all along.
            async def stream() -> list[str]:
                groups = []
                for start in range(0, len(bodies), 3):
                    ids = await driver.submit(bodies[start : start + 3])
                    groups.append(asyncio.create_task(driver.through_every_tier(ids)))
                    await asyncio.sleep(1.5)
                await asyncio.gather(*groups)
                timings["stream_through_every_tier"] = time.monotonic() - t0
                return [b["proposal_id"] for b in bodies]

            async def killer() -> None:
                await asyncio.sleep(4)
                await asyncio.to_thread(world.stack.kill_broker, KILLED)
                timings["killed"] = time.monotonic() - t0
                faults.say(f"broker {KILLED} SIGKILLed at {timings['killed']:.1f} s")
                # The cluster notices: the dead broker leaves the in-sync replicas of its partitions
                # (KRaft fences it after its session times out) while the stream goes on with two.
                while True:
                    try:  # the admin client may pick the dead broker's stale address: ask again
                        isr = await replication_of(bootstrap, world.prefix)
                    except KafkaError:
                        isr = {}
                    if any(2 in seen["isr"] for seen in isr.values()):
                        break
                    assert time.monotonic() - t0 < timings["killed"] + 60, (
                        f"broker {KILLED} never left an ISR"
                    )
                    await asyncio.sleep(0.5)
                timings["out_of_isr"] = time.monotonic() - t0
                faults.say(f"broker {KILLED} out of the in-sync replicas at {timings['out_of_isr']:.1f} s")
                await asyncio.sleep(max(0.0, timings["killed"] + 15 - (time.monotonic() - t0)))
                await asyncio.to_thread(world.stack.start_broker, KILLED)
                timings["restarted"] = time.monotonic() - t0
                faults.say(f"broker {KILLED} running again at {timings['restarted']:.1f} s")

            ids, _ = await asyncio.gather(stream(), killer())
            timings["through_every_tier"] = time.monotonic() - t0
            household_of = await driver.in_register(ids)
            decree = await driver.determine()
            timings["decree"] = time.monotonic() - t0
            faults.say(
                f"{len(ids)} proposals determined; driver rode out {driver.interruptions} interruptions"
            )
            await faults.check_invariants(driver, world, household_of, decree)
            timings["checked"] = time.monotonic() - t0
        finally:
            await faults.ensure_everything_up(world)

    # The restarted broker caught up: every partition has its three replicas in sync again.
    deadline = time.monotonic() + 60
    while True:
        after = await replication_of(bootstrap, world.prefix)
        if all(set(seen["isr"]) == {3} for seen in after.values()):
            break
        assert time.monotonic() < deadline, f"the restarted broker did not rejoin every ISR: {after}"
        await asyncio.sleep(1)
    faults.say(f"timings (s from the stream's start): {timings}")
