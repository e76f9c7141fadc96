"""The `ratifications` table: one row per regent's or mayor's decree, once per regency."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import asyncpg


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
