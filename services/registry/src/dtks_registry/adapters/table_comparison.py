"""Live tables against a replay's, column by column: what an audit finds altered in the database.

The service answers from these tables, not from the snapshots whose hashes the decrees recorded:
the citizens' check reads ``members``, agencies' filters and region scopes read ``households``'
programs and village code, the audit history reads ``audit_events``, a decree is served from its
``determinations`` row. So each of them is compared whole with the same table built from the event
log; a row that differs, or is only on one side, is reported with its table, its key and the
household it concerns.

Both sides live in the registry's database (the replay in its own schema), so PostgreSQL compares
them in place without shipping the tables to Python. It first pairs the rows by key and compares
them column by column (each type's own equality; a large value stays where it is stored until it
is compared), which finds the suspect keys (none, in a register nobody altered); ``EXCEPT`` both
ways over the suspects' rows then decides what is reported. ``EXCEPT`` over the whole tables sorted
every row whole: at 100,000 households the audit trail's envelopes spilled 3 GB to disk, 9.8 of
the comparison's 18 seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass
from typing import Any

import asyncpg


@dataclass(frozen=True)
class Compared:
    table: str
    key: tuple[str, ...]  # identifies a row in a report
    household: str | None  # the column naming the household a row concerns, if any
    # Columns no event carries: written beside the event by the live service only (a decree's list
    # of acceptances it did not apply), so a replay cannot have them.
    not_in_events: tuple[str, ...] = ()
    # For an append-only table the running system goes on writing (the audit trail): the column
    # saying when a live row was written. Live rows written after the replay read the log are not
    # in its replay, and are no difference.
    recorded_at: str | None = None


COMPARED = (
    Compared("households", ("household_id",), "household_id"),
    Compared("members", ("household_id", "nik"), "household_id"),
    Compared("household_changes", ("household_id", "decree_number"), "household_id"),
    Compared("candidates", ("proposal_id",), "household_id"),
    Compared("welfare_deciles", ("household_id",), "household_id"),
    Compared("determinations", ("decree_number",), None, not_in_events=("not_applied",)),
    # The institutions section (#19): GET /institutions answers from these.
    Compared("institutions", ("institution_id",), None),
    Compared("institution_changes", ("institution_id", "decree_number"), None),
    # The citizens' check and its proof find an institution's resident here.
    Compared("institution_residents", ("institution_id", "nik"), None),
    Compared("institution_candidates", ("proposal_id",), None),
    # What decrees determined each institution is to receive: GET /institutions/{id}/assistance.
    Compared("institution_assistance", ("proposal_id",), None),
    Compared(
        "audit_events",
        ("event_id",),
        "household_id",
        not_in_events=("recorded_at",),
        recorded_at="recorded_at",
    ),
)
MAX_REPORTED = 1000  # rows named per table; the count says how many differ in all


async def _columns(conn: asyncpg.Connection, table: str) -> list[str]:
    rows = await conn.fetch(
        """SELECT column_name FROM information_schema.columns
           WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position""",
        table,
    )
    return [r["column_name"] for r in rows]


async def differences(
    live: asyncpg.Connection, replay_schema: str, c: Compared, log_read_at: dt.datetime | None = None
) -> dict[str, Any]:
    """The rows of ``c.table`` that differ between the live table and the replay's."""
    names = [col for col in await _columns(live, c.table) if col not in c.not_in_events]
    columns = ", ".join(f'"{col}"' for col in names)
    replayed = f'"{replay_schema}"."{c.table}"'
    keys = ", ".join(f'"{k}"' for k in c.key)
    household = f'"{c.household}"' if c.household else "NULL::text"
    # The live side: every row, or for an append-only table only those the replay could have read.
    cut = log_read_at is not None and c.recorded_at is not None
    live_cut = f'"{c.recorded_at}" < $1' if cut else "true"
    # Rows paired by key, compared column by column; a key on one side only is a suspect too (keys
    # are primary keys, never null).
    compared = [col for col in names if col not in c.key]
    differing = " OR ".join(
        [f'l."{c.key[0]}" IS NULL', f'r."{c.key[0]}" IS NULL']
        + [f'l."{col}" IS DISTINCT FROM r."{col}"' for col in compared]
    )
    suspects = f"(SELECT {keys} FROM suspects)"
    rows = await live.fetch(
        f"""WITH suspects AS MATERIALIZED (
                     SELECT {keys}
                     FROM (SELECT {columns} FROM "{c.table}" WHERE {live_cut}) l
                     FULL JOIN (SELECT {columns} FROM {replayed}) r USING ({keys})
                     WHERE {differing}),
                 live_only AS (SELECT {columns} FROM "{c.table}" WHERE {live_cut} AND ({keys}) IN {suspects}
                               EXCEPT SELECT {columns} FROM {replayed} WHERE ({keys}) IN {suspects}),
                 replay_only AS (SELECT {columns} FROM {replayed} WHERE ({keys}) IN {suspects}
                                 EXCEPT SELECT {columns} FROM "{c.table}" WHERE ({keys}) IN {suspects}),
                 sides AS (SELECT 'live' AS side, {keys}, {household} AS household FROM live_only
                           UNION ALL
                           SELECT 'replay', {keys}, {household} FROM replay_only)
            SELECT {keys}, array_agg(DISTINCT household) FILTER (WHERE household IS NOT NULL) AS households,
                   array_agg(side ORDER BY side) AS sides
            FROM sides GROUP BY {keys} ORDER BY {keys}""",
        *([log_read_at] if cut else []),
    )
    found = [
        {
            "key": {k: str(r[k]) for k in c.key},
            "households": sorted(r["households"] or []),
            # live and replay: the row differs; live only: not in the log; replay only: missing live.
            "where": "differs" if len(r["sides"]) > 1 else f"{r['sides'][0]} only",
        }
        for r in rows
    ]
    return {"matches": not found, "rows": len(found), "differences": found[:MAX_REPORTED]}


async def compare_tables(
    live: asyncpg.Connection,
    replay_schema: str,
    *,
    log_read_at: dt.datetime | None = None,
    quiet_seconds: float = 5.0,
    max_seconds: float = 60.0,
) -> dict[str, dict[str, Any]]:
    """Every table of :data:`COMPARED`, live against the replay.

    The live consumers may still be applying the last events the replay read (an acceptance, an
    audit record, after a restart or a rebalance), so tables that differ are compared again until
    their differences stop changing for ``quiet_seconds`` (or ``max_seconds`` pass): a consumer
    catching up keeps changing them, an altered row stays as it is, and is reported. Rows of an
    append-only table recorded live at or after ``log_read_at`` (the database's clock when the
    replay began reading the log) came after what the replay read, and are left out of its side."""
    loop = asyncio.get_running_loop()
    report = {c.table: await differences(live, replay_schema, c, log_read_at) for c in COMPARED}
    started = changed = loop.time()
    while any(not t["matches"] for t in report.values()):
        now = loop.time()
        if now - changed >= quiet_seconds or now - started >= max_seconds:
            break
        await asyncio.sleep(0.5)
        for c in COMPARED:
            if not report[c.table]["matches"]:
                again = await differences(live, replay_schema, c, log_read_at)
                if again != report[c.table]:
                    changed = loop.time()
                report[c.table] = again
    return report


def by_household(tables: dict[str, dict[str, Any]]) -> dict[str, list[str]]:
    """household id -> the tables in which a row of it differs."""
    found: dict[str, set[str]] = {}
    for table, result in tables.items():
        for d in result["differences"]:
            for h in d["households"]:
                found.setdefault(h, set()).add(table)
    return {h: sorted(t) for h, t in sorted(found.items())}
