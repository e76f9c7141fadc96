"""What the registry's command handlers work with, built once in main.py (see runtime/README.md,
"How a service is shaped").

``unit_of_work`` makes one unit of work per call: the started runtime's, or, for a benchmark or a
test working in a schema of its own, ``dtks_runtime.unit_of_work.on_connection(conn, store)``. A
command that loses a version race opens another one and decides again, so it needs the maker, not one
unit of work. ``now`` is the clock a decree's cut-off is checked against and its issue time read from.
``decree_chunk_records``: above this many records a decree is published as chunks and a manifest.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from dtks_contracts.decree_chunks import RECORDS_PER_CHUNK
from dtks_runtime.service import StartedRuntime
from dtks_runtime.unit_of_work import UnitsOfWork


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class RegistryDeps:
    unit_of_work: UnitsOfWork
    now: Callable[[], dt.datetime] = utc_now
    decree_chunk_records: int = RECORDS_PER_CHUNK


def bootstrap(runtime: StartedRuntime, decree_chunk_records: int = RECORDS_PER_CHUNK) -> RegistryDeps:
    return RegistryDeps(unit_of_work=runtime.unit_of_work, decree_chunk_records=decree_chunk_records)
