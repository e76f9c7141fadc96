"""Subscriptions of the standard (``subscribe_criteria``) read into what a decree is matched against.

An agency subscribes to ``REGISTER`` events (``reg_event_type``: the register changed by a decree:
households registered, corrected or deactivated) with a filter in any of the search query forms;
at every decree each changed household that matches the filter and the agency's grant is sent in a
``notify`` message. The filter is read as a search's criteria, so it means the same thing in both;
only its default ``status`` differs: a subscription hears of deactivations too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, replace
from typing import Any

from dtks_contracts.regions import contains
from dtks_dci.domain.envelope import (
    NOTIFY_DETAILS_INVALID,
    NOTIFY_TYPES_INVALID,
    PERSON_ID_INVALID,
    Rejection,
)
from dtks_dci.domain.queries import RegisterQuery, read_criteria
from dtks_dci.domain.records import GROUP, MEMBER

REGISTER_EVENTS = {
    "register",
    "ns:dtks:registryeventtype:register",
    "spdci-common:registryeventtype:register",
}


def read_subscription(criteria: Mapping[str, Any]) -> tuple[RegisterQuery, str]:
    """The filter's query and the record type to notify; :class:`Rejection` with the subscribe codes."""
    if str(criteria.get("reg_event_type", "")).lower() not in REGISTER_EVENTS:
        raise Rejection(
            NOTIFY_TYPES_INVALID, "Subscribe to reg_event_type REGISTER: the register changed by a decree."
        )
    filter_type = criteria.get("filter_type", "expression")
    try:
        search = read_criteria({"query_type": filter_type, "query": criteria["filter"]})
    except Rejection as refused:
        code = PERSON_ID_INVALID if "16 digits" in refused.message else NOTIFY_DETAILS_INVALID
        raise Rejection(code, refused.message) from None
    query = search.query
    explicit_status = "status" in str(criteria["filter"])
    if not explicit_status:
        query = replace(query, status="all")
    entity = MEMBER if str(criteria.get("notify_record_type", GROUP)).endswith(MEMBER) else GROUP
    return query, entity


def query_json(query: RegisterQuery) -> dict[str, Any]:
    return asdict(query)


def query_from_json(data: Mapping[str, Any]) -> RegisterQuery:
    return RegisterQuery(**data)


def matches(query: RegisterQuery, household: Mapping[str, Any]) -> bool:
    """Whether a household (the registry's document) satisfies a subscription's filter."""
    members = household["household"]["members"]
    if query.nik is not None and all(m["nik"] != query.nik for m in members):
        return False
    if query.kk is not None and household["kk_number"] != query.kk:
        return False
    if query.region is not None and not contains(query.region, household["village_code"]):
        return False
    if query.program is not None and query.program not in household["programs"]:
        return False
    if query.status != "all" and household["status"] != query.status:
        return False
    if query.decile_min is not None or query.decile_max is not None:
        decile = (household.get("welfare_decile") or {}).get("decile")
        if decile is None or not (query.decile_min or 1) <= decile <= (query.decile_max or 10):
            return False
    return True
