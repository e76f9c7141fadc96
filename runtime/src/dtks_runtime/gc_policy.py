"""The garbage-collector policy of every DTKS process: one rule, and the four places it is applied.

The rule: **the cyclic collector runs about once per unit of work, not hundreds of times inside one.**
Our work comes in units that keep everything they allocate alive until they commit: a request, a
batch of integrity checks, a replay's batch, a decree's chunk of households. Almost none of it forms
cycles, so reference counting frees it as soon as the unit ends. CPython's default collects the
young generation every 700 net allocations and escalates to older generations, and each collection
walks everything the unit still holds: a unit of tens of thousands of objects then pays for hundreds
of collections that free nothing, and the collector costs more than the work. So:

- the young threshold is set above what one unit holds alive, so that a collection comes about once
  per unit, after most of it was freed by reference counting;
- what a process loads at start-up and keeps (modules, classes, schemas) is frozen out of the
  collector's sight, so no collection walks it again;
- the price: objects in cycles wait a little longer to be freed, a few MB.

Where it is applied, each with the size of its unit:

- a service process, when ``serve`` starts it: :func:`tune_service_process` (requests and consumed
  batches, :data:`SERVICE_YOUNG` objects; a test that builds an app in its own process is left
  alone);
- a service whose units hold more says so once at start: :func:`young_threshold_at_least`
  (verification's check batches);
- a bulk job inside a process, for its duration: ``with`` :func:`rare_collections` (a replay, a
  decree);
- a process that lives for one bulk job only: :func:`no_collections` (a replay's worker processes).

A bulk job inside a long-lived process also leaves memory behind when it ends: the cycles it made,
and the allocator's pages freed but kept. :func:`rare_collections` gives them back on its way out
(:func:`release_memory`), so a decree of a million does not keep the registry at its peak for the
replay or the next quarter.

The figures behind each choice are in the README's "Figures last measured".
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
from collections.abc import Callable, Iterator

# A request or a consumed batch: a few thousand objects, so 50,000 allocations between young
# collections leaves almost everything to reference counting.
SERVICE_YOUNG = 50_000
# Older generations are collected after this many collections of the one below (CPython: 10, 10).
SERVICE_OLDER = (20, 10)
# A bulk job's batch or chunk keeps tens of thousands of freshly parsed objects until it is written;
# its older generations are collected rarer still, since nothing it allocates must be freed sooner.
BULK_THRESHOLDS = (100_000, 50, 100)


def young_threshold_at_least(objects: int, older: tuple[int, int] = SERVICE_OLDER) -> None:
    """Collect the young generation no more often than every ``objects`` allocations (and the
    older ones no more often than ``older``): for a process whose units hold that many objects.
    Never lowers a threshold set before, so the largest unit a process declared wins."""
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, objects), max(middle, older[0]), max(old, older[1]))


def tune_service_process() -> None:
    """A long-running service process: freeze what start-up loaded, then collect per unit."""
    gc.collect()
    gc.freeze()
    young_threshold_at_least(SERVICE_YOUNG)


@contextlib.contextmanager
def rare_collections() -> Iterator[None]:
    """The collector held back while a bulk job keeps tens of thousands of fresh objects alive (a
    replay's batch, a decree's chunk); the thresholds before are restored afterwards, and what the
    job no longer holds is given back (:func:`release_memory`)."""
    before = gc.get_threshold()
    gc.set_threshold(*BULK_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*before)
        release_memory()


def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's malloc_trim, or None where the C library has none (musl, macOS)."""
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return None
    return trim


_TRIM = _malloc_trim()


def release_memory() -> None:
    """Collect the cycles a bulk job left, then hand the C allocator's free pages back to the system.

    Freed memory otherwise stays with the process: glibc returns only the top of its heap, and a
    page still holding one live object keeps the rest. In-process, a decree over 1,000,000
    households left the process at 521 MB; collecting brought it to 383 MB and trimming to 250 MB
    (it started at 161 MB). Both take a moment once per bulk job, not per request."""
    gc.collect()
    if _TRIM is not None:
        _TRIM(0)


def no_collections() -> None:
    """A process that lives for one bulk job: no cyclic collection at all; the few cycles the event
    loop leaves go with the process."""
    gc.disable()
