"""Items past a deadline that have not been announced yet, announced a batch per statement, and the
marks that they have been.

A scan pass first writes its calendars into two small temporary tables of its connection
(`prepare`): which calendar applies to the items of a tier and region, and for each calendar the
entry days whose items are overdue, at which level, with their due dates. A batch (`announce`) is
then one statement that joins the waiting items to those tables, walking them oldest first from
where the previous batch stopped (the index `proposals_waiting_since`), and for each item past a
deadline it has not been announced for: locks its row (rows others hold are skipped, not waited
for), inserts its mark, moves its stream version on, and appends its `verification.item_overdue`
event with the event store's `append_selected` (PostgreSQL builds the envelopes). Nothing per item
runs in Python, and nothing already announced is read twice in one pass.

Exactly once: the mark's primary key decides. Only the items whose mark this statement inserted
get an event and a new version; an item whose mark another scanner inserted after this
statement's snapshot (which locking its row alone would not see) is skipped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import asyncpg

from dtks_contracts.events.governance import ItemOverdue
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


@dataclass(frozen=True)
class Position:
    """Where a pass stands: past this item, in the walk's order (oldest first)."""

    entered_at: dt.datetime
    proposal_id: str


START: Final = Position(dt.datetime(1, 1, 1, tzinfo=dt.UTC), "")


@dataclass(frozen=True)
class Batch:
    walked: int  # waiting items this batch looked at
    announced: int  # announcements it made (an item may be due at two levels): one event each
    last: Position | None


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


# A batch walks the next waiting items in the index's order first, then joins only those (whatever
# the planner estimates, it never sorts every waiting item). An item's calendar is its regency's
# (the first 5 characters of its village code) if the pass has one, else its province's (2), else
# the country's ($6, `ID`).
_ANNOUNCE: Final = SelectedAppend(
    aggregate_type="proposal",
    event_type=ItemOverdue.event_type,
    schema_version=ItemOverdue.schema_version,
    ctes="""
    walked AS (
        SELECT proposal_id, entered_at FROM proposals
        WHERE status = 'in_tier' AND entered_at < $1 AND (entered_at, proposal_id) > ($2, $3)
        ORDER BY entered_at, proposal_id
        LIMIT $4
    ),
    picked AS (
        SELECT p.proposal_id, p.round, p.village_code, p.tier, p.entered_at, p.stream_version,
               d.level, d.working_days, d.due_date, d.notify_tier, d.notify_region_length
        FROM walked w
        JOIN proposals p ON p.proposal_id = w.proposal_id
        JOIN overdue_scan_dues d
          ON d.calendar = (SELECT c.calendar FROM overdue_scan_calendars c
                           WHERE c.tier = p.tier
                             AND c.region IN (left(p.village_code, 5), left(p.village_code, 2), $6)
                           ORDER BY c.region = $6, length(c.region) DESC LIMIT 1)
         AND d.entered_on = ((p.entered_at AT TIME ZONE 'UTC') + $5::interval)::date
        WHERE p.status = 'in_tier'
          AND NOT EXISTS (SELECT 1 FROM overdue_marks m
                          WHERE m.proposal_id = p.proposal_id AND m.tier = p.tier
                            AND m.entered_at = p.entered_at AND m.level = d.level)
        FOR UPDATE OF p SKIP LOCKED
    ),
    marked AS (
        INSERT INTO overdue_marks (proposal_id, tier, entered_at, level)
        SELECT proposal_id, tier, entered_at, level FROM picked
        ON CONFLICT DO NOTHING
        RETURNING proposal_id, level
    ),
    announced AS (
        SELECT k.*, (k.stream_version + row_number() OVER (PARTITION BY k.proposal_id ORDER BY k.level))::int
                    AS version
        FROM picked k JOIN marked USING (proposal_id, level)
    ),
    moved AS (
        UPDATE proposals p SET stream_version = a.version
        FROM (SELECT proposal_id, max(version) AS version FROM announced GROUP BY proposal_id) a
        WHERE p.proposal_id = a.proposal_id
    ),
    overdue_events AS (
        SELECT proposal_id AS aggregate_id, version AS aggregate_version, proposal_id AS partition_key,
               jsonb_build_object(
                   'proposal_id', proposal_id, 'round', round, 'village_code', village_code,
                   'tier', tier, 'level', level, 'working_days', working_days, 'due_date', due_date,
                   'notify_tier', notify_tier,
                   'notify_region', coalesce(left(village_code, notify_region_length), $6)) AS payload
        FROM announced
    ),
    last_walked AS (
        SELECT entered_at, proposal_id FROM walked ORDER BY entered_at DESC, proposal_id DESC LIMIT 1
    )""",
    source="overdue_events",
    result="""(SELECT count(*) FROM walked) AS walked,
              (SELECT entered_at FROM last_walked) AS last_entered_at,
              (SELECT proposal_id FROM last_walked) AS last_proposal_id""",
)


_BATCH_SETTINGS: Final = "SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL work_mem = '64MB'"


async def announce(
    uow: UnitOfWork, after: Position, before: dt.datetime, limit: int, causation: Causation
) -> Batch:
    """Look at the next `limit` waiting items after `after` that entered before `before`, and
    announce those due in the pass's calendars (see `prepare`) and not announced yet."""
    # For this transaction only (the pool hands the connection on as it is, see dtks_runtime.db):
    # a plan for the batch's own limit and position (a generic plan, which knows neither, may sort
    # every waiting item, or join a batch's rows with each other row by row), and room to sort the
    # batch's envelopes in memory (at 4 MB a batch of 10,000 spilled them to disk).
    await uow.conn.execute(_BATCH_SETTINGS)
    row = await uow.append_selected(
        _ANNOUNCE,
        [before, after.entered_at, after.proposal_id, limit, WIB.utcoffset(None), NATIONAL],
        causation=causation,
    )
    last = (
        Position(row["last_entered_at"], row["last_proposal_id"])
        if row["last_proposal_id"] is not None
        else None
    )
    return Batch(row["walked"], row["appended"], last)
