"""PostgreSQL read models and state of the verification service (all SQL lives here)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from dtks_contracts.envelope import Actor
from dtks_contracts.events.proposal import ProposalContent, ProposalResubmitted, ProposalSubmitted
from dtks_contracts.historical import HISTORICAL_READ
from dtks_contracts.household import Household
from dtks_contracts.vocabulary import Tier
from dtks_verification.domain.integrity import RegisterFacts
from dtks_verification.domain.names import name_key
from dtks_verification.domain.workflow import Status, VerificationState


@dataclass(frozen=True)
class ProposalRecord:
    state: VerificationState
    content: ProposalContent
    seq: int
    stream_version: int
    entered_at: dt.datetime


_COLUMNS = "proposal_id, round, village_code, content::text AS content, status, tier, seq, stream_version, entered_at"


def _content(text: str) -> ProposalContent:
    data = json.loads(text)
    cls = ProposalSubmitted if data["round"] == 1 else ProposalResubmitted
    return cls.model_validate(data, extra="ignore", context=dict(HISTORICAL_READ))


def _record(row: asyncpg.Record) -> ProposalRecord:
    state = VerificationState(
        proposal_id=row["proposal_id"],
        round=row["round"],
        village_code=row["village_code"],
        status=Status(row["status"]),
        tier=Tier(row["tier"]) if row["tier"] else None,
    )
    return ProposalRecord(
        state, _content(row["content"]), row["seq"], row["stream_version"], row["entered_at"]
    )


# --- proposals -------------------------------------------------------------------------------


async def load(
    conn: asyncpg.Connection, proposal_id: str, *, for_update: bool = False
) -> ProposalRecord | None:
    lock = " FOR UPDATE" if for_update else ""
    row = await conn.fetchrow(f"SELECT {_COLUMNS} FROM proposals WHERE proposal_id = $1{lock}", proposal_id)
    return None if row is None else _record(row)


async def load_many(
    conn: asyncpg.Connection, proposal_ids: Sequence[str], *, for_update: bool = False
) -> dict[str, ProposalRecord]:
    lock = " FOR UPDATE" if for_update else ""
    rows = await conn.fetch(
        f"SELECT {_COLUMNS} FROM proposals WHERE proposal_id = ANY($1::text[]) ORDER BY proposal_id{lock}",
        list(proposal_ids),
    )
    return {r["proposal_id"]: _record(r) for r in rows}


async def save(
    conn: asyncpg.Connection, state: VerificationState, stream_version: int, *, moved: bool = True
) -> None:
    """Store the new standing; `moved` restarts the queue clock (a new tier or status)."""
    region = state.region_at(state.tier) if state.tier is not None else None
    await conn.execute(
        """UPDATE proposals SET status = $2, tier = $3, tier_region = $4, stream_version = $5,
                  entered_at = CASE WHEN $6 THEN now() ELSE entered_at END
           WHERE proposal_id = $1""",
        state.proposal_id,
        state.status.value,
        state.tier.value if state.tier else None,
        region,
        stream_version,
        moved,
    )


async def start_round(
    conn: asyncpg.Connection, content: ProposalContent, correlation_id: str, causation_id: str
) -> bool:
    """Record a submission or resubmission and queue its entry checks. False if already known
    (an older or the same round arriving again changes nothing)."""
    row = await conn.fetchrow(
        """INSERT INTO proposals (proposal_id, round, village_code, kind, content, status)
           VALUES ($1, $2, $3, $4, $5::jsonb, 'checking')
           ON CONFLICT (proposal_id) DO UPDATE
              SET round = EXCLUDED.round, content = EXCLUDED.content, kind = EXCLUDED.kind,
                  village_code = EXCLUDED.village_code, status = 'checking', tier = NULL,
                  tier_region = NULL, entered_at = now()
              WHERE proposals.round < EXCLUDED.round AND proposals.status <> 'withdrawn'
           RETURNING seq""",
        content.proposal_id,
        content.round,
        content.village_code,
        content.kind.value,
        content.model_dump_json(),
    )
    if row is None:
        return False
    await conn.execute("DELETE FROM open_niks WHERE proposal_id = $1", content.proposal_id)
    if content.household is not None:
        niks = list(dict.fromkeys(m.nik for m in content.household.members))
        await conn.execute(
            "INSERT INTO open_niks (nik, proposal_id, seq) SELECT n, $2, $3 FROM unnest($1::text[]) AS n",
            niks,
            content.proposal_id,
            row["seq"],
        )
    await enqueue_check(
        conn,
        content.proposal_id,
        content.round,
        "entry",
        correlation_id=correlation_id,
        causation_id=causation_id,
    )
    return True


async def withdraw(conn: asyncpg.Connection, proposal_id: str) -> None:
    await conn.execute(
        "UPDATE proposals SET status = 'withdrawn', tier = NULL, tier_region = NULL, entered_at = now() "
        "WHERE proposal_id = $1 AND status <> 'accepted'",
        proposal_id,
    )
    await conn.execute("DELETE FROM open_niks WHERE proposal_id = $1", proposal_id)
    await conn.execute("DELETE FROM pending_checks WHERE proposal_id = $1", proposal_id)


# --- the register, as the registry's events describe it ---------------------------------------


async def register_household(conn: asyncpg.Connection, household_id: str, household: Household) -> None:
    """A registered or corrected household: its snapshot replaces what we knew."""
    await conn.execute(
        """INSERT INTO registered_households (household_id, kk_number, active) VALUES ($1, $2, true)
           ON CONFLICT (household_id) DO UPDATE SET kk_number = EXCLUDED.kk_number, active = true""",
        household_id,
        household.kk_number,
    )
    await conn.execute("DELETE FROM registered_people WHERE household_id = $1", household_id)
    district = household.village_code[:8]
    members = household.members
    await conn.execute(
        """INSERT INTO registered_people (nik, household_id, name_key, birth_date, district)
           SELECT n, $2, k, b, $5 FROM unnest($1::text[], $3::text[], $4::date[]) AS x(n, k, b)
           ON CONFLICT (nik) DO UPDATE SET household_id = EXCLUDED.household_id,
               name_key = EXCLUDED.name_key, birth_date = EXCLUDED.birth_date, district = EXCLUDED.district""",
        [m.nik for m in members],
        household_id,
        [name_key(m.name) for m in members],
        [m.birth_date for m in members],
        district,
    )


async def deactivate_household(conn: asyncpg.Connection, household_id: str, kk_number: str) -> None:
    await conn.execute(
        """INSERT INTO registered_households (household_id, kk_number, active) VALUES ($1, $2, false)
           ON CONFLICT (household_id) DO UPDATE SET active = false""",
        household_id,
        kk_number,
    )
    await conn.execute("DELETE FROM registered_people WHERE household_id = $1", household_id)


async def release_open_niks(conn: asyncpg.Connection, proposal_id: str) -> None:
    """The register now holds what the proposal claimed; the proposal's claim ends."""
    await conn.execute("DELETE FROM open_niks WHERE proposal_id = $1", proposal_id)


async def register_facts(
    conn: asyncpg.Connection, records: Sequence[ProposalRecord]
) -> dict[str, RegisterFacts]:
    """What the read models say about each proposal's people, card and target, in four queries."""
    niks = sorted({m.nik for r in records if r.content.household for m in r.content.household.members})
    kks = sorted({r.content.household.kk_number for r in records if r.content.household})
    targets = sorted({r.content.target_household_id for r in records if r.content.target_household_id})
    people = {
        r["nik"]: r["household_id"]
        for r in await conn.fetch(
            "SELECT nik, household_id FROM registered_people WHERE nik = ANY($1::text[])", niks
        )
    }
    cards = {
        r["kk_number"]: r["household_id"]
        for r in await conn.fetch(
            "SELECT kk_number, household_id FROM registered_households WHERE active AND kk_number = ANY($1::text[])",
            kks,
        )
    }
    households = {
        r["household_id"]: r["active"]
        for r in await conn.fetch(
            "SELECT household_id, active FROM registered_households WHERE household_id = ANY($1::text[])",
            targets,
        )
    }
    claims: dict[str, list[tuple[int, str]]] = {}
    for r in await conn.fetch(
        "SELECT nik, proposal_id, seq FROM open_niks WHERE nik = ANY($1::text[])", niks
    ):
        claims.setdefault(r["nik"], []).append((r["seq"], r["proposal_id"]))
    namesakes = await _namesakes(conn, records)
    facts: dict[str, RegisterFacts] = {}
    for record in records:
        own = record.content.household
        own_niks = [m.nik for m in own.members] if own else []
        earlier = {}
        for nik in own_niks:
            others = sorted(
                c for c in claims.get(nik, ()) if c[0] < record.seq and c[1] != record.state.proposal_id
            )
            if others:
                earlier[nik] = others[0][1]
        facts[record.state.proposal_id] = RegisterFacts(
            registered_niks={n: people[n] for n in own_niks if n in people},
            registered_kks={own.kk_number: cards[own.kk_number]} if own and own.kk_number in cards else {},
            households=households,
            earlier_open_proposals=earlier,
            namesakes=namesakes.get(record.state.proposal_id, {}),
        )
    return facts


async def _namesakes(
    conn: asyncpg.Connection, records: Sequence[ProposalRecord]
) -> dict[str, dict[str, str]]:
    pids, niks, districts, keys, births = [], [], [], [], []
    for record in records:
        household = record.content.household
        if household is None:
            continue
        for m in household.members:
            pids.append(record.state.proposal_id)
            niks.append(m.nik)
            districts.append(household.village_code[:8])
            keys.append(name_key(m.name))
            births.append(m.birth_date)
    if not pids:
        return {}
    rows = await conn.fetch(
        """SELECT x.pid, x.nik, p.nik AS namesake
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::date[]) AS x(pid, nik, d, k, b)
           JOIN registered_people p ON p.district = x.d AND p.name_key = x.k AND p.birth_date = x.b
           WHERE p.nik <> x.nik""",
        pids,
        niks,
        districts,
        keys,
        births,
    )
    out: dict[str, dict[str, str]] = {}
    for r in rows:
        out.setdefault(r["pid"], {})[r["nik"]] = r["namesake"]
    return out


# --- the pending-checks queue ------------------------------------------------------------------


@dataclass(frozen=True)
class PendingCheck:
    proposal_id: str
    round: int
    stage: str
    requested_by: Actor | None
    note: str | None
    correlation_id: str | None = None
    causation_id: str | None = None


async def enqueue_check(
    conn: asyncpg.Connection,
    proposal_id: str,
    round_: int,
    stage: str,
    requested_by: Actor | None = None,
    note: str | None = None,
    correlation_id: str | None = None,
    causation_id: str | None = None,
) -> None:
    await conn.execute(
        """INSERT INTO pending_checks (proposal_id, round, stage, requested_by, note, correlation_id, causation_id)
           VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
           ON CONFLICT (proposal_id) DO UPDATE SET round = EXCLUDED.round, stage = EXCLUDED.stage,
               requested_by = EXCLUDED.requested_by, note = EXCLUDED.note, queued_at = now(),
               correlation_id = EXCLUDED.correlation_id, causation_id = EXCLUDED.causation_id,
               not_before = now(), attempts = 0, last_error = NULL""",
        proposal_id,
        round_,
        stage,
        requested_by.model_dump_json() if requested_by else None,
        note,
        correlation_id,
        causation_id,
    )


async def lease_checks(conn: asyncpg.Connection, limit: int, lease_seconds: float) -> list[PendingCheck]:
    """Take up to `limit` due checks, oldest first, hiding them from other workers for the lease."""
    rows = await conn.fetch(
        """UPDATE pending_checks SET not_before = now() + make_interval(secs => $2), attempts = attempts + 1
           WHERE proposal_id IN (SELECT proposal_id FROM pending_checks WHERE not_before <= now()
                                 ORDER BY queued_at LIMIT $1 FOR UPDATE SKIP LOCKED)
           RETURNING proposal_id, round, stage, requested_by::text AS requested_by, note,
                     correlation_id, causation_id""",
        limit,
        lease_seconds,
    )
    return [
        PendingCheck(
            r["proposal_id"],
            r["round"],
            r["stage"],
            Actor.model_validate_json(r["requested_by"]) if r["requested_by"] else None,
            r["note"],
            r["correlation_id"],
            r["causation_id"],
        )
        for r in rows
    ]


async def defer_checks(
    conn: asyncpg.Connection, proposal_ids: Sequence[str], seconds: float, error: str
) -> None:
    await conn.execute(
        """UPDATE pending_checks SET not_before = now() + make_interval(secs => $2), last_error = $3
           WHERE proposal_id = ANY($1::text[])""",
        list(proposal_ids),
        seconds,
        error,
    )


async def finish_check(conn: asyncpg.Connection, check: PendingCheck) -> None:
    await conn.execute(
        "DELETE FROM pending_checks WHERE proposal_id = $1 AND round = $2 AND stage = $3",
        check.proposal_id,
        check.round,
        check.stage,
    )


async def pending_check_of(conn: asyncpg.Connection, proposal_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(
        "SELECT stage, queued_at, attempts, last_error FROM pending_checks WHERE proposal_id = $1",
        proposal_id,
    )
    return None if row is None else dict(row)


# --- queues ----------------------------------------------------------------------------------


def _scope_clause(column: str, param: str) -> str:
    return f"({param} = 'ID' OR {column} = {param} OR {column} LIKE {param} || '.%')"


async def queue(
    conn: asyncpg.Connection, tier: Tier, scope: str, limit: int, after: dt.datetime | None
) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT proposal_id, round, village_code, kind, tier_region, entered_at,
                   content->'household'->>'kk_number' AS kk_number,
                   jsonb_array_length(COALESCE(content->'household'->'members', '[]'::jsonb)) AS members
            FROM proposals
            WHERE status = 'in_tier' AND tier = $1 AND {_scope_clause("tier_region", "$2")}
              AND ($4::timestamptz IS NULL OR entered_at > $4)
            ORDER BY entered_at, proposal_id LIMIT $3""",
        tier.value,
        scope,
        limit,
        after,
    )


async def queue_stats(conn: asyncpg.Connection, scope: str, age_limit: dt.timedelta) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"""SELECT tier, tier_region, count(*) AS count, min(entered_at) AS oldest,
                   count(*) FILTER (WHERE entered_at < now() - $2::interval) AS past_age_limit
            FROM proposals
            WHERE status = 'in_tier' AND {_scope_clause("tier_region", "$1")}
            GROUP BY tier, tier_region ORDER BY tier, tier_region""",
        scope,
        age_limit,
    )


async def checks_waiting(conn: asyncpg.Connection, scope: str) -> asyncpg.Record:
    return await conn.fetchrow(
        f"""SELECT count(*) AS count, min(c.queued_at) AS oldest,
                   count(*) FILTER (WHERE c.last_error IS NOT NULL) AS waiting_for_civil_registry
            FROM pending_checks c JOIN proposals p USING (proposal_id)
            WHERE {_scope_clause("p.village_code", "$1")}""",
        scope,
    )


# --- field visits and ratifications ------------------------------------------------------------


async def add_visit(
    conn: asyncpg.Connection, proposal_id: str, round_: int, visit: dict[str, Any], recorded_by: Actor
) -> int:
    return int(
        await conn.fetchval(
            """INSERT INTO field_visits (proposal_id, round, visit, recorded_by)
               VALUES ($1, $2, $3::jsonb, $4::jsonb) RETURNING visit_id""",
            proposal_id,
            round_,
            json.dumps(visit),
            recorded_by.model_dump_json(),
        )
    )


async def visits(conn: asyncpg.Connection, proposal_id: str) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        """SELECT visit_id, round, visit::text AS visit, recorded_by::text AS recorded_by, recorded_at
           FROM field_visits WHERE proposal_id = $1 ORDER BY visit_id""",
        proposal_id,
    )
    return [
        {
            "visit_id": r["visit_id"],
            "round": r["round"],
            **json.loads(r["visit"]),
            "recorded_by": json.loads(r["recorded_by"]),
            "recorded_at": r["recorded_at"].isoformat(),
        }
        for r in rows
    ]


async def record_ratification(
    conn: asyncpg.Connection,
    batch_id: str,
    regency_code: str,
    decree_number: str,
    decree_date: dt.date,
    proposal_ids: Sequence[str],
) -> bool:
    """False if this regency already used the decree number (the ratification is not repeated)."""
    row = await conn.fetchval(
        """INSERT INTO ratifications (batch_id, regency_code, decree_number, decree_date, proposal_ids)
           VALUES ($1, $2, $3, $4, $5::text[]) ON CONFLICT DO NOTHING RETURNING batch_id""",
        batch_id,
        regency_code,
        decree_number,
        decree_date,
        list(proposal_ids),
    )
    return row is not None
