"""Causal order of one household's history across services.

Events are ordered by when they occurred, except that an event never comes before an event it
depends on, whatever the clocks say (clocks of different services disagree by a little, and two
events one service records in one transaction share a timestamp):
- the event that caused it (its causation id);
- the event before it in its own stream: a service appends version v+1 of an aggregate only after
  it saw version v, so the Ministry's integrity check (version 7 of the proposal in the
  verification service) comes before the acceptance it led to (version 8), even at the same instant.
A stream is one service's aggregate: the proposal and verification services both keep a stream
per proposal id, with versions that are unrelated, so the service (the event type's prefix) is
part of the stream's name.
"""

from __future__ import annotations

import datetime as dt
import heapq
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HistoryEntry:
    event_id: str
    occurred_at: dt.datetime
    causation_id: str | None
    document: dict[str, Any]
    stream: tuple[str, ...] | None = None  # (service, aggregate type, aggregate id); None: not known
    version: int = 0  # position in that stream


def causal_order(entries: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    by_id = {e.event_id: e for e in entries}
    # Who waits for whom: the cause, and the previous event of the same stream.
    after: dict[str, list[HistoryEntry]] = {}
    waiting_for: dict[str, int] = {e.event_id: 0 for e in entries}

    def depends(later: HistoryEntry, earlier_id: str) -> None:
        after.setdefault(earlier_id, []).append(later)
        waiting_for[later.event_id] += 1

    streams: dict[tuple[str, ...], list[HistoryEntry]] = {}
    for e in entries:
        if e.causation_id in by_id and e.causation_id != e.event_id:
            depends(e, e.causation_id)
        if e.stream is not None:
            streams.setdefault(e.stream, []).append(e)
    for stream in streams.values():
        stream.sort(key=lambda e: (e.version, e.occurred_at, e.event_id))
        for earlier, later in itertools.pairwise(stream):
            if earlier.version < later.version and later.causation_id != earlier.event_id:
                depends(later, earlier.event_id)
    ready = [(e.occurred_at, e.event_id) for e in entries if waiting_for[e.event_id] == 0]
    heapq.heapify(ready)
    ordered: list[HistoryEntry] = []
    while ready:
        _, event_id = heapq.heappop(ready)
        ordered.append(by_id[event_id])
        for later in after.pop(event_id, []):
            waiting_for[later.event_id] -= 1
            if waiting_for[later.event_id] == 0:
                heapq.heappush(ready, (later.occurred_at, later.event_id))
    # A dependency cycle cannot happen with real ids and versions; keep anything left rather than lose it.
    placed = {e.event_id for e in ordered}
    ordered += sorted(
        (e for e in entries if e.event_id not in placed), key=lambda e: (e.occurred_at, e.event_id)
    )
    return ordered
