"""Deadlines per tier in the running service: due dates and overdue items in the queues and their
statistics, across a weekend and a holiday, paused during a freeze; the clock passed in."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dtks_contracts.topics import VERIFICATION_EVENTS
from dtks_contracts.vocabulary import Role
from dtks_runtime.testing import Infra, wait_until
from dtks_verification.domain.working_days import WIB
from dtks_verification.harness import (
    Clock,
    Service,
    Simulator,
    in_district_queue,
    running_service,
    use_clock,
)
from dtks_verification.overdue_scan import OverdueScan
from dtks_verification.testing import TopicReader

pytestmark = pytest.mark.infra

MINISTRY = (Role.MINISTRY_VERIFIER, "ID")
AUDITOR = (Role.AUDITOR, "ID")


def wib(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=WIB)  # type: ignore[misc]


async def entered(service: Service, proposal_id: str, at: dt.datetime) -> None:
    # The database stamps entered_at when an item reaches a queue; the test places it in time.
    assert service.app is not None
    async with service.app.state.deps.connection() as conn:
        await conn.execute("UPDATE proposals SET entered_at = $1 WHERE proposal_id = $2", at, proposal_id)


async def district_items(service: Service) -> dict[str, dict[str, Any]]:
    response = await service.http.get("/queues/district", headers=service.auth(*AUDITOR))
    assert response.status_code == 200, response.text
    return {i["proposal_id"]: i for i in response.json()["items"]}


async def overdue_at_district(service: Service) -> int:
    response = await service.http.get("/queues/stats", headers=service.auth(*AUDITOR))
    assert response.status_code == 200, response.text
    return sum(q["overdue"] for q in response.json()["queues"] if q["tier"] == "district")


async def test_an_item_is_overdue_on_the_right_working_day_across_a_holiday_and_a_weekend_and_pauses_in_a_freeze(
    service: Service,
) -> None:
    clock = Clock(wib(2026, 12, 29, 23, 59))
    use_clock(service, clock)
    early, late = await in_district_queue(service, 2, seed=31_337)
    await entered(service, early.proposal_id, wib(2026, 12, 24, 9))  # Thursday; Christmas Friday
    await entered(service, late.proposal_id, wib(2026, 12, 28, 9))
    headers = service.auth(*MINISTRY)
    response = await service.http.put("/deadlines/district", json={"working_days": 2}, headers=headers)
    assert response.status_code == 200, response.text
    other = await service.http.put(
        "/deadlines/district", json={"working_days": 20, "regency_code": "17.01"}, headers=headers
    )
    assert other.status_code == 200, other.text
    refused = await service.http.put(
        "/deadlines/district", json={"working_days": 5}, headers=service.auth(Role.REGENCY_OPERATOR, "17.71")
    )
    assert refused.status_code == 403

    items = await district_items(service)
    assert items[early.proposal_id]["due_date"] == "2026-12-29"  # Monday 28 and Tuesday 29 count
    assert items[early.proposal_id]["overdue"] is False
    assert await overdue_at_district(service) == 0

    clock.now = wib(2026, 12, 30, 0, 0)
    items = await district_items(service)
    assert items[early.proposal_id]["overdue"] is True
    assert (items[late.proposal_id]["due_date"], items[late.proposal_id]["overdue"]) == ("2026-12-30", False)
    assert await overdue_at_district(service) == 1

    # A freeze of tier decisions on Tuesday the 29th pauses the deadline that day; it resumes after.
    clock.now = wib(2026, 12, 29, 12)
    freeze = {
        "scope": "17.71",
        "actions": ["tier_decisions"],
        "starts_at": wib(2026, 12, 29).isoformat(),
        "ends_at": wib(2026, 12, 30).isoformat(),
        "reason": "Audit of the regency's queue",
    }
    assert (await service.http.post("/freezes", json=freeze, headers=headers)).status_code == 201
    clock.now = wib(2026, 12, 30, 1)
    items = await district_items(service)
    assert (items[early.proposal_id]["due_date"], items[early.proposal_id]["overdue"]) == (
        "2026-12-30",
        False,
    )
    assert await overdue_at_district(service) == 0
    clock.now = wib(2026, 12, 31, 0, 0)
    assert (await district_items(service))[early.proposal_id]["overdue"] is True
    assert await overdue_at_district(service) == 1


@pytest.fixture
async def unscanned(
    kafka_bootstrap: str, infra: Infra, topic_prefix: str, civil_registry: Simulator
) -> AsyncIterator[Service]:
    """The service without its overdue worker: the test runs the scan step by step, with its clock."""
    async with running_service(
        kafka_bootstrap, infra, topic_prefix, civil_registry.url, overdue_scan_enabled=False
    ) as service:
        yield service


async def test_an_overdue_item_is_announced_once_to_its_tier_then_escalated_after_the_second_deadline(
    unscanned: Service,
) -> None:
    service = unscanned
    clock = Clock(wib(2026, 12, 29, 23, 59))
    use_clock(service, clock)
    (item,) = await in_district_queue(service, 1, seed=41_414)
    await entered(service, item.proposal_id, wib(2026, 12, 24, 9))
    response = await service.http.put(
        "/deadlines/district", json={"working_days": 2}, headers=service.auth(*MINISTRY)
    )
    assert response.status_code == 200, response.text
    assert service.app is not None
    scan = OverdueScan(service.app.state.deps, batch_size=10)
    assert await scan.scan_once() == 0
    clock.now = wib(2026, 12, 30, 0, 0)
    assert await scan.scan_once() == 1
    assert await scan.scan_once() == 0  # announced once
    clock.now = wib(2026, 12, 31, 23)  # the second deadline: 28, 29, 30 and 31 December
    assert await scan.scan_once() == 0
    clock.now = wib(2027, 1, 1, 0, 0)
    assert await scan.scan_once() == 1
    assert await scan.scan_once() == 0

    history = (await service.standing(item.proposal_id))["decisions"]
    overdue = [e for e in history if e["event_type"] == "verification.items_overdue"]
    assert [(e["level"], e["notify_tier"], e["notify_region"], e["due_date"]) for e in overdue] == [
        (1, "district", item.village_code[:8], "2026-12-29"),
        (2, "regency", item.village_code[:5], "2026-12-31"),
    ]
    # The announcements moved nothing: the item waits where it was and can still be decided.
    body = {"proposal_id": item.proposal_id, "tier": "district", "decision": "forward"}
    headers = service.auth(Role.DISTRICT_VERIFIER, item.village_code[:8])
    decided = await service.http.post("/decisions", json=body, headers=headers)
    assert decided.status_code == 200 and decided.json()["tier"] == "regency", decided.text

    async with TopicReader(
        service.kafka_bootstrap, service.settings.topic_prefix + VERIFICATION_EVENTS.name
    ) as topic:

        def listing_the_item() -> list[tuple[int, str]]:
            return [
                (e.payload["level"], e.payload["notify_region"])
                for e in topic.events
                if e.event_type == "verification.items_overdue"
                and any(item.proposal_id in g["proposal_ids"] for g in e.payload["groups"])
            ]

        async def published() -> bool:
            await topic.poll()
            return len(listing_the_item()) == 2

        await wait_until(published, 30, "the overdue notices on Kafka")
        # Keyed by the region told: the two notices are on two partitions, in no order between them.
        assert sorted(listing_the_item()) == [(1, item.village_code[:8]), (2, item.village_code[:5])]
