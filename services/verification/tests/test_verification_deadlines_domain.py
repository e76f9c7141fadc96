"""Working days and deadlines, pure: weekends, Indonesia's holidays and freezes do not count."""

from __future__ import annotations

import datetime as dt

from dtks_contracts.events.governance import FrozenAction
from dtks_contracts.vocabulary import Tier
from dtks_verification.domain.deadlines import (
    deadline_of,
    deadline_regions,
    overdue_cutoff,
    overdue_days,
    working_days,
)
from dtks_verification.domain.freezes import Freeze
from dtks_verification.domain.working_days import WIB, WorkingCalendar

VILLAGE = "17.71.01.1001"


def wib(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=WIB)  # type: ignore[misc]


def test_christmas_and_the_weekend_are_not_working_days() -> None:
    calendar = WorkingCalendar()
    assert not calendar.is_working_day(dt.date(2026, 12, 25))  # Christmas, a Friday
    assert not calendar.is_working_day(dt.date(2026, 12, 26))  # Saturday
    assert calendar.is_working_day(dt.date(2026, 12, 28))
    assert not calendar.is_working_day(dt.date(2026, 8, 17))  # Independence Day, a Monday


def test_an_item_becomes_overdue_on_the_right_working_day_across_a_holiday_and_a_weekend() -> None:
    calendar = WorkingCalendar()
    entered = wib(2026, 12, 24, 9)  # Thursday; Friday is Christmas, then the weekend
    assert calendar.due_date(entered, 2) == dt.date(2026, 12, 29)  # Monday 28 and Tuesday 29
    assert not calendar.is_overdue(entered, 2, wib(2026, 12, 29, 23, 59))
    assert calendar.is_overdue(entered, 2, wib(2026, 12, 30, 0, 0))
    # The cutoff a query compares entry times with agrees with the item's own due date.
    assert calendar.overdue_before(2, wib(2026, 12, 30, 1)) == wib(2026, 12, 28)
    assert calendar.overdue_before(2, wib(2026, 12, 29, 23)) == wib(2026, 12, 24)  # entered the 24th: not yet


def test_the_day_is_the_day_in_jakarta_not_in_utc() -> None:
    calendar = WorkingCalendar()
    # 23:30 UTC on Wednesday the 23rd is already Thursday the 24th in WIB.
    entered = dt.datetime(2026, 12, 23, 17, 30, tzinfo=dt.UTC)
    assert calendar.due_date(entered, 1) == dt.date(2026, 12, 28)


def test_a_regencys_own_deadline_wins_over_the_countrys_and_the_default_holds_without_either() -> None:
    policies = {("district", ""): 5, ("district", "17.71"): 3}
    assert working_days(policies, Tier.DISTRICT, "17.71") == 3
    assert working_days(policies, Tier.DISTRICT, "17.72") == 5
    assert working_days({}, Tier.PROVINCE, "17.71") == 7


def test_deadlines_pause_during_a_freeze_of_the_tiers_action_in_the_items_region() -> None:
    freeze = Freeze(
        "f-1",
        "17",
        frozenset({FrozenAction.TIER_DECISIONS}),
        wib(2026, 12, 28),
        wib(2026, 12, 30),
        "Audit",
    )
    policies = {("district", ""): 2}
    entered, now = wib(2026, 12, 24, 9), wib(2026, 12, 30, 8)
    paused = deadline_of(policies, [freeze], Tier.DISTRICT, VILLAGE, entered, now)
    assert (paused.due_date, paused.overdue) == (dt.date(2026, 12, 31), False)  # resumed on the 30th
    elsewhere = deadline_of(policies, [freeze], Tier.DISTRICT, "18.01.01.2001", entered, now)
    assert (elsewhere.due_date, elsewhere.overdue) == (dt.date(2026, 12, 29), True)
    # A freeze of ratifications pauses only the regent's tier.
    assert overdue_cutoff(policies, [freeze], Tier.DISTRICT, "17.71", now) == wib(2026, 12, 23)
    assert overdue_cutoff({("ratification", ""): 2}, [freeze], Tier.RATIFICATION, "17.71", now) == wib(
        2026, 12, 28
    )


def test_due_dates_for_a_range_of_entry_days_agree_with_each_days_own_due_date() -> None:
    # Across Christmas, the new year, a weekend and days closed by a freeze.
    calendar = WorkingCalendar().with_closed({dt.date(2026, 12, 30), dt.date(2027, 1, 4)})
    first, last = dt.date(2026, 12, 18), dt.date(2027, 1, 12)
    for days in (1, 2, 7, 15):
        dues = calendar.due_dates(first, last, days)
        assert len(dues) == (last - first).days + 1
        for offset, due in enumerate(dues):
            entered = wib(2026, 12, 18, 10) + dt.timedelta(days=offset)
            assert due == calendar.due_date(entered, days), (entered, days)


def test_the_overdue_entry_days_are_those_whose_items_are_overdue_now_at_each_level() -> None:
    calendar = WorkingCalendar()
    since, now = dt.date(2026, 11, 20), wib(2027, 1, 4, 9)
    overdue = overdue_days(calendar, 5, 2, since, now)
    expected = []
    for level in (1, 2):
        for offset in range((now.date() - since).days + 1):
            entered = wib(2026, 11, 20, 12) + dt.timedelta(days=offset)
            if calendar.is_overdue(entered, 5 * level, now):
                expected.append((entered.date(), level, 5 * level, calendar.due_date(entered, 5 * level)))
    assert [(d.entered_on, d.level, d.working_days, d.due_date) for d in overdue] == expected
    assert {d.level for d in overdue} == {1, 2}


def test_regions_with_a_deadline_of_their_own_are_those_of_a_policy_or_a_freeze_pausing_the_tier() -> None:
    policies = {("district", ""): 5, ("district", "17.71"): 3, ("province", "18.01"): 4}
    freezes = [
        Freeze(
            "f-1", "17", frozenset({FrozenAction.TIER_DECISIONS}), wib(2026, 12, 28), wib(2026, 12, 30), "A"
        ),
        Freeze(
            "f-2", "19.02", frozenset({FrozenAction.RATIFICATIONS}), wib(2026, 12, 28), wib(2026, 12, 30), "B"
        ),
        Freeze(
            "f-3", "ID", frozenset({FrozenAction.TIER_DECISIONS}), wib(2026, 12, 28), wib(2026, 12, 30), "C"
        ),
    ]
    assert deadline_regions(policies, freezes, Tier.DISTRICT) == {"ID", "17.71", "17"}
    assert deadline_regions(policies, freezes, Tier.RATIFICATION) == {"ID", "19.02"}
    assert deadline_regions(policies, freezes, Tier.PROVINCE) == {"ID", "18.01", "17"}
