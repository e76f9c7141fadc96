"""Rounds as intake records them: the `proposals` row of each submission or resubmission, and the
NIKs it claims while open (`open_niks`), until it is withdrawn or its household is registered."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from dtks_contracts.events.proposal import ProposalContent
from dtks_runtime.db import advisory_key
from dtks_runtime.sql_arrays import in_literal, plain_array, text_array, unnest_literals
from dtks_verification.adapters.pending_checks import PendingCheck, enqueue_checks


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
    districts |= {r.nik[:6] for c in contents if c.institution is not None for r in c.institution.residents}
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
    seq_of = await _write_rounds(conn, rounds)
    started = [r for r in rounds if r.content.proposal_id in seq_of]
    await _claim_niks(conn, started, seq_of)
    if queue:
        await enqueue_checks(
            conn,
            [
                PendingCheck(
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


async def _write_rounds(conn: asyncpg.Connection, rounds: Sequence[NewRound]) -> dict[str, int]:
    """Insert or advance the proposals' rows; the `seq` of each round that started, by proposal."""
    contents = [r.content for r in rounds]
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
    return {r["proposal_id"]: r["seq"] for r in rows}


async def _claim_niks(conn: asyncpg.Connection, started: Sequence[NewRound], seq_of: dict[str, int]) -> None:
    """The started rounds' people become their open claims, replacing an earlier round's."""
    # A first round started only as a new row (a row is updated only for a newer round), so only
    # resubmissions can hold claims of an earlier round to end.
    resubmitted = [r.content.proposal_id for r in started if r.content.round > 1]
    if resubmitted:
        await conn.execute(
            f"DELETE FROM open_niks WHERE proposal_id {in_literal(1)}",
            text_array(resubmitted),
        )
        await conn.execute(
            f"DELETE FROM open_residents WHERE proposal_id {in_literal(1)}",
            text_array(resubmitted),
        )
    await _claim_residents(conn, started, seq_of)
    nik_rows = [
        (nik, r.content.proposal_id, seq_of[r.content.proposal_id])
        for r in started
        if r.content.household is not None
        for nik in dict.fromkeys(m.nik for m in r.content.household.members)
    ]
    if nik_rows:
        await conn.execute(
            f"""INSERT INTO open_niks (nik, proposal_id, seq)
                SELECT * FROM {unnest_literals("text", "text", "bigint")}""",
            text_array([n for n, _, _ in nik_rows]),
            text_array([p for _, p, _ in nik_rows]),
            plain_array([s for _, _, s in nik_rows]),
        )


async def _claim_residents(
    conn: asyncpg.Connection, started: Sequence[NewRound], seq_of: dict[str, int]
) -> None:
    """An institution's round claims the people it names as current residents (a discharged
    resident is history and claims nothing)."""
    rows = [
        (nik, r.content.proposal_id, seq_of[r.content.proposal_id])
        for r in started
        if r.content.institution is not None
        for nik in dict.fromkeys(
            resident.nik for resident in r.content.institution.residents if resident.discharged_on is None
        )
    ]
    if rows:
        await conn.execute(
            f"""INSERT INTO open_residents (nik, proposal_id, seq)
                SELECT * FROM {unnest_literals("text", "text", "bigint")} ON CONFLICT DO NOTHING""",
            text_array([n for n, _, _ in rows]),
            text_array([p for _, p, _ in rows]),
            plain_array([s for _, _, s in rows]),
        )


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
    await conn.execute("DELETE FROM open_residents WHERE proposal_id = ANY($1::text[])", ids)
    await conn.execute("DELETE FROM pending_checks WHERE proposal_id = ANY($1::text[])", ids)


async def release_open_niks(conn: asyncpg.Connection, proposal_ids: Sequence[str]) -> None:
    """The register now holds what the proposals claimed; their claims end."""
    if proposal_ids:
        await conn.execute("DELETE FROM open_niks WHERE proposal_id = ANY($1::text[])", list(proposal_ids))


async def release_open_residents(conn: asyncpg.Connection, proposal_ids: Sequence[str]) -> None:
    """The register now holds the institutions these proposals described; their residents' claims end."""
    if proposal_ids:
        await conn.execute(
            "DELETE FROM open_residents WHERE proposal_id = ANY($1::text[])", list(proposal_ids)
        )
