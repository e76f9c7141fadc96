"""Setting welfare deciles centrally (the statistics agency's ranking, DTSEN): which items of a batch
change a household, which change nothing, and which are refused, with a reason the Ministry can act on.

Pure: the caller loads the households' standing and appends one event per change.

Idempotency is by content: an item whose decile, source and as-of date are already the household's
is "unchanged" and emits nothing. So re-sending a batch (a lost answer, a re-uploaded file, under any
or no key) never records a second event, and a batch that differs in a few rows changes just those.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DECILE_MIN, DECILE_MAX = 1, 10


@dataclass(frozen=True)
class CurrentDecile:
    decile: int
    source: str
    as_of: dt.date


@dataclass(frozen=True)
class Standing:
    """What the register says about one household named in the batch."""

    active: bool
    deactivated_in: str | None
    decile: CurrentDecile | None


@dataclass(frozen=True)
class DecileItem:
    index: int
    household_id: str
    decile: int


@dataclass(frozen=True)
class Refusal:
    """Why one item was not applied: a stable code (its HTTP status is the api's business) and a
    sentence. A value, not an exception: the other items of the batch still apply."""

    code: str
    detail: str


@dataclass(frozen=True)
class ItemOutcome:
    item: DecileItem
    changed: bool = False
    refusal: Refusal | None = None

    @property
    def ok(self) -> bool:
        return self.refusal is None


def decide_deciles(
    items: Sequence[DecileItem], source: str, as_of: dt.date, standing: Mapping[str, Standing]
) -> list[ItemOutcome]:
    """One outcome per item, in the items' order; ``standing`` holds the registered households only."""
    outcomes: list[ItemOutcome] = []
    first_index: dict[str, int] = {}
    for item in items:
        refusal = _refusal(item, source, as_of, standing, first_index)
        first_index.setdefault(item.household_id, item.index)
        if refusal is not None:
            outcomes.append(ItemOutcome(item, refusal=refusal))
            continue
        current = standing[item.household_id].decile
        wanted = CurrentDecile(item.decile, source, as_of)
        outcomes.append(ItemOutcome(item, changed=current != wanted))
    return outcomes


def _refusal(
    item: DecileItem,
    source: str,
    as_of: dt.date,
    standing: Mapping[str, Standing],
    first_index: Mapping[str, int],
) -> Refusal | None:
    hid = item.household_id
    if not DECILE_MIN <= item.decile <= DECILE_MAX:
        return Refusal(
            "decile_out_of_range",
            f"Decile {item.decile} for household {hid} is outside 1 (poorest tenth) to 10 (richest tenth).",
        )
    if hid in first_index:
        # Two rows for one household in one batch: which one the ranking meant is not ours to guess.
        return Refusal(
            "duplicate_in_batch",
            f"Household {hid} already appears at item {first_index[hid]} of this batch; send each "
            "household once.",
        )
    known = standing.get(hid)
    if known is None:
        return Refusal("household_not_found", f"No household {hid} in the register; check the register id.")
    if not known.active:
        return Refusal(
            "household_deactivated",
            f"Household {hid} was deactivated by decree {known.deactivated_in}; deciles are set only "
            "for households in the register.",
        )
    current = known.decile
    if current is not None and as_of < current.as_of:
        # A stale file loaded after a newer one must not roll the ranking back.
        return Refusal(
            "older_ranking",
            f"Household {hid} has decile {current.decile} from '{current.source}' as of {current.as_of}, "
            f"newer than this ranking's {as_of}; an older ranking does not replace a newer one.",
        )
    return None
