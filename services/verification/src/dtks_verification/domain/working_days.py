"""Working days in Indonesia: Monday to Friday, less the national public holidays.

The holidays come from the maintained `holidays` library (its `Indonesia` calendar: fixed dates,
and the Islamic, Chinese, Hindu and Buddhist ones the government announces, as the library keeps
them), so the project keeps no list of its own that someone must remember to update each year.
Collective leave days (cuti bersama) are not in it and count as working days: the civil service
works on many of them, and a deadline one day early is safer than one that silently slips.

Days are calendar days in WIB (UTC+7, Jakarta; Indonesia has no daylight saving), the time of the
Ministry that sets the deadlines. Everything here is pure: "now" is always passed in, and extra
closed days (a freeze's days, during which deadlines pause) can be added to a calendar.

A deadline of N working days for an item that entered on day D ends at the close of the N-th
working day after D (the day of entry does not count, however early it came in); the item is
overdue from the start of the next day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import lru_cache

import holidays

from dtks_contracts.timestamps import WIB

_DAY = dt.timedelta(days=1)


@lru_cache(maxsize=64)
def national_holidays(year: int) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("ID", years=year))


def local_date(moment: dt.datetime) -> dt.date:
    return moment.astimezone(WIB).date()


def start_of(day: dt.date) -> dt.datetime:
    """The first moment of `day` in WIB."""
    return dt.datetime.combine(day, dt.time(), WIB)


@dataclass(frozen=True)
class WorkingCalendar:
    closed: frozenset[dt.date] = field(default_factory=frozenset)  # closed besides weekends and holidays

    def with_closed(self, days: Iterable[dt.date]) -> WorkingCalendar:
        return WorkingCalendar(self.closed | frozenset(days))

    def is_working_day(self, day: dt.date) -> bool:
        return day.weekday() < 5 and day not in national_holidays(day.year) and day not in self.closed

    def due_date(self, entered_at: dt.datetime, working_days: int) -> dt.date:
        """The last day an item that entered at `entered_at` may wait `working_days` working days."""
        day = local_date(entered_at)
        counted = 0
        while counted < working_days:
            day += _DAY
            counted += self.is_working_day(day)
        return day

    def due_dates(self, first: dt.date, last: dt.date, working_days: int) -> list[dt.date]:
        """`due_date` for items that entered on each day from `first` to `last` (WIB), in one walk
        over the calendar instead of one per day (the overdue scan asks for every day an item
        still waiting entered)."""
        if working_days < 1:
            return [first + n * _DAY for n in range((last - first).days + 1)]
        ahead: list[dt.date] = []  # the working days after `first`, in order, as far as needed
        probe = first
        passed = 0  # working days after `first` up to the entry day
        out = []
        day = first
        while day <= last:
            if day > first and self.is_working_day(day):
                passed += 1
            while len(ahead) < passed + working_days:
                probe += _DAY
                if self.is_working_day(probe):
                    ahead.append(probe)
            out.append(ahead[passed + working_days - 1])
            day += _DAY
        return out

    def is_overdue(self, entered_at: dt.datetime, working_days: int, now: dt.datetime) -> bool:
        return local_date(now) > self.due_date(entered_at, working_days)

    def overdue_before(self, working_days: int, now: dt.datetime) -> dt.datetime:
        """The moment before which an entry is overdue at `now`: the start of the day W such that
        the working days from W up to yesterday are exactly `working_days` (an item that entered
        on the day before W has had them all). Lets a query count overdue items with one
        comparison per row instead of a calendar per row."""
        day = local_date(now)
        counted = 0
        while counted < working_days:
            day -= _DAY
            counted += self.is_working_day(day)
        return start_of(day)
