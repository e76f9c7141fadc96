"""The status read model in PostgreSQL: proposals, their timelines, idempotent answers, windows."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from dataclasses import dataclass
from typing import Any

import asyncpg
import pydantic_core

from dtks_proposal.domain.status import ProposalStatus, Standing
from dtks_proposal.domain.windows import Window
from dtks_runtime.region_reads import region_filter


def _json(value: Any) -> str:
    """JSON text for a jsonb parameter. pydantic's core serializes a proposal's content about six
    times faster than ``json.dumps``, and a group commit writes a hundred of them."""
    return pydantic_core.to_json(value).decode()


@dataclass(frozen=True)
class StoredProposal:
    proposal_id: str
    kind: str
    village_code: str
    standing: Standing
    stream_version: int
    submitted_by: str


@dataclass(frozen=True)
class NewProposal:
    proposal_id: str
    kind: str
    village_code: str
    regency_code: str
    standing: Standing
    content: dict[str, Any]
    target_household_id: str | None
    submitted_by: str
    import_id: uuid.UUID | None = None


@dataclass(frozen=True)
class TimelineEntry:
    proposal_id: str
    event_id: uuid.UUID
    event_type: str
    round: int | None
    at: dt.datetime
    actor: dict[str, Any] | None
    tier: str | None = None
    reasons: list[dict[str, Any]] | None = None
    note: str | None = None
    details: dict[str, Any] | None = None


def _proposal_columns(proposals: list[NewProposal]) -> list[list[Any]]:
    """The first ten columns of new proposal rows, one array parameter each (in the column order of
    both inserts below)."""
    return [
        [p.proposal_id for p in proposals],
        [p.kind for p in proposals],
        [p.village_code for p in proposals],
        [p.regency_code for p in proposals],
        [p.standing.status.value for p in proposals],
        [p.standing.round for p in proposals],
        [p.standing.waiting_at for p in proposals],
        [_json(p.content) for p in proposals],
        [p.target_household_id for p in proposals],
        [p.submitted_by for p in proposals],
    ]


async def insert_proposals(conn: asyncpg.Connection, proposals: list[NewProposal]) -> set[str]:
    """Insert new proposals; returns the ids that were new (an id already taken is left alone)."""
    rows = await conn.fetch(
        """INSERT INTO proposals (proposal_id, kind, village_code, regency_code, status, round, waiting_at,
                                  stream_version, content, target_household_id, submitted_by, import_id)
           SELECT id, k, v, r, s, rd, w, 1, c::jsonb, t, sb, imp
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[],
                       $8::text[], $9::text[], $10::text[], $11::uuid[])
                AS x(id, k, v, r, s, rd, w, c, t, sb, imp)
           ON CONFLICT (proposal_id) DO NOTHING
           RETURNING proposal_id""",
        *_proposal_columns(proposals),
        [p.import_id for p in proposals],
    )
    return {r["proposal_id"] for r in rows}


async def add_timeline(conn: asyncpg.Connection, entries: list[TimelineEntry]) -> None:
    if not entries:
        return
    await conn.execute(
        f"""INSERT INTO proposal_timeline ({_TIMELINE_COLUMNS})
            SELECT * FROM {_timeline_unnest(1)}
            ON CONFLICT (proposal_id, event_id) DO NOTHING""",
        *_timeline_columns(entries),
    )


_TIMELINE_COLUMNS = "proposal_id, event_id, event_type, round, at, actor, tier, reasons, note, details"


def _timeline_unnest(first: int) -> str:
    """unnest(...) of the timeline's ten array parameters, numbered from ``first``."""
    types = ("text", "uuid", "text", "int", "timestamptz", "jsonb", "text", "jsonb", "text", "jsonb")
    return "unnest(" + ", ".join(f"${first + i}::{t}[]" for i, t in enumerate(types)) + ")"


def _timeline_columns(entries: list[TimelineEntry]) -> list[list[Any]]:
    """Timeline entries as one array parameter per column of _TIMELINE_COLUMNS."""
    return [
        [e.proposal_id for e in entries],
        [e.event_id for e in entries],
        [e.event_type for e in entries],
        [e.round for e in entries],
        [e.at for e in entries],
        [_json(e.actor) if e.actor is not None else None for e in entries],
        [e.tier for e in entries],
        [_json(e.reasons) if e.reasons else "[]" for e in entries],
        [e.note for e in entries],
        [_json(e.details) if e.details else "{}" for e in entries],
    ]


async def load_for_update(conn: asyncpg.Connection, proposal_id: str) -> StoredProposal | None:
    return (await load_many_for_update(conn, [proposal_id])).get(proposal_id)


def _stored(row: asyncpg.Record) -> StoredProposal:
    return StoredProposal(
        proposal_id=row["proposal_id"],
        kind=row["kind"],
        village_code=row["village_code"],
        standing=Standing(ProposalStatus(row["status"]), row["round"], row["waiting_at"]),
        stream_version=row["stream_version"],
        submitted_by=row["submitted_by"],
    )


async def load_many_for_update(
    conn: asyncpg.Connection, proposal_ids: list[str]
) -> dict[str, StoredProposal]:
    """The proposals this service recorded among ``proposal_ids``, locked in id order (so two
    transactions locking overlapping sets wait for each other instead of deadlocking)."""
    rows = await conn.fetch(
        """SELECT proposal_id, kind, village_code, status, round, waiting_at, stream_version, submitted_by
           FROM proposals WHERE proposal_id = ANY($1::text[]) ORDER BY proposal_id FOR UPDATE""",
        proposal_ids,
    )
    return {r["proposal_id"]: _stored(r) for r in rows}


@dataclass(frozen=True)
class StandingUpdate:
    proposal_id: str
    standing: Standing
    household_id: str | None = None  # set by the decree that put it in the register
    decree_number: str | None = None


async def save_standings(conn: asyncpg.Connection, updates: list[StandingUpdate]) -> None:
    if not updates:
        return
    await conn.execute(
        """UPDATE proposals SET status = x.s, round = x.r, waiting_at = x.w,
                  household_id = coalesce(x.h, household_id), decree_number = coalesce(x.d, decree_number),
                  updated_at = now()
           FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::text[])
                AS x(id, s, r, w, h, d)
           WHERE proposals.proposal_id = x.id""",
        [u.proposal_id for u in updates],
        [u.standing.status.value for u in updates],
        [u.standing.round for u in updates],
        [u.standing.waiting_at for u in updates],
        [u.household_id for u in updates],
        [u.decree_number for u in updates],
    )


async def save_standing(
    conn: asyncpg.Connection,
    proposal_id: str,
    standing: Standing,
    *,
    stream_version: int | None = None,
    content: dict[str, Any] | None = None,
    household_id: str | None = None,
    decree_number: str | None = None,
) -> None:
    await conn.execute(
        """UPDATE proposals SET status = $2, round = $3, waiting_at = $4,
                  stream_version = coalesce($5, stream_version), content = coalesce($6::jsonb, content),
                  household_id = coalesce($7, household_id), decree_number = coalesce($8, decree_number),
                  updated_at = now()
           WHERE proposal_id = $1""",
        proposal_id,
        standing.status.value,
        standing.round,
        standing.waiting_at,
        stream_version,
        _json(content) if content is not None else None,
        household_id,
        decree_number,
    )


def _proposal_view(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "proposal_id": row["proposal_id"],
        "kind": row["kind"],
        "village_code": row["village_code"],
        "status": row["status"],
        "round": row["round"],
        "waiting_at": row["waiting_at"],
        "target_household_id": row["target_household_id"],
        "household_id": row["household_id"],
        "decree_number": row["decree_number"],
        "import_id": str(row["import_id"]) if row["import_id"] else None,
        "submitted_at": row["submitted_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
    }


async def content_of(conn: asyncpg.Connection | asyncpg.Pool, proposal_id: str) -> dict[str, Any] | None:
    """A proposal's content as its latest round said it."""
    text = await conn.fetchval("SELECT content::text FROM proposals WHERE proposal_id = $1", proposal_id)
    return None if text is None else dict(json.loads(text))


async def proposal_view(conn: asyncpg.Connection, proposal_id: str) -> dict[str, Any] | None:
    """One proposal as the operator sees it: status, the tier it waits at, content, full timeline.

    Both reads in one snapshot: read apart, a status consumer committing between them showed the
    timeline of a proposal verified at two tiers beside its status still "submitted" (a CI run
    caught it)."""
    async with conn.transaction(isolation="repeatable_read", readonly=True):
        row = await conn.fetchrow("SELECT * FROM proposals WHERE proposal_id = $1", proposal_id)
        if row is None:
            return None
        events = await conn.fetch(
            """SELECT event_id, event_type, round, at, actor, tier, reasons, note, details
               FROM proposal_timeline WHERE proposal_id = $1 ORDER BY at, id""",
            proposal_id,
        )
    view = _proposal_view(row)
    view["content"] = json.loads(row["content"])
    view["timeline"] = [
        {
            "event_id": str(e["event_id"]),
            "event": e["event_type"],
            "round": e["round"],
            "at": e["at"].isoformat(),
            "actor": json.loads(e["actor"]) if e["actor"] else None,
            "tier": e["tier"],
            "reasons": json.loads(e["reasons"]),
            "note": e["note"],
            **json.loads(e["details"]),
        }
        for e in events
    ]
    return view


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(str(seq).encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> int:
    """Raises ValueError for a cursor this service did not hand out."""
    padded = cursor + "=" * (-len(cursor) % 4)
    return int(base64.urlsafe_b64decode(padded.encode()).decode())


async def list_proposals(
    conn: asyncpg.Connection,
    *,
    region: str,
    status: str | None,
    kind: str | None,
    after_seq: int | None,
    limit: int,
) -> tuple[list[dict[str, Any]], str | None]:
    """A region's proposals, newest first, one page; the cursor continues after the last one."""
    rows = await conn.fetch(
        f"""SELECT * FROM proposals
           WHERE {region_filter("village_code", 1)}
             AND ($2::text IS NULL OR status = $2)
             AND ($3::text IS NULL OR kind = $3)
             AND ($4::bigint IS NULL OR seq < $4)
           ORDER BY seq DESC LIMIT $5""",
        region,
        status,
        kind,
        after_seq,
        limit + 1,
    )
    more = len(rows) > limit
    rows = rows[:limit]
    cursor = encode_cursor(rows[-1]["seq"]) if more and rows else None
    return [_proposal_view(r) for r in rows], cursor


# -- idempotent answers ------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredAnswer:
    fingerprint: str
    status_code: int
    body: dict[str, Any]


async def find_answer(conn: asyncpg.Connection | asyncpg.Pool, key: str) -> StoredAnswer | None:
    row = await conn.fetchrow(
        "SELECT fingerprint, status_code, response FROM idempotency WHERE key = $1", key
    )
    if row is None:
        return None
    return StoredAnswer(row["fingerprint"], row["status_code"], json.loads(row["response"]))


async def forget_answer_older_than(
    conn: asyncpg.Connection | asyncpg.Pool, key: str, age: dt.timedelta
) -> None:
    """Drop the answer kept under ``key`` if it is older than ``age``."""
    await conn.execute(
        "DELETE FROM idempotency WHERE key = $1 AND created_at < now() - $2::interval", key, age
    )


async def remember_answer(
    conn: asyncpg.Connection, key: str, fingerprint: str, status_code: int, body: dict[str, Any]
) -> bool:
    """Record the answer to ``key``; False if another request with the key got there first."""
    row = await conn.fetchval(
        """INSERT INTO idempotency (key, fingerprint, status_code, response) VALUES ($1, $2, $3, $4::jsonb)
           ON CONFLICT (key) DO NOTHING RETURNING 1""",
        key,
        fingerprint,
        status_code,
        _json(body),
    )
    return row is not None


# -- windows -------------------------------------------------------------------------------------


def _window(row: asyncpg.Record) -> Window:
    return Window(
        regency_code=row["regency_code"],
        is_open=row["is_open"],
        period_start=row["period_start"],
        period_end=row["period_end"],
        quota=row["quota"],
        used=row["used"],
    )


async def stream_version(conn: asyncpg.Connection, aggregate_type: str, aggregate_id: str) -> int:
    """The version of an event stream (0 if it has none yet): what its next append expects."""
    return int(
        await conn.fetchval(
            "SELECT coalesce(max(stream_version), 0) FROM events WHERE stream_id = $1",
            f"{aggregate_type}:{aggregate_id}",
        )
    )


async def set_window(
    conn: asyncpg.Connection,
    regency_code: str,
    *,
    is_open: bool,
    period_start: dt.date | None,
    period_end: dt.date | None,
    quota: int | None,
    updated_by: dict[str, Any],
) -> Window:
    """Set a regency's window; the quota's use is recounted from the first submissions in the period
    that were not withdrawn (a withdrawn proposal gives its place back, see :func:`give_back_quota`)."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('window:' || $1))", regency_code)
    used = await conn.fetchval(
        """SELECT count(*) FROM proposals
           WHERE regency_code = $1 AND status <> 'withdrawn'
             AND ($2::date IS NULL OR (submitted_at AT TIME ZONE 'Asia/Jakarta')::date >= $2)
             AND ($3::date IS NULL OR (submitted_at AT TIME ZONE 'Asia/Jakarta')::date <= $3)""",
        regency_code,
        period_start,
        period_end,
    )
    row = await conn.fetchrow(
        """INSERT INTO windows (regency_code, is_open, period_start, period_end, quota, used, updated_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)
           ON CONFLICT (regency_code) DO UPDATE SET is_open = $2, period_start = $3, period_end = $4,
                quota = $5, used = $6, updated_by = $7::jsonb, updated_at = now()
           RETURNING *""",
        regency_code,
        is_open,
        period_start,
        period_end,
        quota,
        int(used),
        _json(updated_by),
    )
    return _window(row)


async def get_window(conn: asyncpg.Connection | asyncpg.Pool, regency_code: str) -> Window | None:
    row = await conn.fetchrow("SELECT * FROM windows WHERE regency_code = $1", regency_code)
    return _window(row) if row else None


# -- first submissions entering, many in one transaction ------------------------------------------
# A single submission, a group commit's group and an import's chunk all enter through
# dtks_proposal.entry in four statements whatever their number: the answers kept and the windows
# locked, the proposals, the events (the event store), and the quotas, timeline and answers.


@dataclass(frozen=True)
class AnswerToKeep:
    key: str
    fingerprint: str
    status_code: int
    body: dict[str, Any]


async def answers_and_windows(
    conn: asyncpg.Connection, keys: list[str], regencies: list[tuple[str, str | None]]
) -> tuple[dict[str, StoredAnswer], dict[str, Window]]:
    """The answers already given to any of ``keys``, and the windows of the regencies of
    ``regencies`` (``(regency, key)`` of each submission) whose key has none, locked until commit in
    code order (so two transactions that need the same windows never deadlock). One statement: a
    retry with a stored answer takes no lock, waits for no one and changes nothing."""
    rows = await conn.fetch(
        """WITH found AS (
               SELECT key, fingerprint, status_code, response::text AS response
               FROM idempotency WHERE key = ANY($1::text[])
           ), locked AS (
               SELECT w.regency_code, w.is_open, w.period_start, w.period_end, w.quota, w.used
               FROM windows w
               WHERE w.regency_code IN (SELECT x.r FROM unnest($2::text[], $3::text[]) AS x(r, k)
                                        WHERE x.k IS NULL OR x.k NOT IN (SELECT key FROM found))
               ORDER BY w.regency_code FOR UPDATE
           )
           SELECT key, fingerprint, status_code, response, NULL::text AS regency_code,
                  NULL::boolean AS is_open, NULL::date AS period_start, NULL::date AS period_end,
                  NULL::int AS quota, NULL::int AS used
           FROM found
           UNION ALL
           SELECT NULL, NULL, NULL, NULL, regency_code, is_open, period_start, period_end, quota, used
           FROM locked""",
        keys,
        [r for r, _ in regencies],
        [k for _, k in regencies],
    )
    answers = {
        r["key"]: StoredAnswer(r["fingerprint"], r["status_code"], json.loads(r["response"]))
        for r in rows
        if r["key"] is not None
    }
    return answers, {r["regency_code"]: _window(r) for r in rows if r["regency_code"] is not None}


async def record_entered(
    conn: asyncpg.Connection,
    entries: list[TimelineEntry],
    quota_use: dict[str, int],
    answers: list[AnswerToKeep],
) -> bool:
    """The entered proposals' timeline entries, their places in the quotas and the answers to keep,
    in one statement. False if an idempotency key was taken by another request first: the caller
    must roll back (the rest was written) and decide those submissions again."""
    counts = {regency: n for regency, n in quota_use.items() if n}
    row = await conn.fetchrow(
        f"""WITH quota AS (
               UPDATE windows w SET used = w.used + x.n
               FROM unnest($1::text[], $2::int[]) AS x(r, n) WHERE w.regency_code = x.r
           ), timeline AS (
               INSERT INTO proposal_timeline ({_TIMELINE_COLUMNS})
               SELECT * FROM {_timeline_unnest(3)}
               ON CONFLICT (proposal_id, event_id) DO NOTHING
           ), answer AS (
               INSERT INTO idempotency (key, fingerprint, status_code, response)
               SELECT * FROM unnest($13::text[], $14::text[], $15::int[], $16::jsonb[])
               ON CONFLICT (key) DO NOTHING RETURNING 1
           )
           SELECT count(*) AS answers FROM answer""",
        list(counts),
        list(counts.values()),
        *_timeline_columns(entries),
        [a.key for a in answers],
        [a.fingerprint for a in answers],
        [a.status_code for a in answers],
        [_json(a.body) for a in answers],
    )
    assert row is not None
    return bool(row["answers"] == len(answers))


async def give_back_quota(conn: asyncpg.Connection, proposal_id: str) -> None:
    """A withdrawn proposal's place in its regency's quota is free again, if it held one: if it was
    submitted within the window's period (what :func:`set_window` counts as used)."""
    await conn.execute(
        """UPDATE windows w SET used = greatest(w.used - 1, 0)
           FROM proposals p
           WHERE p.proposal_id = $1 AND w.regency_code = p.regency_code
             AND (w.period_start IS NULL OR (p.submitted_at AT TIME ZONE 'Asia/Jakarta')::date >= w.period_start)
             AND (w.period_end IS NULL OR (p.submitted_at AT TIME ZONE 'Asia/Jakarta')::date <= w.period_end)""",
        proposal_id,
    )
