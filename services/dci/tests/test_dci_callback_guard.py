"""A partner's ``sender_uri`` is a request this service makes on the partner's word, from inside the
network: like notification's webhooks it must name a public address (the runtime's one guard,
dtks_runtime.callback_guard). An address inside (loopback, private, link-local) is refused unless
the development setting DTKS_DCI_ALLOW_PRIVATE_CALLBACKS allows it; a cloud metadata address always."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from dtks_dci.domain import envelope as env
from dtks_dci.settings import DciSettings
from dtks_dci.testing import AGENCY, Dci, envelope, search_envelope, search_item
from dtks_runtime.callback_guard import CallbackGuard, CallbackRefused

METADATA_URIS = [
    "http://169.254.169.254/latest/meta-data/on-search",
    "http://[fd00:ec2::254]/on-search",
    "http://[::ffff:169.254.169.254]/on-search",
]


async def _refusal(dci: Dci, path: str, body: dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=dci.url, timeout=60) as client:
        return await client.post(path, json=body, headers=dci.token())


@pytest.mark.infra
@pytest.mark.parametrize("uri", METADATA_URIS)
async def test_an_async_search_whose_callback_is_a_metadata_address_is_refused(dci: Dci, uri: str):
    body = search_envelope([search_item("idtype-value", {"type": "KK", "value": dci.households[0].kk_number})],
                           sender_id=AGENCY, key=dci.key, sender_uri=uri)  # fmt: skip
    answer = await _refusal(dci, "/registry/search", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["code"] == "err.sender_uri.invalid"


@pytest.mark.infra
async def test_a_subscription_whose_callback_is_a_metadata_address_is_refused(dci: Dci):
    criteria = {"reg_event_type": "REGISTER", "filter_type": "predicate", "notify_record_type": "Group",
                "filter": [{"seq_num": 1, "expression1": {
                    "attribute_name": "location", "operator": "eq", "attribute_value": "17.71.02"}}]}  # fmt: skip
    message = {"transaction_id": env.new_id(), "subscribe_request": [
        {"reference_id": env.new_id(), "timestamp": env.timestamp(), "subscribe_criteria": criteria}]}  # fmt: skip
    body = envelope("subscribe", message, sender_id=AGENCY, key=dci.key,
                    sender_uri="http://169.254.169.254/agency/registry/on-subscribe")  # fmt: skip
    answer = await _refusal(dci, "/registry/subscribe", body)
    assert answer.status_code == 400, answer.text
    assert answer.json()["errors"][0]["code"] == "err.sender_uri.invalid"


def _resolves_to(address: str) -> Any:
    async def lookup(host: str, port: int) -> list[str]:
        return [address]

    return lookup


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080/on-search", "http://10.0.0.5/on-search", "http://169.254.1.1/on-search"]
)
async def test_without_the_development_setting_an_internal_callback_address_is_refused(url: str):
    guard = CallbackGuard(DciSettings().callback_policy)
    with pytest.raises(CallbackRefused):
        await guard.check(url)


async def test_a_name_that_resolves_to_an_internal_address_is_refused():
    guard = CallbackGuard(DciSettings().callback_policy, _resolves_to("192.168.1.10"))
    with pytest.raises(CallbackRefused):
        await guard.check("https://agency.example.org/on-search")


async def test_a_name_that_resolves_to_a_public_address_is_allowed():
    guard = CallbackGuard(DciSettings().callback_policy, _resolves_to("93.184.216.34"))
    await guard.check("https://agency.example.org/on-search")


def test_private_callbacks_are_refused_in_production():
    settings = DciSettings(env="production", dci_allow_private_callbacks=True, dci_signing_key="A" * 43)
    with pytest.raises(RuntimeError, match="ALLOW_PRIVATE_CALLBACKS"):
        settings.check()
