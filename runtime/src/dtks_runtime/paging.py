"""Keyset cursors for lists ordered by a moment: the last item's (moment, id), written
`<ISO moment>~<id>` in an answer's `next_after`.

Many rows share their moment when one transaction writes them (a bulk decision, a batch of life
events), so a cursor of the moment alone skips the rest of such a group at a page boundary; the id
breaks the tie. Queries compare the pair: ``(at, id) > ($at, $id)`` oldest first, ``<`` newest first.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from dtks_runtime.errors import DomainError


@dataclass(frozen=True)
class MomentCursor:
    at: dt.datetime
    id: str

    def __str__(self) -> str:
        return f"{self.at.isoformat()}~{self.id}"


def next_after(rows: list[dict] | list, limit: int, at: str, ident: str) -> str | None:
    """The cursor after a page of `limit` rows (None when the page was the last)."""
    if len(rows) < limit or not rows:
        return None
    return str(MomentCursor(rows[-1][at], str(rows[-1][ident])))


def parse_cursor(text: str | None) -> MomentCursor | None:
    """A `next_after` this service gave, else a 422 `invalid_cursor`. A moment alone (the older form of
    some lists) continues from that moment, its own rows included, so none is skipped."""
    if not text:
        return None
    at, _, ident = text.partition("~")
    try:
        moment = dt.datetime.fromisoformat(at)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise DomainError(
            "invalid_cursor",
            "The page cursor is not one this list gave; start again from the first page.",
            errors=[{"field": "after", "message": "not a next_after of this list", "type": "invalid_cursor"}],
        )
    return MomentCursor(moment, ident)
