"""Consuming chunked decrees (#21): chunks kept, the decree checked whole at its manifest.

A decree larger than one chunk is published as ``registry.determination_chunk`` events followed by
one ``registry.determination_manifest`` (dtks_contracts.decree_chunks), all in one transaction and
one partition. The manifest is the decree's commit marker: a consumer must never take a decree as
issued before it, nor take a manifest whose chunks it does not all hold. So:

- each chunk is kept in the consumer's database (``decree_chunks``, keyed by decree and chunk
  index, so a redelivered chunk changes nothing);
- at the manifest, the chunks kept are checked against the manifest's count and content hash a
  chunk at a time (``check_held``: a cursor, never the whole decree in memory); a decree that is
  not whole is a ``PoisonEvent``: dead-lettered with the reason, never applied.
  ``dtks-dead-letters replay`` sends it again once the chunks are in.

``checked_decrees(handler)`` does both around any batch handler, which then sees a chunk as it
comes (to pass it on, as notification's deliveries to agencies do) and a manifest only once its
decree is whole; it reads a decree's lists from ``decree_chunks`` a chunk at a time (DCI's notify
pages) rather than holding them, so no consumer's memory grows with the decree. Decrees issued in
the old single form pass through as they are. The registry's projection (live and in a replay)
uses ``hold_chunks`` and ``check_held`` itself, and ``assemble_held`` when a decree is read whole.

The table is created by the migration component ``COMPONENT``, which each service whose consumers
read decrees adds (``runtime.add_migrations(COMPONENT, MIGRATIONS)``). Chunks are kept after the
decree is checked: several consumers of one service may share the table, the pages are read from
it, and a dead-lettered manifest replayed later needs them.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import asyncpg

from dtks_contracts.decree_chunks import (
    ChunkCheck,
    DeterminationChunk,
    DeterminationManifest,
    IncompleteDecree,
    assemble_decree,
)
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.registry import DeterminationIssued
from dtks_runtime.consumer import BatchHandler, PoisonEvent

COMPONENT = "decree-chunks"
MIGRATIONS = [
    """
    CREATE TABLE decree_chunks (
        decree_number text    NOT NULL,
        chunk_index   integer NOT NULL,
        chunk         jsonb   NOT NULL,
        PRIMARY KEY (decree_number, chunk_index)
    );
    """
]

CHUNK = DeterminationChunk.event_type
MANIFEST = DeterminationManifest.event_type
DECREE_PART_TYPES = frozenset({CHUNK, MANIFEST})  # what checked_decrees reads besides its handler's types


async def hold_chunks(conn: asyncpg.Connection, chunks: Sequence[DeterminationChunk]) -> None:
    """Keep chunks until their manifest; one already kept (a redelivery) is left as it is."""
    if not chunks:
        return
    await conn.execute(
        """INSERT INTO decree_chunks (decree_number, chunk_index, chunk)
           SELECT * FROM unnest($1::text[], $2::int[], $3::jsonb[])
           ON CONFLICT (decree_number, chunk_index) DO NOTHING""",
        [c.decree_number for c in chunks],
        [c.chunk_index for c in chunks],
        [c.model_dump_json() for c in chunks],
    )


async def assemble_held(conn: asyncpg.Connection, manifest: DeterminationManifest) -> DeterminationIssued:
    """The whole decree from the chunks kept, or IncompleteDecree (missing chunks, wrong content)."""
    rows = await conn.fetch(
        "SELECT chunk::text AS c FROM decree_chunks WHERE decree_number = $1 ORDER BY chunk_index",
        manifest.decree_number,
    )
    return assemble_decree(manifest, (DeterminationChunk.model_validate_json(r["c"]) for r in rows))


async def check_held(conn: asyncpg.Connection, manifest: DeterminationManifest) -> None:
    """IncompleteDecree unless the chunks kept make the whole decree, checked as assemble_held checks
    them but read through a cursor, one chunk at a time: a reader that only records the decree (the
    registry's projection) then never holds its lists."""
    check = ChunkCheck(manifest)
    async with conn.transaction():  # a cursor needs one (a savepoint inside the caller's)
        async for row in conn.cursor(
            "SELECT chunk::text AS c FROM decree_chunks WHERE decree_number = $1 ORDER BY chunk_index",
            manifest.decree_number,
            prefetch=CHUNKS_PREFETCHED,
        ):
            check.add(DeterminationChunk.model_validate_json(row["c"]))
    check.finish()


@dataclass(frozen=True)
class HeldSlice:
    """Some items of one kept chunk, and where they come from."""

    chunk_index: int
    chunk_length: int  # the chunk's items, of which ``items`` is a slice
    items: list[str]


async def next_held_slice(
    conn: asyncpg.Connection,
    decree_number: str,
    from_index: int,
    fields: Collection[str],
    start: int,
    count: int,
) -> HeldSlice | None:
    """Items ``start`` to ``start + count`` of the first chunk kept of the decree at or after
    ``from_index`` that slices one of ``fields``: how a reader pages through a decree's lists
    keeping only its place (chunk and item). PostgreSQL cuts the slice, so a page of 250 does not
    carry and parse the chunk's 4,000 items; a ``start`` past the chunk's end gives no items
    (jsonpath's lax mode)."""
    row = await conn.fetchrow(
        """SELECT chunk_index, jsonb_array_length(chunk->'items') AS n,
                  jsonb_path_query_array(chunk->'items', '$[$s to $e]',
                                         jsonb_build_object('s', $4::int, 'e', $5::int))::text AS items
           FROM decree_chunks
           WHERE decree_number = $1 AND chunk_index >= $2 AND chunk->>'field' = ANY($3::text[])
           ORDER BY chunk_index LIMIT 1""",
        decree_number, from_index, list(fields), start, start + count - 1,
    )  # fmt: skip
    if row is None:
        return None
    items = json.loads(row["items"])
    if not all(isinstance(i, str) for i in items):  # kept chunks passed the contract; this is a guard
        raise ValueError(f"decree {decree_number} chunk {row['chunk_index']} holds items that are not text")
    return HeldSlice(row["chunk_index"], row["n"], items)


async def held_lengths(conn: asyncpg.Connection, decree_number: str, fields: Collection[str]) -> list[int]:
    """How many items each chunk kept of the decree that slices one of ``fields`` holds, in order."""
    rows = await conn.fetch(
        """SELECT jsonb_array_length(chunk->'items') AS n FROM decree_chunks
           WHERE decree_number = $1 AND chunk->>'field' = ANY($2::text[]) ORDER BY chunk_index""",
        decree_number, list(fields),
    )  # fmt: skip
    return [int(r["n"]) for r in rows]


CHUNKS_PREFETCHED = 8  # rows per round trip: a chunk is up to some 270 KB of JSON


def checked_decrees(handler: BatchHandler) -> BatchHandler:
    """``handler`` seeing chunks as they come and a manifest only once its decree is whole (see above)."""

    async def apply(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        # Chunks first: those of a manifest later in this batch must be kept before it is checked.
        await hold_chunks(conn, [e.payload_as(DeterminationChunk) for e in events if e.event_type == CHUNK])
        for event in events:
            if event.event_type == MANIFEST:
                manifest = event.payload_as(DeterminationManifest)
                try:
                    await check_held(conn, manifest)
                except IncompleteDecree as exc:
                    raise PoisonEvent(f"decree {manifest.decree_number} is not whole: {exc}") from exc
        await handler(conn, events)

    return apply
