"""A decree the registry publishes in chunks (#21) notifies DCI subscribers in pages: the registry
and the adapter as their own processes, decrees cut into chunks of three records
(DTKS_DECREE_CHUNK_RECORDS), a notify for each chunk of changed households that holds some the
subscription's filter allows, and always the last, so the agency knows it has them all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import httpx
import pytest

from dtks_contracts.vocabulary.programs import Program
from dtks_dci.testing import CallbackReceiver, Dci, assert_valid, register, subscribe_by_location
from dtks_registry.domain.identity import household_id_for
from dtks_registry.testing import ago, make_household
from dtks_runtime.testing import Infra, wait_until

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def dci_extra_env() -> dict[str, str]:
    # Pages of two households: a chunk of three ids is two pages, so pages are cut within chunks.
    return {"DTKS_DECREE_CHUNK_RECORDS": "3", "DTKS_DCI_NOTIFY_PAGE_HOUSEHOLDS": "2"}


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    receiver = await CallbackReceiver().start()
    yield receiver
    await receiver.stop()


async def _arrived(receiver: CallbackReceiver, path: str, count: int = 1) -> list[Any]:
    async def there() -> bool:
        return len(receiver.bodies(path)) >= count

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


async def test_a_chunked_decree_notifies_a_subscription_of_its_changes_a_page_at_a_time(
    dci: Dci, receiver: CallbackReceiver, infra: Infra
):
    body = subscribe_by_location(dci, receiver.url, "17.71.02")
    assert_valid("/registry/subscribe", body)
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        answer = await client.post("/registry/subscribe", json=body, headers=dci.token())
    assert answer.status_code == 200, answer.text
    (subscribed,) = await _arrived(receiver, "/agency/registry/on-subscribe")
    code = subscribed["message"]["subscribe_response"][0]["subscriptions"][0]["code"]

    # Seven new households, three a chunk (ids 1-3, 4-6 and 7, in household id order, the decree's),
    # two a page: pages of ids 1-2, 3, 4-5, 6 and 7. The subscription's region has one household, the
    # second, on page 1; none on the others.
    order = sorted(range(200, 207), key=lambda i: household_id_for(f"prop-{make_household(i).kk_number}"))
    village = {i: "17.71.02.1001" if i == order[1] else "17.71.01.1001" for i in order}
    new = [make_household(i, village=village[i], programs=(Program.PKH,)) for i in range(200, 207)]
    await register(dci.system, infra, new, "2/HUK/2027", "2027-04", accepted_at=ago(0.5), cutoff=ago(0))
    # Seven ids and seven leaves: six chunks, then the manifest.
    types = await _decree_event_types(dci, infra, "2/HUK/2027")
    assert types == ["registry.determination_chunk"] * 6 + ["registry.determination_manifest"]

    first, last = await _arrived(receiver, "/agency/registry/notify", 2)
    for notify in (first, last):
        assert_valid("/registry/notify", notify)
        assert notify["message"]["transaction_id"] == f"{code}:2/HUK/2027"
    # Page 1 with the one household of 17.71.02; pages 2 to 4 had none and were not sent; page 5, the
    # last, none either, but sent (empty) to say the decree's notify is complete.
    meta = {"subscription_code": code, "decree_number": "2/HUK/2027", "pages": 5}
    assert first["header"]["meta"] == {**meta, "page": 1}
    assert last["header"]["meta"] == {**meta, "page": 5}
    events = first["message"]["notify_event"]
    kks = [e["data"]["reg_records"]["group_identifier"][0]["identifier_value"] for e in events]
    assert kks == [make_household(order[1]).kk_number]
    assert first["header"]["total_count"] == 1
    assert last["message"]["notify_event"] == [] and last["header"]["total_count"] == 0
    # Nothing more comes: the notification is delivered, with both pages in the exchange log.
    database = dci.system.env["DTKS_DATABASE_NAME"].replace("{service}", "dci")
    conn = await asyncpg.connect(infra.database_url.rsplit("/", 1)[0] + "/" + database)
    try:
        row = await conn.fetchrow(
            "SELECT delivered_at, pages, pages_done, pages_sent, next_chunk, next_item, household_ids "
            "FROM dci_notifications "
            "WHERE subscription_code = $1 AND decree_number = '2/HUK/2027'",
            code,
        )
        assert row["delivered_at"] is not None and row["household_ids"] is None
        assert (row["pages"], row["pages_done"], row["pages_sent"]) == (5, 5, 2)
        assert (row["next_chunk"], row["next_item"]) == (3, 0)  # past the ids' three chunks
        logged = await conn.fetchval(
            "SELECT count(*) FROM dci_exchanges WHERE action = 'notify' AND transaction_id = $1",
            f"{code}:2/HUK/2027",
        )
        assert logged == 2
    finally:
        await conn.close()
    assert len(receiver.bodies("/agency/registry/notify")) == 2
