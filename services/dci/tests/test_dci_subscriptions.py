"""Subscribe, notify at a decree, unsubscribe: the on-subscribe answer, a notify carrying exactly the
decree's changes the filter and grant allow, signed and verifiable with the published key, and none
after unsubscribing. Every message checked against the pinned standard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from dtks_contracts.vocabulary.programs import Program
from dtks_dci.domain import envelope as env
from dtks_dci.domain.signing import b64decode_any, public_key, verify
from dtks_dci.testing import AGENCY, CallbackReceiver, Dci, assert_valid, envelope, register
from dtks_registry.testing import ago, make_household
from dtks_runtime.testing import Infra, wait_until

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
    assert_valid(path, answer.json(), "ack")
    return dict(answer.json())


def _subscribe_item(filter_: Any, filter_type: str = "predicate", event: str = "REGISTER") -> dict[str, Any]:
    return {"reference_id": env.new_id(), "timestamp": env.timestamp(), "subscribe_criteria": {
        "reg_event_type": event, "filter_type": filter_type, "filter": filter_, "notify_record_type": "Group"}}  # fmt: skip


async def _arrived(receiver: CallbackReceiver, path: str, count: int = 1) -> list[Any]:
    async def there() -> bool:
        return len(receiver.bodies(path)) >= count

    await wait_until(there, within=90, what=f"{count} callback(s) at {path}")
    return receiver.bodies(path)


async def test_a_subscription_is_notified_of_a_decrees_changes_signed_and_then_unsubscribed(
    dci: Dci, receiver: CallbackReceiver, infra: Infra
):
    region_02 = [
        {
            "seq_num": 1,
            "expression1": {"attribute_name": "location", "operator": "eq", "attribute_value": "17.71.02"},
        }
    ]
    other_regency = [
        {
            "seq_num": 1,
            "expression1": {"attribute_name": "location", "operator": "eq", "attribute_value": "16.71"},
        }
    ]
    message = {"transaction_id": env.new_id(), "subscribe_request": [
        _subscribe_item(region_02), _subscribe_item(other_regency), _subscribe_item(region_02, event="BIRTH")]}  # fmt: skip
    uri = f"{receiver.url}/agency/registry/on-subscribe"
    await _post(
        dci,
        "/registry/subscribe",
        envelope("subscribe", message, sender_id=AGENCY, key=dci.key, sender_uri=uri, total_count=3),
    )
    (answer,) = await _arrived(receiver, "/agency/registry/on-subscribe")
    assert_valid("/registry/on-subscribe", answer)
    ok, outside, unknown_event = answer["message"]["subscribe_response"]
    assert ok["status"] == "succ"
    assert (outside["status"], outside["status_reason_code"]) == ("rjct", "rjct.notify_details.invalid")
    assert unknown_event["status_reason_code"] == "rjct.notify_types.invalid"
    code = ok["subscriptions"][0]["code"]

    # A second decree registers one household in 17.71.01 and one in 17.71.02.
    new = [make_household(100, village="17.71.01.1001", programs=(Program.PKH,)),
           make_household(101, village="17.71.02.1001", programs=(Program.PKH,))]  # fmt: skip
    await register(dci.system, infra, new, "2/HUK/2027", "2027-04", accepted_at=ago(0.5), cutoff=ago(0))
    (notify,) = await _arrived(receiver, "/agency/registry/notify")
    assert_valid("/registry/notify", notify)
    async with httpx.AsyncClient(base_url=dci.url) as client:
        (jwk,) = (await client.get("/.well-known/jwks.json")).json()["keys"]
    assert verify(
        notify["signature"],
        notify["header"],
        notify["message"],
        {jwk["kid"]: public_key(b64decode_any(jwk["x"]))},
    )
    # The decree also registers what other tests of this run left accepted in the same system; the
    # subscription's filter is what is checked: ours in 17.71.02 is notified once, ours in 17.71.01 not.
    events = notify["message"]["notify_event"]
    kks = [e["data"]["reg_records"]["group_identifier"][0]["identifier_value"] for e in events]
    assert kks.count(new[1].kk_number) == 1 and new[0].kk_number not in kks
    (event,) = [e for e, kk in zip(events, kks, strict=True) if kk == new[1].kk_number]
    assert event["data"]["reg_event_type"] == "REGISTER"
    meta = {"subscription_code": code, "decree_number": "2/HUK/2027", "page": 1, "pages": 1}
    assert notify["header"]["meta"] == meta

    # Unsubscribed: an unknown code refuses the whole list; the agency's own code ends.
    for codes in (["not-a-code", code], [code], [code]):
        body = envelope("unsubscribe", {"transaction_id": env.new_id(), "timestamp": env.timestamp(), "subscription_codes": codes},
                        sender_id=AGENCY, key=dci.key, sender_uri=f"{receiver.url}/agency/registry/on-unsubscribe")  # fmt: skip
        await _post(dci, "/registry/unsubscribe", body)
    answers = await _arrived(receiver, "/agency/registry/on-unsubscribe", 3)
    for callback in answers:
        assert_valid("/registry/on-unsubscribe", callback)
    by_status = [(a["message"]["status"], a["message"].get("status_reason_code")) for a in answers]
    assert sorted(by_status, key=str) == sorted([("rjct", "rjct.subscription_code.invalid"), ("succ", None),
                                                 ("rjct", "rjct.event.already_unsubscribed")], key=str)  # fmt: skip

    # A subscription still active hears of the third decree; the ended one does not.
    message = {"transaction_id": env.new_id(), "subscribe_request": [_subscribe_item(region_02)]}
    second = f"{receiver.url}/second/registry/on-subscribe"
    await _post(
        dci,
        "/registry/subscribe",
        envelope("subscribe", message, sender_id=AGENCY, key=dci.key, sender_uri=second),
    )
    await _arrived(receiver, "/second/registry/on-subscribe")
    await register(dci.system, infra, [make_household(102, village="17.71.02.1002", programs=(Program.PKH,))],
                   "3/HUK/2027", "2027-07", accepted_at=ago(0.2), cutoff=ago(0))  # fmt: skip
    (third,) = await _arrived(receiver, "/second/registry/notify")
    assert third["header"]["meta"]["decree_number"] == "3/HUK/2027"
    assert len(receiver.bodies("/agency/registry/notify")) == 1
