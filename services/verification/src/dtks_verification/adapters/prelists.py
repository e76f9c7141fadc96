"""Re-verification rounds' tables: `reverification_rounds` and their prelists (`prelist_entries`).

A prelist is drawn from the register copy in one INSERT ... SELECT, inside PostgreSQL, whatever its
size; it is read back a page or a cursor batch at a time, so neither issuing nor downloading it holds
more than a batch in this process."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from dtks_contracts.actor import Actor
from dtks_contracts.events.reverification import RoundSelection, SelectionMode, VisitOutcome
from dtks_contracts.regions import NATIONAL


def _in_region(column: str) -> str:
    """`column` is in the region $2 (its own code or under it, $3 being `<code>.%`), or $2 is ID."""
    return f"($2::text = '{NATIONAL}' OR {column} = $2::text OR {column} LIKE $3::text)"


# Rows a download's cursor fetches at a time: its memory is this many rows, whatever the prelist.
CURSOR_BATCH = 2000

# What a prelist row shows the officer (and the files carry), in order.
ENTRY_COLUMNS = (
    "household_id",
    "village_code",
    "kk_number",
    "head_name",
    "street",
    "rt",
    "rw",
    "members",
    "outcome",
    "proposal_id",
)


@dataclass(frozen=True)
class Round:
    round_id: str
    region: str
    period_start: dt.date
    period_end: dt.date
    selection: dict[str, Any]
    size_limit: int | None
    households: int
    opened_by: dict[str, Any]
    opened_at: dt.datetime
    closed_at: dt.datetime | None
    recap: dict[str, Any] | None
    stream_version: int

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def as_json(self) -> dict[str, Any]:
        return {
            "round_id": self.round_id,
            "region": self.region,
            "period_start": self.period_start.isoformat(),
            "period_end": self.period_end.isoformat(),
            "selection": self.selection,
            "size_limit": self.size_limit,
            "households": self.households,
            "opened_by": self.opened_by,
            "opened_at": self.opened_at.isoformat(),
            "status": "open" if self.is_open else "closed",
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
            "recap": self.recap,
        }


def _round(row: asyncpg.Record) -> Round:
    return Round(
        round_id=row["round_id"],
        region=row["region"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        selection=json.loads(row["selection"]),
        size_limit=row["size_limit"],
        households=row["households"],
        opened_by=json.loads(row["opened_by"]),
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        recap=json.loads(row["recap"]) if row["recap"] else None,
        stream_version=row["stream_version"],
    )


_ROUND_COLUMNS = """round_id, region, period_start, period_end, selection::text AS selection, size_limit,
    households, opened_by::text AS opened_by, opened_at, closed_at, recap::text AS recap, stream_version"""


async def load_round(conn: asyncpg.Connection, round_id: str, *, for_update: bool = False) -> Round | None:
    row = await conn.fetchrow(
        f"SELECT {_ROUND_COLUMNS} FROM reverification_rounds WHERE round_id = $1"
        + (" FOR UPDATE" if for_update else ""),
        round_id,
    )
    return _round(row) if row else None


async def rounds_overlapping(
    conn: asyncpg.Connection, region: str, *, after: str | None, limit: int
) -> list[Round]:
    """Rounds whose region and ``region`` overlap (one inside the other), newest first, a page after
    the round ``after``. A national scope (ID) sees every round."""
    rows = await conn.fetch(
        """SELECT round_id, region, period_start, period_end, selection::text AS selection, size_limit,
                  households, opened_by::text AS opened_by, opened_at, closed_at, recap::text AS recap,
                  stream_version
           FROM reverification_rounds r
           WHERE ($1 = 'ID' OR r.region = $1 OR r.region LIKE $1 || '.%' OR $1 LIKE r.region || '.%')
             AND ($2::text IS NULL OR (r.opened_at, r.round_id) <
                  (SELECT opened_at, round_id FROM reverification_rounds WHERE round_id = $2))
           ORDER BY r.opened_at DESC, r.round_id DESC
           LIMIT $3""",
        region,
        after,
        limit,
    )
    return [_round(row) for row in rows]


def _selection_sql(
    selection: RoundSelection, period_start: dt.date, size_limit: int | None
) -> tuple[str, str, list[Any]]:
    """The selection's WHERE fragment, ORDER BY and parameters (numbered from $4)."""
    params: list[Any] = []
    where = ""
    # The longest unvisited first, so a limited round starts where a visit is most overdue.
    order = "h.last_visited_on NULLS FIRST, h.household_id"
    limit = size_limit
    if selection.mode is SelectionMode.SAMPLE:
        assert selection.sample_size is not None and selection.seed is not None
        # A seeded draw: the same seed over the same register draws the same households.
        params.append(str(selection.seed))
        order = f"md5(${3 + len(params)}::text || ':' || h.household_id), h.household_id"
        limit = min(selection.sample_size, size_limit or selection.sample_size)
    elif selection.mode is SelectionMode.NOT_VISITED:
        params += [period_start, selection.not_visited_months]
        where = (
            f" AND (h.last_visited_on IS NULL OR h.last_visited_on < "
            f"${2 + len(params)}::date - make_interval(months => ${3 + len(params)}::int))"
        )
    elif selection.mode is SelectionMode.FLAGGED:
        params.append([f.value for f in selection.flags])
        where = (
            " AND EXISTS (SELECT 1 FROM household_flags f WHERE f.household_id = h.household_id"
            f" AND f.flag = ANY(${3 + len(params)}::text[]))"
        )
    if limit is not None:
        params.append(limit)
        order += f" LIMIT ${3 + len(params)}"
    return where, order, params


async def overlapping_open_round(
    conn: asyncpg.Connection, region: str, period_start: dt.date, period_end: dt.date
) -> Round | None:
    """An open round covering some of `region`'s households in a period overlapping this one (the
    same test as the table's constraint `open_rounds_do_not_overlap`), the oldest if several."""
    row = await conn.fetchrow(
        f"""SELECT {_ROUND_COLUMNS} FROM reverification_rounds
            WHERE closed_at IS NULL AND region_span_of(region) && region_span_of($1)
              AND daterange(period_start, period_end, '[]') && daterange($2, $3, '[]')
            ORDER BY opened_at, round_id LIMIT 1""",
        region,
        period_start,
        period_end,
    )
    return _round(row) if row else None


async def open_round(
    conn: asyncpg.Connection,
    *,
    round_id: str,
    region: str,
    period_start: dt.date,
    period_end: dt.date,
    selection: RoundSelection,
    size_limit: int | None,
    opened_by: Actor,
) -> tuple[int, int]:
    """Record the round and draw its prelist; (households, villages) on it.

    The round's row comes first: an overlapping open round refuses it there
    (asyncpg.ExclusionViolationError), and a concurrent opening over the same households waits on
    it before drawing a prelist of its own that would only be rolled back."""
    await conn.execute(
        """INSERT INTO reverification_rounds (round_id, region, period_start, period_end, selection,
                                              size_limit, households, opened_by, stream_version)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, 0, $7::jsonb, 1)""",
        round_id,
        region,
        period_start,
        period_end,
        selection.model_dump_json(),
        size_limit,
        opened_by.model_dump_json(),
    )
    where, order, params = _selection_sql(selection, period_start, size_limit)
    # Region: the whole country, or the region's own code and everything under it ($2, $3).
    in_region = _in_region("h.village_code")
    status = await conn.execute(
        f"""INSERT INTO prelist_entries (round_id, household_id, village_code, kk_number, head_name,
                                         street, rt, rw, members)
            SELECT $1, h.household_id, h.village_code, h.kk_number,
                   (SELECT m->>'name' FROM jsonb_array_elements(h.snapshot->'members') AS m
                     WHERE m->>'relation_to_head' = 'head' LIMIT 1),
                   h.snapshot->'address'->>'street', h.snapshot->'address'->>'rt',
                   h.snapshot->'address'->>'rw', jsonb_array_length(h.snapshot->'members')
            FROM registered_households h
            WHERE h.active AND h.snapshot IS NOT NULL AND {in_region} {where}
            ORDER BY {order}""",
        round_id,
        region,
        region + ".%",
        *params,
    )
    households = int(status.rsplit(" ", 1)[-1])
    villages = int(
        await conn.fetchval(
            "SELECT count(DISTINCT village_code) FROM prelist_entries WHERE round_id = $1", round_id
        )
    )
    await conn.execute(
        "UPDATE reverification_rounds SET households = $2 WHERE round_id = $1", round_id, households
    )
    return households, villages


def _entry(row: asyncpg.Record) -> dict[str, Any]:
    return {name: row[name] for name in ENTRY_COLUMNS}


async def prelist_page(
    conn: asyncpg.Connection,
    round_id: str,
    village_code: str,
    *,
    after: tuple[str, str] | None,
    limit: int,
    outstanding_only: bool,
) -> list[dict[str, Any]]:
    """A village's prelist, a page at a time in (KK number, household) order after the cursor."""
    rows = await conn.fetch(
        f"""SELECT {", ".join(ENTRY_COLUMNS)} FROM prelist_entries
            WHERE round_id = $1 AND village_code = $2 AND (kk_number, household_id) > ($3, $4)
              {"AND outcome IS NULL" if outstanding_only else ""}
            ORDER BY kk_number, household_id LIMIT $5""",
        round_id,
        village_code,
        *(after or ("", "")),
        limit,
    )
    return [_entry(r) for r in rows]


async def stream_entries(
    conn: asyncpg.Connection, round_id: str, region: str
) -> AsyncIterator[list[dict[str, Any]]]:
    """The prelist in `region` (a village, a district, ... or the round's whole region), village by
    village, through a server-side cursor a batch at a time. `conn` must be in a transaction."""
    in_region = _in_region("village_code")
    cursor = conn.cursor(
        f"""SELECT {", ".join(ENTRY_COLUMNS)} FROM prelist_entries
            WHERE round_id = $1 AND {in_region}
            ORDER BY village_code, kk_number, household_id""",
        round_id,
        region,
        region + ".%",
        prefetch=CURSOR_BATCH,
    )
    batch: list[dict[str, Any]] = []
    async for row in cursor:
        batch.append(_entry(row))
        if len(batch) >= CURSOR_BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


@dataclass(frozen=True)
class EntryForVisit:
    village_code: str
    outcome: str | None
    fingerprint: str | None
    proposal_id: str | None
    visit: dict[str, Any] | None
    findings: list[dict[str, Any]]
    snapshot: dict[str, Any] | None  # the register's record now; None once deactivated


async def entry_for_visit(conn: asyncpg.Connection, round_id: str, household_id: str) -> EntryForVisit | None:
    """The household's prelist entry, locked until the transaction ends, with its current record."""
    row = await conn.fetchrow(
        """SELECT e.village_code, e.outcome, e.fingerprint, e.proposal_id, e.visit::text AS visit,
                  e.findings::text AS findings,
                  CASE WHEN h.active THEN h.snapshot::text END AS snapshot
           FROM prelist_entries e LEFT JOIN registered_households h USING (household_id)
           WHERE e.round_id = $1 AND e.household_id = $2
           FOR UPDATE OF e""",
        round_id,
        household_id,
    )
    if row is None:
        return None
    return EntryForVisit(
        village_code=row["village_code"],
        outcome=row["outcome"],
        fingerprint=row["fingerprint"],
        proposal_id=row["proposal_id"],
        visit=json.loads(row["visit"]) if row["visit"] else None,
        findings=json.loads(row["findings"]) if row["findings"] else [],
        snapshot=json.loads(row["snapshot"]) if row["snapshot"] else None,
    )


async def record_visit(
    conn: asyncpg.Connection,
    *,
    round_id: str,
    household_id: str,
    outcome: VisitOutcome,
    visit: dict[str, Any],
    findings: Sequence[dict[str, Any]],
    fingerprint: str,
    proposal_id: str | None,
    recorded_by: Actor,
    visit_date: dt.date,
) -> None:
    """The visit's outcome on the prelist; the household counts as visited on the visit's date, and
    the flags that called for a visit are settled by it."""
    await conn.execute(
        """UPDATE prelist_entries SET outcome = $3, visit = $4::jsonb, findings = $5::jsonb, fingerprint = $6,
                  proposal_id = $7, recorded_by = $8::jsonb, recorded_at = now()
           WHERE round_id = $1 AND household_id = $2""",
        round_id,
        household_id,
        outcome.value,
        json.dumps(visit),
        json.dumps(list(findings)),
        fingerprint,
        proposal_id,
        recorded_by.model_dump_json(),
    )
    await conn.execute(
        """UPDATE registered_households SET last_visited_on = greatest(last_visited_on, $2)
           WHERE household_id = $1""",
        household_id,
        visit_date,
    )
    await conn.execute("DELETE FROM household_flags WHERE household_id = $1", household_id)


async def visit_of(conn: asyncpg.Connection, round_id: str, household_id: str) -> dict[str, Any] | None:
    """A household's recorded visit in a round (officer, date, position, photos, its findings)."""
    row = await conn.fetchrow(
        """SELECT outcome, visit::text AS visit, findings::text AS findings, recorded_by::text AS recorded_by,
                  recorded_at
           FROM prelist_entries WHERE round_id = $1 AND household_id = $2 AND outcome IS NOT NULL""",
        round_id,
        household_id,
    )
    if row is None:
        return None
    return {
        "round_id": round_id,
        "household_id": household_id,
        "outcome": row["outcome"],
        **json.loads(row["visit"]),
        "findings": json.loads(row["findings"] or "[]"),
        "recorded_by": json.loads(row["recorded_by"]),
        "recorded_at": row["recorded_at"].isoformat(),
    }


_OUTCOME_COUNTS = ", ".join(
    f"count(*) FILTER (WHERE outcome = '{o.value}') AS {o.value}" for o in VisitOutcome
)


def _counts(row: asyncpg.Record) -> dict[str, int]:
    return {
        "households": row["households"],
        "visited": row["visited"],
        "outstanding": row["households"] - row["visited"],
        **{o.value: row[o.value] for o in VisitOutcome},
        "proposals": row["proposals"],
    }


async def progress(conn: asyncpg.Connection, round_id: str, by: str, within: str) -> list[dict[str, Any]]:
    """Households, visited, outstanding and each outcome per village or district of `within`."""
    key = "village_code" if by == "village" else "left(village_code, 8)"
    in_region = _in_region("village_code")
    rows = await conn.fetch(
        f"""SELECT {key} AS region, count(*) AS households, count(outcome) AS visited, {_OUTCOME_COUNTS},
                   count(proposal_id) AS proposals
            FROM prelist_entries WHERE round_id = $1 AND {in_region}
            GROUP BY 1 ORDER BY 1""",
        round_id,
        within,
        within + ".%",
    )
    return [{by: r["region"], **_counts(r)} for r in rows]


async def totals(conn: asyncpg.Connection, round_id: str) -> dict[str, int]:
    row = await conn.fetchrow(
        f"""SELECT count(*) AS households, count(outcome) AS visited, {_OUTCOME_COUNTS},
                   count(proposal_id) AS proposals
            FROM prelist_entries WHERE round_id = $1""",
        round_id,
    )
    return _counts(row)


async def close_round(
    conn: asyncpg.Connection, round_id: str, closed_by: Actor, recap: dict[str, Any], stream_version: int
) -> None:
    await conn.execute(
        """UPDATE reverification_rounds SET closed_at = now(), closed_by = $2::jsonb, recap = $3::jsonb,
                  stream_version = $4
           WHERE round_id = $1""",
        round_id,
        closed_by.model_dump_json(),
        json.dumps(recap),
        stream_version,
    )
