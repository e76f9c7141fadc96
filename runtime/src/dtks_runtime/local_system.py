"""Every DTKS service as its own process on free ports: the system that system tests and the
pipeline benchmark run against.

The processes are started and stopped by ``deploy/local/services.py`` (what ``make run`` uses),
given a state folder whose ``env`` file names the infrastructure, free ports in ``DTKS_*_PORT``,
and a topic prefix and per-service database names of this run only, so a run shares nothing with
anything else on the stack. The script's path is passed in, as :func:`dtks_runtime.testing.private_stack`
is given ``stack.py``'s: ``deploy/local`` is a folder of scripts, not a package.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import Infra
from dtks_runtime.topics import delete_prefixed_topics

# The services deploy/local/services.py starts (its SERVICES table) and the variable each one's
# port is read from.
PORT_VARS = {
    "civil-registry": "DTKS_CIVIL_REGISTRY_PORT",
    "proposal": "DTKS_PROPOSAL_PORT",
    "verification": "DTKS_VERIFICATION_PORT",
    "registry": "DTKS_REGISTRY_PORT",
    "notification": "DTKS_NOTIFICATION_PORT",
    "dci": "DTKS_DCI_PORT",
    "complaint": "DTKS_COMPLAINTS_PORT",
    "console": "DTKS_CONSOLE_PORT",  # started only when DTKS_OIDC_ISSUER is given (extra_env)
}
# The services with an outbox and consumers (the civil-registry simulator has neither).
EVENT_SERVICES = ("proposal", "verification", "registry", "notification", "dci", "complaint")
COMMAND_TIMEOUT = 180  # seconds for services.py to start (each ready on /readyz) or stop them all

_tokens = TokenService(LOCAL_JWT_SECRET)  # the secret every process of the system is given


def _free_ports(count: int) -> list[int]:
    """``count`` distinct free ports. Each socket stays bound until all are chosen: the kernel may hand
    a just-released port out again, and two services given one port leave the second unable to bind
    while the first answers its readiness check (seen once in CI: the registry's queries reached the
    verification service)."""
    with ExitStack() as held:
        sockets = [held.enter_context(socket.socket()) for _ in range(count)]
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]


@dataclass
class LocalSystem:
    """The service processes of one run: their ports, environment, pid files and logs."""

    services_script: Path
    state: Path
    env: dict[str, str]  # what every process is started with, infrastructure and ports included
    ports: dict[str, int]
    run_id: str
    label: str  # begins this run's topic prefix and database names
    urls: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}

    def command(self, *args: str, only: tuple[str, ...] = ()) -> None:
        """``services.py start|stop|status`` on this run's state folder, for ``only`` these services
        (all when empty); ``start`` returns once each is ready (/readyz)."""
        extra = [a for name in only for a in ("--only", name)]
        subprocess.run(
            [sys.executable, str(self.services_script), *args, "--state-dir", str(self.state), *extra],
            env=self.env,
            check=True,
            timeout=COMMAND_TIMEOUT,
        )

    def pid(self, name: str) -> int | None:
        """The pid (and process group) of a running service, None when it was never started."""
        path = self.state / "services" / f"{name}.pid"
        return int(path.read_text()) if path.exists() else None

    def log(self, name: str) -> Path:
        return self.state / "services" / f"{name}.log"

    def headers(self, role: Role, region: str) -> dict[str, str]:
        """A bearer token the system's services accept, for ``role`` in ``region``."""
        token = _tokens.issue(subject=f"{self.label}-{role.value}@{region}", role=role, region=region)
        return {"Authorization": f"Bearer {token}"}

    async def drop_databases_and_topics(self, infra: Infra) -> None:
        """The run's databases (one per service) and its topics are removed, once its services have
        stopped: on a stack that outlives the run (one's own, reused), nothing of it stays behind."""
        await delete_prefixed_topics(infra.kafka_bootstrap, self.env["DTKS_TOPIC_PREFIX"])
        admin = await asyncpg.connect(infra.database_url)
        try:
            names = await admin.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{self.label}{self.run_id}_%"
            )
            for row in names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        finally:
            await admin.close()


def prepare(
    infra: Infra, services_script: Path, *, label: str, extra_env: dict[str, str] | None = None
) -> LocalSystem:
    """A system on ``infra``, not started yet: a fresh state folder, free ports, this run's names;
    ``extra_env`` is given to every process (``DTKS_OIDC_ISSUER`` of a test's Keycloak, say)."""
    state = Path(tempfile.mkdtemp(prefix=f"dtks-{label}-"))
    run_id = uuid.uuid4().hex[:8]
    infra_env = {
        "DTKS_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "DTKS_DATABASE_URL": infra.database_url,
        "DTKS_TOPIC_PREFIX": f"{label}{run_id}.",
        "DTKS_DATABASE_NAME": f"{label}{run_id}_{{service}}",
    }
    (state / "env").write_text("".join(f"export {k}={v}\n" for k, v in infra_env.items()))
    ports = dict(zip(PORT_VARS, _free_ports(len(PORT_VARS)), strict=True))
    env = {
        **os.environ,
        **infra_env,
        **{PORT_VARS[name]: str(port) for name, port in ports.items()},
        "DTKS_JWT_SECRET": LOCAL_JWT_SECRET,
        "DTKS_LOG_LEVEL": "warning",
        **(extra_env or {}),
    }
    return LocalSystem(services_script, state, env, ports, run_id, label)


@contextmanager
def running(
    infra: Infra, services_script: Path, *, label: str, extra_env: dict[str, str] | None = None
) -> Iterator[LocalSystem]:
    """:func:`prepare`, start every service, and stop them all on exit (their databases stay)."""
    system = prepare(infra, services_script, label=label, extra_env=extra_env)
    system.command("start")
    try:
        yield system
    finally:
        system.command("stop")
