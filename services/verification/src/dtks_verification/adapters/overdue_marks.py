"""The overdue scan's statements: which waiting items are past a deadline and not announced yet,
announced a batch of queues per statement, and the marks that they have been.

A scan pass first writes its calendars into two small temporary tables of its connection
(`prepare`): which calendar applies to the items of a tier and region, and for each calendar the
entry days whose items are overdue, at which level, with their due dates. It then counts the
waiting items of each queue (`queues`: a tier and its region, a district's say) and cuts the
queues, in order, into batches of about the batch size. A batch (`announce`) is one statement that
reads its queues' waiting items from the covering index `proposals_waiting_by_queue` (never their
rows), groups them by queue, regency (hence calendar) and entry day, inserts a mark in
`overdue_days` for each group due at a level and not marked yet, and appends, with the event
store's `append_selected` (PostgreSQL builds the envelopes), one `verification.items_overdue`
notice per tier, level and region to tell, of at most 1,000 items, listing the marked groups'
proposals by day of entry and due date (ids only: about 40 bytes an item). Nothing per item runs
in Python, and no proposal row is locked or written: an officer's decision never waits for the scan.

Exactly once: a group's items fall due together (one calendar, one entry day), so the group's mark
decides for each of them. Only the groups whose mark this statement inserted are announced; a group
another scanner marked first (its uncommitted mark makes this insert wait, then skip it) is not. An
item that entered a group after its mark would be missed, but no item can: a group is marked only
once its entry day is at least one working day past, and an item enters its tier at the moment of
the decision that moves it there. A decision committed while the statement runs is not seen by it:
the item is announced for the stay it had in the statement's snapshot, and its new stay has marks
of its own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

import asyncpg

from dtks_contracts.events.governance import MAX_OVERDUE_ITEMS, ItemsOverdue
from dtks_contracts.regions import NATIONAL
from dtks_runtime.event_store import Causation, SelectedAppend
from dtks_runtime.unit_of_work import UnitOfWork
from dtks_verification.domain.working_days import WIB


@dataclass(frozen=True)
class Calendar:
    """Items at `tier` from `region` (a regency, a province, or `ID` for the rest) follow `calendar`."""

    tier: str
    region: str
    calendar: int


@dataclass(frozen=True)
class Due:
    """Under `calendar`, items that entered on `entered_on` (WIB) are overdue at `level`."""

    calendar: int
    entered_on: dt.date
    level: int
    working_days: int
    due_date: dt.date
    notify_tier: str
    notify_region_length: int | None  # of the village code; None: the whole country (`ID`)


async def prepare(conn: asyncpg.Connection, calendars: Sequence[Calendar], dues: Sequence[Due]) -> None:
    """The pass's calendars, in temporary tables of its connection (which its batches use)."""
    await conn.execute(
        """CREATE TEMPORARY TABLE IF NOT EXISTS overdue_scan_calendars (
               tier text NOT NULL, region text NOT NULL, calendar integer NOT NULL,
               PRIMARY KEY (tier, region));
           CREATE TEMPORARY TABLE IF NOT EXISTS overdue_scan_dues (
               calendar integer NOT NULL, entered_on date NOT NULL, level integer NOT NULL,
               working_days integer NOT NULL, due_date date NOT NULL, notify_tier text NOT NULL,
               notify_region_length integer,
               PRIMARY KEY (calendar, entered_on, level));
           DELETE FROM overdue_scan_calendars;
           DELETE FROM overdue_scan_dues;"""
    )
    await conn.execute(
        """INSERT INTO overdue_scan_calendars (tier, region, calendar)
           SELECT * FROM unnest($1::text[], $2::text[], $3::int[])""",
        [c.tier for c in calendars],
        [c.region for c in calendars],
        [c.calendar for c in calendars],
    )
    await conn.execute(
        """INSERT INTO overdue_scan_dues
           SELECT * FROM unnest($1::int[], $2::date[], $3::int[], $4::int[], $5::date[], $6::text[], $7::int[])""",
        [d.calendar for d in dues],
        [d.entered_on for d in dues],
        [d.level for d in dues],
        [d.working_days for d in dues],
        [d.due_date for d in dues],
        [d.notify_tier for d in dues],
        [d.notify_region_length for d in dues],
    )
    # Statistics for the planner: the batches join every waiting item to these tables.
    await conn.execute("ANALYZE overdue_scan_calendars, overdue_scan_dues")


async def oldest_entry(conn: asyncpg.Connection) -> dt.datetime | None:
    """When the longest-waiting item entered its tier (None: nothing waits)."""
    found: dt.datetime | None = await conn.fetchval(
        "SELECT min(entered_at) FROM proposals WHERE status = 'in_tier'"
    )
    return found


@dataclass(frozen=True)
class Queue:
    """The waiting items of one queue (a tier and its region) that entered before the pass's cut."""

    tier: str
    region: str
    waiting: int


@dataclass(frozen=True)
class QueueRange:
    """A batch: the queues of `tier` whose regions run from `first` to `last`."""

    tier: str
    first: str
    last: str


async def queues(conn: asyncpg.Connection, before: dt.datetime) -> list[Queue]:
    """Every queue with items that entered before `before`, in the index's order."""
    rows = await conn.fetch(
        """SELECT tier, tier_region, count(*) AS waiting FROM proposals
           WHERE status = 'in_tier' AND entered_at < $1
           GROUP BY tier, tier_region ORDER BY tier, tier_region""",
        before,
    )
    return [Queue(r["tier"], r["tier_region"], r["waiting"]) for r in rows]


def batches(found: Sequence[Queue], size: int) -> list[QueueRange]:
    """Consecutive queues of one tier, about `size` items a batch. A queue larger than `size` is a
    batch of its own (a group of items is never cut: its mark stands for all of them)."""
    out: list[QueueRange] = []
    first: Queue | None = None
    last: Queue | None = None
    items = 0
    for q in found:
        if first is not None and last is not None and (q.tier != first.tier or items + q.waiting > size):
            out.append(QueueRange(first.tier, first.region, last.region))
            first, items = None, 0
        first, last, items = first or q, q, items + q.waiting
    if first is not None and last is not None:
        out.append(QueueRange(first.tier, first.region, last.region))
    return out


# A group's calendar is its regency's (the first 5 characters of its village codes) if the pass has
# one, else its province's (2), else the country's (`ID`). The officers told: at level 1 the queue's
# own (its region), at level 2 those of the tier above, whose region is a prefix of the queue's.
# The marked groups' items are read from the index a second time, a group's entry day at a time, in
# the statement's one snapshot (the same items the count saw), already in their order of entry;
# their ids are gathered per day and cut into notices of at most $8 items by each day's place in
# its region's run of days (`placed`, `sliced`). Against counting and listing from one materialised
# walk (a window over every item, sorted twice): 4.5 s of statements over a million items, not 5.1.
_ANNOUNCE: Final = SelectedAppend(
    aggregate_type=ItemsOverdue.aggregate_type,
    event_type=ItemsOverdue.event_type,
    schema_version=ItemsOverdue.schema_version,
    ctes="""
    walked AS (
        SELECT tier, tier_region, left(village_code, 5) AS regency_code,
               ((entered_at AT TIME ZONE 'UTC') + $5::interval)::date AS entered_on
        FROM proposals
        WHERE status = 'in_tier' AND tier = $1 AND tier_region BETWEEN $2 AND $3 AND entered_at < $4
    ),
    groups AS (
        SELECT tier, tier_region, regency_code, entered_on, count(*)::int AS items
        FROM walked GROUP BY tier, tier_region, regency_code, entered_on
    ),
    due AS (
        SELECT g.*, d.level, d.working_days, d.due_date, d.notify_tier,
               coalesce(left(g.tier_region, d.notify_region_length), $6) AS notify_region
        FROM groups g
        JOIN overdue_scan_dues d
          ON d.calendar = (SELECT c.calendar FROM overdue_scan_calendars c
                           WHERE c.tier = g.tier AND c.region IN (g.regency_code, left(g.regency_code, 2), $6)
                           ORDER BY c.region = $6, length(c.region) DESC LIMIT 1)
         AND d.entered_on = g.entered_on
    ),
    marked AS (
        INSERT INTO overdue_days (tier, tier_region, regency_code, entered_on, level, working_days, due_date,
                                  notify_tier, notify_region, items, pass_id, marked_at)
        SELECT tier, tier_region, regency_code, entered_on, level, working_days, due_date, notify_tier,
               notify_region, items, $7, $9
        FROM due
        ORDER BY tier_region, regency_code, entered_on, level  -- two scanners wait in one order, never deadlock
        ON CONFLICT DO NOTHING
        RETURNING tier_region, regency_code, entered_on, level, due_date, notify_tier, notify_region
    ),
    days AS (
        SELECT m.level, m.notify_tier, m.notify_region, m.entered_on, m.due_date,
               array_agg(p.proposal_id ORDER BY p.entered_at, p.proposal_id) AS ids
        FROM marked m
        JOIN proposals p
          ON p.status = 'in_tier' AND p.tier = $1 AND p.tier_region = m.tier_region
         AND p.entered_at >= ((m.entered_on::timestamp - $5::interval) AT TIME ZONE 'UTC')
         AND p.entered_at < least($4, ((m.entered_on::timestamp + interval '1 day' - $5::interval) AT TIME ZONE 'UTC'))
         AND left(p.village_code, 5) = m.regency_code
        GROUP BY m.level, m.notify_tier, m.notify_region, m.entered_on, m.due_date
    ),
    placed AS (
        SELECT d.*, cardinality(d.ids) AS n,
               sum(cardinality(d.ids)) OVER (PARTITION BY level, notify_tier, notify_region
                                             ORDER BY entered_on, due_date) - cardinality(d.ids) AS start
        FROM days d
    ),
    sliced AS (
        SELECT level, notify_tier, notify_region, entered_on, due_date, part,
               ids[greatest(part * $8, start) - start + 1 : least((part + 1) * $8, start + n) - start] AS slice
        FROM placed, generate_series(start / $8, (start + n - 1) / $8) AS part
    ),
    notices AS MATERIALIZED (
        SELECT gen_random_uuid()::text AS notice_id, level, notify_tier, notify_region,
               jsonb_agg(jsonb_build_object('entered_on', entered_on, 'due_date', due_date,
                                            'proposal_ids', to_jsonb(slice))
                         ORDER BY entered_on, due_date) AS groups
        FROM sliced
        GROUP BY level, notify_tier, notify_region, part
    ),
    notice_events AS (
        SELECT notice_id AS aggregate_id, 1 AS aggregate_version, notify_region AS partition_key,
               jsonb_build_object('notice_id', notice_id, 'tier', $1::text, 'level', level,
                                  'notify_tier', notify_tier, 'notify_region', notify_region,
                                  'groups', groups) AS payload
        FROM notices
    )""",
    source="notice_events",
    result="(SELECT coalesce(sum(n), 0) FROM placed) AS announced",
    wake_relay=False,  # notices can wait half a second; the officers' commits should not wait for them
)


# For the pass (set on its own connection and reset after it, since the pool hands connections on as
# they are, see dtks_runtime.db; once per pass rather than per batch: a round trip less per batch): a
# plan for each batch's own queues (a generic plan knows neither their size nor the temporary
# tables'), room to group and sort a batch's items in memory, and no JIT: a batch runs in some 10 ms,
# and a range of queues across two provinces, whose size the planner overestimates a hundredfold, had
# it compile the statement for 0.6 s.
_PASS_SETTINGS: Final = {"plan_cache_mode": "force_custom_plan", "work_mem": "'64MB'", "jit": "off"}


@contextlib.asynccontextmanager
async def pass_settings(conn: asyncpg.Connection) -> AsyncIterator[None]:
    """The batches' settings on ``conn`` while the pass runs (see above)."""
    await conn.execute("; ".join(f"SET {name} = {value}" for name, value in _PASS_SETTINGS.items()))
    try:
        yield
    finally:
        if not conn.is_closed():
            await conn.execute("; ".join(f"RESET {name}" for name in _PASS_SETTINGS))


async def announce(
    uow: UnitOfWork,
    pass_id: str,
    batch: QueueRange,
    before: dt.datetime,
    now: dt.datetime,
    causation: Causation,
) -> int:
    """Announce the items of the batch's queues that entered before `before` and are due at a level
    in the pass's calendars (see `prepare`), unless their group was marked already; the marks say
    `now` (the pass's clock, as its events do). How many item-levels it announced."""
    row = await uow.append_selected(
        _ANNOUNCE,
        [
            batch.tier, batch.first, batch.last, before, WIB.utcoffset(None), NATIONAL, pass_id,
            MAX_OVERDUE_ITEMS, now,
        ],
        causation=causation,
    )  # fmt: skip
    return int(row["announced"])


async def begin_pass(conn: asyncpg.Connection) -> str:
    pass_id: str = await conn.fetchval(
        "INSERT INTO overdue_passes (pass_id) VALUES (gen_random_uuid()::text) RETURNING pass_id"
    )
    return pass_id


async def end_pass(conn: asyncpg.Connection, pass_id: str, announced: int) -> None:
    await conn.execute(
        "UPDATE overdue_passes SET finished_at = clock_timestamp(), announced = $2 WHERE pass_id = $1",
        pass_id,
        announced,
    )


async def current_stay(conn: asyncpg.Connection, proposal_id: str) -> list[dict[str, Any]]:
    """What the scan announced of the item's stay in its current tier, level by level."""
    rows = await conn.fetch(
        """SELECT d.level, d.working_days, d.due_date, d.notify_tier, d.notify_region, d.marked_at
           FROM proposals p
           JOIN overdue_days d
             ON d.tier = p.tier AND d.tier_region = p.tier_region AND d.regency_code = left(p.village_code, 5)
            AND d.entered_on = ((p.entered_at AT TIME ZONE 'UTC') + $2::interval)::date
           WHERE p.proposal_id = $1 AND p.status = 'in_tier'
           ORDER BY d.level""",
        proposal_id,
        WIB.utcoffset(None),
    )
    return [dict(r) for r in rows]
