"""Consuming chunked decrees (#21): chunks kept, the decree acted on only at its manifest.

A decree larger than one chunk is published as ``registry.determination_chunk`` events followed by
one ``registry.determination_manifest`` (dtks_contracts.decree_chunks), all in one transaction and
one partition. A consumer that reacts to decrees must never act on half of one, so:

- each chunk is kept in the consumer's database (``decree_chunks``, keyed by decree and chunk
  index, so a redelivered chunk changes nothing), and nothing else happens;
- at the manifest, the chunks kept are assembled and checked against the manifest's count and
  content hash (``assemble_decree``); a decree that is not whole is a ``PoisonEvent``: dead-lettered
  with the reason, never applied. ``dtks-dead-letters replay`` sends it again once the chunks are in.

``whole_decrees(handler)`` does both around any batch handler and hands it the assembled decree as
an ordinary ``registry.determination_issued`` envelope (the manifest's id, time and causation), so
a consumer written for the single event (DCI's notify, the notification rules and agencies'
deliveries) reads a chunked decree unchanged, and decrees issued in the old single form still pass
through as they are. The registry's projection (live and in a replay) uses ``hold_chunks`` and
``check_held``, which checks a decree whole without assembling it: it records the manifest and reads
the lists back from the kept chunks when asked.

The table is created by the migration component ``COMPONENT``, which each service whose consumers
read decrees adds (``runtime.add_migrations(COMPONENT, MIGRATIONS)``). Chunks are kept after the
decree is assembled: several consumers of one service may share the table, and a dead-lettered
manifest replayed later needs them.
"""

from __future__ import annotations

from collections.abc import Sequence

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


CHUNKS_PREFETCHED = 8  # rows per round trip: a chunk is up to some 270 KB of JSON


def as_issued(manifest_event: EventEnvelope, decree: DeterminationIssued) -> EventEnvelope:
    """The manifest's envelope carrying the whole decree as a ``registry.determination_issued``."""
    return manifest_event.model_copy(
        update={
            "event_type": DeterminationIssued.event_type,
            "schema_version": DeterminationIssued.schema_version,
            "payload": decree.model_dump(mode="json"),
        }
    )


def whole_decrees(handler: BatchHandler) -> BatchHandler:
    """``handler`` seeing chunked decrees as whole ``determination_issued`` events (see above)."""

    async def apply(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        # Chunks first: those of a manifest later in this batch must be kept before it assembles.
        await hold_chunks(conn, [e.payload_as(DeterminationChunk) for e in events if e.event_type == CHUNK])
        passed: list[EventEnvelope] = []
        for event in events:
            if event.event_type == CHUNK:
                continue
            if event.event_type == MANIFEST:
                manifest = event.payload_as(DeterminationManifest)
                try:
                    decree = await assemble_held(conn, manifest)
                except IncompleteDecree as exc:
                    raise PoisonEvent(f"decree {manifest.decree_number} is not whole: {exc}") from exc
                event = as_issued(event, decree)
            passed.append(event)
        await handler(conn, passed)

    return apply
