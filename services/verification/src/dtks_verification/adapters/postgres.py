"""PostgreSQL read models and state of the verification service (all SQL lives here)."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from dtks_contracts.envelope import Actor
from dtks_contracts.events.proposal import ProposalContent, ProposalResubmitted, ProposalSubmitted
from dtks_contracts.historical import HISTORICAL_READ
from dtks_contracts.household import Household
from dtks_contracts.vocabulary import Tier
from dtks_runtime.db import advisory_key
from dtks_verification.adapters.arrays import plain_array, text_array
from dtks_verification.domain.integrity import RegisterFacts
from dtks_verification.domain.names import name_key
from dtks_verification.domain.workflow import Status, VerificationState


@dataclass(frozen=True)
class ProposalRecord:
    state: VerificationState
    # The round's content, or its stored JSON text, parsed when first read: a decision below the
    # Ministry reads only the standing, and parsing every loaded household cost it most of its time.
    source: ProposalContent | str
    seq: int
    stream_version: int
    entered_at: dt.datetime

    @functools.cached_property
    def content(self) -> ProposalContent:
        return self.source if not isinstance(self.source, str) else _content(self.source)


_COLUMNS = "proposal_id, round, village_code, content::text AS content, status, tier, seq, stream_version, entered_at"


class ParsedContents:
    """Contents parsed lately, by a digest of their stored JSON text: a bounded memo of `_content`.

    Parsing a proposal (a household of validated NIKs, regions, dates) is the largest single cost
    of reading one back. Intake checks the content it parsed from the event and never reads it
    back; the worker (after an outage) and the Ministry's acceptances do, and this spares repeated
    reads of one proposal a parse each (records parse their content only when it is used). Intake
    no longer primes it: that cost a jsonb-to-text conversion per stored row and kept thousands of
    households alive for the collector to traverse, for reads that mostly come much later. The key
    is the exact stored text, and the models are frozen, so a hit is the very object a parse gives.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[bytes, ProposalContent] = OrderedDict()

    @staticmethod
    def _key(text: str) -> bytes:
        return hashlib.blake2b(text.encode(), digest_size=16).digest()

    def get(self, text: str) -> ProposalContent | None:
        key = self._key(text)
        content = self._items.get(key)
        if content is not None:
            self._items.move_to_end(key)
        return content

    def put(self, text: str, content: ProposalContent) -> None:
        key = self._key(text)
        self._items[key] = content
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


# Process-wide: a parse depends on the text only, so services sharing a process may share it.
PARSED = ParsedContents(10_000)


def _content_class(round_: int) -> type[ProposalContent]:
    return ProposalSubmitted if round_ == 1 else ProposalResubmitted


def _content(text: str) -> ProposalContent:
    content = PARSED.get(text)
    if content is None:
        data = json.loads(text)
        content = _content_class(data["round"]).model_validate(
            data, extra="ignore", context=dict(HISTORICAL_READ)
        )
        PARSED.put(text, content)
    return content


def _state_of(row: asyncpg.Record) -> VerificationState:
    return VerificationState(
        proposal_id=row["proposal_id"],
        round=row["round"],
        village_code=row["village_code"],
        status=Status(row["status"]),
        tier=Tier(row["tier"]) if row["tier"] else None,
    )


def _record(row: asyncpg.Record) -> ProposalRecord:
    return ProposalRecord(
        _state_of(row), row["content"], row["seq"], row["stream_version"], row["entered_at"]
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


async def lock_current(
    conn: asyncpg.Connection, loaded: Mapping[str, ProposalRecord]
) -> dict[str, ProposalRecord]:
    """Lock proposals loaded earlier (outside the transaction) and bring their standing up to date
    without parsing their content again: a round's content never changes. A proposal whose round
    moved on since is left out, as one that no longer exists."""
    rows = await conn.fetch(
        """SELECT proposal_id, round, village_code, status, tier, seq, stream_version, entered_at
           FROM proposals WHERE proposal_id = ANY($1::text[]) ORDER BY proposal_id FOR UPDATE""",
        list(loaded),
    )
    out = {}
    for r in rows:
        earlier = loaded[r["proposal_id"]]
        if earlier.state.round != r["round"]:
            continue
        state = _state_of(r)
        out[r["proposal_id"]] = ProposalRecord(
            state, earlier.source, r["seq"], r["stream_version"], r["entered_at"]
        )
    return out


async def current_rounds(
    conn: asyncpg.Connection, contents: Mapping[str, ProposalContent]
) -> dict[str, ProposalRecord]:
    """The standing of proposals whose round's content the caller holds (a round's content never
    changes, so it is not read back and parsed again); a proposal now at another round is left out.
    For rounds started in the caller's transaction, whose rows it already holds locked."""
    rows = await conn.fetch(
        """SELECT proposal_id, round, village_code, status, tier, seq, stream_version, entered_at
           FROM proposals WHERE proposal_id IN (SELECT unnest($1::text::text[]))""",
        text_array(contents),
    )
    out = {}
    for r in rows:
        content = contents[r["proposal_id"]]
        if content.round != r["round"]:
            continue
        state = _state_of(r)
        out[r["proposal_id"]] = ProposalRecord(state, content, r["seq"], r["stream_version"], r["entered_at"])
    return out


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


async def save_many(conn: asyncpg.Connection, standings: Sequence[tuple[VerificationState, int]]) -> None:
    """`save` for many proposals in one statement (each proposal once); every one moved."""
    if not standings:
        return
    await conn.execute(
        """UPDATE proposals p SET status = x.status, tier = x.tier, tier_region = x.region,
                  stream_version = x.version, entered_at = now()
           FROM unnest($1::text::text[], $2::text::text[], $3::text::text[], $4::text::text[],
                       $5::text::int[])
                AS x(proposal_id, status, tier, region, version)
           WHERE p.proposal_id = x.proposal_id""",
        text_array([s.proposal_id for s, _ in standings]),
        text_array([s.status.value for s, _ in standings]),
        text_array([s.tier.value if s.tier else None for s, _ in standings]),
        text_array([s.region_at(s.tier) if s.tier is not None else None for s, _ in standings]),
        plain_array([version for _, version in standings]),
    )


@dataclass(frozen=True)
class NewRound:
    """A submission or resubmission as intake records it, with the event that brought it."""

    content: ProposalContent
    correlation_id: str
    causation_id: str
    # The content as JSON when the caller has it already (intake serializes it while decoding the
    # batch ahead, outside the transaction); otherwise serialized here.
    content_json: str | None = None


def claim_lock_keys(contents: Sequence[ProposalContent]) -> list[int]:
    """The advisory-lock keys of the NIK districts (a NIK's first six digits) the rounds claim, sorted.

    A NIK's district is part of the NIK, so two rounds claiming the same NIK always share a key,
    and a batch takes a few dozen keys however many NIKs it holds (a lock per NIK could fill
    PostgreSQL's lock table)."""
    districts = {m.nik[:6] for c in contents if c.household is not None for m in c.household.members}
    return sorted(advisory_key(f"dtks:verification:nik-district:{d}") for d in districts)


async def _lock_claims(conn: asyncpg.Connection, contents: Sequence[ProposalContent]) -> None:
    """Hold, until the transaction ends, the NIK districts these rounds claim NIKs in.

    Who claimed a NIK first is decided by `seq`, given as the round's row is written, and a round's
    check reads the claims committed before it. Two intakes running at once (two processes sharing
    the partitions) could otherwise each write their claim unseen by the other, and both pass. With
    the districts locked before the rows are written, the later intake waits for the earlier one's
    commit, gets the later `seq` and sees its claim. Keys are taken in sorted order: no deadlock
    between intakes."""
    keys = claim_lock_keys(contents)
    if keys:
        await conn.execute(
            "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest($1::bigint[]) AS k ORDER BY 1) AS ordered",
            keys,
        )


async def start_rounds(conn: asyncpg.Connection, rounds: Sequence[NewRound], *, queue: bool = True) -> int:
    """Record submissions and resubmissions of distinct proposals and queue their entry checks, in
    five statements whatever their number. A round that is not newer than the one held, or of a
    withdrawn proposal, changes nothing. Returns how many rounds started. With `queue` False the
    caller concludes the checks itself in this transaction (or queues them with `enqueue_checks`)."""
    if not rounds:
        return 0
    contents = [r.content for r in rounds]
    if len({c.proposal_id for c in contents}) != len(contents):
        raise ValueError("start_rounds: each proposal may appear once; split the batch")
    await _lock_claims(conn, contents)
    # ORDER BY the arrival order: `seq` (who claimed a NIK first) follows the events' order.
    rows = await conn.fetch(
        """INSERT INTO proposals (proposal_id, round, village_code, kind, content, status)
           SELECT pid, rnd, village, kind, content::jsonb, 'checking'
           FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
                AS x(pid, rnd, village, kind, content, ord)
           ORDER BY ord
           ON CONFLICT (proposal_id) DO UPDATE
              SET round = EXCLUDED.round, content = EXCLUDED.content, kind = EXCLUDED.kind,
                  village_code = EXCLUDED.village_code, status = 'checking', tier = NULL,
                  tier_region = NULL, entered_at = now()
              WHERE proposals.round < EXCLUDED.round AND proposals.status <> 'withdrawn'
           RETURNING proposal_id, seq""",
        [c.proposal_id for c in contents],
        [c.round for c in contents],
        [c.village_code for c in contents],
        [c.kind.value for c in contents],
        [r.content_json or r.content.model_dump_json() for r in rounds],
    )
    if not rows:
        return 0
    seq_of = {r["proposal_id"]: r["seq"] for r in rows}
    started = [r for r in rounds if r.content.proposal_id in seq_of]
    # A first round started only as a new row (a row is updated only for a newer round), so only
    # resubmissions can hold claims of an earlier round to end.
    resubmitted = [r.content.proposal_id for r in started if r.content.round > 1]
    if resubmitted:
        await conn.execute(
            "DELETE FROM open_niks WHERE proposal_id IN (SELECT unnest($1::text::text[]))",
            text_array(resubmitted),
        )
    nik_rows = [
        (nik, r.content.proposal_id, seq_of[r.content.proposal_id])
        for r in started
        if r.content.household is not None
        for nik in dict.fromkeys(m.nik for m in r.content.household.members)
    ]
    if nik_rows:
        await conn.execute(
            """INSERT INTO open_niks (nik, proposal_id, seq)
               SELECT * FROM unnest($1::text::text[], $2::text::text[], $3::text::bigint[])""",
            text_array([n for n, _, _ in nik_rows]),
            text_array([p for _, p, _ in nik_rows]),
            plain_array([s for _, _, s in nik_rows]),
        )
    if not queue:
        return len(started)
    await enqueue_checks(
        conn,
        [
            CheckRequest(
                r.content.proposal_id,
                r.content.round,
                "entry",
                correlation_id=r.correlation_id,
                causation_id=r.causation_id,
            )
            for r in started
        ],
    )
    return len(started)


async def withdraw(conn: asyncpg.Connection, proposal_id: str) -> None:
    await withdraw_many(conn, [proposal_id])


async def withdraw_many(conn: asyncpg.Connection, proposal_ids: Sequence[str]) -> None:
    """Withdrawals end the proposals (an accepted one stays accepted), their claims and their checks."""
    if not proposal_ids:
        return
    ids = list(proposal_ids)
    await conn.execute(
        "UPDATE proposals SET status = 'withdrawn', tier = NULL, tier_region = NULL, entered_at = now() "
        "WHERE proposal_id = ANY($1::text[]) AND status <> 'accepted'",
        ids,
    )
    await conn.execute("DELETE FROM open_niks WHERE proposal_id = ANY($1::text[])", ids)
    await conn.execute("DELETE FROM pending_checks WHERE proposal_id = ANY($1::text[])", ids)


# --- the register, as the registry's events describe it ---------------------------------------


async def register_households(conn: asyncpg.Connection, snapshots: Sequence[tuple[str, Household]]) -> None:
    """Registered or corrected households (each once): their snapshots replace what we knew."""
    if not snapshots:
        return
    ids = [household_id for household_id, _ in snapshots]
    if len(set(ids)) != len(ids):
        raise ValueError("register_households: each household may appear once; split the batch")
    await conn.execute(
        """INSERT INTO registered_households (household_id, kk_number, active)
           SELECT h, k, true FROM unnest($1::text[], $2::text[]) AS x(h, k)
           ON CONFLICT (household_id) DO UPDATE SET kk_number = EXCLUDED.kk_number, active = true""",
        ids,
        [household.kk_number for _, household in snapshots],
    )
    await conn.execute("DELETE FROM registered_people WHERE household_id = ANY($1::text[])", ids)
    # A NIK met twice (a person moving between two households of the batch) ends where it was
    # last seen, as if the snapshots had been applied one after another.
    people: dict[str, tuple[str, str, dt.date, str]] = {}
    for household_id, household in snapshots:
        district = household.village_code[:8]
        for m in household.members:
            people[m.nik] = (household_id, name_key(m.name), m.birth_date, district)
    rows = list(people.items())
    await conn.execute(
        """INSERT INTO registered_people (nik, household_id, name_key, birth_date, district)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::date[], $5::text[])
           ON CONFLICT (nik) DO UPDATE SET household_id = EXCLUDED.household_id,
               name_key = EXCLUDED.name_key, birth_date = EXCLUDED.birth_date, district = EXCLUDED.district""",
        [nik for nik, _ in rows],
        [r[0] for _, r in rows],
        [r[1] for _, r in rows],
        [r[2] for _, r in rows],
        [r[3] for _, r in rows],
    )


async def deactivate_households(conn: asyncpg.Connection, households: Sequence[tuple[str, str]]) -> None:
    """Households (id, KK number) leaving the register: their people no longer count as registered."""
    if not households:
        return
    ids = [household_id for household_id, _ in households]
    if len(set(ids)) != len(ids):
        raise ValueError("deactivate_households: each household may appear once; split the batch")
    await conn.execute(
        """INSERT INTO registered_households (household_id, kk_number, active)
           SELECT h, k, false FROM unnest($1::text[], $2::text[]) AS x(h, k)
           ON CONFLICT (household_id) DO UPDATE SET active = false""",
        ids,
        [kk for _, kk in households],
    )
    await conn.execute("DELETE FROM registered_people WHERE household_id = ANY($1::text[])", ids)


async def release_open_niks(conn: asyncpg.Connection, proposal_ids: Sequence[str]) -> None:
    """The register now holds what the proposals claimed; their claims end."""
    if proposal_ids:
        await conn.execute("DELETE FROM open_niks WHERE proposal_id = ANY($1::text[])", list(proposal_ids))


async def register_facts(
    conn: asyncpg.Connection, records: Sequence[ProposalRecord]
) -> dict[str, RegisterFacts]:
    """What the read models say about each proposal's people, card and target, in four queries."""
    niks = sorted({m.nik for r in records if r.content.household for m in r.content.household.members})
    nik_list = text_array(niks)
    kks = sorted({r.content.household.kk_number for r in records if r.content.household})
    targets = sorted({r.content.target_household_id for r in records if r.content.target_household_id})
    people = {
        r["nik"]: r["household_id"]
        for r in await conn.fetch(
            "SELECT nik, household_id FROM registered_people WHERE nik IN (SELECT unnest($1::text::text[]))",
            nik_list,
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
        "SELECT nik, proposal_id, seq FROM open_niks WHERE nik IN (SELECT unnest($1::text::text[]))", nik_list
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
           FROM unnest($1::text::text[], $2::text::text[], $3::text::text[], $4::text::text[],
                       $5::text::date[]) AS x(pid, nik, d, k, b)
           JOIN registered_people p ON p.district = x.d AND p.name_key = x.k AND p.birth_date = x.b
           WHERE p.nik <> x.nik""",
        text_array(pids),
        text_array(niks),
        text_array(districts),
        text_array(keys),
        plain_array(births),
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


@dataclass(frozen=True)
class CheckRequest:
    """A check to queue: the entry checks of a new round, or the Ministry's re-check."""

    proposal_id: str
    round: int
    stage: str
    requested_by: Actor | None = None
    note: str | None = None
    correlation_id: str | None = None
    causation_id: str | None = None


async def enqueue_checks(conn: asyncpg.Connection, requests: Sequence[CheckRequest]) -> None:
    """Queue checks of distinct proposals; a proposal's newer request replaces its queued one."""
    if not requests:
        return
    await conn.execute(
        """INSERT INTO pending_checks (proposal_id, round, stage, requested_by, note, correlation_id, causation_id)
           SELECT pid, rnd, stage, by::jsonb, note, corr, cause
           FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                AS x(pid, rnd, stage, by, note, corr, cause)
           ON CONFLICT (proposal_id) DO UPDATE SET round = EXCLUDED.round, stage = EXCLUDED.stage,
               requested_by = EXCLUDED.requested_by, note = EXCLUDED.note, queued_at = now(),
               correlation_id = EXCLUDED.correlation_id, causation_id = EXCLUDED.causation_id,
               not_before = now(), attempts = 0, last_error = NULL""",
        [r.proposal_id for r in requests],
        [r.round for r in requests],
        [r.stage for r in requests],
        [r.requested_by.model_dump_json() if r.requested_by else None for r in requests],
        [r.note for r in requests],
        [r.correlation_id for r in requests],
        [r.causation_id for r in requests],
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


async def release_checks(conn: asyncpg.Connection, proposal_ids: Sequence[str]) -> None:
    """Hand leased checks back unrun: due again at once, for this or another worker."""
    await conn.execute(
        "UPDATE pending_checks SET not_before = now() WHERE proposal_id = ANY($1::text[])", list(proposal_ids)
    )


async def finish_checks(conn: asyncpg.Connection, checks: Sequence[PendingCheck]) -> None:
    """Remove concluded checks; a check queued again meanwhile (another round or stage) stays."""
    if not checks:
        return
    await conn.execute(
        """DELETE FROM pending_checks c
           USING unnest($1::text[], $2::int[], $3::text[]) AS x(pid, rnd, stage)
           WHERE c.proposal_id = x.pid AND c.round = x.rnd AND c.stage = x.stage""",
        [c.proposal_id for c in checks],
        [c.round for c in checks],
        [c.stage for c in checks],
    )


async def drop_checks(conn: asyncpg.Connection, proposal_ids: Sequence[str]) -> None:
    """Forget the queued checks of proposals whose current round was just checked: any queued one
    is of an earlier round (its worker would find the round moved on and drop it anyway)."""
    if proposal_ids:
        await conn.execute(
            "DELETE FROM pending_checks WHERE proposal_id = ANY($1::text[])", list(proposal_ids)
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
    return (await visits_of_many(conn, [proposal_id])).get(proposal_id, [])


async def visits_of_many(
    conn: asyncpg.Connection, proposal_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Each proposal's field visits, oldest first (proposals without one are absent)."""
    if not proposal_ids:
        return {}
    rows = await conn.fetch(
        """SELECT proposal_id, visit_id, round, visit::text AS visit, recorded_by::text AS recorded_by,
                  recorded_at
           FROM field_visits WHERE proposal_id = ANY($1::text[]) ORDER BY proposal_id, visit_id""",
        list(proposal_ids),
    )
    out: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        out.setdefault(r["proposal_id"], []).append(
            {
                "visit_id": r["visit_id"],
                "round": r["round"],
                **json.loads(r["visit"]),
                "recorded_by": json.loads(r["recorded_by"]),
                "recorded_at": r["recorded_at"].isoformat(),
            }
        )
    return out


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
