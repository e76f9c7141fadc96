"""The `proposals` table: each proposal's current round and where it stands (the write model)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from dtks_contracts.events.proposal import ProposalContent
from dtks_contracts.vocabulary import ProposalKind, Tier
from dtks_runtime.sql_arrays import in_literal, plain_array, text_array, unnest_literals
from dtks_verification.adapters.parsed_contents import parse_content
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
        return self.source if not isinstance(self.source, str) else parse_content(self.source)


_COLUMNS = (
    "proposal_id, round, village_code, kind, content::text AS content, status, tier, seq, stream_version, "
    "entered_at"
)


def _state_of(row: asyncpg.Record) -> VerificationState:
    return VerificationState(
        proposal_id=row["proposal_id"],
        round=row["round"],
        village_code=row["village_code"],
        status=Status(row["status"]),
        tier=Tier(row["tier"]) if row["tier"] else None,
        kind=ProposalKind(row["kind"]),
    )


def _record(row: asyncpg.Record) -> ProposalRecord:
    return ProposalRecord(
        _state_of(row), row["content"], row["seq"], row["stream_version"], row["entered_at"]
    )


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
        """SELECT proposal_id, round, village_code, kind, status, tier, seq, stream_version, entered_at
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
        f"""SELECT proposal_id, round, village_code, kind, status, tier, seq, stream_version, entered_at
            FROM proposals WHERE proposal_id {in_literal(1)}""",
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


async def set_stream_version(conn: asyncpg.Connection, proposal_id: str, version: int) -> None:
    """Record an append that leaves the proposal where it stands (its queue clock keeps running)."""
    await conn.execute(
        "UPDATE proposals SET stream_version = $2 WHERE proposal_id = $1", proposal_id, version
    )


async def save_many(conn: asyncpg.Connection, standings: Sequence[tuple[VerificationState, int]]) -> None:
    """Store the new standings of proposals (each once), with their streams' versions, in one
    statement; each one moved, so its queue clock restarts."""
    if not standings:
        return
    await conn.execute(
        f"""UPDATE proposals p SET status = x.status, tier = x.tier, tier_region = x.region,
                   stream_version = x.version, entered_at = now()
            FROM {unnest_literals("text", "text", "text", "text", "int")}
                 AS x(proposal_id, status, tier, region, version)
           WHERE p.proposal_id = x.proposal_id""",
        text_array([s.proposal_id for s, _ in standings]),
        text_array([s.status.value for s, _ in standings]),
        text_array([s.tier.value if s.tier else None for s, _ in standings]),
        text_array([s.region_at(s.tier) if s.tier is not None else None for s, _ in standings]),
        plain_array([version for _, version in standings]),
    )
