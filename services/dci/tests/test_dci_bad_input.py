"""Bad input gets the standard's error status and reason code, never a 500, and every exchange is
logged: malformed envelopes, missing or bad signatures, another sender, replays, stale messages,
unknown query or identifier types, a page beyond the end, a region outside the grant."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
import pytest

from dtks_contracts.vocabulary.roles import Role
from dtks_dci.domain import envelope as env
from dtks_dci.testing import (
    AGENCY,
    Dci,
    assert_http_error,
    assert_valid,
    new_agency_key,
    search_envelope,
    search_item,
)

pytestmark = pytest.mark.infra
PATH = "/registry/sync/search"


def _by_nik(dci: Dci) -> dict[str, Any]:
    return search_item("idtype-value", {"type": "NIK", "value": dci.households[0].members[0].nik})


async def _refused(
    dci: Dci, body: Any, status: int, code: str, headers: dict[str, str] | None = None
) -> None:
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        answer = await client.post(PATH, json=body, headers=dci.token() if headers is None else headers)
    assert answer.status_code == status, answer.text
    assert_http_error(answer.json())
    assert answer.json()["errors"][0]["code"] == code, answer.text


async def test_a_request_without_the_agencys_token_is_unauthorized(dci: Dci):
    await _refused(
        dci,
        search_envelope([_by_nik(dci)], sender_id=AGENCY, key=dci.key),
        401,
        "err.request.unauthorized",
        {},
    )


async def test_a_token_of_another_role_is_forbidden(dci: Dci):
    headers = dci.system.headers(Role.AUDITOR, "ID")
    await _refused(
        dci,
        search_envelope([_by_nik(dci)], sender_id=AGENCY, key=dci.key),
        403,
        "err.request.forbidden",
        headers,
    )


async def test_an_envelope_that_breaks_the_schema_is_a_bad_request(dci: Dci):
    body = search_envelope([_by_nik(dci)], sender_id=AGENCY, key=dci.key)
    del body["message"]
    await _refused(dci, body, 400, "err.request.bad")
    unknown_type = search_envelope([search_item("sql", "SELECT 1")], sender_id=AGENCY, key=dci.key)
    await _refused(dci, unknown_type, 400, "err.request.bad")
    async with httpx.AsyncClient(base_url=dci.url) as client:
        answer = await client.post(PATH, content=b"{not json", headers=dci.token())
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "err.request.bad"


async def test_a_missing_or_wrong_signature_is_refused(dci: Dci):
    await _refused(
        dci, search_envelope([_by_nik(dci)], sender_id=AGENCY, key=None), 401, "err.signature.missing"
    )
    stranger = new_agency_key(dci.key.key_id)  # the right key id, another private key
    await _refused(
        dci, search_envelope([_by_nik(dci)], sender_id=AGENCY, key=stranger), 401, "err.signature.invalid"
    )
    body = search_envelope([_by_nik(dci)], sender_id=AGENCY, key=dci.key)
    body["message"]["search_request"][0]["search_criteria"]["query"]["value"] = (
        dci.households[1].members[0].nik
    )
    await _refused(dci, body, 401, "err.signature.invalid")  # signed, then altered


async def test_another_agencys_sender_id_is_refused(dci: Dci):
    body = search_envelope([_by_nik(dci)], sender_id="agency-bpjs-kesehatan", key=dci.key)
    await _refused(dci, body, 403, "err.sender_id.invalid")


async def test_a_replayed_message_id_and_a_stale_message_are_refused(dci: Dci):
    body = search_envelope([_by_nik(dci)], sender_id=AGENCY, key=dci.key)
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        first = await client.post(PATH, json=body, headers=dci.token())
    assert first.status_code == 200
    await _refused(dci, body, 409, "rjct.message_id.duplicate")
    old = env.timestamp(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10))
    stale = search_envelope([_by_nik(dci)], sender_id=AGENCY, key=dci.key, message_ts=old)
    await _refused(dci, stale, 400, "rjct.message_ts.invalid")


async def test_unanswerable_criteria_get_the_standards_reason_codes_per_request(dci: Dci):
    items = [
        search_item("idtype-value", {"type": "PASSPORT", "value": "X123"}),
        search_item("idtype-value", {"type": "NIK", "value": dci.households[0].members[0].nik},
                    pagination={"page_size": 10, "page_number": 3}),
        search_item("predicate", [{"expression1": {"attribute_name": "location", "operator": "eq", "attribute_value": "16.71"}}]),
        search_item("predicate", [{"expression1": {"attribute_name": "age", "operator": "lt", "attribute_value": "25"}}]),
        search_item("idtype-value", {"type": "KK", "value": dci.households[0].kk_number},
                    sort=[{"attribute_name": "shoe_size", "sort_order": "asc"}]),
    ]  # fmt: skip
    items.append({**items[0], "timestamp": env.timestamp()})  # the same reference_id again
    items[-1]["search_criteria"] = items[1]["search_criteria"]
    body = search_envelope(items, sender_id=AGENCY, key=dci.key)
    assert_valid(PATH, body)
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        answer = await client.post(PATH, json=body, headers=dci.token())
    assert answer.status_code == 200, answer.text
    assert_valid(PATH, answer.json(), "response")
    codes = [(i["status"], i.get("status_reason_code")) for i in answer.json()["message"]["search_response"]]
    assert codes == [
        ("rjct", "rjct.search_criteria.invalid"),
        ("rjct", "rjct.pagination.invalid"),
        ("rjct", "rjct.filter.invalid"),  # Kota Bengkulu's agency asking for another regency
        ("rjct", "rjct.filter.invalid"),
        ("rjct", "rjct.sort.invalid"),
        ("rjct", "rjct.reference_id.duplicate"),
    ]


async def test_indonesian_is_answered_when_the_locale_asks_for_it(dci: Dci):
    item = {**search_item("idtype-value", {"type": "PASSPORT", "value": "X"}), "locale": "ind"}
    body = search_envelope([item], sender_id=AGENCY, key=dci.key)
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        answer = (await client.post(PATH, json=body, headers=dci.token())).json()
    (result,) = answer["message"]["search_response"]
    assert result["locale"] == "ind" and "Kriteria pencarian" in result["status_reason_message"]


async def test_a_header_count_that_does_not_match_the_requests_or_too_many_requests_are_refused(dci: Dci):
    miscounted = search_envelope([_by_nik(dci), _by_nik(dci)], sender_id=AGENCY, key=dci.key, total_count=1)
    await _refused(dci, miscounted, 400, "rjct.total_count.invalid")
    many = [_by_nik(dci) for _ in range(101)]
    await _refused(
        dci, search_envelope(many, sender_id=AGENCY, key=dci.key), 413, "rjct.total_count.limit_exceeded"
    )


async def test_every_exchange_is_in_the_auditors_log(dci: Dci):
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        log = (await client.get("/exchanges", params={"agency": AGENCY, "limit": 1000},
                                headers=dci.system.headers(Role.AUDITOR, "ID"))).json()["exchanges"]  # fmt: skip
        refused = await client.get("/exchanges", headers=dci.token())
    assert refused.status_code == 403
    outcomes = {e["outcome"] for e in log}
    assert {"err.signature.invalid", "err.signature.missing", "rjct.message_id.duplicate", "succ"} <= outcomes
    assert all(e["direction"] == "in" and e["path"] == PATH for e in log)
