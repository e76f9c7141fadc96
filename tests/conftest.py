"""Cross-service fixtures: the services as separate processes on free ports, against the session's stack."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_runtime.auth.tokens import TokenService
from dtks_runtime.settings import LOCAL_JWT_SECRET
from dtks_runtime.testing import Infra

ROOT = Path(__file__).resolve().parents[1]
SERVICES_SCRIPT = ROOT / "deploy" / "local" / "services.py"
PORT_VARS = {
    "proposal": "DTKS_PROPOSAL_PORT",
    "verification": "DTKS_VERIFICATION_PORT",
    "registry": "DTKS_REGISTRY_PORT",
    "notification": "DTKS_NOTIFICATION_PORT",
    "civil-registry": "DTKS_CIVIL_REGISTRY_PORT",
}
tokens = TokenService(LOCAL_JWT_SECRET)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Services:
    """The five processes of one system under test, started by deploy/local/services.py."""

    state: Path
    env: dict[str, str]
    ports: dict[str, int]
    urls: dict[str, str] = field(init=False)

    def __post_init__(self) -> None:
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}

    def command(self, *args: str, only: tuple[str, ...] = ()) -> None:
        extra = [a for name in only for a in ("--only", name)]
        subprocess.run(
            [sys.executable, str(SERVICES_SCRIPT), *args, "--state-dir", str(self.state), *extra],
            env=self.env,
            check=True,
            timeout=180,
        )

    def pid(self, name: str) -> int:
        return int((self.state / "services" / f"{name}.pid").read_text())

    @staticmethod
    def headers(role: Role, region: str) -> dict[str, str]:
        token = tokens.issue(subject=f"test-{role.value}@{region}", role=role, region=region)
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def services(infra: Infra) -> Iterator[Services]:
    """All services as their own processes, with their own topics and databases, stopped afterwards."""
    state = Path(tempfile.mkdtemp(prefix="dtks-system-"))
    run_id = uuid.uuid4().hex[:8]
    infra_env = {
        "DTKS_KAFKA_BOOTSTRAP": infra.kafka_bootstrap,
        "DTKS_DATABASE_URL": infra.database_url,
        "DTKS_TOPIC_PREFIX": f"sys{run_id}.",
        "DTKS_DATABASE_NAME": f"sys{run_id}_{{service}}",
    }
    (state / "env").write_text("".join(f"export {k}={v}\n" for k, v in infra_env.items()))
    ports = {name: free_port() for name in PORT_VARS}
    env = {
        **os.environ,
        **infra_env,
        **{PORT_VARS[name]: str(port) for name, port in ports.items()},
        "DTKS_JWT_SECRET": LOCAL_JWT_SECRET,
        "DTKS_LOG_LEVEL": "warning",
    }
    system = Services(state, env, ports)
    system.command("start")
    try:
        yield system
    finally:
        system.command("stop")
