"""The one garbage-collector policy: thresholds only ever raised for a process, restored after a bulk job."""

from __future__ import annotations

import gc
import os

import pytest

from dtks_runtime.gc_policy import _TRIM, BULK_THRESHOLDS, rare_collections, young_threshold_at_least


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


def _resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(_TRIM is None or not os.path.exists("/proc/self/statm"), reason="glibc on Linux only")
def test_a_bulk_job_gives_back_the_pages_it_freed() -> None:
    """A heap left fragmented, as a decree leaves it: every 64th block of 1 KiB still alive (above
    the small-object allocator's size, so from malloc's heap, below its mmap threshold), the rest
    freed. Freeing alone keeps the pages; the bulk job's end hands them back."""
    with rare_collections():
        blocks = [bytes(1024) for _ in range(200_000)]  # some 200 MB
        kept = blocks[::64]
        del blocks
        before = _resident_bytes()
        assert before > 150e6  # the pages are still resident, only freed inside the allocator
    after = _resident_bytes()
    assert before - after > 100e6, f"resident {before / 1e6:.0f} MB -> {after / 1e6:.0f} MB"
    assert len(kept) == 3125
