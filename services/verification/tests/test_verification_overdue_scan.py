"""The overdue scan in the running service's database: each overdue item gets its event, its new
stream version and its mark exactly once, across a pass that dies half-way and with two scanners
at once, and freezes in a region pause the deadlines of that region's items only. The clock is
passed in; the waiting items are written into the service's table the way its intake leaves them
(the scan reads nothing else, as in the benchmark)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from dtks_contracts.events.governance import ItemOverdue
from dtks_contracts.vocabulary import Role, Tier, tier_region
from dtks_runtime.event_store import Causation, ConcurrencyConflict, NewEvent
from dtks_runtime.testing import Infra, wait_until
from dtks_verification.deps import VerificationDeps
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

pytestmark = pytest.mark.infra

MINISTRY = (Role.MINISTRY_VERIFIER, "ID")
BENGKULU = "17.71.01.1001"  # Kota Bengkulu
LEBONG = "17.07.01.1004"  # another regency of Bengkulu province
SERANG = "36.04.05.2001"  # Banten: another province


def wib(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=WIB)  # type: ignore[misc]


@pytest.fixture
async def unscanned(
    kafka_bootstrap: str, infra: Infra, topic_prefix: str, civil_registry: Simulator
) -> AsyncIterator[Service]:
    """The service without its overdue worker: the test runs the scan step by step, with its clock."""
    async with running_service(
        kafka_bootstrap, infra, topic_prefix, civil_registry.url, overdue_scan_enabled=False
    ) as service:
        yield service


def deps_of(service: Service) -> VerificationDeps:
    assert service.app is not None
    deps: VerificationDeps = service.app.state.deps
    return deps


async def waiting(service: Service, village: str, entered: list[dt.datetime]) -> list[str]:
    """Items waiting at the district tier since `entered`, with no event on their streams yet."""
    ids = [str(uuid.uuid4()) for _ in entered]
    async with deps_of(service).connection() as conn:
        await conn.executemany(
            """INSERT INTO proposals (proposal_id, round, village_code, kind, content, status, tier,
                                      tier_region, entered_at, stream_version)
               VALUES ($1, 1, $2, 'new_household', $3, 'in_tier', 'district', $4, $5, 0)""",
            [
                (pid, village, json.dumps({"proposal_id": pid}), tier_region(Tier.DISTRICT, village), at)
                for pid, at in zip(ids, entered, strict=True)
            ],
        )
    return ids


def announcement(pid: str, village: str) -> ItemOverdue:
    """An announcement as another scanner would have made it."""
    return ItemOverdue(
        proposal_id=pid,
        round=1,
        village_code=village,
        tier=Tier.DISTRICT,
        level=1,
        working_days=10,
        due_date=dt.date(2026, 12, 29),
        notify_tier=Tier.DISTRICT,
        notify_region=village[:8],
    )


async def announcements(service: Service) -> dict[str, list[tuple[int, dict[str, object]]]]:
    """Each proposal's item_overdue events: (stream version, payload), in stream order."""
    async with deps_of(service).connection() as conn:
        rows = await conn.fetch(
            """SELECT split_part(stream_id, ':', 2) AS pid, stream_version, envelope->'payload' AS payload
               FROM events WHERE event_type = 'verification.item_overdue' ORDER BY stream_id, stream_version"""
        )
    out: dict[str, list[tuple[int, dict[str, object]]]] = {}
    for r in rows:
        out.setdefault(r["pid"], []).append((r["stream_version"], json.loads(r["payload"])))
    return out


async def marks_and_versions(
    service: Service, ids: list[str]
) -> tuple[Counter[tuple[str, int]], dict[str, int]]:
    async with deps_of(service).connection() as conn:
        marks = await conn.fetch(
            "SELECT proposal_id, level FROM overdue_marks WHERE proposal_id = ANY($1)", ids
        )
        versions = await conn.fetch(
            "SELECT proposal_id, stream_version FROM proposals WHERE proposal_id = ANY($1)", ids
        )
    return Counter((r["proposal_id"], r["level"]) for r in marks), {
        r["proposal_id"]: r["stream_version"] for r in versions
    }


async def test_two_scanners_at_once_announce_each_item_once_at_each_level(unscanned: Service) -> None:
    service = unscanned
    use_clock(service, Clock(wib(2027, 2, 1, 9)))  # past both district deadlines (10 and 20 working days)
    ids = await waiting(service, BENGKULU, [wib(2026, 12, 1, 8) + dt.timedelta(minutes=i) for i in range(90)])
    deps = deps_of(service)
    # Odd batches cut between an item's two levels; each scanner skips the rows the other holds.
    first, second = OverdueScan(deps, batch_size=7), OverdueScan(deps, batch_size=7)
    counts = await asyncio.gather(first.scan_once(), second.scan_once())
    assert sum(counts) == 180

    announced = await announcements(service)
    assert sorted(announced) == sorted(ids)
    for pid in ids:
        assert [(v, p["level"], p["notify_tier"]) for v, p in announced[pid]] == [
            (1, 1, "district"),
            (2, 2, "regency"),
        ]
    marks, versions = await marks_and_versions(service, ids)
    assert marks == Counter({(pid, level): 1 for pid in ids for level in (1, 2)})
    assert versions == dict.fromkeys(ids, 2)
    assert await first.scan_once() + await second.scan_once() == 0


async def test_a_pass_that_dies_half_way_leaves_whole_batches_and_the_next_pass_announces_the_rest_once(
    unscanned: Service,
) -> None:
    service = unscanned
    use_clock(service, Clock(wib(2027, 1, 8, 9)))  # past one district deadline, not two
    ids = await waiting(
        service, BENGKULU, [wib(2026, 12, 14, 8) + dt.timedelta(minutes=i) for i in range(30)]
    )
    deps = deps_of(service)

    class Killed(Exception):
        pass

    def killed() -> None:
        raise Killed

    # The process ends after its first batch committed.
    with pytest.raises(Killed):
        await OverdueScan(deps, batch_size=10, heartbeat=killed).scan_once()
    assert sorted(await announcements(service)) == sorted(ids[:10])

    # A batch that fails inside its transaction leaves nothing of itself: here the 15th item's
    # stream holds an event its row does not know of (written behind the scan's back), so that
    # batch's statement is refused.
    async with deps.unit_of_work() as uow:
        await uow.append(
            aggregate_type="proposal",
            aggregate_id=ids[14],
            expected_version=0,
            events=[NewEvent.of(announcement(ids[14], BENGKULU))],
            causation=Causation(),
        )
    with pytest.raises(ConcurrencyConflict):
        await OverdueScan(deps, batch_size=10).scan_once()
    marks, versions = await marks_and_versions(service, ids)
    assert set(marks) == {(pid, 1) for pid in ids[:10]}
    async with deps.connection() as conn:
        await conn.execute("DELETE FROM events WHERE stream_id = $1", f"proposal:{ids[14]}")

    assert await OverdueScan(deps, batch_size=10).scan_once() == 20
    announced = await announcements(service)
    assert {pid: [v for v, _ in events] for pid, events in announced.items()} == {pid: [1] for pid in ids}
    marks, versions = await marks_and_versions(service, ids)
    assert marks == Counter({(pid, 1): 1 for pid in ids})
    assert versions == dict.fromkeys(ids, 1)


async def test_an_item_another_scanner_marked_after_this_scan_looked_is_not_announced_twice(
    unscanned: Service,
) -> None:
    """Two processes: the other one got to the item first and commits while this scan, which had
    not seen its mark yet, waits on it. The mark decides; this scan announces nothing for it."""
    service = unscanned
    use_clock(service, Clock(wib(2027, 1, 8, 9)))
    (pid,) = await waiting(service, BENGKULU, [wib(2026, 12, 14, 8)])
    deps = deps_of(service)
    first = announcement(pid, BENGKULU)
    async with deps.connection() as other:
        transaction = other.transaction()
        await transaction.start()
        await other.execute(
            """INSERT INTO overdue_marks (proposal_id, tier, entered_at, level)
               SELECT proposal_id, tier, entered_at, 1 FROM proposals WHERE proposal_id = $1""",
            pid,
        )
        await deps.store.append(
            other,
            aggregate_type="proposal",
            aggregate_id=pid,
            expected_version=0,
            events=[NewEvent.of(first)],
            causation=Causation(),
        )
        scanning = asyncio.create_task(OverdueScan(deps).scan_once())

        # Waiting on this transaction in particular: any session of the database waiting on any lock
        # (the service's own loops run beside the test) could let the other commit before the scan
        # got to the mark, and the test would then pass without the scan ever waiting on it.
        other_pid = other.get_server_pid()

        async def scan_waits_for_the_other() -> bool:
            return bool(
                await other.fetchval(
                    """SELECT count(*) FROM pg_stat_activity
                       WHERE datname = current_database() AND $1 = ANY(pg_blocking_pids(pid))""",
                    other_pid,
                )
            )

        await wait_until(scan_waits_for_the_other, 30, "the scan to wait for the other scanner's mark")
        await transaction.commit()
    assert await scanning == 0
    assert [v for v, _ in (await announcements(service))[pid]] == [1]


async def test_a_freeze_pauses_the_deadlines_of_its_regions_items_and_no_others(unscanned: Service) -> None:
    service = unscanned
    clock = Clock(wib(2026, 12, 23, 9))
    use_clock(service, clock)
    headers = service.auth(*MINISTRY)
    response = await service.http.put("/deadlines/district", json={"working_days": 2}, headers=headers)
    assert response.status_code == 200, response.text

    def freeze(scope: str, actions: list[str]) -> dict[str, object]:
        return {
            "scope": scope,
            "actions": actions,
            "starts_at": wib(2026, 12, 29).isoformat(),
            "ends_at": wib(2026, 12, 30).isoformat(),
            "reason": "Audit of the queues",
        }

    for scope, actions in (
        ("17.71", ["tier_decisions"]),
        ("36", ["tier_decisions"]),
        ("17.07", ["ratifications"]),
    ):
        declared = await service.http.post("/freezes", json=freeze(scope, actions), headers=headers)
        assert declared.status_code == 201, declared.text
    entered = [wib(2026, 12, 24, 9)]  # Thursday; Christmas Friday: due Tuesday the 29th
    bengkulu = await waiting(service, BENGKULU, entered)
    serang = await waiting(service, SERANG, entered)
    lebong = await waiting(service, LEBONG, entered)
    scan = OverdueScan(deps_of(service), batch_size=10)

    clock.now = wib(2026, 12, 30, 1)  # the 29th was frozen in Kota Bengkulu and in Banten
    assert await scan.scan_once() == 1
    assert sorted(await announcements(service)) == lebong
    clock.now = wib(2026, 12, 30, 23, 59)
    assert await scan.scan_once() == 0
    clock.now = wib(2026, 12, 31, 0, 0)
    assert await scan.scan_once() == 2

    announced = await announcements(service)
    for (pid,), village, due in ((bengkulu, BENGKULU, 30), (serang, SERANG, 30), (lebong, LEBONG, 29)):
        expected = ItemOverdue(
            proposal_id=pid,
            round=1,
            village_code=village,
            tier=Tier.DISTRICT,
            level=1,
            working_days=2,
            due_date=dt.date(2026, 12, due),
            notify_tier=Tier.DISTRICT,
            notify_region=village[:8],
        )
        assert announced[pid] == [(1, expected.model_dump(mode="json"))]


async def test_a_pass_rests_after_each_full_batch_for_its_share_of_the_batch_time_and_announces_each_item_once(
    unscanned: Service,
) -> None:
    service = unscanned
    use_clock(service, Clock(wib(2027, 1, 8, 9)))  # past one district deadline, not two
    ids = await waiting(
        service, BENGKULU, [wib(2026, 12, 14, 8) + dt.timedelta(minutes=i) for i in range(25)]
    )
    ticks = iter(range(100))  # each batch "takes" 1 s on this timer: it is read before and after it
    rests: list[float] = []

    async def rest(seconds: float) -> None:
        rests.append(seconds)

    scan = OverdueScan(
        deps_of(service), batch_size=10, pause=1.5, sleep=rest, timer=lambda: float(next(ticks))
    )
    assert await scan.scan_once() == 25
    # Two full batches, each followed by a rest of 1.5 times its duration; the last (5 items) ends the pass.
    assert rests == [1.5, 1.5]
    assert {pid: [v for v, _ in events] for pid, events in (await announcements(service)).items()} == {
        pid: [1] for pid in ids
    }
    marks, versions = await marks_and_versions(service, ids)
    assert marks == Counter({(pid, 1): 1 for pid in ids})
    assert versions == dict.fromkeys(ids, 1)


async def test_a_pass_gives_its_connection_back_with_the_pools_settings(unscanned: Service) -> None:
    """The pool hands connections on as they are (no reset query): the scan's planner and memory
    settings must not follow its connection into the decisions that borrow it next."""
    service = unscanned
    use_clock(service, Clock(wib(2027, 1, 8, 9)))
    await waiting(service, BENGKULU, [wib(2026, 12, 14, 8) + dt.timedelta(minutes=i) for i in range(3)])
    deps = deps_of(service)
    async with deps.connection() as conn:
        before = await conn.fetchrow("SELECT current_setting('plan_cache_mode') AS plans, "
                                     "current_setting('work_mem') AS memory")  # fmt: skip
    assert await OverdueScan(deps, batch_size=2).scan_once() == 3
    # The pool lends the connection given back last first, and the scan has just given its back.
    async with deps.connection() as conn:
        after = await conn.fetchrow("SELECT current_setting('plan_cache_mode') AS plans, "
                                    "current_setting('work_mem') AS memory")  # fmt: skip
    assert dict(after) == dict(before) == {"plans": "auto", "memory": "4MB"}


async def test_a_decision_on_an_item_the_scan_skipped_or_announced_is_recorded_after_what_the_scan_wrote(
    unscanned: Service,
) -> None:
    """An officer deciding while the scan runs: an item whose row the decision holds is skipped, not
    waited for, and once forwarded it is not announced for the stay it left; an item the scan
    announced first is decided on top of the announcement. Nothing is lost, nothing doubled."""
    service = unscanned
    use_clock(service, Clock(wib(2027, 1, 8, 9)))
    held, announced_first = await in_district_queue(service, 2, seed=18_018)
    deps = deps_of(service)
    async with deps.connection() as conn:
        await conn.execute(
            "UPDATE proposals SET entered_at = $1 WHERE proposal_id = ANY($2)",
            wib(2026, 12, 14, 8),
            [held.proposal_id, announced_first.proposal_id],
        )
        versions_before = dict(
            await conn.fetch(
                "SELECT proposal_id, stream_version FROM proposals WHERE proposal_id = ANY($1)",
                [held.proposal_id, announced_first.proposal_id],
            )
        )
        # A decision on `held` in progress: its transaction holds the row while the scan passes.
        deciding = conn.transaction()
        await deciding.start()
        await conn.execute("SELECT 1 FROM proposals WHERE proposal_id = $1 FOR UPDATE", held.proposal_id)
        assert await asyncio.wait_for(OverdueScan(deps, batch_size=10).scan_once(), 30) == 1
        await deciding.rollback()

    async def forward(item: Any) -> None:
        body = {"proposal_id": item.proposal_id, "tier": "district", "decision": "forward"}
        headers = service.auth(Role.DISTRICT_VERIFIER, item.village_code[:8])
        decided = await service.http.post("/decisions", json=body, headers=headers)
        assert decided.status_code == 200 and decided.json()["tier"] == "regency", decided.text

    await forward(held)
    await forward(announced_first)
    async with deps.connection() as conn:  # the database stamped their entry with its own clock
        await conn.execute(
            "UPDATE proposals SET entered_at = $1 WHERE proposal_id = ANY($2)",
            wib(2027, 1, 8, 9),
            [held.proposal_id, announced_first.proposal_id],
        )
    assert await OverdueScan(deps, batch_size=10).scan_once() == 0  # both wait at the regency since now

    async with deps.connection() as conn:
        rows = await conn.fetch(
            """SELECT split_part(stream_id, ':', 2) AS pid, stream_version, event_type FROM events
               WHERE stream_id = ANY($1) ORDER BY stream_id, stream_version""",
            [f"proposal:{held.proposal_id}", f"proposal:{announced_first.proposal_id}"],
        )
    after: dict[str, list[tuple[int, str]]] = {}
    for r in rows:
        if r["stream_version"] > versions_before[r["pid"]]:
            after.setdefault(r["pid"], []).append((r["stream_version"], r["event_type"]))
    start_held, start_first = versions_before[held.proposal_id], versions_before[announced_first.proposal_id]
    assert after == {
        held.proposal_id: [(start_held + 1, "verification.verified_at_tier")],
        announced_first.proposal_id: [
            (start_first + 1, "verification.item_overdue"),
            (start_first + 2, "verification.verified_at_tier"),
        ],
    }
