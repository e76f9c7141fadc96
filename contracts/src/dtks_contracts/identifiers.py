"""Personal and register identifiers: NIK, KK number, and the ids the services assign.

NIK layout (16 digits): `PPRRDD` district of registration, `DDMMYY` birth date (women add 40 to
the day), `SSSS` serial from 0001. KK number: the same district prefix, then 10 more digits.
Error messages show only the district prefix of the number: they end up in logs, queues and
notifications, and a full NIK with its birth date is personal data.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Final, NamedTuple

from pydantic import AfterValidator, StringConstraints, ValidationInfo, WithJsonSchema

from dtks_contracts.historical import is_historical_read
from dtks_contracts.regions import region_exists
from dtks_contracts.vocabulary.household_attributes import Sex

IDENTIFIER_LENGTH: Final = 16
_FEMALE_DAY_OFFSET: Final = 40
_CENTURIES: Final = (1900, 2000)


class NikParts(NamedTuple):
    district_code: str  # dotted, e.g. "17.71.01"
    birth_day: int  # the real day of month, the +40 for women already removed
    birth_month: int
    birth_year2: int  # two digits only: the NIK does not say which century
    sex_female: bool
    serial: str  # four digits, kept as text so that "0001" stays "0001"


def _masked(value: str) -> str:
    return value[:6] + "..." if len(value) > 6 else value


def _check_shape(value: object, label: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{label} must be text of {IDENTIFIER_LENGTH} digits, got {type(value).__name__}")
    if len(value) != IDENTIFIER_LENGTH:
        raise ValueError(
            f"{label} {_masked(value)} : must be exactly {IDENTIFIER_LENGTH} digits, got {len(value)} characters"
        )
    # isascii() as well, because str.isdigit() also accepts digits of other scripts.
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{label} {_masked(value)} : must contain digits 0-9 only")
    return value


def _district_code(value: str, label: str, must_exist: bool) -> str:
    prefix = value[:6]
    code = f"{prefix[0:2]}.{prefix[2:4]}.{prefix[4:6]}"
    if must_exist and not region_exists(code):
        raise ValueError(f"{label} {_masked(value)} : district prefix {prefix} names no district")
    return code


def _birth_dates(day: int, month: int, year2: int) -> tuple[dt.date, ...]:
    """Every real date the DDMMYY could mean, trying both centuries."""
    dates = []
    for century in _CENTURIES:
        try:
            dates.append(dt.date(century + year2, month, day))
        except ValueError:
            continue
    return tuple(dates)


def parse_nik(value: str, *, must_exist: bool = True) -> NikParts:
    """Split a NIK into its parts, raising ValueError on the first thing that is wrong with it.

    `must_exist=False` skips the look-up of the district prefix (used when reading history).
    """
    nik = _check_shape(value, "NIK")
    district_code = _district_code(nik, "NIK", must_exist)
    day_field, month, year2 = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    sex_female = day_field > _FEMALE_DAY_OFFSET
    day = day_field - _FEMALE_DAY_OFFSET if sex_female else day_field
    if not 1 <= day <= 31:
        raise ValueError(
            f"NIK {_masked(nik)} : birth day {nik[6:8]} is impossible (01-31 for men, 41-71 for women)"
        )
    if not 1 <= month <= 12:
        raise ValueError(f"NIK {_masked(nik)} : birth month {nik[8:10]} is impossible (01-12)")
    if not _birth_dates(day, month, year2):
        raise ValueError(
            f"NIK {_masked(nik)} : birth date {day:02d}-{month:02d}-{year2:02d} exists neither in "
            f"{1900 + year2} nor in {2000 + year2}"
        )
    serial = nik[12:16]
    if serial == "0000":
        raise ValueError(f"NIK {_masked(nik)} : serial 0000 is invalid (serials start at 0001)")
    return NikParts(district_code, day, month, year2, sex_female, serial)


def check_nik(value: str, *, must_exist: bool = True) -> str:
    """Validate a NIK and return it unchanged."""
    parse_nik(value, must_exist=must_exist)
    return value


def check_kk_number(value: str, *, must_exist: bool = True) -> str:
    """Validate a KK (family card) number and return it unchanged."""
    kk = _check_shape(value, "KK number")
    _district_code(kk, "KK number", must_exist)
    return kk


def nik_birth_dates(nik: str) -> tuple[dt.date, ...]:
    """The one or two birth dates (19xx and/or 20xx) a valid NIK can encode."""
    parts = parse_nik(nik)
    return _birth_dates(parts.birth_day, parts.birth_month, parts.birth_year2)


def nik_matches(nik: str, birth_date: dt.date, sex: Sex | str) -> bool:
    """Do the birth date and sex encoded in the NIK agree with the person's recorded ones?

    Raises ValueError if the NIK itself is invalid: a broken identifier is not a "mismatch".
    """
    parts = parse_nik(nik)
    encoded = (parts.birth_day, parts.birth_month, parts.birth_year2)
    recorded = (birth_date.day, birth_date.month, birth_date.year % 100)
    return encoded == recorded and parts.sex_female == (Sex(sex) is Sex.FEMALE)


def _validate_nik(value: str, info: ValidationInfo) -> str:
    return check_nik(value, must_exist=not is_historical_read(info))


def _validate_kk_number(value: str, info: ValidationInfo) -> str:
    return check_kk_number(value, must_exist=not is_historical_read(info))


Nik = Annotated[
    str,
    AfterValidator(_validate_nik),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{16}$",
            "description": "NIK: district prefix PPRRDD, birth date DDMMYY (women +40 on the day), serial",
        }
    ),
]

KkNumber = Annotated[
    str,
    AfterValidator(_validate_kk_number),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^[0-9]{16}$",
            "description": "Family card (KK) number: district prefix PPRRDD, then ten digits",
        }
    ),
]

# Ids the services assign (proposal, household register id, batch, notification, delivery).
# Deliberately loose in form (a UUID or a readable code both fit) but safe as a Kafka key, a URL
# path segment and a log token.
_ENTITY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
EntityId = Annotated[str, StringConstraints(pattern=_ENTITY_ID.pattern)]

# Decree numbers are written by people ("400.9/123/SK/DINSOS/2025"), so only length is constrained.
DecreeNumber = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]
