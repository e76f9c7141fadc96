"""The local stack's SCRAM logins and ACLs (deploy/local/stack.py) cover every Kafka client of the
local system: the complaints service reads the civil registry's life events, and the civil-registry
simulator that publishes them has a login of its own that may write only its topics."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

from dtks_contracts.topics import CIVIL_REGISTRY_EVENTS

STACK = Path(__file__).resolve().parents[2] / "deploy" / "local" / "stack.py"


def _stack() -> ModuleType:
    spec = importlib.util.spec_from_file_location("dtks_local_stack_logins", STACK)
    assert spec is not None and spec.loader is not None
    stack = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(stack)
    return stack


def _topics(calls: list[list[str]], operation: str) -> set[str]:
    return {
        args[i + 1] for args in calls if operation in args for i, arg in enumerate(args) if arg == "--topic"
    }


def test_the_complaints_service_may_read_the_civil_registrys_life_events() -> None:
    calls = _stack().service_acls("complaint", "run7.")
    assert f"run7.{CIVIL_REGISTRY_EVENTS.name}" in _topics(calls, "Read")


def test_the_civil_registry_simulator_has_a_login_that_writes_only_its_life_events(tmp_path: Path) -> None:
    stack = _stack()
    creds = stack.kafka_credentials(tmp_path)
    login = stack.service_login(
        "civil-registry", {"DTKS_KAFKA_CREDENTIALS": str(tmp_path / "credentials.json")}
    )
    assert login["DTKS_KAFKA_USERNAME"] == "civil_registry"
    assert login["DTKS_KAFKA_PASSWORD"] == creds["civil_registry"]
    written = _topics(stack.service_acls("civil_registry"), "Write")
    assert any(CIVIL_REGISTRY_EVENTS.name.startswith(prefix) for prefix in written)
    assert all(
        t.startswith(("dtks.civil_registry.", "dtks.dlq.civil_registry", "dtks.retry.civil_registry"))
        for t in written
    )
    assert _topics(stack.service_acls("civil_registry"), "Read") == written  # its own, nothing else


def test_a_state_folder_made_before_a_login_existed_falls_back_to_the_env_files_login(tmp_path: Path) -> None:
    (tmp_path / "credentials.json").write_text(json.dumps({"admin": "x", "proposal": "y"}))
    login = _stack().service_login(
        "civil-registry", {"DTKS_KAFKA_CREDENTIALS": str(tmp_path / "credentials.json")}
    )
    assert login == {}
