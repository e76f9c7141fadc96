"""Personal and register identifiers: NIK, KK number, and the ids the services assign.

NIK layout (16 digits): `PPRRDD` district of registration, `DDMMYY` birth date (women add 40 to
the day), `SSSS` serial from 0001. KK number: the same district prefix, then 10 more digits.
Error messages show only the district prefix of the number: they end up in logs, queues and
notifications, and a full NIK with its birth date is personal data.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Final, NamedTuple, TypeGuard

from pydantic import AfterValidator, StringConstraints, ValidationInfo, WithJsonSchema
from pydantic_core import PydanticCustomError

from dtks_contracts.historical import is_historical_read
from dtks_contracts.regions import district_nik_prefixes, region_exists
from dtks_contracts.text import LineCheck
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


def _refused(code: str, template: str, **params: str | int) -> PydanticCustomError:
    """A refusal with a code and its parameters beside the English sentence: pydantic reports the
    code as the error's type and the parameters as its context, which the problem documents carry
    (dtks_runtime.problems) so that the console can say it in the operator's language. It is a
    ValueError, for the callers that catch one."""
    return PydanticCustomError(code, template, params)


def _masked(value: str) -> str:
    return value[:6] + "..." if len(value) > 6 else value


def _check_shape(value: object, label: str) -> str:
    if not isinstance(value, str):
        raise _refused(
            "identifier_not_text",
            "{label} must be text of {length} digits, got {kind}",
            label=label,
            length=IDENTIFIER_LENGTH,
            kind=type(value).__name__,
        )
    if len(value) != IDENTIFIER_LENGTH:
        raise _refused(
            "identifier_length",
            "{label} {value} : must be exactly {length} digits, got {got} characters",
            label=label,
            value=_masked(value),
            length=IDENTIFIER_LENGTH,
            got=len(value),
        )
    # isascii() as well, because str.isdigit() also accepts digits of other scripts.
    if not (value.isascii() and value.isdigit()):
        raise _refused(
            "identifier_digits",
            "{label} {value} : must contain digits 0-9 only",
            label=label,
            value=_masked(value),
        )
    return value


def _district_code(value: str, label: str, must_exist: bool) -> str:
    prefix = value[:6]
    code = f"{prefix[0:2]}.{prefix[2:4]}.{prefix[4:6]}"
    if must_exist and not region_exists(code):
        raise _refused(
            "identifier_district",
            "{label} {value} : district prefix {prefix} names no district",
            label=label,
            value=_masked(value),
            prefix=prefix,
        )
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


def _day_month_tables() -> tuple[frozenset[str], frozenset[str], frozenset[str]]:
    """The DDMM fields (women +40 on the day) valid in every year, those valid only in a leap year
    (29 February), and the YY fields for which 19YY or 20YY is a leap year. Derived from
    `_birth_dates` itself, so the fast check below cannot drift from the full one."""
    always: set[str] = set()
    leap_only: set[str] = set()
    for day in range(1, 32):
        for month in range(1, 13):
            for day_field in (day, day + _FEMALE_DAY_OFFSET):
                field = f"{day_field:02d}{month:02d}"
                if _birth_dates(day, month, 1):  # 1901 and 2001: neither is a leap year
                    always.add(field)
                elif _birth_dates(day, month, 4):  # 1904 and 2004: both are
                    leap_only.add(field)
    leap_years = frozenset(f"{year2:02d}" for year2 in range(100) if _birth_dates(29, 2, year2))
    return frozenset(always), frozenset(leap_only), leap_years


_DAY_MONTH_ALWAYS, _DAY_MONTH_LEAP_ONLY, _LEAP_YEAR2 = _day_month_tables()


def _is_valid_listed(value: object) -> TypeGuard[str]:
    """True for a NIK or KK number that is well formed and whose district is listed, with set
    look-ups only: the common case of validation, which then needs neither the validation context
    nor an error message. False sends the value through the full check, which explains what is
    wrong (or accepts an unlisted district when reading history)."""
    return (
        isinstance(value, str)
        and len(value) == IDENTIFIER_LENGTH
        and value.isascii()
        and value.isdigit()
        and value[:6] in district_nik_prefixes()
    )


def _is_valid_listed_nik(value: object) -> TypeGuard[str]:
    """`_is_valid_listed` and a birth date and serial a NIK can hold, in one expression: it runs
    for every member of every household read, so it avoids even a nested call."""
    return (
        isinstance(value, str)
        and len(value) == IDENTIFIER_LENGTH
        and value.isascii()
        and value.isdigit()
        and value[:6] in district_nik_prefixes()
        and (
            value[6:10] in _DAY_MONTH_ALWAYS
            or (value[6:10] in _DAY_MONTH_LEAP_ONLY and value[10:12] in _LEAP_YEAR2)
        )
        and value[12:16] != "0000"
    )


def parse_nik(value: str, *, must_exist: bool = True) -> NikParts:
    """Split a NIK into its parts, raising ValueError on the first thing that is wrong with it.

    `must_exist=False` skips the look-up of the district prefix (used when reading history).
    """
    if _is_valid_listed_nik(value):
        day_field = int(value[6:8])
        sex_female = day_field > _FEMALE_DAY_OFFSET
        return NikParts(
            f"{value[0:2]}.{value[2:4]}.{value[4:6]}",
            day_field - _FEMALE_DAY_OFFSET if sex_female else day_field,
            int(value[8:10]),
            int(value[10:12]),
            sex_female,
            value[12:16],
        )
    return _parse_nik_fully(value, must_exist=must_exist)


def _parse_nik_fully(value: str, *, must_exist: bool) -> NikParts:
    nik = _check_shape(value, "NIK")
    district_code = _district_code(nik, "NIK", must_exist)
    day_field, month, year2 = int(nik[6:8]), int(nik[8:10]), int(nik[10:12])
    sex_female = day_field > _FEMALE_DAY_OFFSET
    day = day_field - _FEMALE_DAY_OFFSET if sex_female else day_field
    if not 1 <= day <= 31:
        raise _refused(
            "nik_birth_day",
            "NIK {value} : birth day {day} is impossible (01-31 for men, 41-71 for women)",
            value=_masked(nik),
            day=nik[6:8],
        )
    if not 1 <= month <= 12:
        raise _refused(
            "nik_birth_month",
            "NIK {value} : birth month {month} is impossible (01-12)",
            value=_masked(nik),
            month=nik[8:10],
        )
    if not _birth_dates(day, month, year2):
        raise _refused(
            "nik_birth_date",
            "NIK {value} : birth date {date} exists neither in {first} nor in {second}",
            value=_masked(nik),
            date=f"{day:02d}-{month:02d}-{year2:02d}",
            first=1900 + year2,
            second=2000 + year2,
        )
    serial = nik[12:16]
    if serial == "0000":
        raise _refused(
            "nik_serial", "NIK {value} : serial 0000 is invalid (serials start at 0001)", value=_masked(nik)
        )
    return NikParts(district_code, day, month, year2, sex_female, serial)


def check_nik(value: str, *, must_exist: bool = True) -> str:
    """Validate a NIK and return it unchanged."""
    if not _is_valid_listed_nik(value):
        _parse_nik_fully(value, must_exist=must_exist)
    return value


def check_kk_number(value: str, *, must_exist: bool = True) -> str:
    """Validate a KK (family card) number and return it unchanged."""
    if _is_valid_listed(value):
        return value
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
    if _is_valid_listed_nik(nik):
        # Read the fields straight from the valid NIK rather than building its NikParts.
        day_field = int(nik[6:8])
        female = day_field > _FEMALE_DAY_OFFSET
        encoded = (day_field - _FEMALE_DAY_OFFSET if female else day_field, int(nik[8:10]), int(nik[10:12]))
    else:
        parts = parse_nik(nik)  # raises, saying what is wrong
        female = parts.sex_female
        encoded = (parts.birth_day, parts.birth_month, parts.birth_year2)
    recorded = (birth_date.day, birth_date.month, birth_date.year % 100)
    return encoded == recorded and female == (
        sex is Sex.FEMALE or (sex is not Sex.MALE and Sex(sex) is Sex.FEMALE)
    )


def _validate_nik(value: str, info: ValidationInfo) -> str:
    # A valid NIK of a listed district is valid in any context; only the rest needs to know
    # whether history is being read.
    if _is_valid_listed_nik(value):
        return value
    return check_nik(value, must_exist=not is_historical_read(info))


def _validate_kk_number(value: str, info: ValidationInfo) -> str:
    if _is_valid_listed(value):
        return value
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
DecreeNumber = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120), LineCheck
]
