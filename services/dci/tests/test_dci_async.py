"""Asynchronous search (``/registry/search``): acknowledged at once, the result POSTed signed to the
agency's ``sender_uri``; its transaction status, synchronous and asynchronous. Every request,
acknowledgement and callback is checked against the pinned standard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dtks_dci.domain import envelope as env
from dtks_dci.domain.signing import b64decode_any, public_key, verify
from dtks_dci.testing import (
    AGENCY,
    CallbackReceiver,
    Dci,
    assert_valid,
    envelope,
    search_envelope,
    search_item,
)
from dtks_runtime.testing import wait_until

pytestmark = pytest.mark.infra


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    receiver = await CallbackReceiver().start()
    yield receiver
    await receiver.stop()


async def _post(dci: Dci, path: str, body: dict[str, Any]) -> dict[str, Any]:
    assert_valid(path, body)
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        answer = await client.post(path, json=body, headers=dci.token())
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def _our_keys(dci: Dci) -> dict[str, Any]:
    async with httpx.AsyncClient(base_url=dci.url) as client:
        (jwk,) = (await client.get("/.well-known/jwks.json")).json()["keys"]
    return {jwk["kid"]: public_key(b64decode_any(jwk["x"]))}


def _status_request(dci: Dci, attribute_type: str, value: Any, **kw: Any) -> dict[str, Any]:
    message = {"transaction_id": env.new_id(), "txnstatus_request": {
        "reference_id": env.new_id(), "txn_type": "search", "attribute_type": attribute_type, "attribute_value": value}}  # fmt: skip
    return envelope("txn-status", message, sender_id=AGENCY, key=dci.key, **kw)


async def test_an_async_search_by_nik_and_by_kk_is_acknowledged_then_called_back_signed(
    dci: Dci, receiver: CallbackReceiver
):
    household = dci.households[2]
    items = [search_item("idtype-value", {"type": "NIK", "value": household.members[1].nik}, response_entity="Member"),
             search_item("idtype-value", {"type": "KK", "value": household.kk_number})]  # fmt: skip
    body = search_envelope(
        items, sender_id=AGENCY, key=dci.key, sender_uri=f"{receiver.url}/dci/registry/on-search"
    )
    ack = await _post(dci, "/registry/search", body)
    assert_valid("/registry/search", ack, "ack")
    assert ack["message"]["ack_status"] == "ACK"
    correlation_id = ack["message"]["correlation_id"]

    async def called_back() -> bool:
        return bool(receiver.bodies("/dci/registry/on-search"))

    await wait_until(called_back, within=60, what="the on-search callback")
    (callback,) = receiver.bodies("/dci/registry/on-search")
    assert_valid("/registry/on-search", callback)
    assert verify(callback["signature"], callback["header"], callback["message"], await _our_keys(dci))
    assert callback["header"]["action"] == "on-search" and callback["header"]["completed_count"] == 2
    message = callback["message"]
    assert (message["transaction_id"], message["correlation_id"]) == (
        body["message"]["transaction_id"],
        correlation_id,
    )
    by_nik, by_kk = message["search_response"]
    assert [r["member_identifier"][0]["identifier_value"] for r in by_nik["data"]["reg_records"]] == [
        household.members[1].nik
    ]
    assert by_kk["data"]["reg_records"][0]["group_identifier"][0]["identifier_value"] == household.kk_number

    # Its status, asked synchronously by transaction id and by reference id, and asynchronously.
    for attribute, value in (("transaction_id", body["message"]["transaction_id"]),
                             ("reference_id_list", [items[1]["reference_id"]]), ("correlation_id", correlation_id)):  # fmt: skip
        status = await _post(dci, "/registry/sync/txn/status", _status_request(dci, attribute, value))
        assert_valid("/registry/sync/txn/status", status, "response")
        txn = status["message"]["txnstatus_response"]
        assert txn["txn_type"] == "search"
        assert [i["status"] for i in txn["txn_status"]["search_response"]] == ["succ", "succ"]
        assert txn["txn_status"]["correlation_id"] == correlation_id
    asked = _status_request(dci, "transaction_id", body["message"]["transaction_id"],
                            sender_uri=f"{receiver.url}/dci/registry/txn/on-status")  # fmt: skip
    status_ack = await _post(dci, "/registry/txn/status", asked)
    assert_valid("/registry/txn/status", status_ack, "ack")

    async def status_called_back() -> bool:
        return bool(receiver.bodies("/dci/registry/txn/on-status"))

    await wait_until(status_called_back, within=60, what="the txn on-status callback")
    (on_status,) = receiver.bodies("/dci/registry/txn/on-status")
    assert_valid("/registry/txn/on-status", on_status)
    assert on_status["message"]["txnstatus_response"]["txn_status"]["correlation_id"] == correlation_id
    assert on_status["message"]["correlation_id"] == status_ack["message"]["correlation_id"]


async def test_the_status_of_an_unknown_transaction_is_rejected_with_a_reason(dci: Dci):
    status = await _post(
        dci, "/registry/sync/txn/status", _status_request(dci, "transaction_id", "never-sent")
    )
    assert_valid("/registry/sync/txn/status", status, "response")
    (item,) = status["message"]["txnstatus_response"]["txn_status"]["search_response"]
    assert (item["status"], item["status_reason_code"]) == ("rjct", "rjct.reference_id.invalid")


async def test_an_async_search_without_a_callback_address_is_refused(dci: Dci):
    body = search_envelope([search_item("idtype-value", {"type": "KK", "value": dci.households[0].kk_number})],
                           sender_id=AGENCY, key=dci.key)  # fmt: skip
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        answer = await client.post("/registry/search", json=body, headers=dci.token())
    assert answer.status_code == 400 and answer.json()["errors"][0]["code"] == "err.sender_uri.invalid"
