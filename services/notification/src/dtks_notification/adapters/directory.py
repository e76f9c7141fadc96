"""The directory: how officers are reached by email and SMS, by role and region.

Seed it with :func:`seed_directory` (the demo does), or let officers set their own entry with
``PUT /directory``. An entry with an empty subject is the office's shared address for that role and
region; entries with a subject name one officer, who is preferred when a notice names them.
"""

from __future__ import annotations

from collections.abc import Iterable

import asyncpg
from pydantic import BaseModel, Field

from dtks_contracts.text import SafeStr
from dtks_contracts.vocabulary.roles import Role


class DirectoryEntry(BaseModel):
    role: Role
    region: SafeStr = Field(
        description="The region the role acts on, e.g. 17.71.01.1001 for a village operator"
    )
    subject: SafeStr = Field(default="", max_length=200, description="The officer; empty for the office")
    email: SafeStr | None = Field(default=None, pattern=r"^[^@\s]+@[^@\s]+$", max_length=320)
    phone: str | None = Field(default=None, pattern=r"^\+?[0-9]{8,15}$")


async def upsert_entries(conn: asyncpg.Connection, entries: Iterable[DirectoryEntry]) -> int:
    rows = [(e.role.value, e.region, e.subject, e.email, e.phone) for e in entries]
    await conn.executemany(
        """INSERT INTO directory (role, region, subject, email, phone) VALUES ($1, $2, $3, $4, $5)
           ON CONFLICT (role, region, subject)
           DO UPDATE SET email = EXCLUDED.email, phone = EXCLUDED.phone, updated_at = now()""",
        rows,
    )
    return len(rows)


async def seed_directory(database_url: str, entries: Iterable[DirectoryEntry | dict[str, object]]) -> int:
    """Load entries straight into the service's database (after it has started once: migrations).

    ``entries`` are :class:`DirectoryEntry` or plain dicts with the same fields, e.g. from JSON.
    """
    parsed = [e if isinstance(e, DirectoryEntry) else DirectoryEntry.model_validate(e) for e in entries]
    conn = await asyncpg.connect(database_url)
    try:
        return await upsert_entries(conn, parsed)
    finally:
        await conn.close()
