"""How many processes ``serve()`` runs a service as: its own setting first, then DTKS_WORKERS."""

from __future__ import annotations

from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI

from dtks_runtime.service import serve


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, dict[str, Any]]]:
    """What uvicorn was asked to run (nothing is served)."""
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda target, **options: calls.append((target, options)))
    monkeypatch.setenv("DTKS_TUNE_GC", "0")  # serve() sets it; restored after the test
    monkeypatch.delenv("DTKS_WORKERS", raising=False)
    monkeypatch.delenv("DTKS_TEST_SERVICE_WORKERS", raising=False)
    return calls


def test_a_services_own_worker_count_comes_before_dtks_workers(
    runs: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DTKS_WORKERS", "1")
    monkeypatch.setenv("DTKS_TEST_SERVICE_WORKERS", "2")
    serve(FastAPI(), port_env="DTKS_TEST_PORT", default_port=1, factory="some.module:build_app",
          workers_env="DTKS_TEST_SERVICE_WORKERS")  # fmt: skip
    ((target, options),) = runs
    assert target == "some.module:build_app" and options["workers"] == 2 and options["factory"] is True


def test_without_its_own_count_a_service_runs_dtks_workers_processes(
    runs: list[tuple[Any, dict[str, Any]]], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = FastAPI()
    serve(app, port_env="DTKS_TEST_PORT", default_port=1, factory="some.module:build_app",
          workers_env="DTKS_TEST_SERVICE_WORKERS")  # fmt: skip
    monkeypatch.setenv("DTKS_WORKERS", "3")
    serve(app, port_env="DTKS_TEST_PORT", default_port=1, factory="some.module:build_app",
          workers_env="DTKS_TEST_SERVICE_WORKERS")  # fmt: skip
    (one, _), (three, options) = runs
    assert one is app and three == "some.module:build_app" and options["workers"] == 3
