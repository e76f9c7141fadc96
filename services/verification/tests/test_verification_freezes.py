"""Freeze periods: the Ministry stops tier decisions and ratifications in a scope for a while."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from dtks_contracts.events.governance import FrozenAction
from dtks_contracts.topics import VERIFICATION_EVENTS
from dtks_contracts.vocabulary import Role
from dtks_runtime.testing import wait_until
from dtks_verification.domain.freezes import Freeze, holding
from dtks_verification.harness import Clock, Service, use_clock
from dtks_verification.harness import in_district_queue as queued
from dtks_verification.testing import TopicReader

UTC = dt.UTC
MINISTRY = (Role.MINISTRY_VERIFIER, "ID")


def _freeze(scope: str, *actions: FrozenAction) -> Freeze:
    return Freeze(
        "f-1",
        scope,
        frozenset(actions),
        dt.datetime(2027, 1, 4, tzinfo=UTC),
        dt.datetime(2027, 1, 11, tzinfo=UTC),
        "Election",
    )


def test_a_freeze_holds_only_in_its_scope_its_period_and_for_its_actions() -> None:
    freeze = _freeze("17.71", FrozenAction.TIER_DECISIONS)
    during = dt.datetime(2027, 1, 5, tzinfo=UTC)
    assert holding([freeze], FrozenAction.TIER_DECISIONS, "17.71.01.1001", during) == freeze
    assert holding([freeze], FrozenAction.TIER_DECISIONS, "17.72.01.1001", during) is None
    assert holding([freeze], FrozenAction.RATIFICATIONS, "17.71", during) is None
    assert holding([freeze], FrozenAction.TIER_DECISIONS, "17.71.01.1001", freeze.ends_at) is None
    before = freeze.starts_at - dt.timedelta(seconds=1)
    assert holding([freeze], FrozenAction.TIER_DECISIONS, "17.71.01.1001", before) is None
    national = _freeze("ID", FrozenAction.TIER_DECISIONS)
    assert holding([national], FrozenAction.TIER_DECISIONS, "17.71.01.1001", during) == national


_draws = iter(range(20_000, 30_000))


async def in_district_queue(service: Service, count: int) -> list[Any]:
    return await queued(service, count, seed=next(_draws))


async def forward_at_district(service: Service, proposal: Any) -> Any:
    body = {"proposal_id": proposal.proposal_id, "tier": "district", "decision": "forward"}
    headers = service.auth(Role.DISTRICT_VERIFIER, proposal.village_code[:8])
    return await service.http.post("/decisions", json=body, headers=headers)


async def declare(
    service: Service, scope: str, actions: list[str], starts: dt.datetime, ends: dt.datetime
) -> Any:
    body = {
        "scope": scope,
        "actions": actions,
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "reason": "Regional election",
    }
    response = await service.http.post("/freezes", json=body, headers=service.auth(*MINISTRY))
    assert response.status_code == 201, response.text
    return response.json()


needs_infra = pytest.mark.infra  # the pure test above needs nothing


@needs_infra
async def test_a_decision_is_refused_during_a_freeze_in_its_scope_and_accepted_outside_it(
    service: Service,
) -> None:
    clock = Clock(dt.datetime(2027, 2, 1, 3, tzinfo=UTC))
    use_clock(service, clock)
    first, elsewhere = await in_district_queue(service, 2)
    regency = first.village_code[:5]
    start, end = dt.datetime(2027, 2, 1, tzinfo=UTC), dt.datetime(2027, 2, 8, tzinfo=UTC)
    # A freeze of another province does not touch this regency's decisions.
    await declare(service, "18", ["tier_decisions", "ratifications"], start, end)
    outside = await forward_at_district(service, elsewhere)
    assert outside.status_code == 200, outside.text
    # A freeze holds for the country, a province or a regency; not for a district.
    narrow = await service.http.post(
        "/freezes",
        json={
            "scope": first.village_code[:8],
            "actions": ["tier_decisions"],
            "starts_at": start.isoformat(),
            "ends_at": end.isoformat(),
            "reason": "Audit",
        },
        headers=service.auth(*MINISTRY),
    )
    assert narrow.status_code == 422 and narrow.json()["code"] == "invalid_freeze_scope"
    freeze = await declare(service, regency, ["tier_decisions"], start, end)

    refused = await forward_at_district(service, first)
    assert refused.status_code == 423, refused.text
    problem = refused.json()
    assert problem["code"] == "frozen"
    assert problem["freeze"]["freeze_id"] == freeze["freeze_id"]
    assert problem["freeze"]["ends_at"] == end.isoformat()
    assert "2027-02-08 07:00 WIB" in problem["detail"]
    standing = await service.standing(first.proposal_id)
    assert (standing["status"], standing["tier"]) == ("in_tier", "district")  # kept; it waits

    # In a list, a frozen item is refused on its own, the freeze named in its problem.
    item = {"proposal_id": first.proposal_id, "tier": "district", "decision": "forward"}
    headers = service.auth(Role.DISTRICT_VERIFIER, first.village_code[:8])
    (result,) = (await service.http.post("/decisions", json=[item], headers=headers)).json()["results"]
    assert result["problem"]["code"] == "frozen" and result["problem"]["status"] == 423
    assert result["problem"]["freeze"]["freeze_id"] == freeze["freeze_id"]

    clock.now = end  # the freeze is over
    accepted = await forward_at_district(service, first)
    assert accepted.status_code == 200, accepted.text
    assert accepted.json()["tier"] == "regency"


@needs_infra
async def test_a_lifted_freeze_stops_nothing_and_every_change_is_an_event(service: Service) -> None:
    clock = Clock(dt.datetime(2027, 3, 1, 3, tzinfo=UTC))
    use_clock(service, clock)
    (proposal,) = await in_district_queue(service, 1)
    start, end = dt.datetime(2027, 3, 1, tzinfo=UTC), dt.datetime(2027, 3, 31, tzinfo=UTC)
    freeze = await declare(service, "ID", ["tier_decisions", "ratifications"], start, end)
    assert (await forward_at_district(service, proposal)).json()["code"] == "frozen"
    headers = service.auth(*MINISTRY)
    shortened = await service.http.post(
        f"/freezes/{freeze['freeze_id']}/shorten",
        json={"ends_at": "2027-03-10T00:00:00+00:00", "reason": "Audit finished early"},
        headers=headers,
    )
    assert shortened.status_code == 200 and shortened.json()["ends_at"] == "2027-03-10T00:00:00+00:00"
    longer = await service.http.post(
        f"/freezes/{freeze['freeze_id']}/shorten",
        json={"ends_at": "2027-04-10T00:00:00+00:00", "reason": "Longer"},
        headers=headers,
    )
    assert longer.status_code == 409 and longer.json()["code"] == "freeze_not_shortened"
    assert (await forward_at_district(service, proposal)).status_code == 423
    lifted = await service.http.post(
        f"/freezes/{freeze['freeze_id']}/lift", json={"reason": "Lifted by the Minister"}, headers=headers
    )
    assert lifted.status_code == 200 and lifted.json()["lifted"] is True
    assert (await forward_at_district(service, proposal)).status_code == 200
    outsider = await service.http.post(
        "/freezes",
        json={
            "scope": "ID",
            "actions": ["new_proposals"],
            "starts_at": start.isoformat(),
            "ends_at": end.isoformat(),
            "reason": "x",
        },
        headers=service.auth(Role.DISTRICT_VERIFIER, proposal.village_code[:8]),
    )
    assert outsider.status_code == 403

    async with TopicReader(
        service.kafka_bootstrap, service.settings.topic_prefix + VERIFICATION_EVENTS.name
    ) as topic:

        async def recorded() -> bool:
            await topic.poll()
            return {
                "verification.freeze_declared",
                "verification.freeze_shortened",
                "verification.freeze_lifted",
            } <= {e.event_type for e in topic.events if e.payload.get("freeze_id") == freeze["freeze_id"]}

        await wait_until(recorded, 30, "the freeze's events on Kafka")


@needs_infra
async def test_a_ratification_is_refused_during_a_national_freeze_of_ratifications(service: Service) -> None:
    clock = Clock(dt.datetime(2027, 4, 1, 3, tzinfo=UTC))
    use_clock(service, clock)
    (proposal,) = await in_district_queue(service, 1)
    for tier, role, region in (
        ("district", Role.DISTRICT_VERIFIER, proposal.village_code[:8]),
        ("regency", Role.REGENCY_OPERATOR, proposal.village_code[:5]),
    ):
        body = {"proposal_id": proposal.proposal_id, "tier": tier, "decision": "forward"}
        assert (
            await service.http.post("/decisions", json=body, headers=service.auth(role, region))
        ).status_code == 200
    await declare(service, "ID", ["ratifications"], clock.now, clock.now + dt.timedelta(days=3))
    regency = proposal.village_code[:5]
    body = {
        "regency_code": regency,
        "decree_number": f"SK/{proposal.proposal_id}",
        "decree_date": "2027-04-01",
        "proposal_ids": [proposal.proposal_id],
    }
    refused = await service.http.post("/ratifications", json=body, headers=service.auth(Role.REGENT, regency))
    assert refused.status_code == 423 and refused.json()["code"] == "frozen", refused.text
    clock.now += dt.timedelta(days=3)
    accepted = await service.http.post(
        "/ratifications", json=body, headers=service.auth(Role.REGENT, regency)
    )
    assert accepted.status_code == 200, accepted.text
