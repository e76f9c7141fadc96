"""A runtime typed as started: handlers get a pool and a store that are there, or nothing at all."""

from __future__ import annotations

import pytest

from dtks_runtime.event_store import EventStore
from dtks_runtime.service import ServiceRuntime
from dtks_runtime.settings import RuntimeSettings


def test_a_runtime_not_yet_started_refuses_to_hand_out_its_pool_or_a_unit_of_work() -> None:
    runtime = ServiceRuntime(service="sample", settings=RuntimeSettings())
    with pytest.raises(RuntimeError, match="has not started"):
        runtime.started()
    with pytest.raises(RuntimeError, match="has not started"):
        runtime.unit_of_work()


def test_a_started_runtime_hands_out_the_pool_store_and_settings_it_started_with() -> None:
    settings = RuntimeSettings()
    pool, store = object(), EventStore(lambda _e: "topic")
    runtime = ServiceRuntime(service="sample", settings=settings, pool=pool, store=store)  # type: ignore[arg-type]
    started = runtime.started()
    assert started.pool is pool and started.store is store and started.settings is settings
    assert started.runtime is runtime
