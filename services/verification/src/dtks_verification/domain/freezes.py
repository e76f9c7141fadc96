"""Freeze periods: while one holds in a scope, the actions it names are refused there.

The Ministry declares a freeze (before an election, during an audit) with a reason, a period, a
scope (the country `ID`, a province or a regency) and the actions it stops. A shortened freeze
ends earlier; a lifted one ended when it was lifted. What was accepted before a freeze is kept and
waits: a freeze refuses new actions, it never undoes or moves anything.

Pure: the adapters load the freezes, this decides whether one holds and says so in words.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from dtks_contracts.events.governance import FrozenAction
from dtks_contracts.regions import contains
from dtks_verification.domain.workflow import Refusal
from dtks_verification.domain.working_days import WIB, local_date

FROZEN = "frozen"


@dataclass(frozen=True)
class Freeze:
    freeze_id: str
    scope: str
    actions: frozenset[FrozenAction]
    starts_at: dt.datetime
    ends_at: dt.datetime  # already the earlier end when shortened or lifted
    reason: str

    def holds(self, action: FrozenAction, region: str, now: dt.datetime) -> bool:
        return (
            action in self.actions and self.starts_at <= now < self.ends_at and contains(self.scope, region)
        )

    def covers(self, region: str) -> bool:
        """Does the freeze's scope include `region`, or lie within it (a country-wide question
        about a province is answered by a freeze of one of its regencies too)?"""
        return contains(self.scope, region) or contains(region, self.scope)

    def days(self) -> set[dt.date]:
        """The calendar days (WIB) the freeze touches, its first and last partial days included:
        the days deadlines pause."""
        first, last = local_date(self.starts_at), local_date(self.ends_at - dt.timedelta(microseconds=1))
        return {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}


_ACTION_WORDS = {
    FrozenAction.TIER_DECISIONS: "Decisions at the tiers",
    FrozenAction.RATIFICATIONS: "Ratifications by decree",
    FrozenAction.DETERMINATION_DECREES: "Determination decrees",
    FrozenAction.NEW_PROPOSALS: "New proposals",
}


def holding(freezes: Iterable[Freeze], action: FrozenAction, region: str, now: dt.datetime) -> Freeze | None:
    """The freeze that stops `action` in `region` at `now`, the one ending last if several do."""
    found = [f for f in freezes if f.holds(action, region, now)]
    return max(found, key=lambda f: f.ends_at) if found else None


def frozen(freeze: Freeze, action: FrozenAction, region: str) -> Refusal:
    ends = freeze.ends_at.astimezone(WIB)
    return Refusal(
        FROZEN,
        f"{_ACTION_WORDS[action]} in {region} are frozen by the Ministry until "
        f"{ends:%Y-%m-%d %H:%M} WIB ({freeze.reason}). What was submitted before is kept and waits; "
        "act again after the freeze ends.",
        extra={
            "freeze": {
                "freeze_id": freeze.freeze_id,
                "scope": freeze.scope,
                "reason": freeze.reason,
                "ends_at": freeze.ends_at.isoformat(),
            }
        },
    )


def ensure_not_frozen(freezes: Sequence[Freeze], action: FrozenAction, region: str, now: dt.datetime) -> None:
    found = holding(freezes, action, region, now)
    if found is not None:
        raise frozen(found, action, region)
