"""A decree the registry publishes in chunks (#21) notifies DCI subscribers as a whole decree does:
the registry and the adapter as their own processes, decrees cut into chunks of three records
(DTKS_DECREE_CHUNK_RECORDS), the notify carrying the decree's change the subscription's filter allows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from dtks_contracts.vocabulary.programs import Program
from dtks_dci.domain import envelope as env
from dtks_dci.testing import AGENCY, CallbackReceiver, Dci, assert_valid, envelope, register
from dtks_registry.testing import ago, make_household
from dtks_runtime.testing import Infra, wait_until

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def dci_extra_env() -> dict[str, str]:
    return {"DTKS_DECREE_CHUNK_RECORDS": "3"}


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    receiver = await CallbackReceiver().start()
    yield receiver
    await receiver.stop()


async def _arrived(receiver: CallbackReceiver, path: str) -> list[Any]:
    async def there() -> bool:
        return len(receiver.bodies(path)) >= 1

    await wait_until(there, within=90, what=f"a callback at {path}")
    return receiver.bodies(path)


async def _decree_event_types(dci: Dci, infra: Infra, number: str) -> list[str]:
    database = dci.system.env["DTKS_DATABASE_NAME"].replace("{service}", "registry")
    conn = await asyncpg.connect(infra.database_url.rsplit("/", 1)[0] + "/" + database)
    try:
        rows = await conn.fetch(
            """SELECT event_type FROM events WHERE envelope->>'aggregate_type' = 'determination'
               AND envelope->>'aggregate_id' = $1 ORDER BY stream_version""",
            number,
        )
    finally:
        await conn.close()
    return [r["event_type"] for r in rows]


async def test_a_chunked_decree_notifies_a_subscription_of_its_changes(
    dci: Dci, receiver: CallbackReceiver, infra: Infra
):
    region_02 = [
        {
            "seq_num": 1,
            "expression1": {"attribute_name": "location", "operator": "eq", "attribute_value": "17.71.02"},
        }
    ]
    item = {"reference_id": env.new_id(), "timestamp": env.timestamp(), "subscribe_criteria": {
        "reg_event_type": "REGISTER", "filter_type": "predicate", "filter": region_02, "notify_record_type": "Group"}}  # fmt: skip
    body = envelope(
        "subscribe", {"transaction_id": env.new_id(), "subscribe_request": [item]},
        sender_id=AGENCY, key=dci.key, sender_uri=f"{receiver.url}/agency/registry/on-subscribe",
    )  # fmt: skip
    assert_valid("/registry/subscribe", body)
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        answer = await client.post("/registry/subscribe", json=body, headers=dci.token())
    assert answer.status_code == 200, answer.text
    (subscribed,) = await _arrived(receiver, "/agency/registry/on-subscribe")
    code = subscribed["message"]["subscribe_response"][0]["subscriptions"][0]["code"]

    new = [make_household(200, village="17.71.01.1001", programs=(Program.PKH,)),
           make_household(201, village="17.71.02.1001", programs=(Program.PKH,))]  # fmt: skip
    await register(dci.system, infra, new, "2/HUK/2027", "2027-04", accepted_at=ago(0.5), cutoff=ago(0))
    # Two ids and two leaves: more than a chunk, so the registry published chunks and a manifest.
    types = await _decree_event_types(dci, infra, "2/HUK/2027")
    assert types[-1] == "registry.determination_manifest" and len(types) > 2
    assert set(types[:-1]) == {"registry.determination_chunk"}

    (notify,) = await _arrived(receiver, "/agency/registry/notify")
    assert_valid("/registry/notify", notify)
    assert notify["header"]["meta"] == {"subscription_code": code, "decree_number": "2/HUK/2027"}
    events = notify["message"]["notify_event"]
    kks = [e["data"]["reg_records"]["group_identifier"][0]["identifier_value"] for e in events]
    assert kks.count(new[1].kk_number) == 1 and new[0].kk_number not in kks
