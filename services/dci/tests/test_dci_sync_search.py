"""Synchronous search (``/registry/sync/search``) by NIK and by KK, the expression and predicate
forms, pagination and sort, field and region grants; every exchange checked against the pinned
DCI Social Registry OpenAPI document."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dtks_dci.domain.signing import b64decode_any, public_key, verify
from dtks_dci.testing import AGENCY, NARROW, Dci, assert_valid, search_envelope, search_item

pytestmark = pytest.mark.infra
PATH = "/registry/sync/search"


async def _search(
    dci: Dci, items: list[dict[str, Any]], *, agency: str = AGENCY, **token: Any
) -> dict[str, Any]:
    key = dci.key if agency == AGENCY else dci.narrow_key
    body = search_envelope(items, sender_id=agency, key=key)
    assert_valid(PATH, body)
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        answer = await client.post(PATH, json=body, headers=dci.token(agency, **token))
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert_valid(PATH, result, "response")
    return dict(result)


async def test_a_search_by_nik_answers_the_household_as_a_signed_group_record(dci: Dci):
    household = dci.households[0]
    head = household.members[0]
    result = await _search(dci, [search_item("idtype-value", {"type": "NIK", "value": head.nik})])
    (item,) = result["message"]["search_response"]
    assert item["status"] == "succ"
    (group,) = item["data"]["reg_records"]
    assert {"identifier_type": "KK", "identifier_value": household.kk_number, "@type": "Identifier"} in group[
        "group_identifier"
    ]
    assert group["group_size"] == 2
    assert group["group_head_info"]["member_identifier"][0]["identifier_value"] == head.nik
    assert group["group_head_info"]["demographic_info"]["name"]["given_name"] == head.name
    assert item["pagination"] == {"page_size": 100, "page_number": 1, "total_count": 1}
    assert result["header"]["status"] == "succ" and result["header"]["total_count"] == 1

    async with httpx.AsyncClient(base_url=dci.url) as client:
        jwks = (await client.get("/.well-known/jwks.json")).json()
    (jwk,) = jwks["keys"]
    keys = {jwk["kid"]: public_key(b64decode_any(jwk["x"]))}
    assert verify(result["signature"], result["header"], result["message"], keys) == jwk["kid"]
    tampered = {**result["message"], "transaction_id": "other"}
    with pytest.raises(Exception, match="does not match"):
        verify(result["signature"], result["header"], tampered, keys)


async def test_a_search_by_kk_answers_members_when_asked_for_members(dci: Dci):
    household = dci.households[1]
    item = search_item("idtype-value", {"type": "KK", "value": household.kk_number}, response_entity="Member")
    result = await _search(dci, [item])
    (answer,) = result["message"]["search_response"]
    niks = sorted(r["member_identifier"][0]["identifier_value"] for r in answer["data"]["reg_records"])
    assert niks == sorted(m.nik for m in household.members)
    assert answer["data"]["reg_record_type"] == "Member"


async def test_an_unknown_nik_is_a_successful_search_with_no_records(dci: Dci):
    result = await _search(dci, [search_item("idtype-value", {"type": "NIK", "value": "1771014101990001"})])
    (item,) = result["message"]["search_response"]
    assert item["status"] == "succ" and item["data"]["reg_records"] == []
    assert item["pagination"]["total_count"] == 0


async def test_expression_and_predicate_searches_page_and_sort_over_a_region(dci: Dci):
    expression = {"type": "ns:org:QueryType:expression",
                  "value": {"expression": {"collection": "Group", "query": {"$and": [{"location": {"$eq": "17.71.01"}}]}}}}  # fmt: skip
    sort = [{"attribute_name": "kk", "sort_order": "desc"}]
    first = search_item("expression", expression, pagination={"page_size": 2, "page_number": 1}, sort=sort)
    second = search_item("expression", expression, pagination={"page_size": 2, "page_number": 2}, sort=sort)
    predicate = search_item("predicate", [{"seq_num": 1, "expression1": {"attribute_name": "location", "operator": "eq",
                                           "attribute_value": "17.71.02"}}])  # fmt: skip
    result = await _search(dci, [first, second, predicate])
    one, two, other = result["message"]["search_response"]
    in_01 = sorted(
        (h.kk_number for h in dci.households if h.village_code.startswith("17.71.01")), reverse=True
    )
    kks = [
        g["group_identifier"][0]["identifier_value"]
        for g in one["data"]["reg_records"] + two["data"]["reg_records"]
    ]
    assert kks == in_01
    assert one["pagination"]["total_count"] == len(in_01)
    in_02 = {h.kk_number for h in dci.households if h.village_code.startswith("17.71.02")}
    assert {g["group_identifier"][0]["identifier_value"] for g in other["data"]["reg_records"]} == in_02


async def test_an_agency_gets_only_its_granted_fields_and_region(dci: Dci):
    outside = next(h for h in dci.households if h.village_code.startswith("17.71.01"))
    inside = next(h for h in dci.households if h.village_code.startswith("17.71.02"))
    items = [search_item("idtype-value", {"type": "KK", "value": h.kk_number}) for h in (outside, inside)]
    result = await _search(dci, items, agency=NARROW, region="17.71.02")
    hidden, seen = result["message"]["search_response"]
    assert hidden["data"]["reg_records"] == []  # another region's household reads as not found
    (group,) = seen["data"]["reg_records"]
    person = group["group_head_info"]["demographic_info"]
    assert set(person) == {"@type", "identifier", "name"}  # no birth date, sex or address granted
    assert "poverty_score" not in group and "place" not in group
