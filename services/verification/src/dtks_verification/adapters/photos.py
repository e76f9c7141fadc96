"""The `evidence_photos` table: each uploaded photo's hash, type, size and what its EXIF said."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import asyncpg

from dtks_contracts.envelope import Actor
from dtks_verification.domain.photo_evidence import PhotoMetadata


async def record(
    conn: asyncpg.Connection, sha256: str, content_type: str, size: int, meta: PhotoMetadata, by: Actor
) -> bool:
    """True if this upload is the photo's first (a repeated upload of the same bytes changes nothing)."""
    status = await conn.execute(
        """INSERT INTO evidence_photos (sha256, content_type, size_bytes, taken_at, latitude, longitude, uploaded_by)
           VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb) ON CONFLICT (sha256) DO NOTHING""",
        sha256, content_type, size, meta.taken_at, meta.latitude, meta.longitude, by.model_dump_json(),
    )  # fmt: skip
    return bool(status.endswith(" 1"))


async def metadata_of(conn: asyncpg.Connection, hashes: Sequence[str]) -> dict[str, PhotoMetadata]:
    rows = await conn.fetch(
        "SELECT sha256, taken_at, latitude, longitude FROM evidence_photos WHERE sha256 = ANY($1::text[])",
        list(hashes),
    )
    return {r["sha256"]: PhotoMetadata(r["taken_at"], r["latitude"], r["longitude"]) for r in rows}


async def content_type_of(conn: asyncpg.Connection, sha256: str) -> str | None:
    value = await conn.fetchval("SELECT content_type FROM evidence_photos WHERE sha256 = $1", sha256)
    return None if value is None else str(value)


async def name_in_village(conn: asyncpg.Connection, hashes: Sequence[str], village_code: str) -> None:
    """A visit in `village_code` names these photos: that village's readers may see them."""
    if hashes:
        await conn.execute(
            """INSERT INTO photo_villages (sha256, village_code) SELECT DISTINCT unnest($1::text[]), $2
               ON CONFLICT DO NOTHING""",
            list(hashes),
            village_code,
        )


@dataclass(frozen=True)
class StoredPhoto:
    content_type: str
    size_bytes: int
    villages: tuple[str, ...]  # of the visits that name it (none before a visit names it)


async def stored_photo(conn: asyncpg.Connection, sha256: str) -> StoredPhoto | None:
    row = await conn.fetchrow(
        """SELECT p.content_type, p.size_bytes,
                  array(SELECT v.village_code FROM photo_villages v WHERE v.sha256 = p.sha256) AS villages
           FROM evidence_photos p WHERE p.sha256 = $1""",
        sha256,
    )
    return StoredPhoto(row["content_type"], row["size_bytes"], tuple(row["villages"])) if row else None
