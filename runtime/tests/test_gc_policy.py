"""The one garbage-collector policy: thresholds only ever raised for a process, restored after a bulk job."""

from __future__ import annotations

import gc

from dtks_runtime.gc_policy import BULK_THRESHOLDS, rare_collections, young_threshold_at_least


def test_a_declared_unit_raises_the_thresholds_never_lowers_them_and_a_bulk_job_restores_them() -> None:
    before = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        young_threshold_at_least(300_000)
        assert gc.get_threshold() == (300_000, 20, 10)
        young_threshold_at_least(50_000)  # a smaller unit declared later keeps the larger one
        assert gc.get_threshold() == (300_000, 20, 10)
        with rare_collections():
            assert gc.get_threshold() == BULK_THRESHOLDS
        assert gc.get_threshold() == (300_000, 20, 10)
    finally:
        gc.set_threshold(*before)
