"""The service end to end: real Kafka, real PostgreSQL, the civil-registry simulator over HTTP."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from dtks_contracts.events.proposal import ProposalSubmitted
from dtks_contracts.topics import VERIFICATION_EVENTS
from dtks_contracts.vocabulary import ReasonCode, Role
from dtks_runtime.testing import wait_until
from dtks_synthetic import Fault, proposals
from dtks_verification.harness import POPULATION, Service, Simulator, registered_events
from dtks_verification.testing import TopicReader, envelope, resubmitted, submitted, withdrawn

pytestmark = pytest.mark.infra

FAULT_CODES = {
    Fault.NIK_NOT_IN_CIVIL_REGISTRY: ReasonCode.NIK_NOT_IN_CIVIL_REGISTRY,
    Fault.NAME_MISMATCH: ReasonCode.NAME_MISMATCH,
    Fault.BIRTH_DATE_MISMATCH: ReasonCode.BIRTH_DATE_MISMATCH,
    Fault.DUPLICATE_PERSON: ReasonCode.NIK_ALREADY_REGISTERED,
    Fault.IDENTICAL_MEMBERS: ReasonCode.IDENTICAL_MEMBERS,
    Fault.MISSING_FIELDS: ReasonCode.MISSING_FIELD,
    Fault.TWO_HEADS: ReasonCode.MULTIPLE_HEADS,
}
# Each call draws distinct families (seeded differently), so the tests never clash on NIKs.
_draws = iter(range(100, 10_000))


def clean(count: int) -> list[ProposalSubmitted]:
    generated = proposals(POPULATION, count, seed=next(_draws))
    return [submitted(g.body) for g in generated]


async def submit(service: Service, contents: list[Any]) -> None:
    await service.publish([envelope(c) for c in contents])


def verifier(tier: str, village: str) -> tuple[Role, str]:
    return {
        "district": (Role.DISTRICT_VERIFIER, village[:8]),
        "regency": (Role.REGENCY_OPERATOR, village[:5]),
        "regent": (Role.REGENT, village[:5]),
        "province": (Role.PROVINCE_VERIFIER, village[:2]),
        "ministry": (Role.MINISTRY_VERIFIER, "ID"),
    }[tier]


async def decide(service: Service, proposal: Any, tier: str, decision: str = "forward", **extra: Any) -> Any:
    role, region = verifier(tier, proposal.village_code)
    body = {"proposal_id": proposal.proposal_id, "tier": tier, "decision": decision, **extra}
    return await service.http.post("/decisions", json=body, headers=service.auth(role, region))


async def ratify(service: Service, contents: list[Any], decree: str = "400/123/B.III/2026") -> Any:
    regency = contents[0].village_code[:5]
    body = {
        "regency_code": regency,
        "decree_number": decree,
        "decree_date": "2026-11-20",
        "proposal_ids": [c.proposal_id for c in contents],
    }
    return await service.http.post("/ratifications", json=body, headers=service.auth(Role.REGENT, regency))


async def advance(service: Service, proposal: Any, to: str) -> None:
    """Forward a proposal waiting at the district tier up to tier `to`."""
    for tier in ("district", "regency", "regent", "province", "ministry"):
        if tier == to:
            return
        response = await (
            ratify(service, [proposal], f"SK/{proposal.proposal_id}")
            if tier == "regent"
            else decide(service, proposal, tier)
        )
        assert response.status_code == 200, response.text


def codes(standing: dict[str, Any]) -> set[str]:
    return {f["code"] for check in standing["checks"] for f in check["findings"]}


async def test_entry_checks_return_each_faulty_proposal_and_queue_the_clean_ones(service: Service) -> None:
    register = registered_events(POPULATION)
    await service.publish(register)

    async def register_loaded() -> bool:
        health = (await service.http.get("/healthz")).json()
        return health["consumers"]["verification"]["applied"] >= len(register)

    await wait_until(register_loaded, 60, "the register read model")
    generated = proposals(POPULATION, 10, dict.fromkeys(FAULT_CODES, 1), seed=next(_draws))
    contents = [submitted(g.body) for g in generated]
    async with TopicReader(
        service.kafka_bootstrap, service.settings.topic_prefix + VERIFICATION_EVENTS.name
    ) as topic:
        await submit(service, contents)
        for g, content in zip(generated, contents, strict=True):
            if g.fault is None:
                standing = await service.wait_status(content.proposal_id, "in_tier")
                assert standing["tier"] == "district" and codes(standing) == set()
            else:
                standing = await service.wait_status(content.proposal_id, "returned")
                assert FAULT_CODES[g.fault] in codes(standing), (g.fault, g.detail, codes(standing))

        async def all_published() -> bool:
            await topic.poll()
            return all(topic.of(c.proposal_id, "verification.integrity_checked") for c in contents)

        await wait_until(all_published, 30, "integrity_checked events on Kafka")
        for g, content in zip(generated, contents, strict=True):
            returns = topic.of(content.proposal_id, "verification.returned_at_tier")
            if g.fault is None:
                assert not returns
            else:
                assert len(returns) == 1
                assert returns[0].payload["tier"] == "district" and returns[0].payload["returned_by"] is None


async def test_full_chain_from_district_to_ministry_acceptance_with_ratification(service: Service) -> None:
    contents = clean(3)
    await submit(service, contents)
    for c in contents:
        await service.wait_status(c.proposal_id, "in_tier")
    village = contents[0].village_code
    photo = {
        "subject": "roof",
        "sha256": hashlib.sha256(b"roof").hexdigest(),
        "location": "s3://visits/roof.jpg",
    }
    visit = {
        "officer": "Budi",
        "visit_date": "2026-05-02",
        "latitude": -3.8,
        "longitude": 102.3,
        "photos": [photo],
    }
    role, region = verifier("district", village)
    response = await service.http.post(
        f"/proposals/{contents[0].proposal_id}/field-visits", json=visit, headers=service.auth(role, region)
    )
    assert response.status_code == 201, response.text
    for c in contents:
        for tier in ("district", "regency"):
            assert (await decide(service, c, tier)).status_code == 200
    same_regency = [c for c in contents if c.village_code[:5] == village[:5]]
    queue = await service.http.get("/queues/regent", headers=service.auth(Role.REGENT, village[:5]))
    assert {i["proposal_id"] for i in queue.json()["items"]} >= {c.proposal_id for c in same_regency}
    response = await ratify(service, same_regency)
    assert response.status_code == 200, response.text
    assert {r["tier"] for r in response.json()["ratified"]} == {"province"}
    assert (await ratify(service, same_regency)).json()["code"] in (
        "decree_already_used",
        "out_of_turn",
        "ratification_refused",
    )
    first = contents[0]
    assert (await decide(service, first, "province")).json()["tier"] == "ministry"
    accepted = await decide(service, first, "ministry", note="Meets the standard")
    assert accepted.json()["status"] == "accepted", accepted.text
    async with TopicReader(
        service.kafka_bootstrap, service.settings.topic_prefix + VERIFICATION_EVENTS.name
    ) as topic:

        async def acceptance_published() -> bool:
            await topic.poll()
            return bool(topic.of(first.proposal_id, "verification.accepted_by_ministry"))

        await wait_until(acceptance_published, 30, "the acceptance on Kafka")
        event = topic.of(first.proposal_id, "verification.accepted_by_ministry")[0]
        household = event.payload["household"]
        assert [m["nik"] for m in household["members"]] == [m.nik for m in first.household.members]  # type: ignore[union-attr]
        assert household["field_visit"]["roof_photo_ref"].startswith("s3://visits/roof.jpg#sha256=")
        tiers = [e.payload["tier"] for e in topic.of(first.proposal_id, "verification.verified_at_tier")]
        assert tiers == ["district", "regency", "ratification", "province"]
        assert [
            e.payload["stage"] for e in topic.of(first.proposal_id, "verification.integrity_checked")
        ] == [
            "entry",
            "ministry",
        ]
        assert any(e.event_type == "verification.batch_ratified" for e in topic.events)


async def test_a_return_at_each_tier_reaches_the_village_and_a_resubmission_runs_the_chain_again(
    service: Service,
) -> None:
    tiers = ["district", "regency", "regent", "province", "ministry"]
    contents = clean(len(tiers))
    await submit(service, contents)
    for c in contents:
        await service.wait_status(c.proposal_id, "in_tier")
    for tier, c in zip(tiers, contents, strict=True):
        await advance(service, c, tier)
        response = await decide(
            service, c, tier, "return", reasons=["EVIDENCE_MISSING"], note="Photos missing"
        )
        assert response.status_code == 200 and response.json()["status"] == "returned", response.text
    async with TopicReader(
        service.kafka_bootstrap, service.settings.topic_prefix + VERIFICATION_EVENTS.name
    ) as topic:

        async def returns_published() -> bool:
            await topic.poll()
            return all(topic.of(c.proposal_id, "verification.returned_at_tier") for c in contents)

        await wait_until(returns_published, 30, "the returns on Kafka")
        for tier, c in zip(tiers, contents, strict=True):
            (event,) = topic.of(c.proposal_id, "verification.returned_at_tier")
            assert event.payload["tier"] == ("ratification" if tier == "regent" else tier)
            assert event.payload["village_code"] == c.village_code  # what routes it back to the village
            assert event.payload["reasons"][0]["code"] == "EVIDENCE_MISSING"
            assert event.payload["returned_by"]["role"] == verifier(tier, c.village_code)[0].value
    again = resubmitted(contents[-1], 2)
    await submit(service, [again])
    standing = await service.wait_status(again.proposal_id, "in_tier")
    assert standing["round"] == 2 and standing["tier"] == "district"
    assert [(c["round"], c["stage"]) for c in standing["checks"]] == [(1, "entry"), (2, "entry")]
    assert [d["round"] for d in standing["decisions"]][-1] == 1  # round 1's history is kept
    assert (await decide(service, again, "district")).json()["tier"] == "regency"


async def test_batch_decisions_report_each_item_and_apply_the_valid_ones(service: Service) -> None:
    contents = clean(3)
    await submit(service, contents)
    for c in contents:
        await service.wait_status(c.proposal_id, "in_tier")
    district = contents[0].village_code[:8]
    in_district = [c for c in contents if c.village_code.startswith(district)]
    batch = [
        *({"proposal_id": c.proposal_id, "tier": "district", "decision": "forward"} for c in in_district),
        {"proposal_id": "no-such-proposal", "tier": "district", "decision": "forward"},
        {
            "proposal_id": in_district[0].proposal_id,
            "tier": "district",
            "decision": "return",
            "reasons": ["NOT_A_CODE"],
        },
    ]
    response = await service.http.post(
        "/decisions", json=batch, headers=service.auth(Role.DISTRICT_VERIFIER, district)
    )
    assert response.status_code == 200
    body = response.json()
    assert body["succeeded"] == len(in_district) and body["failed"] == 2
    results = body["results"]
    assert all(r["ok"] and r["tier"] == "regency" for r in results[: len(in_district)])
    assert results[-2]["problem"]["code"] == "proposal_not_found"
    assert results[-1]["problem"]["code"] == "invalid_decision"


async def test_decisions_out_of_turn_out_of_region_or_on_withdrawn_proposals_are_refused(
    service: Service,
) -> None:
    contents = clean(2)
    await submit(service, contents)
    for c in contents:
        await service.wait_status(c.proposal_id, "in_tier")
    first, second = contents
    out_of_turn = await decide(service, first, "regency")
    assert (out_of_turn.status_code, out_of_turn.json()["code"]) == (409, "out_of_turn")
    other_district = "17.71.02" if not first.village_code.startswith("17.71.02") else "17.71.01"
    response = await service.http.post(
        "/decisions",
        json={"proposal_id": first.proposal_id, "tier": "district", "decision": "forward"},
        headers=service.auth(Role.DISTRICT_VERIFIER, other_district),
    )
    assert (response.status_code, response.json()["code"]) == (403, "outside_region")
    wrong_role = await service.http.post(
        "/decisions",
        json={"proposal_id": first.proposal_id, "tier": "district", "decision": "forward"},
        headers=service.auth(Role.REGENCY_OPERATOR, first.village_code[:5]),
    )
    assert (wrong_role.status_code, wrong_role.json()["code"]) == (403, "role_not_allowed")
    await submit(service, [withdrawn(second)])
    await service.wait_status(second.proposal_id, "withdrawn")
    refused = await decide(service, second, "district")
    assert (refused.status_code, refused.json()["code"]) == (409, "proposal_withdrawn")
    queue = await service.http.get(
        "/queues/district", headers=service.auth(Role.DISTRICT_VERIFIER, first.village_code[:8])
    )
    assert second.proposal_id not in {i["proposal_id"] for i in queue.json()["items"]}
    stats = await service.http.get("/queues/stats", headers=service.auth(Role.AUDITOR, "ID"))
    district_queue = [q for q in stats.json()["queues"] if q["tier"] == "district"]
    assert sum(q["count"] for q in district_queue) >= 1 and all(
        q["oldest_age_seconds"] >= 0 for q in district_queue
    )


async def test_a_redelivered_proposal_event_produces_no_second_check(service: Service) -> None:
    (content,) = clean(1)
    event = envelope(content)
    await service.publish([event])
    await service.wait_status(content.proposal_id, "in_tier")
    await service.publish([event, envelope(content)])  # the same event again, and a copy with a new id

    async def both_seen() -> bool:
        health = (await service.http.get("/healthz")).json()["consumers"]["verification"]
        return health["applied"] + health["duplicates"] >= 3

    await wait_until(both_seen, 30, "the redeliveries to be consumed")
    standing = await service.standing(content.proposal_id)
    assert len(standing["checks"]) == 1 and standing["status"] == "in_tier"


async def test_a_civil_registry_outage_delays_checks_and_they_resume(
    service: Service, civil_registry: Simulator
) -> None:
    contents = clean(3)
    await civil_registry.outage(True)
    try:
        await submit(service, contents)

        async def all_waiting() -> bool:
            standings = [await service.standing(c.proposal_id) for c in contents]
            return all((s.get("pending_check") or {}).get("waiting_for_civil_registry") for s in standings)

        await wait_until(all_waiting, 60, "checks waiting for the civil registry")
        stats = await service.http.get("/queues/stats", headers=service.auth(Role.AUDITOR, "ID"))
        assert stats.json()["integrity_checks"]["waiting_for_civil_registry"] == 3
        for c in contents:
            standing = await service.standing(c.proposal_id)
            assert standing["status"] == "checking" and standing["checks"] == []
    finally:
        await civil_registry.outage(False)
    for c in contents:
        standing = await service.wait_status(c.proposal_id, "in_tier", within=30)
        assert len(standing["checks"]) == 1 and standing["pending_check"] is None


async def _every_page(
    service: Service, tier: str, role: Role, region: str, order: str
) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 2, "order": order}
    while True:
        page = await service.http.get(f"/queues/{tier}", params=params, headers=service.auth(role, region))
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        if page.json()["next_after"] is None:
            return items
        params["after"] = page.json()["next_after"]


async def test_a_queue_paged_two_at_a_time_shows_every_proposal_once_though_many_entered_together(
    service: Service,
) -> None:
    drawn = clean(24)
    district = max(
        {c.village_code[:8] for c in drawn}, key=lambda d: sum(c.village_code[:8] == d for c in drawn)
    )
    ours = [c for c in drawn if c.village_code[:8] == district][:5]
    await submit(service, ours)
    for c in ours:
        await service.wait_status(c.proposal_id, "in_tier")
    # Forwarded in one request, they enter the regency's queue in one transaction, at one moment.
    forwarded = await service.http.post(
        "/decisions",
        json=[{"proposal_id": c.proposal_id, "tier": "district", "decision": "forward"} for c in ours],
        headers=service.auth(Role.DISTRICT_VERIFIER, district),
    )
    assert forwarded.json()["succeeded"] == len(ours), forwarded.text
    wanted = {c.proposal_id for c in ours}
    oldest = await _every_page(service, "regency", Role.REGENCY_OPERATOR, district[:5], "oldest")
    at = [i["entered_at"] for i in oldest if i["proposal_id"] in wanted]
    assert len(set(at)) == 1, "the test needs proposals that share their moment of entry"
    ids = [i["proposal_id"] for i in oldest]
    assert len(ids) == len(set(ids)) and wanted <= set(ids)
    newest = await _every_page(service, "regency", Role.REGENCY_OPERATOR, district[:5], "newest")
    assert [i["proposal_id"] for i in newest] == ids[::-1]
    refused = await service.http.get(
        "/queues/regency",
        params={"after": "yesterday"},
        headers=service.auth(Role.REGENCY_OPERATOR, district[:5]),
    )
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_cursor")
