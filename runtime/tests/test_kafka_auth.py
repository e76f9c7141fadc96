"""The broker as production runs it: SASL/SCRAM logins and ACLs, on a secured local broker of this
module's own (deploy/local/stack.py start --kafka-auth scram, on free ports). Each service writes only
its own topics, reads those it consumes, and a client without a login gets nothing (defect 9)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAuthorizationFailedError

from dtks_contracts.actor import Actor
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.proposal import ProposalWithdrawn
from dtks_contracts.topics import PROPOSAL_EVENTS, REGISTRY_EVENTS, with_prefix
from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.consumer import per_event
from dtks_runtime.event_store import Causation, NewEvent
from dtks_runtime.kafka_security import kafka_security
from dtks_runtime.outbox_relay import producer_for
from dtks_runtime.service import ServiceRuntime
from dtks_runtime.settings import RuntimeSettings
from dtks_runtime.testing import read_env_file, wait_until
from dtks_runtime.topics import ensure_topics

pytestmark = pytest.mark.infra
STACK = Path(__file__).resolve().parents[2] / "deploy" / "local" / "stack.py"


@dataclass(frozen=True)
class SecuredBroker:
    bootstrap: str
    database_url: str
    passwords: dict[str, str]  # login -> password: admin and one per service
    env: dict[str, str]  # what the stack wrote to its env file

    def settings(self, login: str, **overrides: object) -> RuntimeSettings:
        return RuntimeSettings(
            kafka_bootstrap=self.bootstrap,
            database_url=self.database_url,
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_username=login,
            kafka_password=self.passwords[login],
            **overrides,  # type: ignore[arg-type]
        )


@pytest.fixture(scope="module")
def secured() -> Iterator[SecuredBroker]:
    state = Path(tempfile.mkdtemp(prefix="dtks-sasl-"))
    os.chmod(state, 0o755)
    start = [sys.executable, str(STACK), "start", "--state-dir", str(state), "--kafka-auth", "scram"]
    try:
        subprocess.run(start, check=True, timeout=300)
        env = read_env_file(state / "env")
        passwords = json.loads(Path(env["DTKS_KAFKA_CREDENTIALS"]).read_text())
        yield SecuredBroker(env["DTKS_KAFKA_BOOTSTRAP"], env["DTKS_DATABASE_URL"], passwords, env)
    finally:
        subprocess.run([sys.executable, str(STACK), "stop", "--state-dir", str(state)], check=False)
        shutil.rmtree(state, ignore_errors=True)


async def test_the_stack_writes_the_admin_login_to_its_env_and_the_admin_creates_every_topic(
    secured, monkeypatch
):
    for name in ("SECURITY_PROTOCOL", "SASL_MECHANISM", "USERNAME", "PASSWORD"):
        monkeypatch.setenv(f"DTKS_KAFKA_{name}", secured.env[f"DTKS_KAFKA_{name}"])
    assert secured.env["DTKS_KAFKA_USERNAME"] == "admin"
    # Tools run from the env file (no settings passed) log in as the operator.
    created = await ensure_topics(secured.bootstrap, with_prefix(""))
    assert set(created) <= {spec.name for spec in with_prefix("")}
    assert set(await ensure_topics(secured.bootstrap, with_prefix(""))) == set()


async def test_services_logged_in_as_themselves_publish_their_own_events_and_consume_what_they_read(secured):
    admin = kafka_security(secured.settings("admin"))
    await ensure_topics(secured.bootstrap, with_prefix(""), security=admin)
    proposal = ServiceRuntime(
        service="proposal", settings=secured.settings("proposal", database_name=f"p_{uuid.uuid4().hex[:8]}")
    )
    verification = ServiceRuntime(
        service="verification",
        settings=secured.settings("verification", database_name=f"v_{uuid.uuid4().hex[:8]}"),
    )
    seen: list[EventEnvelope] = []

    async def on_proposal_event(conn: asyncpg.Connection, event: EventEnvelope) -> None:
        seen.append(event)

    # A group of the verification's own name, reading the proposal topic: both allowed by its ACLs.
    verification.add_consumer("verification-probe", [PROPOSAL_EVENTS.name], per_event(on_proposal_event))
    await proposal.start()
    await verification.start()
    try:
        assert proposal.pool is not None and proposal.store is not None
        proposal_id = str(uuid.uuid4())
        operator = Actor(subject="op-1", role=Role.VILLAGE_OPERATOR, region="17.71.01.1001")
        withdrawn = ProposalWithdrawn(
            proposal_id=proposal_id, round=1, village_code="17.71.01.1001", withdrawn_by=operator,
            reason="entered twice by mistake",
        )  # fmt: skip
        async with proposal.pool.acquire() as conn, conn.transaction():
            await proposal.store.append(
                conn,
                aggregate_type="proposal",
                aggregate_id=proposal_id,
                expected_version=0,
                events=[NewEvent.of(withdrawn)],
                causation=Causation(actor=operator),
            )

        async def consumed() -> bool:
            return any(e.aggregate_id == proposal_id for e in seen)

        await wait_until(consumed, within=90, what="the proposal's event, relayed and consumed under SASL")
        assert verification.consumers[0].stats.dead_lettered == 0
    finally:
        await verification.stop()
        await proposal.stop()


async def test_the_proposal_login_may_write_its_own_topic_but_not_the_registrys(secured):
    await ensure_topics(
        secured.bootstrap, with_prefix(""), security=kafka_security(secured.settings("admin"))
    )
    producer = producer_for(secured.bootstrap, security=kafka_security(secured.settings("proposal")))
    await producer.start()
    try:
        await producer.send_and_wait(PROPOSAL_EVENTS.name, b"{}", key=b"k")  # its own: allowed
        with pytest.raises(TopicAuthorizationFailedError):
            await asyncio.wait_for(producer.send_and_wait(REGISTRY_EVENTS.name, b"{}", key=b"k"), 60)
    finally:
        await producer.stop()


async def test_a_client_without_a_login_or_with_a_wrong_password_is_refused(secured):
    anonymous = AIOKafkaProducer(bootstrap_servers=secured.bootstrap, request_timeout_ms=10_000)
    with pytest.raises(KafkaConnectionError):
        await asyncio.wait_for(anonymous.start(), 60)
    await anonymous.stop()
    wrong = secured.settings("registry").model_copy(update={"kafka_password": "not the password"})
    impostor = producer_for(secured.bootstrap, security=kafka_security(wrong), request_timeout_ms=10_000)
    with pytest.raises(KafkaError):
        await asyncio.wait_for(impostor.start(), 60)
    await impostor.stop()


def test_production_refuses_a_plaintext_broker():
    settings = RuntimeSettings(
        env="production", oidc_issuer="https://id.example.go.id/realms/dtks", event_keys={"proposal": "k"}
    )
    with pytest.raises(RuntimeError, match="DTKS_KAFKA_SECURITY_PROTOCOL"):
        settings.check_production_safety()
    secured = settings.model_copy(
        update={"kafka_security_protocol": "SASL_SSL", "kafka_username": "proposal", "kafka_password": "p"}
    )
    secured.check_production_safety()


def test_the_acls_name_the_topics_with_the_topic_prefix_the_services_use() -> None:
    """A stack started with DTKS_TOPIC_PREFIX gives its ACLs on the prefixed topics (those the services
    use), not on the bare names; consumer groups are not prefixed."""
    spec = importlib.util.spec_from_file_location("dtks_local_stack", STACK)
    assert spec is not None and spec.loader is not None
    stack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stack)
    calls = stack.service_acls("proposal", "run7.")
    topics = [args[i + 1] for args in calls for i, arg in enumerate(args) if arg == "--topic"]
    groups = [args[i + 1] for args in calls for i, arg in enumerate(args) if arg == "--group"]
    assert {"run7.dtks.proposal.", "run7.dtks.dlq.proposal", "run7.dtks.verification.events"} <= set(topics)
    assert all(topic.startswith("run7.dtks.") for topic in topics), topics
    assert groups == ["proposal"]
    bare = [
        args[i + 1]
        for args in stack.service_acls("proposal")
        for i, arg in enumerate(args)
        if arg == "--topic"
    ]
    assert all(topic.startswith("dtks.") for topic in bare), bare  # no prefix configured: the bare names
