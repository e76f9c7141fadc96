"""Dates and moments as the person's language writes them, made on the server (no script needed):
"4 Desember 2026 14.05 WIB" in Bahasa Indonesia, "4 December 2026 14:05 WIB" in English. Moments are
shown in Western Indonesia Time, where the pilot regencies are."""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

from babel.dates import format_date

from dtks_contracts.timestamps import WIB

_CLOCK = {"id": "%H.%M", "en": "%H:%M"}  # Indonesian writes the time with a full stop


def day(value: str | dt.date | None, language: str) -> str:
    """A calendar date ("2026-11-02" or a date) written out; text that is no date is shown as it is."""
    if not value:
        return ""
    try:
        date = value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])
    except ValueError:
        return str(value)
    return _long_date(date, language)


# A queue page writes twenty due dates, mostly the same few days; babel's formatting is the costly
# part of a page's dates, and a date's words in a language never change.
@lru_cache(maxsize=4096)
def _long_date(date: dt.date, language: str) -> str:
    return str(format_date(date, "long", locale=language))


def moment(iso: str | None, language: str) -> str:
    """A timestamp (ISO 8601) as a date and a time of day in WIB."""
    if not iso:
        return ""
    at = dt.datetime.fromisoformat(iso).astimezone(WIB)
    return f"{day(at.date(), language)} {at.strftime(_CLOCK.get(language, '%H:%M'))} WIB"
