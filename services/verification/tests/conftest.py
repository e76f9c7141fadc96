"""Fixtures of the verification service's integration tests (helpers live in dtks_verification.harness)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from dtks_runtime.testing import Infra
from dtks_verification.harness import (
    POPULATION,
    Service,
    Simulator,
    load_people,
    running_service,
    simulator_app,
)
from dtks_verification.testing import free_port


@pytest.fixture(scope="session")
async def civil_registry(infra: Infra) -> AsyncIterator[Simulator]:
    """One simulator for the session, loaded once with the test population."""
    simulator = Simulator(simulator_app(infra), free_port())
    async with simulator.serving() as url:
        await load_people(url, POPULATION)
        yield simulator


@pytest.fixture
async def service(
    kafka_bootstrap: str, infra: Infra, topic_prefix: str, civil_registry: Simulator
) -> AsyncIterator[Service]:
    async with running_service(kafka_bootstrap, infra, topic_prefix, civil_registry.url) as service:
        yield service
