"""NIK and KK numbers that obey the domain rules, handed out without collisions.

NIK: `PPRRDD` (district) + `DDMMYY` (birth date, women +40 on the day) + `SSSS` serial. The serial
is unique per district and date field, so the book keeps one counter per 12-digit stem. The
population uses serials 0001-8999; 9000-9999 are kept free for people the civil registry has never
heard of (the NIK_NOT_IN_CIVIL_REGISTRY fault), so such a NIK can never belong to a real person.
"""

from __future__ import annotations

import datetime as dt
from typing import Final

POPULATION_SERIAL_MAX: Final = 8999
UNKNOWN_SERIAL_MIN: Final = 9000
FEMALE_DAY_OFFSET: Final = 40


def district_prefix(district_code: str) -> str:
    """`17.71.01` -> `177101`."""
    return district_code.replace(".", "")


def date_field(birth_date: dt.date, female: bool) -> str:
    day = birth_date.day + (FEMALE_DAY_OFFSET if female else 0)
    return f"{day:02d}{birth_date.month:02d}{birth_date.year % 100:02d}"


class SerialBook:
    """Next free serial per stem (prefix + date field); a full stem is reported, never reused."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def take(self, stem: str) -> str | None:
        """The next identifier of `stem`, or None when the stem's serials are used up."""
        serial = self._next.get(stem, 1)
        if serial > POPULATION_SERIAL_MAX:
            return None
        self._next[stem] = serial + 1
        return f"{stem}{serial:04d}"


def issue_nik(book: SerialBook, prefix: str, birth_date: dt.date, female: bool) -> tuple[str, dt.date]:
    """A fresh NIK; when a stem is full (9,000 people of one sex born the same day in one district,
    which only a huge synthetic run reaches) the birth date moves one day earlier."""
    while True:
        nik = book.take(prefix + date_field(birth_date, female))
        if nik is not None:
            return nik, birth_date
        birth_date -= dt.timedelta(days=1)


def issue_kk_number(book: SerialBook, prefix: str, issued_on: dt.date) -> str:
    """KK number: district prefix, issue date DDMMYY, serial; the same collision rule as NIKs."""
    while True:
        kk = book.take(prefix + date_field(issued_on, False))
        if kk is not None:
            return kk
        issued_on -= dt.timedelta(days=1)


def unknown_nik(prefix: str, birth_date: dt.date, female: bool, serial: int) -> str:
    """A well-formed NIK in the serial range the population never uses (9000-9999)."""
    if not UNKNOWN_SERIAL_MIN <= serial <= 9999:
        raise ValueError(f"serial {serial} is outside the range kept for unknown people (9000-9999)")
    return f"{prefix}{date_field(birth_date, female)}{serial:04d}"
