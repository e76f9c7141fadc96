"""Reading the register: in force now, as of a decree, its hash and its recap figures."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from dtks_contracts.events.verification import AcceptedByMinistry
from dtks_contracts.household import Household
from dtks_contracts.institution import DeterminedAssistance, Institution
from dtks_contracts.merkle import MerkleRootBuilder, assistance_leaf_hash, institution_leaf_hash, leaf_hash
from dtks_contracts.register_hash import (
    RegisterHasher,
    assistance_digest,
    household_digest,
    institution_digest,
)
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.proposals import DeactivationReason, ProposalKind
from dtks_registry.domain.determination import Candidate, InForce
from dtks_registry.domain.institution_determination import InstitutionCandidate, InstitutionInForce
from dtks_runtime.region_reads import region_filter

# The register in force as of a decree: per household the latest change of a decree whose period is
# not later than that decree's; a household whose latest change is a deactivation is out.
_AS_OF = """
    SELECT * FROM (
        SELECT DISTINCT ON (hc.household_id) hc.*
        FROM household_changes hc JOIN determinations d ON d.decree_number = hc.decree_number
        WHERE d.period_start <= (SELECT period_start FROM determinations WHERE decree_number = $1){households}
        ORDER BY hc.household_id, d.period_start DESC
    ) latest
    WHERE change <> 'deactivated'
"""
AS_OF_SQL = _AS_OF.format(households="")


def as_of_in_region_sql(param: int) -> str:
    """AS_OF_SQL over the households that ever had a change in the region passed as parameter
    ``param`` ('ID': all), through the change rows' village index: a province's export reads the
    province's changes, not the whole register's (some 67 s at 10 million households, extrapolated).
    The same rows as AS_OF_SQL filtered by region afterwards: a household whose latest change lies in
    the region had that change there. The caller still filters the latest rows by region (a
    household that moved out of it later is out)."""
    return _AS_OF.format(
        households=f"""
          AND (${param} = 'ID' OR hc.household_id IN (
              SELECT household_id FROM household_changes WHERE {region_filter("village_code", param)}))"""
    )


# The institutions section as of a decree, as AS_OF_SQL for households: per institution the latest
# change of a decree not later than that one; a closed institution is out.
INSTITUTIONS_AS_OF_SQL = """
    SELECT * FROM (
        SELECT DISTINCT ON (ic.institution_id) ic.*
        FROM institution_changes ic JOIN determinations d ON d.decree_number = ic.decree_number
        WHERE d.period_start <= (SELECT period_start FROM determinations WHERE decree_number = $1)
        ORDER BY ic.institution_id, d.period_start DESC
    ) latest
    WHERE change <> 'closed'
"""

# The assistance section as of a decree: every assistance determined by it or an earlier decree.
ASSISTANCE_AS_OF_SQL = """
    SELECT ia.* FROM institution_assistance ia JOIN determinations d ON d.decree_number = ia.decree_number
    WHERE d.period_start <= (SELECT period_start FROM determinations WHERE decree_number = $1)
"""


@dataclass(frozen=True)
class RegisterSummary:
    register_hash: str  # the Merkle root (dtks_contracts.merkle), what decrees record from version 2
    households: int
    people: int
    flat_hash: str = ""  # the flat hash (dtks_contracts.register_hash) that version 1 decrees recorded
    # The institutions section's leaves (after the households'); none: the root is the households'
    # alone, exactly as before institutions existed.
    institutions: int = 0
    # The assistance section's leaves (after the institutions'); none: no such section (#19).
    assistance: int = 0

    @property
    def tree_size(self) -> int:
        return self.households + self.institutions + self.assistance

    def hash_for(self, algorithm: str) -> str:
        """The hash a decree issued with ``algorithm`` recorded, computed over this register."""
        return self.flat_hash if algorithm.startswith("dtks-register-sha256-") else self.register_hash


# Rows per FETCH when a query is streamed: bounded memory, few round trips.
CHUNK = 5000


async def _fetch_in_chunks(
    conn: asyncpg.Connection,
    sql: str,
    *args: Any,
    chunk: int = CHUNK,
    planner: Sequence[tuple[str, str]] = (),
) -> AsyncGenerator[list[asyncpg.Record], None]:
    """The rows of ``sql`` in chunks through a server-side cursor, so a register of millions never
    sits in memory. Statements may run on ``conn`` between chunks: the cursor reads the snapshot
    it was opened with, not what the caller writes meanwhile.

    ``planner``: settings (name, value) in force while the cursor is planned, and only then."""
    name = f"dtks_{uuid.uuid4().hex[:12]}"
    async with conn.transaction():
        # DECLARE plans the cursor. A setting made local lasts to the end of the whole transaction,
        # not this savepoint, so each is put back once the plan is made.
        previous = [(key, await conn.fetchval("SELECT current_setting($1)", key)) for key, _ in planner]
        for key, value in planner:
            await conn.execute("SELECT set_config($1, $2, true)", key, value)
        await conn.execute(f"DECLARE {name} NO SCROLL CURSOR FOR {sql}", *args)
        for key, value in previous:
            await conn.execute("SELECT set_config($1, $2, true)", key, value)
        while rows := await conn.fetch(f"FETCH {chunk} FROM {name}"):
            yield rows
        await conn.execute(f"CLOSE {name}")


def _household_id(r: asyncpg.Record) -> str:
    return str(r["household_id"])


def _leaf(r: asyncpg.Record) -> str:
    return leaf_hash(r["household_id"], r["digest"]).hex()


# (field of the decree, change rows it lists, what it lists of each), in CHUNKED_FIELDS order.
_DECREE_LISTS = (
    ("registered", "registered", _household_id),
    ("corrected", "corrected", _household_id),
    ("deactivated", "deactivated", _household_id),
    ("changed_leaves", "registered", _leaf),
    ("changed_leaves", "corrected", _leaf),
)


async def decree_household_lists(
    conn: asyncpg.Connection, decree_number: str, chunk: int = CHUNK
) -> AsyncGenerator[tuple[str, list[str]], None]:
    """A decree's household lists as its event gives them, read back from the change rows it wrote,
    a slice of at most ``chunk`` at a time: the ids registered, corrected and deactivated, then the
    Merkle leaf of each registered and then of each corrected household (as (field, items), in
    CHUNKED_FIELDS order). Each list is in household id order, the order the decree decides in (its
    candidates' cursor and each chunk's decision sort by it), so issuing a national decree never
    holds its lists (the registry peaked at 883 MB through a first decree over a million holding
    them, 478 MB reading them back)."""
    for field, change, item in _DECREE_LISTS:
        rows = _fetch_in_chunks(
            conn,
            """SELECT household_id, digest FROM household_changes
               WHERE decree_number = $1 AND change = $2 ORDER BY household_id""",
            decree_number,
            change,
            chunk=chunk,
        )
        async with contextlib.aclosing(rows):
            async for batch in rows:
                yield field, [item(r) for r in batch]


@dataclass(frozen=True)
class CheckedDigests:
    """The stored household digests of a register checked against their snapshots, each snapshot
    parsed once (:func:`check_digests`): those found altered, with the digest their snapshot has.
    A summary given them takes every other digest as stored, which is what recomputing it gives."""

    changes: Mapping[tuple[str, str], str]  # (household_id, decree_number) of a change row -> digest
    households: Mapping[str, str]  # household_id of a row in force -> digest


async def check_digests(conn: asyncpg.Connection) -> CheckedDigests:
    """Every household snapshot of the register parsed once and its digest compared with the one
    stored beside it. Recomputing each decree's summary from its snapshots parsed the register in
    force once per decree and once more for today: (decrees + 1) times its households, where this
    parses each change row once, and a household in force only if its row is not a copy of the
    change row it came from (which it always is, unless altered: see _write_snapshots)."""
    changes: dict[tuple[str, str], str] = {}
    rows = _fetch_in_chunks(
        conn,
        """SELECT household_id, decree_number, snapshot::text AS s, digest FROM household_changes
           WHERE snapshot IS NOT NULL""",
    )
    async with contextlib.aclosing(rows):
        async for batch in rows:
            for r in batch:
                digest = _recomputed(r)
                if digest != r["digest"]:
                    changes[(r["household_id"], r["decree_number"])] = digest
    households: dict[str, str] = {}
    # In force, and not the copy of its change row: parsed. A copy of a change row found altered
    # has that row's snapshot, so that row's digest.
    rows = _fetch_in_chunks(
        conn,
        """SELECT * FROM (
               SELECT h.household_id, h.last_decree, h.snapshot::text AS s, h.digest,
                      coalesce(hc.snapshot = h.snapshot AND hc.digest = h.digest, false) AS copied
               FROM households h
               LEFT JOIN household_changes hc
                      ON hc.household_id = h.household_id AND hc.decree_number = h.last_decree
               WHERE h.active) r
           WHERE NOT copied OR (household_id, last_decree) IN (SELECT * FROM unnest($1::text[], $2::text[]))""",
        [h for h, _ in changes],
        [d for _, d in changes],
    )
    async with contextlib.aclosing(rows):
        async for batch in rows:
            for r in batch:
                if r["copied"]:
                    households[r["household_id"]] = changes[(r["household_id"], r["last_decree"])]
                    continue
                digest = _recomputed(r)
                if digest != r["digest"]:
                    households[r["household_id"]] = digest
    return CheckedDigests(changes, households)


async def current_summary(
    conn: asyncpg.Connection, *, recompute: bool = False, checked: CheckedDigests | None = None
) -> RegisterSummary:
    """Hash and counts of the register in force. ``recompute`` derives every household digest from
    the stored snapshot instead of trusting the stored digest: that is what detects an altered row.
    ``checked`` gives what ``recompute`` gives, from digests already checked (:class:`CheckedDigests`);
    the institutions and assistance sections (a few thousand rows) are recomputed as with ``recompute``."""
    column, digest_of = _households_digests(recompute, checked.households if checked else None, _household_id)
    return await _summary(
        conn,
        f"SELECT household_id, {column}, people FROM households WHERE active ORDER BY household_id",
        *_sections(
            "SELECT * FROM institutions WHERE open",
            "SELECT * FROM institution_assistance",
            recompute or checked is not None,
        ),
        (),
        digest_of,
    )


async def as_of_summary(
    conn: asyncpg.Connection,
    decree_number: str,
    *,
    recompute: bool = False,
    checked: CheckedDigests | None = None,
) -> RegisterSummary:
    """Hash and counts of the register as of a decree; ``recompute`` and ``checked`` as for
    :func:`current_summary` (a household's row here is its latest change row)."""
    column, digest_of = _households_digests(recompute, checked.changes if checked else None, _change_key)
    return await _summary(
        conn,
        f"SELECT household_id, decree_number, {column}, people FROM ({AS_OF_SQL}) r ORDER BY household_id",
        *_sections(INSTITUTIONS_AS_OF_SQL, ASSISTANCE_AS_OF_SQL, recompute or checked is not None),
        (decree_number,),
        digest_of,
    )


def _households_digests(
    recompute: bool, altered: Mapping[Any, str] | None, key: Callable[[asyncpg.Record], Any]
) -> tuple[str, Callable[[asyncpg.Record], str]]:
    """What a summary reads of each household row (its snapshot or its digest) and the digest it
    takes from it: recomputed, as stored, or as stored unless checked and found ``altered`` (under
    the row's ``key``)."""
    if altered is None:
        return ("snapshot::text AS s", _recomputed) if recompute else ("digest AS s", _stored)
    return "digest AS s", lambda r: altered.get(key(r), r["s"])


def _change_key(r: asyncpg.Record) -> tuple[str, str]:
    return r["household_id"], r["decree_number"]


def _sections(institutions: str, assistance: str, recompute: bool) -> tuple[str, str, bool]:
    """The institutions' and the assistance's queries of a summary, in leaf order, with their
    digests or their snapshots to recompute them from."""
    column = "snapshot::text AS s" if recompute else "digest AS s"
    return (
        f"SELECT institution_id, {column} FROM ({institutions}) r ORDER BY institution_id",
        f"SELECT institution_id, proposal_id, {column} FROM ({assistance}) r ORDER BY institution_id, proposal_id",
        recompute,
    )


def _recomputed(r: asyncpg.Record) -> str:
    return household_digest(Household.model_validate_json(r["s"]))


def _stored(r: asyncpg.Record) -> str:
    return str(r["s"])


async def _summary(
    conn: asyncpg.Connection,
    sql: str,
    institutions_sql: str,
    assistance_sql: str,
    recompute: bool,
    args: Sequence[Any],
    household_digest_of: Callable[[asyncpg.Record], str],
) -> RegisterSummary:
    """The summary of the households ``sql`` reads (each row's digest by ``household_digest_of``),
    then the institutions and the assistance (recomputed from their snapshots with ``recompute``)."""
    hasher = RegisterHasher()
    tree = MerkleRootBuilder()
    households = people = 0
    async with contextlib.aclosing(_fetch_in_chunks(conn, sql, *args)) as chunks:
        async for rows in chunks:
            for r in rows:
                digest = household_digest_of(r)
                hasher.update(r["household_id"], digest)
                tree.add(leaf_hash(r["household_id"], digest))
            households += len(rows)
            people += sum(r["people"] for r in rows)
    # The institutions section after every household leaf (dtks_contracts.merkle.INSTITUTION_SECTION);
    # the flat hash of version 1 decrees never covered institutions.
    institutions = 0
    for r in await conn.fetch(institutions_sql, *args):
        digest = institution_digest(Institution.model_validate_json(r["s"])) if recompute else r["s"]
        tree.add(institution_leaf_hash(r["institution_id"], digest))
        institutions += 1
    # The assistance section after them (dtks_contracts.merkle.ASSISTANCE_SECTION), once there is any.
    assistance = 0
    for r in await conn.fetch(assistance_sql, *args):
        digest = assistance_digest(DeterminedAssistance.model_validate_json(r["s"])) if recompute else r["s"]
        tree.add(assistance_leaf_hash(r["institution_id"], r["proposal_id"], digest))
        assistance += 1
    return RegisterSummary(
        tree.root().hex(), households, people, hasher.hexdigest(), institutions, assistance
    )


async def digests(conn: asyncpg.Connection, decree_number: str | None) -> dict[str, str]:
    """household id -> digest recomputed from the snapshot, now or as of a decree (for comparisons)."""
    if decree_number is None:
        rows = await conn.fetch("SELECT household_id, snapshot::text AS s FROM households WHERE active")
    else:
        rows = await conn.fetch(
            f"SELECT household_id, snapshot::text AS s FROM ({AS_OF_SQL}) r", decree_number
        )
    return {r["household_id"]: _recomputed(r) for r in rows}


PENDING_SQL = """
    SELECT c.proposal_id, c.kind, c.accepted_at, c.household::text AS household, c.household_id,
           c.deactivation_reason, c.programs_requested
    FROM candidates c
    WHERE c.accepted_at <= $1
      AND NOT EXISTS (SELECT 1 FROM household_changes hc WHERE hc.proposal_id = c.proposal_id)
"""

# The decree writes household_changes while it reads this cursor, whose plan was made before. Where
# the table's statistics say it is empty (analysed before the first decree: by hand, or by a
# database-wide ANALYZE after a restore or an upgrade), the planner reads it by a sequential scan
# inside a nested loop, once per candidate, over every row the decree has written so far: the decree
# turns quadratic (30,000 candidates: 32 s instead of 13; 100,000 did not end in 4 minutes). With
# sequential scans priced out, the anti-join probes the proposal index instead, the plan it takes
# anyway once the table has rows (checked at a million): the statistics no longer matter.
PENDING_PLANNER = (("enable_seqscan", "off"),)


@dataclass(frozen=True)
class PendingChunk:
    """Acceptances waiting for a decree, whole households of them, as read and not yet parsed: the
    decree parses a chunk (some 30 µs a household) while the chunk before it is being written, not
    while the database waits (see handlers._issue)."""

    rows: Sequence[asyncpg.Record]

    @property
    def targets(self) -> list[str]:
        """The households in force that these candidates change or deactivate (a new household's id
        is derived from its proposal and names none), in order."""
        new = ProposalKind.NEW_HOUSEHOLD.value
        return sorted({r["household_id"] for r in self.rows if r["kind"] != new})

    async def candidates(self) -> list[Candidate]:
        """The rows parsed, in slices with the event loop turning between them, so that a chunk being
        written meanwhile sends each of its statements at the next turn, not after the whole parse."""
        parsed: list[Candidate] = []
        for start in range(0, len(self.rows), TURN_EVERY):
            parsed += map(_candidate, self.rows[start : start + TURN_EVERY])
            await asyncio.sleep(0)
        return parsed


# Households a decree parses or builds between two turns of the event loop: the chunk being written
# meanwhile sends each of its statements at the next turn, not after the whole chunk.
TURN_EVERY = 250


async def pending_by_household(
    conn: asyncpg.Connection, cutoff: dt.datetime, chunk: int = CHUNK
) -> AsyncGenerator[PendingChunk, None]:
    """Acceptances up to ``cutoff`` that no decree has applied yet, in chunks of about ``chunk``, in
    household id order, never splitting one household's candidates (the rule decides per household).

    Grouped by the rows' ``household_id``: the projection writes a new household's derived id there
    (projection._target), the id :attr:`Candidate.household_id` gives."""
    batch: list[asyncpg.Record] = []
    # aclosing: if the caller stops early (an error), the cursor's savepoint ends before the caller's
    # transaction does, not whenever the abandoned generator is collected.
    sql = f"{PENDING_SQL} ORDER BY c.household_id"
    chunks = _fetch_in_chunks(conn, sql, cutoff, chunk=chunk, planner=PENDING_PLANNER)
    async with contextlib.aclosing(chunks):
        async for rows in chunks:
            for r in rows:
                if len(batch) >= chunk and r["household_id"] != batch[-1]["household_id"]:
                    yield PendingChunk(batch)
                    batch = []
                batch.append(r)
    if batch:
        yield PendingChunk(batch)


def _candidate(r: asyncpg.Record) -> Candidate:
    kind = ProposalKind(r["kind"])
    return Candidate(
        proposal_id=r["proposal_id"],
        kind=kind,
        accepted_at=r["accepted_at"],
        household=Household.model_validate_json(r["household"]) if r["household"] else None,
        target_household_id=None if kind is ProposalKind.NEW_HOUSEHOLD else r["household_id"],
        deactivation_reason=DeactivationReason(r["deactivation_reason"])
        if r["deactivation_reason"]
        else None,
        programs_requested=tuple(Program(p) for p in r["programs_requested"]),
    )


INSTITUTIONS_PENDING_SQL = """
    SELECT c.proposal_id, c.payload::text AS payload
    FROM institution_candidates c
    WHERE c.accepted_at <= $1
      AND NOT EXISTS (SELECT 1 FROM institution_changes ic WHERE ic.proposal_id = c.proposal_id)
      AND NOT EXISTS (SELECT 1 FROM institution_assistance ia WHERE ia.proposal_id = c.proposal_id)
    ORDER BY c.proposal_id
"""


async def pending_institutions(conn: asyncpg.Connection, cutoff: dt.datetime) -> list[InstitutionCandidate]:
    """Institutions' acceptances up to ``cutoff`` that no decree has applied yet. Read at once:
    institutions are thousands nationally, not millions."""
    pending = []
    for r in await conn.fetch(INSTITUTIONS_PENDING_SQL, cutoff):
        accepted = AcceptedByMinistry.model_validate_json(r["payload"])
        pending.append(
            InstitutionCandidate(
                proposal_id=accepted.proposal_id,
                kind=accepted.kind,
                accepted_at=accepted.accepted_at,
                institution=accepted.institution,
                target_institution_id=accepted.target_institution_id,
                closure_reason=accepted.closure_reason,
                assistance=accepted.assistance,
            )
        )
    return pending


async def institutions_in_force(
    conn: asyncpg.Connection, institution_ids: Sequence[str]
) -> dict[str, InstitutionInForce]:
    """The institutions pending changes and closures target, with the latest acceptance already
    applied to each and their streams' versions, read in one statement (as :func:`in_force`)."""
    rows = await conn.fetch(
        f"""SELECT i.institution_id, i.snapshot::text AS s, i.open,
                  (SELECT max(c.accepted_at) FROM institution_changes ic
                     JOIN institution_candidates c ON c.proposal_id = ic.proposal_id
                   WHERE ic.institution_id = i.institution_id) AS last_accepted,
                  {stream_version_sql("i.institution_id", "institution")} AS version
           FROM institutions i WHERE i.institution_id = ANY($1::text[])""",
        list(institution_ids),
    )
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return {
        r["institution_id"]: InstitutionInForce(
            Institution.model_validate_json(r["s"]), r["open"], r["last_accepted"] or epoch, r["version"] or 0
        )
        for r in rows
    }


def stream_version_sql(household_id: str, aggregate: str = "household") -> str:
    """A scalar subquery: the stream version of the household in column ``household_id``, from the
    events table (the registry's own events, written in the same transaction as these tables). The
    household id is compared under "C"; the stream id takes the database's default collation, which
    its index is built with."""
    return f"""(SELECT max(e.stream_version) FROM events e
                WHERE e.stream_id = ('{aggregate}:' || {household_id}) COLLATE "default")"""


async def in_force(conn: asyncpg.Connection, household_ids: Sequence[str]) -> dict[str, InForce]:
    """The households that pending corrections and deactivations target, with the latest acceptance
    already applied to each and their streams' versions, all read in one statement."""
    rows = await conn.fetch(
        f"""SELECT h.household_id, h.snapshot::text AS s, h.active,
                  (SELECT max(c.accepted_at) FROM household_changes hc
                     JOIN candidates c ON c.proposal_id = hc.proposal_id
                   WHERE hc.household_id = h.household_id) AS last_accepted,
                  {stream_version_sql("h.household_id")} AS version
           FROM households h WHERE h.household_id = ANY($1::text[])""",
        list(household_ids),
    )
    epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
    return {
        r["household_id"]: InForce(
            Household.model_validate_json(r["s"]), r["active"], r["last_accepted"] or epoch, r["version"] or 0
        )
        for r in rows
    }


async def current_residencies(conn: asyncpg.Connection, nik: str) -> list[asyncpg.Record]:
    """Where a person lives today in an open institution of the register (#19), by the records the
    decrees fixed: (institution_id, name) per residency, admitted and not discharged before today.
    Read through the residents' index by NIK (the projection keeps only open institutions' residents)."""
    return list(
        await conn.fetch(
            """SELECT institution_id, name FROM institution_residents
               WHERE nik = $1 AND admitted_on <= current_date
                 AND (discharged_on IS NULL OR discharged_on >= current_date)
               ORDER BY institution_id""",
            nik,
        )
    )


async def institution_stats(conn: asyncpg.Connection, region: str, day: dt.date) -> dict[str, Any]:
    """The institutions section of the recap (#19) in ``region`` on ``day``: open and closed homes,
    their residents living there that day, open homes by type of service and by accreditation
    (valid, expired or none that day), and the assistance in force that day per program."""
    where = region_filter("i.village_code", 1)
    totals = await conn.fetchrow(
        f"""SELECT count(*) FILTER (WHERE i.open) AS open, count(*) FILTER (WHERE NOT i.open) AS closed,
                   count(*) FILTER (WHERE i.open AND (i.snapshot->'accreditation'->>'valid_until')::date >= $2)
                       AS accredited,
                   count(*) FILTER (WHERE i.open AND (i.snapshot->'accreditation'->>'valid_until')::date < $2)
                       AS accreditation_expired,
                   count(*) FILTER (WHERE i.open AND jsonb_typeof(i.snapshot->'accreditation')
                                                    IS DISTINCT FROM 'object') AS not_accredited
            FROM institutions i WHERE {where}""",
        region,
        day,
    )
    living = """(SELECT count(*) FROM institution_residents r
                  WHERE r.institution_id = i.institution_id AND r.admitted_on <= $2
                    AND (r.discharged_on IS NULL OR r.discharged_on >= $2))"""
    by_type = await conn.fetch(
        f"""SELECT i.service_type, count(*) AS institutions, coalesce(sum({living}), 0)::bigint AS residents
            FROM institutions i WHERE i.open AND {where} GROUP BY 1 ORDER BY 1""",
        region,
        day,
    )
    assistance = await conn.fetch(
        f"""SELECT a.program, count(DISTINCT a.institution_id) AS institutions,
                   sum(a.residents_counted)::bigint AS residents_counted
            FROM institution_assistance a JOIN institutions i USING (institution_id)
            WHERE {where} AND a.starts_on <= $2 AND a.ends_on >= $2 GROUP BY 1 ORDER BY 1""",
        region,
        day,
    )
    return {
        **dict(totals),
        "residents": sum(r["residents"] for r in by_type),
        "by_service_type": [dict(r) for r in by_type],
        "assistance_in_force": [dict(r) for r in assistance],
    }


async def stats(
    conn: asyncpg.Connection, region: str, child_length: int | None, programs: Sequence[str] | None = None
) -> dict[str, Any]:
    """Counts of the register in force in ``region``; with ``programs`` (an agency's grant), of the
    households in any of them only, and by those programs only."""
    where = (
        f"active AND {region_filter('village_code', 1)} AND ($2::text[] IS NULL OR programs && $2::text[])"
    )
    args = (region, list(programs) if programs else None)
    total = await conn.fetchrow(
        f"SELECT count(*) AS households, coalesce(sum(people), 0) AS people FROM households WHERE {where}",
        *args,
    )
    by_program = await conn.fetch(
        f"""SELECT p AS program, count(*) AS households, sum(people) AS people
            FROM households, unnest(programs) AS p
            WHERE {where} AND ($2::text[] IS NULL OR p = ANY($2::text[])) GROUP BY p ORDER BY p""",
        *args,
    )
    by_region: list[asyncpg.Record] = []
    if child_length is not None:
        by_region = await conn.fetch(
            f"""SELECT left(village_code, {child_length}) AS code, count(*) AS households,
                       sum(people) AS people
                FROM households WHERE {where} GROUP BY 1 ORDER BY 1""",
            *args,
        )
    return {
        "households": total["households"],
        "people": total["people"],
        "by_program": [dict(r) for r in by_program],
        "by_region": [dict(r) for r in by_region],
    }


async def export_rows(
    conn: asyncpg.Connection, decree_number: str, region: str, programs: Sequence[str] | None
) -> AsyncIterator[asyncpg.Record]:
    """The register as of a decree, in household id order, streamed with a server-side cursor; with
    the programs each household gained and lost in this decree (empty for one it did not change).

    With ``programs`` (a filter, or an agency's grant): the households in any of them, and those this
    decree took out of one of them, so that a program's agency learns whom it must stop paying."""
    sql = f"""SELECT r.household_id, r.snapshot::text AS snapshot,
                     CASE WHEN r.decree_number = $1 THEN
                         ARRAY(SELECT unnest(r.programs) EXCEPT SELECT unnest(prev.programs) ORDER BY 1)
                     ELSE '{{}}'::text[] END AS programs_added,
                     CASE WHEN r.decree_number = $1 THEN
                         ARRAY(SELECT unnest(prev.programs) EXCEPT SELECT unnest(r.programs) ORDER BY 1)
                     ELSE '{{}}'::text[] END AS programs_removed
              FROM ({as_of_in_region_sql(2)}) r
              -- The household's change before this decree: only for households this decree changed.
              LEFT JOIN LATERAL (
                  SELECT hc.programs FROM household_changes hc
                  JOIN determinations d ON d.decree_number = hc.decree_number
                  WHERE r.decree_number = $1 AND hc.household_id = r.household_id
                    AND d.period_start < (SELECT period_start FROM determinations WHERE decree_number = $1)
                  ORDER BY d.period_start DESC LIMIT 1
              ) prev ON true
              WHERE {region_filter("r.village_code", 2)}
                AND ($3::text[] IS NULL OR r.programs && $3::text[]
                     OR (r.decree_number = $1 AND prev.programs && $3::text[]))
              ORDER BY r.household_id"""
    async for row in conn.cursor(
        sql, decree_number, region, list(programs) if programs else None, prefetch=500
    ):
        yield row


async def export_institution_rows(
    conn: asyncpg.Connection, decree_number: str, region: str
) -> AsyncIterator[asyncpg.Record]:
    """The institutions section as of a decree (#19), in institution id order, within ``region``:
    each open institution's record as that decree or an earlier one fixed it."""
    sql = f"""SELECT r.institution_id, r.decree_number, r.snapshot::text AS snapshot
              FROM ({INSTITUTIONS_AS_OF_SQL}) r
              WHERE {region_filter("r.village_code", 2)}
              ORDER BY r.institution_id"""
    async for row in conn.cursor(sql, decree_number, region, prefetch=500):
        yield row


async def export_assistance_rows(
    conn: asyncpg.Connection, decree_number: str, region: str
) -> AsyncIterator[asyncpg.Record]:
    """The assistance section as of a decree (#19), what the decree's root covers: every assistance
    determined by it or an earlier decree, with the decree that determined it, for the institutions
    within ``region`` (where the institution is as of the decree), by institution then proposal."""
    sql = f"""SELECT a.proposal_id, a.institution_id, a.decree_number, a.program, a.starts_on, a.ends_on,
                     a.basis, a.residents_counted, i.registration_number, i.snapshot->>'name' AS name,
                     i.snapshot->>'service_type' AS service_type, i.village_code
              FROM ({ASSISTANCE_AS_OF_SQL}) a
              JOIN institution_changes i ON i.institution_id = a.institution_id AND i.decree_number = (
                  SELECT ic.decree_number FROM institution_changes ic
                  JOIN determinations d ON d.decree_number = ic.decree_number
                  WHERE ic.institution_id = a.institution_id AND ic.snapshot IS NOT NULL
                    AND d.period_start <= (SELECT period_start FROM determinations WHERE decree_number = $1)
                  ORDER BY d.period_start DESC LIMIT 1)
              WHERE {region_filter("i.village_code", 2)}
              ORDER BY a.institution_id, a.proposal_id"""
    async for row in conn.cursor(sql, decree_number, region, prefetch=500):
        yield row


_DECILES_SQL = """SELECT household_id, decile, source, as_of, version, event_id, set_at
                  FROM welfare_deciles ORDER BY household_id"""


def _decile_line(r: asyncpg.Record) -> str:
    return "\t".join(
        (r["household_id"], str(r["decile"]), r["source"], r["as_of"].isoformat(), str(r["version"]),
         str(r["event_id"]), r["set_at"].astimezone(dt.UTC).isoformat())
    )  # fmt: skip


async def deciles_digest(conn: asyncpg.Connection) -> tuple[str, int]:
    """SHA-256 over the welfare_deciles rows in household id order, and their number: two projections
    agree on the deciles in force exactly when these agree. Streamed, for a national table."""
    hasher = hashlib.sha256()
    count = 0
    async with contextlib.aclosing(_fetch_in_chunks(conn, _DECILES_SQL)) as chunks:
        async for rows in chunks:
            for r in rows:
                hasher.update((_decile_line(r) + "\n").encode())
            count += len(rows)
    return hasher.hexdigest(), count


async def decile_lines(conn: asyncpg.Connection) -> dict[str, str]:
    """household id -> its welfare_deciles row as text (to name the households two projections
    disagree on, once their digests differ)."""
    return {r["household_id"]: _decile_line(r) for r in await conn.fetch(_DECILES_SQL)}
