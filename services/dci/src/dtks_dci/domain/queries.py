"""A search request's criteria (``search_criteria``) read into one query the register can answer.

The standard defines three query types (``QueryType``): ``idtype-value`` (an identifier type and
value), ``expression`` (a NoSQL-style ``{collection, query: {$and: [{attr: {$op: v}}]}}``) and
``predicate`` (a list of ``expression1 condition expression2`` items). Attribute names are "defined
as per implementation context"; ours are the ones the registry's queries can answer without a copy of
the register here (see ``dtks_dci.main``'s note on why): identifiers ``NIK`` and ``KK``, the region
(``location``/``region_code``), the welfare decile (``poverty_score``/``welfare_decile``), the
``program`` and the ``status``. Conditions combine with ``and``; the register's queries have no
``or``/``not``, so those are refused with the standard's reason code rather than answered wrongly.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from dtks_contracts.regions import region_exists, region_level
from dtks_contracts.vocabulary.programs import Program
from dtks_dci.domain.envelope import (
    FILTER_INVALID,
    PAGINATION_INVALID,
    SEARCH_CRITERIA_INVALID,
    SORT_INVALID,
    Rejection,
)
from dtks_dci.domain.records import GROUP, KK, MEMBER, NIK

DIGITS_16 = re.compile(r"^[0-9]{16}$")
MAX_PAGE_SIZE = 1000
DEFAULT_PAGE_SIZE = 100
SORTABLE = {"poverty_score", "household_id", "kk", "group_size", "region_code"}
IDENTIFIER_TYPES = {NIK: "nik", KK: "kk", "NATIONALID": "nik", "FAMILY_CARD": "kk", "KK_NUMBER": "kk"}
_REGION_ATTRS = {"location", "region", "region_code", "village_code"}
_DECILE_ATTRS = {"poverty_score", "welfare_decile", "decile"}
_OPS = {
    "$eq": "eq",
    "$lt": "lt",
    "$lte": "le",
    "$le": "le",
    "$gt": "gt",
    "$gte": "ge",
    "$ge": "ge",
    "$in": "in",
}
SUPPORTED = "NIK, KK, location (a region code), poverty_score (the welfare decile 1-10), program, status"


@dataclass(frozen=True)
class RegisterQuery:
    nik: str | None = None
    kk: str | None = None
    region: str | None = None
    decile_min: int | None = None
    decile_max: int | None = None
    program: str | None = None
    status: str = "active"  # active | deactivated | all

    @property
    def by_identifier(self) -> bool:
        return self.nik is not None or self.kk is not None


@dataclass(frozen=True)
class Sort:
    attribute: str
    descending: bool


@dataclass(frozen=True)
class Search:
    query: RegisterQuery
    entity: str
    sort: tuple[Sort, ...]
    page_size: int
    page_number: int


def read_criteria(criteria: Mapping[str, Any]) -> Search:
    """The criteria (already valid against the standard's schema) as a :class:`Search`; raises
    :class:`Rejection` with the standard's reason code for what the register cannot answer."""
    kind = criteria.get("query_type")
    raw = criteria.get("query")
    if kind == "idtype-value":
        query = _id_query(raw)
    elif kind == "expression":
        query = _expression_query(raw)
    elif kind == "predicate":
        query = _predicate_query(raw)
    else:
        raise Rejection(
            SEARCH_CRITERIA_INVALID,
            f"Unknown query_type {kind!r}; use idtype-value, expression or predicate.",
        )
    entity = criteria.get("response_entity") or GROUP
    if entity not in (GROUP, MEMBER):
        raise Rejection(SEARCH_CRITERIA_INVALID, "response_entity must be Group or Member.")
    return Search(query, entity, _sort(criteria.get("sort") or []), *_pagination(criteria.get("pagination")))


def _id_query(raw: Any) -> RegisterQuery:
    if not isinstance(raw, Mapping) or "type" not in raw or "value" not in raw:
        raise Rejection(
            SEARCH_CRITERIA_INVALID, 'An idtype-value query is {"type": "NIK" or "KK", "value": "16 digits"}.'
        )
    return _identifier(str(raw["type"]), raw["value"])


def _identifier(kind: str, value: Any) -> RegisterQuery:
    field = IDENTIFIER_TYPES.get(kind.upper())
    if field is None:
        raise Rejection(
            SEARCH_CRITERIA_INVALID,
            f"Unknown identifier type {kind!r}; this registry is searched by NIK or KK.",
        )
    if not isinstance(value, str) or not DIGITS_16.match(value):
        raise Rejection(SEARCH_CRITERIA_INVALID, f"A {kind.upper()} is 16 digits, written as a string.")
    # Someone asked for by identifier is answered whether active or deactivated: the record says which.
    return RegisterQuery(nik=value, status="all") if field == "nik" else RegisterQuery(kk=value, status="all")


def _expression_query(raw: Any) -> RegisterQuery:
    value = raw.get("value") if isinstance(raw, Mapping) else None
    expression = value.get("expression") if isinstance(value, Mapping) else None
    if not isinstance(expression, Mapping) or not isinstance(expression.get("query"), Mapping):
        raise Rejection(SEARCH_CRITERIA_INVALID, "An expression query is {\"type\": …, \"value\": {\"expression\": "
                        "{\"collection\": \"Group\", \"query\": {\"$and\": [{attribute: {\"$op\": value}}]}}}}.")  # fmt: skip
    if expression.get("collection", GROUP) not in (GROUP, MEMBER):
        raise Rejection(SEARCH_CRITERIA_INVALID, "An expression's collection is Group or Member.")
    terms: list[tuple[str, str, Any]] = []
    _flatten(expression["query"], terms)
    return _combine(terms)


def _flatten(node: Mapping[str, Any], terms: list[tuple[str, str, Any]]) -> None:
    for key, value in node.items():
        if key == "$and":
            if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
                raise Rejection(SEARCH_CRITERIA_INVALID, "$and takes a list of conditions.")
            for item in value:
                _flatten(item, terms)
        elif key.startswith("$"):
            raise Rejection(
                SEARCH_CRITERIA_INVALID, f"{key} is not supported: conditions combine with $and only."
            )
        elif isinstance(value, Mapping):
            for op, operand in value.items():
                if op not in _OPS:
                    raise Rejection(
                        SEARCH_CRITERIA_INVALID,
                        f"Unknown operator {op!r}; use $eq, $lt, $lte, $gt, $gte or $in.",
                    )
                terms.append((key, _OPS[op], operand))
        else:
            terms.append((key, "eq", value))


def _predicate_query(raw: Any) -> RegisterQuery:
    if not isinstance(raw, list) or not raw:
        raise Rejection(
            SEARCH_CRITERIA_INVALID, "A predicate query is a list of {expression1, condition, expression2}."
        )
    terms: list[tuple[str, str, Any]] = []
    for item in sorted(raw, key=lambda i: i.get("seq_num", 0) if isinstance(i, Mapping) else 0):
        if not isinstance(item, Mapping) or not isinstance(item.get("expression1"), Mapping):
            raise Rejection(SEARCH_CRITERIA_INVALID, "Each predicate needs expression1.")
        condition = item.get("condition")
        if item.get("expression2") is not None and condition != "and":
            raise Rejection(
                SEARCH_CRITERIA_INVALID,
                f"Condition {condition!r} is not supported: predicates combine with and.",
            )
        if item.get("expression2") is None and condition not in (None, "and"):
            raise Rejection(
                SEARCH_CRITERIA_INVALID,
                f"Condition {condition!r} is not supported: predicates combine with and.",
            )
        for expression in (item["expression1"], item.get("expression2")):
            if expression is not None:
                terms.append(
                    (
                        str(expression["attribute_name"]),
                        str(expression["operator"]),
                        expression["attribute_value"],
                    )
                )
    return _combine(terms)


def _number(value: Any, attribute: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise Rejection(FILTER_INVALID, f"{attribute} is compared with a number, not {value!r}.") from None
    if math.isnan(number) or math.isinf(number):
        raise Rejection(FILTER_INVALID, f"{attribute} is compared with a finite number.")
    return number


def _combine(terms: list[tuple[str, str, Any]]) -> RegisterQuery:
    query = RegisterQuery()
    low, high = 1, 10
    decile_given = False
    for attribute, op, value in terms:
        name = attribute.lower()
        if name in {"nik", "kk", "uin", "nationalid"} or attribute in IDENTIFIER_TYPES:
            if op != "eq":
                raise Rejection(FILTER_INVALID, f"{attribute} is compared with eq only.")
            found = _identifier(attribute, value)
            query = replace(query, nik=found.nik or query.nik, kk=found.kk or query.kk, status="all")
        elif name in _REGION_ATTRS:
            if op != "eq" or not isinstance(value, str):
                raise Rejection(FILTER_INVALID, f"{attribute} is one region code, compared with eq.")
            try:
                known = region_level(value) is not None and region_exists(value)
            except ValueError:
                known = False
            if not known:
                raise Rejection(FILTER_INVALID, f"{value!r} is not a region code of Indonesia.")
            query = replace(query, region=value)
        elif name in _DECILE_ATTRS:
            decile_given = True
            if op == "in":
                values = [_number(v, attribute) for v in (value if isinstance(value, list) else [value])]
                low, high = max(low, math.ceil(min(values))), min(high, math.floor(max(values)))
                continue
            number = _number(value, attribute)
            if op == "eq":
                low, high = max(low, math.ceil(number)), min(high, math.floor(number))
            elif op == "lt":
                high = min(high, math.ceil(number) - 1)
            elif op == "le":
                high = min(high, math.floor(number))
            elif op == "gt":
                low = max(low, math.floor(number) + 1)
            elif op == "ge":
                low = max(low, math.ceil(number))
            else:
                raise Rejection(FILTER_INVALID, f"Unknown operator {op!r}.")
        elif name == "program":
            if op != "eq" or value not in {p.value for p in Program}:
                raise Rejection(
                    FILTER_INVALID,
                    f"program is one of {', '.join(p.value for p in Program)}, compared with eq.",
                )
            query = replace(query, program=value)
        elif name == "status":
            if op != "eq" or value not in ("active", "deactivated", "all"):
                raise Rejection(FILTER_INVALID, "status is active, deactivated or all, compared with eq.")
            query = replace(query, status=value)
        else:
            raise Rejection(
                FILTER_INVALID, f"Unknown attribute {attribute!r}; this registry is searched by {SUPPORTED}."
            )
    if decile_given:
        if low > high:
            raise Rejection(FILTER_INVALID, "The poverty_score conditions leave no decile between 1 and 10.")
        query = replace(query, decile_min=low, decile_max=high)
    return query


def _sort(items: list[Mapping[str, Any]]) -> tuple[Sort, ...]:
    out = []
    for item in items:
        name = item.get("attribute_name")
        if name not in SORTABLE:
            raise Rejection(SORT_INVALID, f"Cannot sort by {name!r}; sort by {', '.join(sorted(SORTABLE))}.")
        out.append(Sort(str(name), item.get("sort_order", "asc") == "desc"))
    return tuple(out)


def _pagination(raw: Mapping[str, Any] | None) -> tuple[int, int]:
    if raw is None:
        return DEFAULT_PAGE_SIZE, 1
    size: Any = raw.get("page_size")
    number: Any = raw.get("page_number", 1)
    if not _whole(size) or not 1 <= size <= MAX_PAGE_SIZE:
        raise Rejection(PAGINATION_INVALID, f"page_size is a whole number from 1 to {MAX_PAGE_SIZE}.")
    if not _whole(number) or number < 1:
        raise Rejection(PAGINATION_INVALID, "page_number is a whole number from 1.")
    return int(size), int(number)


def _whole(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()


def sort_key(record_household: Mapping[str, Any], attribute: str) -> Any:
    """The value a household sorts by (missing deciles sort last ascending)."""
    if attribute == "poverty_score":
        decile = record_household.get("welfare_decile")
        return (decile is None, decile["decile"] if decile else 0)
    if attribute == "kk":
        return record_household["kk_number"]
    if attribute == "group_size":
        return len(record_household["household"]["members"])
    if attribute == "region_code":
        return record_household["village_code"]
    return record_household["household_id"]
