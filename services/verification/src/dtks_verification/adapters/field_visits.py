"""The `field_visits` table: the evidence officers attach to a proposal (officer, date, GPS, photos)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from dtks_contracts.envelope import Actor


async def add_visit(
    conn: asyncpg.Connection,
    proposal_id: str,
    round_: int,
    visit: dict[str, Any],
    recorded_by: Actor,
    findings: Sequence[dict[str, Any]] = (),
) -> int:
    return int(
        await conn.fetchval(
            """INSERT INTO field_visits (proposal_id, round, visit, recorded_by, findings)
               VALUES ($1, $2, $3::jsonb, $4::jsonb, $5::jsonb) RETURNING visit_id""",
            proposal_id,
            round_,
            json.dumps(visit),
            recorded_by.model_dump_json(),
            json.dumps(list(findings)),
        )
    )


async def names_photo(conn: asyncpg.Connection, proposal_id: str, sha256: str) -> bool:
    """Whether one of the proposal's visits names this photo (what entitles its readers to it)."""
    return bool(
        await conn.fetchval(
            """SELECT EXISTS (SELECT 1 FROM field_visits
                 WHERE proposal_id = $1 AND visit->'photos' @> jsonb_build_array(jsonb_build_object('sha256', $2::text)))""",
            proposal_id,
            sha256,
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
                  findings::text AS findings,
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
                "findings": json.loads(r["findings"]),
                "recorded_at": r["recorded_at"].isoformat(),
            }
        )
    return out
