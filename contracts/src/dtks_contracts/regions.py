"""Indonesia's administrative regions, as coded by the Ministry of Home Affairs.

Four levels: province `17`, regency/city `17.71`, district `17.71.01`, village `17.71.01.1001`.
National roles carry the pseudo-code `ID`, the whole country. The real list (Kepmendagri
300.2.2-2138/2025) ships inside this package and is loaded once, lazily, on first use.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.resources import files
from types import MappingProxyType
from typing import Annotated, Final, Literal

from pydantic import AfterValidator, ValidationInfo, WithJsonSchema

from dtks_contracts.historical import is_historical_read

RegionLevel = Literal["national", "province", "regency", "district", "village"]

NATIONAL: Final = "ID"
NATIONAL_NAME: Final = "Indonesia"

# Ordered from the widest to the narrowest level.
LEVELS: Final[tuple[RegionLevel, ...]] = ("national", "province", "regency", "district", "village")

_CODE = re.compile(r"[0-9]{2}(?:\.[0-9]{2}(?:\.[0-9]{2}(?:\.[0-9]{4})?)?)?")
# The level follows from the length alone once the format is known to be right.
_LEVEL_BY_LENGTH: Final[Mapping[int, RegionLevel]] = {
    2: "province",
    5: "regency",
    8: "district",
    13: "village",
}
_NIK_PREFIX = re.compile(r"[0-9]{6}")

_PATTERN_BY_LEVEL: Final[Mapping[RegionLevel, str]] = {
    "national": "ID",
    "province": r"[0-9]{2}",
    "regency": r"[0-9]{2}\.[0-9]{2}",
    "district": r"[0-9]{2}\.[0-9]{2}\.[0-9]{2}",
    "village": r"[0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4}",
}


@dataclass(frozen=True, slots=True)
class RegionPopulation:
    code: str
    name: str
    male: int
    female: int
    total: int


def _data_file(filename: str) -> io.StringIO:
    # importlib.resources works from a wheel, a zip or a source tree alike; nothing outside the
    # installed package is ever read.
    text = (files("dtks_contracts") / "data" / filename).read_text(encoding="utf-8")
    return io.StringIO(text, newline="")


@functools.cache
def _names() -> Mapping[str, str]:
    """code -> name for all 91,599 regions, read once from the packaged CSV."""
    reader = csv.reader(_data_file("regions.csv"))
    header = next(reader)
    if header != ["code", "name"]:
        raise RuntimeError(f"packaged regions.csv has unexpected header {header!r}")
    # Some source names carry trailing spaces; strip here, keep the data file unchanged.
    return MappingProxyType({code: name.strip() for code, name in reader})


@functools.cache
def _listed_levels() -> Mapping[str, RegionLevel]:
    """code -> level for `ID` and every listed code: one dict look-up answers format, level and
    existence at once for the codes that validation meets nearly every time (listed ones)."""
    levels: dict[str, RegionLevel] = {NATIONAL: "national"}
    for code in _names():
        # Every listed code is well formed today; the check keeps a bad data row on the slow path,
        # where it gets the usual error, instead of a level guessed from its length.
        if _CODE.fullmatch(code):
            levels[code] = _LEVEL_BY_LENGTH[len(code)]
    # A plain dict, not a read-only proxy: it is private, and a proxy's look-up costs twice as much.
    return levels


@functools.cache
def district_nik_prefixes() -> frozenset[str]:
    """The six-digit NIK/KK prefixes of all listed districts (`"177101"` for `17.71.01`)."""
    return frozenset(code.replace(".", "") for code, level in _listed_levels().items() if level == "district")


@functools.cache
def _children() -> Mapping[str, tuple[str, ...]]:
    """parent code -> its direct children, built only when someone walks the tree."""
    index: dict[str, list[str]] = {}
    for code in _names():
        index.setdefault(code.rpartition(".")[0] or NATIONAL, []).append(code)
    return MappingProxyType({code: tuple(sorted(kids)) for code, kids in index.items()})


@functools.cache
def _populations() -> Mapping[str, RegionPopulation]:
    rows = csv.DictReader(_data_file("region_population.csv"))
    result: dict[str, RegionPopulation] = {}
    for row in rows:
        # The source codes the national total `0`; this package calls the whole country `ID`.
        code = NATIONAL if row["code"] == "0" else row["code"]
        result[code] = RegionPopulation(
            code=code,
            name=row["name"].strip(),
            male=int(row["male"]),
            female=int(row["female"]),
            total=int(row["total"]),
        )
    return MappingProxyType(result)


def region_level(code: str) -> RegionLevel:
    """The level a code names, judged by its format alone (no look-up)."""
    if code == NATIONAL:
        return "national"
    if not isinstance(code, str) or not _CODE.fullmatch(code):
        raise ValueError(
            f"region code {code!r} is malformed: expected 'ID' or dotted digits like "
            "'17', '17.71', '17.71.01' or '17.71.01.1001'"
        )
    return _LEVEL_BY_LENGTH[len(code)]


def listed_region_level(code: str) -> RegionLevel | None:
    """The level of `ID` or a code in the region list; None for any other code (no format check)."""
    return _listed_levels().get(code)


def region_exists(code: str) -> bool:
    """True for `ID` and for every code in the packaged region list."""
    return code == NATIONAL or code in _names()


def region_name(code: str) -> str:
    if code == NATIONAL:
        return NATIONAL_NAME
    region_level(code)
    try:
        return _names()[code]
    except KeyError:
        raise ValueError(f"region code {code!r} names no region in the region list") from None


def parent(code: str) -> str | None:
    """The region one level up; a province's parent is `ID`; `ID` has none."""
    if region_level(code) == "national":
        return None
    return code.rpartition(".")[0] or NATIONAL


def contains(scope: str, code: str) -> bool:
    """Is `code` inside `scope` (or equal to it)? `ID` contains everything.

    Pure string logic on validated formats, because it sits on every authorisation decision.
    """
    region_level(scope)
    region_level(code)
    return scope == NATIONAL or code == scope or code.startswith(scope + ".")


def children(code: str) -> tuple[str, ...]:
    """Direct sub-regions, sorted by code; a village has none."""
    region_name(code)  # raises for malformed or unknown codes, so a typo never reads as "no children"
    return _children().get(code, ())


def district_from_nik_prefix(prefix: str) -> str:
    """`"177101"` -> `"17.71.01"`: the district named by the first six digits of a NIK or KK number."""
    if not isinstance(prefix, str) or not _NIK_PREFIX.fullmatch(prefix):
        raise ValueError(f"NIK prefix {prefix!r} is malformed: expected exactly six digits")
    code = f"{prefix[0:2]}.{prefix[2:4]}.{prefix[4:6]}"
    if code not in _names():
        raise ValueError(f"prefix {prefix} names no district")
    return code


def population(code: str) -> RegionPopulation:
    """Population of the country (`ID`), a province or a regency/city."""
    level = region_level(code)
    if level in ("district", "village"):
        raise ValueError(
            f"population is published per province and regency/city only, not for {level} {code}"
        )
    try:
        return _populations()[code]
    except KeyError:
        raise ValueError(f"no population figure for region code {code!r}") from None


def regency_populations() -> Mapping[str, RegionPopulation]:
    """Population of each of the 514 regencies/cities, keyed by regency code."""
    return MappingProxyType({code: pop for code, pop in _populations().items() if len(code) == 5})


def check_region_code(code: str, *, levels: tuple[RegionLevel, ...] = LEVELS, must_exist: bool = True) -> str:
    """Validate format, level and (unless reading history) existence; return the code unchanged."""
    if isinstance(code, str) and _listed_levels().get(code) in levels:
        return code  # listed, so well formed and existing; only its level had to be checked
    level = region_level(code)
    if level not in levels:
        raise ValueError(f"region code {code!r} is a {level} code; expected a {' or '.join(levels)} code")
    if must_exist and not region_exists(code):
        raise ValueError(f"region code {code!r} names no {level} in the region list")
    return code


def _validator(levels: tuple[RegionLevel, ...]) -> Callable[[str, ValidationInfo], str]:
    allowed = frozenset(levels)

    def validate(value: str, info: ValidationInfo) -> str:
        # Fast path: a listed code of an allowed level is valid whether or not history is being
        # read. Everything else takes the full check, which raises the detailed errors.
        if _listed_levels().get(value) in allowed:
            return value
        return check_region_code(value, levels=levels, must_exist=not is_historical_read(info))

    return validate


def _json_schema(levels: tuple[RegionLevel, ...], description: str) -> WithJsonSchema:
    # The JSON Schema states the format; existence in the list is checked in Python, with a
    # message an operator can act on rather than a bare regex mismatch.
    pattern = "^(" + "|".join(_PATTERN_BY_LEVEL[level] for level in levels) + ")$"
    return WithJsonSchema({"type": "string", "pattern": pattern, "description": description})


RegionCode = Annotated[
    str,
    AfterValidator(_validator(LEVELS)),
    _json_schema(LEVELS, "Region code of any level, or ID for the whole country"),
]
ProvinceCode = Annotated[
    str,
    AfterValidator(_validator(("province",))),
    _json_schema(("province",), "Province code, e.g. 17"),
]
RegencyCode = Annotated[
    str,
    AfterValidator(_validator(("regency",))),
    _json_schema(("regency",), "Regency/city code, e.g. 17.71"),
]
DistrictCode = Annotated[
    str,
    AfterValidator(_validator(("district",))),
    _json_schema(("district",), "District code, e.g. 17.71.01"),
]
VillageCode = Annotated[
    str,
    AfterValidator(_validator(("village",))),
    _json_schema(("village",), "Village/urban-village code, e.g. 17.71.01.1001"),
]
