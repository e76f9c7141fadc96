"""Never lost, never doubled: the service killed between deciding and sending, and again while a
send is in flight, still delivers the notification, always under its one delivery id."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import asyncpg
import httpx
import pytest

from dtks_contracts.events import HouseholdRegistered
from dtks_contracts.vocabulary import Role
from dtks_notification.domain import signing
from dtks_notification.settings import NotificationSettings
from dtks_notification.testing import HttpReceiver, Received, envelope, free_port, household, produce
from dtks_runtime.auth import TokenService
from dtks_runtime.db import database_url_for
from dtks_runtime.testing import Infra, wait_until

pytestmark = pytest.mark.infra


class ServiceProcess:
    """The service as a real process (``python -m dtks_notification.main``), so it can be SIGKILLed."""

    def __init__(self, infra: Infra, database: str, prefix: str, log: Path) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "DTKS_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
            "DTKS_DATABASE_URL": infra.database_url,
            "DTKS_DATABASE_NAME": database,
            "DTKS_TOPIC_PREFIX": prefix,
            "DTKS_NOTIFICATION_PORT": str(self.port),
            "DTKS_NOTIFICATION_SENDER_POLL_SECONDS": "0.2",
            "DTKS_NOTIFICATION_ALLOW_PRIVATE_CALLBACKS": "true",  # the receiver listens on 127.0.0.1
        }
        self.log = log
        self.process: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, *, sender: bool) -> None:
        env = {**self.env, "DTKS_NOTIFICATION_SENDER_ENABLED": "true" if sender else "false"}
        with self.log.open("ab") as out:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "dtks_notification.main", env=env, stdout=out, stderr=out
            )

        async def healthy() -> bool:
            assert self.process is not None
            if self.process.returncode is not None:
                raise AssertionError(f"the service exited: {self.log.read_text()[-3000:]}")
            try:
                async with httpx.AsyncClient() as client:
                    return (await client.get(f"{self.url}/healthz")).status_code == 200
            except httpx.HTTPError:
                return False

        await wait_until(healthy, what="the service process to start")

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None and self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 30)
            except TimeoutError:
                await self.kill()


@asynccontextmanager
async def service_process(infra: Infra, prefix: str) -> AsyncIterator[tuple[ServiceProcess, str]]:
    database = f"notif_{uuid.uuid4().hex[:12]}"
    with tempfile.TemporaryDirectory() as tmp:
        process = ServiceProcess(infra, database, prefix, Path(tmp) / "service.log")
        try:
            yield process, database_url_for(infra.database_url, database)
        finally:
            await process.stop()
            admin = await asyncpg.connect(infra.database_url)
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
            finally:
                await admin.close()


async def test_killed_between_deciding_and_sending_the_message_arrives_under_one_delivery_id(
    infra, kafka_bootstrap, topic_prefix
):
    in_flight, release = asyncio.Event(), asyncio.Event()

    async def hold_the_first(_: Received, index: int) -> int:
        if index == 0:
            in_flight.set()
            await release.wait()  # the sender is killed while waiting for this answer
        return 200

    receiver = await HttpReceiver(hold_the_first).start()
    settings = NotificationSettings()
    tokens = TokenService(settings.jwt_secret, settings.jwt_issuer)
    agency = {"Authorization": "Bearer " + tokens.issue(subject="bpjs", role=Role.AGENCY, region="ID")}
    secret = "crash-test-secret-0123456789"
    try:
        async with service_process(infra, topic_prefix) as (svc, db_url):
            # 1. Decide, but do not send (sender off), then die.
            await svc.start(sender=False)
            async with httpx.AsyncClient(base_url=svc.url) as client:
                r = await client.post(
                    "/subscriptions", headers=agency, json={"callback_url": receiver.url, "secret": secret}
                )
                assert r.status_code == 201, r.text
            registered = HouseholdRegistered(
                household_id="h-1", decree_number="D-1", proposal_id="p-1", household=household("h-1")
            )
            await produce(kafka_bootstrap, topic_prefix, [envelope(registered)])
            db = await asyncpg.connect(db_url)
            try:

                async def decided() -> bool:
                    return await db.fetchval("SELECT count(*) FROM deliveries WHERE channel = 'webhook'") == 1

                await wait_until(decided, what="the delivery to be decided")
                await svc.kill()
                assert receiver.count == 0

                # 2. Restart with the sender: it sends, and dies before it can record the answer.
                await svc.start(sender=True)
                await asyncio.wait_for(in_flight.wait(), 60)
                await svc.kill()
                release.set()
                row = await db.fetchrow("SELECT delivery_id, status, attempts FROM deliveries")
                assert (row["status"], row["attempts"]) == ("pending", 0)

                # 3. Restart again: the same delivery goes out again, is recorded, and that is all.
                await svc.start(sender=True)

                async def delivered() -> bool:
                    return await db.fetchval("SELECT status FROM deliveries") == "delivered"

                await wait_until(delivered, what="the delivery after the restarts")
                ids = {r.headers[signing.DELIVERY_ID_HEADER.lower()] for r in receiver.requests}
                assert ids == {row["delivery_id"]}
                assert receiver.count == 2  # once lost in the crash, once recorded: never a second id
                attempts = await db.fetch("SELECT attempt, outcome FROM delivery_attempts")
                assert [(a["attempt"], a["outcome"]) for a in attempts] == [(1, "delivered")]
                assert (
                    await db.fetchval("SELECT count(*) FROM notifications WHERE rule = 'agency_webhook'") == 1
                )
            finally:
                await db.close()
    finally:
        await receiver.stop()
