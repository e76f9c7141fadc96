"""Deadlines per tier: how many working days an item may wait, its due date, whether it is overdue.

The Ministry sets a number of working days per tier, for the whole country or for one regency
(the regency's own setting wins for the items of its villages). Until it does, the defaults below
hold (the figures of the issue that asked for deadlines: district 10, regency 10, regent 15,
province 7, Ministry 14). Deadlines pause during a freeze that stops the tier's action in the
item's region: the freeze's days do not count as working days. Pure: the clock and the freezes are
passed in.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from dtks_contracts.events.governance import FrozenAction
from dtks_contracts.regions import NATIONAL, contains, region_level
from dtks_contracts.vocabulary import Tier
from dtks_verification.domain.freezes import Freeze
from dtks_verification.domain.working_days import WorkingCalendar, local_date

DEFAULT_WORKING_DAYS: Final[Mapping[Tier, int]] = MappingProxyType(
    {Tier.DISTRICT: 10, Tier.REGENCY: 10, Tier.RATIFICATION: 15, Tier.PROVINCE: 7, Tier.MINISTRY: 14}
)

# Policies as stored: working days by (tier, regency code or "" for the country's).
Policies = Mapping[tuple[str, str], int]


def working_days(policies: Policies, tier: Tier, regency_code: str) -> int:
    return policies.get(
        (tier.value, regency_code), policies.get((tier.value, ""), DEFAULT_WORKING_DAYS[tier])
    )


def pausing_action(tier: Tier) -> FrozenAction:
    """The frozen action that pauses a tier's deadlines: the regent's tier acts by ratification."""
    return FrozenAction.RATIFICATIONS if tier is Tier.RATIFICATION else FrozenAction.TIER_DECISIONS


def calendar_for(freezes: Iterable[Freeze], tier: Tier, region: str) -> WorkingCalendar:
    """Working days for an item at `tier` from `region` (its village or regency): weekends,
    national holidays and the days of freezes stopping the tier's action there do not count."""
    action = pausing_action(tier)
    closed: set[dt.date] = set()
    for freeze in freezes:
        if action in freeze.actions and contains(freeze.scope, region):
            closed |= freeze.days()
    return WorkingCalendar(frozenset(closed))


@dataclass(frozen=True)
class Deadline:
    working_days: int
    due_date: dt.date
    overdue: bool


def deadline_of(
    policies: Policies,
    freezes: Iterable[Freeze],
    tier: Tier,
    village_code: str,
    entered_at: dt.datetime,
    now: dt.datetime,
) -> Deadline:
    days = working_days(policies, tier, village_code[:5])
    calendar = calendar_for(freezes, tier, village_code)
    return Deadline(days, calendar.due_date(entered_at, days), calendar.is_overdue(entered_at, days, now))


def overdue_cutoff(
    policies: Policies, freezes: Iterable[Freeze], tier: Tier, regency_code: str, now: dt.datetime
) -> dt.datetime:
    """Items of `regency_code` waiting at `tier` are overdue at `now` if they entered before this."""
    days = working_days(policies, tier, regency_code)
    return calendar_for(freezes, tier, regency_code).overdue_before(days, now)


def deadline_regions(policies: Policies, freezes: Iterable[Freeze], tier: Tier) -> set[str]:
    """The regions whose items at `tier` may keep a deadline other than the country's: the
    regencies with a policy of their own, and the provinces and regencies of freezes that pause the
    tier (a freeze holds for the country, a province or a regency). `ID`, the country, is one too.
    An item's deadline is its regency's if that is one of them, else its province's, else `ID`'s."""
    action = pausing_action(tier)
    regions = {NATIONAL}
    regions |= {regency for t, regency in policies if t == tier.value and regency}
    regions |= {f.scope for f in freezes if action in f.actions and region_level(f.scope) != "national"}
    return regions


@dataclass(frozen=True)
class OverdueDay:
    """Items that entered on `entered_on` (WIB) are overdue at `level`: the deadline of
    `working_days` (the tier's deadline times the level) ended with `due_date`."""

    entered_on: dt.date
    level: int
    working_days: int
    due_date: dt.date


def overdue_days(
    calendar: WorkingCalendar, working_days: int, levels: int, since: dt.date, now: dt.datetime
) -> list[OverdueDay]:
    """Every entry day from `since` on whose items are overdue at `now`, at each level up to
    `levels` (level L: past L deadlines of `working_days`), with their due dates."""
    today = local_date(now)
    out = []
    for level in range(1, levels + 1):
        days = working_days * level
        for offset, due in enumerate(calendar.due_dates(since, today - dt.timedelta(days=1), days)):
            if due >= today:
                break  # due dates only grow with the entry day
            out.append(OverdueDay(since + dt.timedelta(days=offset), level, days, due))
    return out
