"""A search request of the standard answered from the register: one ``search_response`` item per
``search_request`` item, each succeeded or rejected with its reason code."""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from dtks_contracts.regions import contains
from dtks_dci.adapters.registry import RegistryClient, TooMany
from dtks_dci.domain import locale as lang
from dtks_dci.domain.envelope import (
    FILTER_INVALID,
    PAGINATION_INVALID,
    REFERENCE_ID_DUPLICATE,
    REJECTED,
    SUCCEEDED,
    TOO_MANY_RECORDS,
    Rejection,
    timestamp,
)
from dtks_dci.domain.grants import Grant
from dtks_dci.domain.queries import Search, read_criteria, sort_key
from dtks_dci.domain.records import records_for

REG_TYPE = "ns:dtks:RegistryType:Social"


async def answer_item(
    item: Mapping[str, Any], grant: Grant, registry: RegistryClient, cap: int
) -> dict[str, Any]:
    locale = lang.chosen(item.get("locale"))
    base = {"reference_id": item["reference_id"], "timestamp": timestamp(), "locale": locale}
    try:
        search = read_criteria(item["search_criteria"])
        households = await _households(search, grant, registry, cap)
        total = len(households)
        pages = max(1, math.ceil(total / search.page_size))
        if search.page_number > pages:
            raise Rejection(PAGINATION_INVALID, f"Page {search.page_number} is beyond the last page, {pages}, "
                            f"of {total} records at {search.page_size} a page.")  # fmt: skip
        for sort in reversed(search.sort):  # stable sorts, last key first
            households.sort(key=functools.partial(_key, attribute=sort.attribute), reverse=sort.descending)
        start = (search.page_number - 1) * search.page_size
        page = households[start : start + search.page_size]
        records = records_for(page, search.entity, grant.fields, nik=search.query.nik)
    except Rejection as refused:
        return {**base, "status": REJECTED, "status_reason_code": refused.reason_code,
                "status_reason_message": lang.message(refused.reason_code, refused.message, locale)[:999]}  # fmt: skip
    return {
        **base,
        "status": SUCCEEDED,
        "data": {
            "version": "1.0.0",
            "reg_type": REG_TYPE,
            "reg_record_type": search.entity,
            "reg_records": records,
        },
        "pagination": {
            "page_size": search.page_size,
            "page_number": search.page_number,
            "total_count": total,
        },
    }


async def _households(
    search: Search, grant: Grant, registry: RegistryClient, cap: int
) -> list[dict[str, Any]]:
    query = search.query
    region = query.region or grant.region
    if query.region is not None and not grant_covers(grant, query.region):
        raise Rejection(
            FILTER_INVALID, f"Region {query.region} is outside your agency's grant ({grant.region})."
        )
    if query.program is not None and grant.programs and query.program not in grant.programs:
        raise Rejection(
            FILTER_INVALID, f"Your agency is granted {', '.join(grant.programs)}, not {query.program}."
        )
    if query.program is None and len(grant.programs) == 1 and not query.by_identifier:
        query = replace(query, program=grant.programs[0])  # let the registry filter what it can
    try:
        found = await registry.households(query, region, cap)
    except TooMany:
        raise Rejection(TOO_MANY_RECORDS, f"More than {cap:,} households match; narrow the search "
                        "(a smaller region, a decile range, a program).") from None  # fmt: skip
    return [h for h in found if grant.may_read(h)]


def _key(household: dict[str, Any], attribute: str) -> Any:
    return sort_key(household, attribute)


def grant_covers(grant: Grant, region: str) -> bool:
    return contains(grant.region, region)


async def answer(
    message: Mapping[str, Any], grant: Grant, registry: RegistryClient, cap: int
) -> list[dict[str, Any]]:
    """The ``search_response`` items of a ``SearchRequest`` message, in request order."""
    seen: set[str] = set()
    out = []
    for item in message["search_request"]:
        if item["reference_id"] in seen:
            out.append({"reference_id": item["reference_id"], "timestamp": timestamp(), "status": REJECTED,
                        "status_reason_code": REFERENCE_ID_DUPLICATE,
                        "status_reason_message": "This reference_id appears earlier in the same message."})  # fmt: skip
            continue
        seen.add(item["reference_id"])
        out.append(await answer_item(item, grant, registry, cap))
    return out
