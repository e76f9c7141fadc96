"""The overdue scan in the running service's database: each overdue item is announced in a
notice exactly once per level (its group's mark decides), across a pass that dies half-way and with
two scanners at once, and freezes in a region pause the deadlines of that region's items only. The clock is
passed in; the waiting items are written into the service's table the way its intake leaves them
(the scan reads nothing else, as in the benchmark)."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from dtks_contracts.events.governance import ItemsOverdue
from dtks_contracts.vocabulary import Role, Tier, tier_region
from dtks_runtime.testing import Infra, wait_until
from dtks_verification.adapters import overdue_marks
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


async def announcements(service: Service) -> dict[str, list[dict[str, Any]]]:
    """Each proposal's overdue announcements, from the notices in the event store, by level: the
    notice's fields (tier, level, whom it tells) with the item's own (entered_on, due_date). (One
    batch's notices are appended together, in no particular order.)"""
    async with deps_of(service).connection() as conn:
        rows = await conn.fetch(
            """SELECT envelope->'payload' AS payload FROM events
               WHERE event_type = 'verification.items_overdue' ORDER BY seq"""
        )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        notice = ItemsOverdue.model_validate(json.loads(r["payload"]))
        for group in notice.groups:
            for pid in group.proposal_ids:
                out.setdefault(pid, []).append(
                    {
                        "level": notice.level,
                        "tier": notice.tier.value,
                        "notify_tier": notice.notify_tier.value,
                        "notify_region": notice.notify_region,
                        "entered_on": group.entered_on.isoformat(),
                        "due_date": group.due_date.isoformat(),
                    }
                )
    return {pid: sorted(found, key=lambda a: a["level"]) for pid, found in out.items()}


async def item_streams(service: Service, ids: list[str]) -> int:
    """Events on the items' own streams: the scan writes none."""
    async with deps_of(service).connection() as conn:
        found: int = await conn.fetchval(
            "SELECT count(*) FROM events WHERE stream_id = ANY($1)", [f"proposal:{pid}" for pid in ids]
        )
    return found


def in_districts(count: int) -> list[str]:
    """Villages of `count` districts of Kota Bengkulu, one each: `count` queues at the district tier."""
    return [f"17.71.0{d}.1001" for d in range(1, count + 1)]


async def test_two_scanners_at_once_announce_each_item_once_at_each_level(unscanned: Service) -> None:
    service = unscanned
    use_clock(service, Clock(wib(2027, 2, 1, 9)))  # past both district deadlines (10 and 20 working days)
    ids: list[str] = []
    for village in in_districts(3):  # three queues; batches of two queues and of one
        ids += await waiting(
            service, village, [wib(2026, 12, 1, 8) + dt.timedelta(minutes=i) for i in range(30)]
        )
    deps = deps_of(service)
    first, second = OverdueScan(deps, batch_size=60), OverdueScan(deps, batch_size=60)
    counts = await asyncio.gather(first.scan_once(), second.scan_once())
    assert sum(counts) == 180

    announced = await announcements(service)
    assert sorted(announced) == sorted(ids)
    for pid in ids:
        assert [(a["level"], a["notify_tier"]) for a in announced[pid]] == [(1, "district"), (2, "regency")]
    async with deps.connection() as conn:
        marks = await conn.fetch("SELECT tier_region, level, items FROM overdue_days ORDER BY 1, 2")
    # One group per queue, day and level: 30 items each.
    assert [tuple(m) for m in marks] == [(v[:8], level, 30) for v in in_districts(3) for level in (1, 2)]
    assert await first.scan_once() + await second.scan_once() == 0
    assert await item_streams(service, ids) == 0


async def test_a_regions_notices_hold_at_most_a_thousand_items_cut_inside_a_day_each_listed_once_in_order_of_entry(
    unscanned: Service,
) -> None:
    service = unscanned
    use_clock(service, Clock(wib(2027, 2, 1, 9)))  # past both district deadlines
    first_day = [wib(2026, 12, 1, 8) + dt.timedelta(seconds=7 * i) for i in range(700)]
    second_day = [wib(2026, 12, 2, 8) + dt.timedelta(seconds=7 * i) for i in range(700)]
    # Two queues of one regency: at level 2 their groups of a day are one day of the regency's notice.
    one, two = in_districts(2)
    ids = await waiting(service, one, first_day) + await waiting(service, one, second_day)
    others = await waiting(service, two, second_day[:50])
    assert await OverdueScan(deps_of(service), batch_size=5000).scan_once() == 2 * (1400 + 50)

    async with deps_of(service).connection() as conn:
        rows = await conn.fetch(
            "SELECT envelope->'payload' AS payload FROM events WHERE event_type = 'verification.items_overdue'"
        )
    notices = [ItemsOverdue.model_validate(json.loads(r["payload"])) for r in rows]
    by_region: dict[tuple[int, str], list[ItemsOverdue]] = {}
    for n in notices:
        by_region.setdefault((n.level, n.notify_region), []).append(n)
    # Each notice at most 1,000 items; a region's notices, in the order of their first item, list its
    # items once each in their order of entry, a day cut where the cap falls.
    assert all(n.count <= 1000 for n in notices)

    def listed(region: tuple[int, str]) -> list[str]:
        ordered = sorted(by_region[region], key=lambda n: n.groups[0].entered_on)
        return [pid for n in ordered for g in n.groups for pid in g.proposal_ids]

    district_one, district_two, regency = (1, one[:8]), (1, two[:8]), (2, one[:5])
    assert sorted(by_region) == sorted([district_one, district_two, regency])
    assert listed(district_one) == ids
    assert [n.count for n in by_region[district_one]] in ([1000, 400], [400, 1000])
    assert listed(district_two) == others
    # The regency's second day holds both queues' items of that day, in their order of entry (ties by id).
    entered = dict(zip(ids + others, first_day + second_day + second_day[:50], strict=True))
    assert listed(regency) == sorted(ids + others, key=lambda pid: (entered[pid], pid))
    days = [(g.entered_on, len(g.proposal_ids)) for n in by_region[regency] for g in n.groups]
    assert sum(c for d, c in days if d == dt.date(2026, 12, 1)) == 700
    assert sum(c for d, c in days if d == dt.date(2026, 12, 2)) == 750
    for n in by_region[regency]:
        assert len({g.entered_on for g in n.groups}) == len(n.groups)  # one group a day in a notice


async def test_a_pass_that_dies_half_way_leaves_whole_batches_and_the_next_pass_announces_the_rest_once(
    unscanned: Service,
) -> None:
    service = unscanned
    use_clock(service, Clock(wib(2027, 1, 8, 9)))  # past one district deadline, not two
    villages = in_districts(3)
    by_queue = [
        await waiting(service, v, [wib(2026, 12, 14, 8) + dt.timedelta(minutes=i) for i in range(10)])
        for v in villages
    ]
    deps = deps_of(service)

    class Killed(Exception):
        pass

    def killed() -> None:
        raise Killed

    # The process ends after its first batch (the first queue) committed.
    with pytest.raises(Killed):
        await OverdueScan(deps, batch_size=10, heartbeat=killed).scan_once()
    assert sorted(await announcements(service)) == sorted(by_queue[0])

    # A batch that fails inside its transaction leaves nothing of itself: here the third queue's
    # marks are refused by a constraint added behind the scan's back, after the second's committed.
    async with deps.connection() as conn:
        await conn.execute(
            f"ALTER TABLE overdue_days ADD CONSTRAINT refuse_third CHECK (tier_region <> '{villages[2][:8]}')"
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await OverdueScan(deps, batch_size=10).scan_once()
    assert sorted(await announcements(service)) == sorted(by_queue[0] + by_queue[1])
    async with deps.connection() as conn:
        await conn.execute("ALTER TABLE overdue_days DROP CONSTRAINT refuse_third")

    assert await OverdueScan(deps, batch_size=10).scan_once() == 10
    announced = await announcements(service)
    assert {pid: [a["level"] for a in found] for pid, found in announced.items()} == {
        pid: [1] for queue in by_queue for pid in queue
    }
    assert await OverdueScan(deps, batch_size=10).scan_once() == 0


async def test_an_item_another_scanner_marked_after_this_scan_looked_is_not_announced_twice(
    unscanned: Service,
) -> None:
    """Two processes: the other one got to the item's group first and commits while this scan, which
    had not seen its mark yet, waits on it. The mark decides; this scan announces nothing for it."""
    service = unscanned
    use_clock(service, Clock(wib(2027, 1, 8, 9)))
    (pid,) = await waiting(service, BENGKULU, [wib(2026, 12, 14, 8)])
    deps = deps_of(service)
    async with deps.connection() as other:
        transaction = other.transaction()
        await transaction.start()
        await other.execute(
            """INSERT INTO overdue_days (tier, tier_region, regency_code, entered_on, level, notify_tier,
                                         notify_region, items, pass_id)
               SELECT tier, tier_region, left(village_code, 5), (entered_at AT TIME ZONE 'Asia/Jakarta')::date,
                      1, 'district', tier_region, 1, 'the other scanner'
               FROM proposals WHERE proposal_id = $1""",
            pid,
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
    assert await announcements(service) == {}


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
        assert announced[pid] == [
            {
                "level": 1,
                "tier": "district",
                "notify_tier": "district",
                "notify_region": village[:8],
                "entered_on": "2026-12-24",
                "due_date": f"2026-12-{due}",
            }
        ]


async def test_a_pass_rests_after_each_full_batch_for_its_share_of_the_batch_time_and_announces_each_item_once(
    unscanned: Service,
) -> None:
    service = unscanned
    use_clock(service, Clock(wib(2027, 1, 8, 9)))  # past one district deadline, not two
    ids: list[str] = []
    for village, count in zip(in_districts(3), (10, 10, 5), strict=True):
        ids += await waiting(
            service, village, [wib(2026, 12, 14, 8) + dt.timedelta(minutes=i) for i in range(count)]
        )
    ticks = iter(range(100))  # each batch "takes" 1 s on this timer: it is read before and after it
    rests: list[float] = []

    async def rest(seconds: float) -> None:
        rests.append(seconds)

    scan = OverdueScan(
        deps_of(service), batch_size=10, pause=1.5, sleep=rest, timer=lambda: float(next(ticks))
    )
    assert await scan.scan_once() == 25
    # Three batches (a queue each), the first two followed by a rest of 1.5 times their duration.
    assert rests == [1.5, 1.5]
    assert {pid: [a["level"] for a in found] for pid, found in (await announcements(service)).items()} == {
        pid: [1] for pid in ids
    }
    async with deps_of(service).connection() as conn:
        passes = await conn.fetch("SELECT announced, finished_at IS NOT NULL AS finished FROM overdue_passes")
    assert [tuple(p) for p in passes] == [(25, True)]


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


async def test_the_scan_and_a_decision_never_wait_for_each_other_and_a_new_stay_is_not_announced(
    unscanned: Service,
) -> None:
    """An officer deciding while the scan runs: the scan reads the waiting items from an index and
    writes no proposal row, so an item whose row a decision holds is announced without waiting for
    it; once forwarded, neither item is announced for its new stay, and the scan wrote nothing on
    their streams."""
    service = unscanned
    use_clock(service, Clock(wib(2027, 1, 8, 9)))
    held, other = await in_district_queue(service, 2, seed=18_018)
    ids = [held.proposal_id, other.proposal_id]
    deps = deps_of(service)
    async with deps.connection() as conn:
        await conn.execute(
            "UPDATE proposals SET entered_at = $1 WHERE proposal_id = ANY($2)", wib(2026, 12, 14, 8), ids
        )
        versions_before = dict(
            await conn.fetch(
                "SELECT proposal_id, stream_version FROM proposals WHERE proposal_id = ANY($1)", ids
            )
        )
        # A decision on `held` in progress: its transaction holds the row while the scan passes.
        deciding = conn.transaction()
        await deciding.start()
        await conn.execute("SELECT 1 FROM proposals WHERE proposal_id = $1 FOR UPDATE", held.proposal_id)
        assert await asyncio.wait_for(OverdueScan(deps, batch_size=10).scan_once(), 30) == 2
        await deciding.rollback()
    assert sorted(await announcements(service)) == sorted(ids)

    for item in (held, other):
        body = {"proposal_id": item.proposal_id, "tier": "district", "decision": "forward"}
        headers = service.auth(Role.DISTRICT_VERIFIER, item.village_code[:8])
        decided = await service.http.post("/decisions", json=body, headers=headers)
        assert decided.status_code == 200 and decided.json()["tier"] == "regency", decided.text
    async with deps.connection() as conn:  # the database stamped their entry with its own clock
        await conn.execute(
            "UPDATE proposals SET entered_at = $1 WHERE proposal_id = ANY($2)", wib(2027, 1, 8, 9), ids
        )
    assert await OverdueScan(deps, batch_size=10).scan_once() == 0  # both wait at the regency since now

    async with deps.connection() as conn:
        rows = await conn.fetch(
            """SELECT split_part(stream_id, ':', 2) AS pid, stream_version, event_type FROM events
               WHERE stream_id = ANY($1) ORDER BY stream_id, stream_version""",
            [f"proposal:{pid}" for pid in ids],
        )
    after = {
        (r["pid"], r["stream_version"], r["event_type"])
        for r in rows
        if r["stream_version"] > versions_before[r["pid"]]
    }
    assert after == {(pid, versions_before[pid] + 1, "verification.verified_at_tier") for pid in ids}


def test_queues_are_cut_into_batches_of_about_the_batch_size_never_across_a_tier_or_inside_a_queue() -> None:
    found = [
        overdue_marks.Queue("district", "17.71.01", 4),
        overdue_marks.Queue("district", "17.71.02", 5),
        overdue_marks.Queue("district", "17.71.03", 2),
        overdue_marks.Queue("district", "17.71.04", 25),  # larger than a batch: a batch of its own
        overdue_marks.Queue("district", "17.71.05", 1),
        overdue_marks.Queue("regency", "17.71", 3),
    ]
    assert overdue_marks.batches(found, 10) == [
        overdue_marks.QueueRange("district", "17.71.01", "17.71.02"),
        overdue_marks.QueueRange("district", "17.71.03", "17.71.03"),
        overdue_marks.QueueRange("district", "17.71.04", "17.71.04"),
        overdue_marks.QueueRange("district", "17.71.05", "17.71.05"),
        overdue_marks.QueueRange("regency", "17.71", "17.71"),
    ]
    assert overdue_marks.batches([], 10) == []


async def test_a_pass_hands_its_connection_back_with_the_servers_own_settings(unscanned: Service) -> None:
    # The pass sets its batches' planner settings on its connection, which goes back to the pool as it
    # is: a pass that fails half-way must not leave them to the next request that gets it.
    names = ("plan_cache_mode", "work_mem", "jit")
    async with deps_of(unscanned).connection() as conn:
        before = [await conn.fetchval(f"SHOW {name}") for name in names]
        with pytest.raises(RuntimeError, match="a batch failed"):
            async with overdue_marks.pass_settings(conn):
                assert await conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
                assert await conn.fetchval("SHOW jit") == "off"
                raise RuntimeError("a batch failed")
        assert [await conn.fetchval(f"SHOW {name}") for name in names] == before
        assert before[0] != "force_custom_plan"
