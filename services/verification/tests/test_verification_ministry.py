"""The Ministry's acceptance of a list: batch civil-registry look-ups, per-item results, outages.

The civil-registry simulator is reached through a counting proxy (real HTTP both ways), so the
number of requests a list of acceptances costs is measured, not assumed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import groupby
from typing import Any

import pytest

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.proposal import ProposalSubmitted
from dtks_contracts.events.registry import HouseholdRegistered
from dtks_contracts.vocabulary import ReasonCode, Role
from dtks_runtime.testing import Infra, wait_until
from dtks_synthetic import proposals
from dtks_verification.harness import POPULATION, CountingProxy, Service, Simulator, running_service
from dtks_verification.testing import envelope, free_port, http_server, submitted

pytestmark = pytest.mark.infra

# Seeds apart from the other test files' draws, so these families are not proposed elsewhere.
_draws = iter(range(50_000, 60_000))


@pytest.fixture
async def proxied(
    kafka_bootstrap: str, infra: Infra, topic_prefix: str, civil_registry: Simulator
) -> AsyncIterator[tuple[Service, CountingProxy]]:
    proxy = CountingProxy(civil_registry.url)
    async with (
        http_server(proxy.app(), free_port()) as url,
        running_service(kafka_bootstrap, infra, topic_prefix, url) as service,
    ):
        yield service, proxy


def _roles(tier: str, village: str) -> tuple[Role, str]:
    return {
        "district": (Role.DISTRICT_VERIFIER, village[:8]),
        "regency": (Role.REGENCY_OPERATOR, village[:5]),
        "province": (Role.PROVINCE_VERIFIER, village[:2]),
        "ministry": (Role.MINISTRY_VERIFIER, "ID"),
    }[tier]


async def _post_list(
    service: Service, tier: str, items: list[dict[str, Any]], village: str
) -> dict[str, Any]:
    response = await service.http.post("/decisions", json=items, headers=service.auth(*_roles(tier, village)))
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _to_ministry(service: Service, count: int) -> list[ProposalSubmitted]:
    """`count` clean proposals, checked at entry and forwarded in lists up to the Ministry's queue."""
    contents = [submitted(g.body) for g in proposals(POPULATION, count, seed=next(_draws))]
    await service.publish([envelope(c) for c in contents])
    for c in contents:
        await service.wait_status(c.proposal_id, "in_tier")
    for tier in ("district", "regency", "regent", "province"):
        width = {"district": 8, "regency": 5, "regent": 5, "province": 2}[tier]
        ordered = sorted(contents, key=lambda c: c.village_code[:width])
        for region, group in groupby(ordered, key=lambda c: c.village_code[:width]):
            members = list(group)
            if tier == "regent":
                response = await service.http.post(
                    "/ratifications",
                    json={
                        "regency_code": region,
                        "decree_number": f"400/{next(_draws)}/B.III/2026",
                        "decree_date": "2026-11-20",
                        "proposal_ids": [c.proposal_id for c in members],
                    },
                    headers=service.auth(Role.REGENT, region),
                )
                assert response.status_code == 200, response.text
                continue
            items = [{"proposal_id": c.proposal_id, "tier": tier, "decision": "forward"} for c in members]
            body = await _post_list(service, tier, items, members[0].village_code)
            assert body["failed"] == 0, body
    return contents


def _forward(proposal_id: str) -> dict[str, Any]:
    return {"proposal_id": proposal_id, "tier": "ministry", "decision": "forward"}


def _event_types(standing: dict[str, Any]) -> list[str]:
    return [d["event_type"] for d in standing["decisions"]]


async def test_a_list_of_ministry_acceptances_looks_people_up_in_batch_and_reports_each_item(
    proxied: tuple[Service, CountingProxy],
) -> None:
    service, proxy = proxied
    contents = await _to_ministry(service, 40)
    clashing, then_returned, *rest = contents
    # After entry, the register takes a household holding one of `clashing`'s people: the
    # Ministry's re-check must find it (the rules really run again, per proposal).
    assert clashing.household is not None
    taken = clashing.household.model_copy(update={"household_id": "hh-taken-at-ministry"})
    registered = HouseholdRegistered(
        household_id="hh-taken-at-ministry",
        decree_number="146/HUK/2026",
        household=taken,
        proposal_id="seed-x",
    )
    await service.publish([EventEnvelope.new(registered, aggregate_version=1, actor=None)])

    async def register_updated() -> bool:
        health = (await service.http.get("/healthz")).json()["consumers"]["verification"]
        return bool(health["applied"] >= len(contents) + 1)

    await wait_until(register_updated, 30, "the registration to reach the read model")
    items = [
        _forward(clashing.proposal_id),
        {
            "proposal_id": then_returned.proposal_id,
            "tier": "ministry",
            "decision": "return",
            "reasons": ["EVIDENCE_MISSING"],
        },
        _forward(then_returned.proposal_id),  # after the return: refused, in list order
        *(_forward(c.proposal_id) for c in rest),
        _forward(rest[0].proposal_id),  # twice: the second sees the first acceptance
        _forward("no-such-proposal"),
    ]
    before = proxy.total
    body = await _post_list(service, "ministry", items, "ID")
    made = proxy.total - before
    assert 1 <= made <= 2, proxy.requests  # one family batch (and people off their card): not per item
    results = body["results"]
    # The integrity standard's failure at the Ministry goes to the regency's social service, not the village.
    assert results[0]["ok"] and (results[0]["status"], results[0]["tier"]) == ("in_tier", "regency")
    assert results[1]["ok"] and results[1]["status"] == "returned"
    assert results[2]["problem"]["code"] == "proposal_returned"
    assert all(r["ok"] and r["status"] == "accepted" for r in results[3 : 3 + len(rest)]), results
    assert results[-2]["problem"]["code"] == "proposal_accepted"
    assert results[-1]["problem"]["code"] == "proposal_not_found"
    assert (body["succeeded"], body["failed"]) == (len(rest) + 2, 3)

    standing = await service.standing(clashing.proposal_id)
    assert [c["stage"] for c in standing["checks"]] == ["entry", "ministry"]
    found = {f["code"] for f in standing["checks"][-1]["findings"]}
    assert ReasonCode.NIK_ALREADY_REGISTERED in found, found
    assert _event_types(standing)[-1] == "verification.sent_back_for_correction"
    assert standing["status"] == "in_tier" and standing["tier"] == "regency"
    # There the regency decides on it like on any item of its queue: here it returns it to the village.
    back = await _post_list(
        service, "regency",
        [{"proposal_id": clashing.proposal_id, "tier": "regency", "decision": "return", "reasons": ["NIK_ALREADY_REGISTERED"]}],
        clashing.village_code,
    )  # fmt: skip
    assert back["results"][0]["ok"] and back["results"][0]["status"] == "returned", back
    for c in rest:
        standing = await service.standing(c.proposal_id)
        assert standing["status"] == "accepted"
        assert [c["stage"] for c in standing["checks"]] == ["entry", "ministry"]
        assert _event_types(standing).count("verification.accepted_by_ministry") == 1
    # Nothing was left to the checks worker.
    stats = await service.http.get("/queues/stats", headers=service.auth(Role.AUDITOR, "ID"))
    assert stats.json()["integrity_checks"]["queued"] == 0


async def test_ministry_acceptances_during_an_outage_wait_and_complete_when_the_registry_answers(
    proxied: tuple[Service, CountingProxy], civil_registry: Simulator
) -> None:
    service, _ = proxied
    contents = await _to_ministry(service, 3)
    first = contents[0]
    await civil_registry.outage(True)
    try:
        items = [*(_forward(c.proposal_id) for c in contents), _forward(first.proposal_id)]
        body = await _post_list(service, "ministry", items, "ID")
        assert [r.get("status") for r in body["results"][:3]] == ["accepting"] * 3, body
        assert body["results"][3]["problem"]["code"] == "acceptance_in_progress"
        for c in contents:
            standing = await service.standing(c.proposal_id)
            assert standing["status"] == "accepting" and standing["pending_check"]["stage"] == "ministry"
            assert [c["stage"] for c in standing["checks"]] == ["entry"]
    finally:
        await civil_registry.outage(False)
    for c in contents:
        standing = await service.wait_status(c.proposal_id, "accepted", within=30)
        assert [c["stage"] for c in standing["checks"]] == ["entry", "ministry"]
        assert _event_types(standing).count("verification.accepted_by_ministry") == 1
        assert standing["pending_check"] is None
