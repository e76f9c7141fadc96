"""The DCI adapter and the registry as their own processes on the session's stack, with a register
of a few households fixed by a decree, and an agency's keys registered with the adapter."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from dtks_contracts.vocabulary.programs import Program
from dtks_dci.domain.signing import SigningKey
from dtks_dci.testing import AGENCY, HOUSEHOLDS, NARROW, Dci, new_agency_key, public_b64, register
from dtks_registry.testing import ago, make_household
from dtks_runtime.local_system import LocalSystem, prepare
from dtks_runtime.testing import Infra

ROOT = Path(__file__).resolve().parents[3]
SERVICES_SCRIPT = ROOT / "deploy" / "local" / "services.py"


@pytest.fixture(scope="module")
def dci_keys() -> tuple[SigningKey, SigningKey]:
    return new_agency_key("k1"), new_agency_key("k2")


@pytest.fixture(scope="module")
def dci_extra_env() -> dict[str, str]:
    """More settings for the module's processes (a module overrides it: small decree chunks, say)."""
    return {}


@pytest.fixture(scope="module")
def dci_system(
    infra: Infra, dci_keys: tuple[SigningKey, SigningKey], dci_extra_env: dict[str, str]
) -> Iterator[LocalSystem]:
    key, narrow = dci_keys
    extra = {
        "DTKS_DCI_SENDER_KEYS": json.dumps({AGENCY: {key.key_id: public_b64(key)}, NARROW: {narrow.key_id: public_b64(narrow)}}),
        "DTKS_DCI_FIELD_GRANTS": json.dumps({AGENCY: ["name", "demographics", "address", "welfare", "programs"], NARROW: ["name"]}),
        "DTKS_DCI_WORKER_POLL_SECONDS": "0.2",
    }  # fmt: skip
    system = prepare(infra, SERVICES_SCRIPT, label="dci", extra_env={**extra, **dci_extra_env})
    system.command("start", only=("registry", "dci"))
    try:
        yield system
    finally:
        system.command("stop")


@pytest.fixture(scope="module")
async def dci(
    dci_system: LocalSystem, infra: Infra, dci_keys: tuple[SigningKey, SigningKey]
) -> AsyncIterator[Dci]:
    system = dci_system
    households = [make_household(i, programs=(Program.PKH,)) for i in range(HOUSEHOLDS)]
    await register(system, infra, households, "1/HUK/2027", "2027-01", accepted_at=ago(2), cutoff=ago(1))
    key, narrow = dci_keys
    yield Dci(system, system.urls["dci"], key, narrow, households)
