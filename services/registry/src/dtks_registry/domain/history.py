"""Causal order of one household's history across services.

Events are ordered by when they occurred, except that an event never comes before the event that
caused it (clocks of different services disagree by a little; causation ids do not).
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class HistoryEntry:
    event_id: str
    occurred_at: dt.datetime
    causation_id: str | None
    document: dict[str, Any]


def causal_order(entries: Sequence[HistoryEntry]) -> list[HistoryEntry]:
    by_id = {e.event_id: e for e in entries}
    waiting: dict[str, list[HistoryEntry]] = {}
    ready: list[tuple[dt.datetime, str]] = []
    for e in entries:
        if e.causation_id in by_id and e.causation_id != e.event_id:
            waiting.setdefault(e.causation_id, []).append(e)
        else:
            heapq.heappush(ready, (e.occurred_at, e.event_id))
    ordered: list[HistoryEntry] = []
    while ready:
        _, event_id = heapq.heappop(ready)
        ordered.append(by_id[event_id])
        for child in waiting.pop(event_id, []):
            heapq.heappush(ready, (child.occurred_at, child.event_id))
    # A causation cycle cannot happen with real ids; keep anything left rather than lose it.
    ordered += sorted((e for ws in waiting.values() for e in ws), key=lambda e: (e.occurred_at, e.event_id))
    return ordered
