"""Determination periods (penetapan): quarterly, taking effect in January, April, July or October."""

from __future__ import annotations

import re

from dtks_contracts.events.registry import QUARTER_START_MONTH, Period

_PERIOD = re.compile(r"^([0-9]{4})-([0-9]{2})$")
_QUARTER_BY_MONTH = {month: quarter for quarter, month in QUARTER_START_MONTH.items()}


class InvalidPeriod(ValueError):
    """The period is not 'YYYY-MM' with a quarter's first month."""


def parse_period(text: str) -> Period:
    """'2027-01' -> Period(2027, 1). Months other than 01, 04, 07, 10 are refused."""
    match = _PERIOD.fullmatch(text.strip())
    if not match:
        raise InvalidPeriod(f"period {text!r} must be written YYYY-MM, e.g. 2027-01")
    year, month = int(match.group(1)), int(match.group(2))
    quarter = _QUARTER_BY_MONTH.get(month)
    if quarter is None:
        raise InvalidPeriod(
            f"period {text!r}: determinations are quarterly, so the month must be 01, 04, 07 or 10"
        )
    if not 2000 <= year <= 2100:
        raise InvalidPeriod(f"period {text!r}: the year must lie between 2000 and 2100")
    return Period(year=year, quarter=quarter)


def period_text(period: Period) -> str:
    return f"{period.year}-{QUARTER_START_MONTH[period.quarter]:02d}"
