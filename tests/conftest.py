"""Cross-service fixtures: the services as separate processes on free ports, against the session's stack."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dtks_runtime.local_system import LocalSystem, running
from dtks_runtime.testing import Infra

ROOT = Path(__file__).resolve().parents[1]
SERVICES_SCRIPT = ROOT / "deploy" / "local" / "services.py"


@pytest.fixture(scope="module")
def services(infra: Infra) -> Iterator[LocalSystem]:
    """All services as their own processes, with their own topics and databases, stopped afterwards."""
    with running(infra, SERVICES_SCRIPT, label="sys") as system:
        yield system
