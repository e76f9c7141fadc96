"""The system under benchmark: every service its own process, started by deploy/local/services.py.

Exactly as tests/conftest.py's ``services`` fixture does it: a state folder with an env file naming
the infrastructure, free ports in DTKS_*_PORT, a topic prefix and per-service database names of
this run only, so the benchmark shares nothing with anything else on the stack.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import Infra

ROOT = Path(__file__).resolve().parents[1]
SERVICES_SCRIPT = ROOT / "deploy" / "local" / "services.py"
PORT_VARS = {
    "civil-registry": "DTKS_CIVIL_REGISTRY_PORT",
    "proposal": "DTKS_PROPOSAL_PORT",
    "verification": "DTKS_VERIFICATION_PORT",
    "registry": "DTKS_REGISTRY_PORT",
    "notification": "DTKS_NOTIFICATION_PORT",
}
# The services with an outbox and consumers (the civil-registry simulator has neither).
EVENT_SERVICES = ("proposal", "verification", "registry", "notification")
_tokens = TokenService(LOCAL_JWT_SECRET)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def headers(role: Role, region: str) -> dict[str, str]:
    token = _tokens.issue(subject=f"bench-{role.value}@{region}", role=role, region=region)
    return {"Authorization": f"Bearer {token}"}


@dataclass
class System:
    state: Path
    env: dict[str, str]
    ports: dict[str, int]
    run_id: str
    urls: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}

    def command(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, str(SERVICES_SCRIPT), *args, "--state-dir", str(self.state)],
            env=self.env,
            check=True,
            timeout=180,
        )

    def pid(self, name: str) -> int | None:
        path = self.state / "services" / f"{name}.pid"
        return int(path.read_text()) if path.exists() else None

    def log(self, name: str) -> Path:
        return self.state / "services" / f"{name}.log"

    async def drop_databases(self, infra: Infra) -> None:
        """The run's databases (one per service) are removed; its topics are left to the stack."""
        admin = await asyncpg.connect(infra.database_url)
        try:
            names = await admin.fetch(
                "SELECT datname FROM pg_database WHERE datname LIKE $1", f"pipe{self.run_id}_%"
            )
            for row in names:
                await admin.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
        finally:
            await admin.close()


def prepare(infra: Infra) -> System:
    state = Path(tempfile.mkdtemp(prefix="dtks-pipeline-"))
    run_id = uuid.uuid4().hex[:8]
    infra_env = {
        "DTKS_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "DTKS_DATABASE_URL": infra.database_url,
        "DTKS_TOPIC_PREFIX": f"pipe{run_id}.",
        "DTKS_DATABASE_NAME": f"pipe{run_id}_{{service}}",
    }
    (state / "env").write_text("".join(f"export {k}={v}\n" for k, v in infra_env.items()))
    ports = {name: _free_port() for name in PORT_VARS}
    env = {
        **os.environ,
        **infra_env,
        **{PORT_VARS[name]: str(port) for name, port in ports.items()},
        "DTKS_JWT_SECRET": LOCAL_JWT_SECRET,
        "DTKS_LOG_LEVEL": "warning",
    }
    return System(state, env, ports, run_id)
