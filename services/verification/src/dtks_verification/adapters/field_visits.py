"""The `field_visits` table: the evidence officers attach to a proposal (officer, date, GPS, photos)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from dtks_contracts.envelope import Actor


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
