"""A decree of any size as a manifest plus chunks (#21).

One ``DeterminationIssued`` lists every record it fixes: about 20 MB at 500,000 records, and a
national decree would not fit in one Kafka record at all. Here the same decree is carried as one
``DeterminationManifest`` (every field of the decree except its long lists, plus how many chunks
and records follow and a SHA-256 of the lists' content) and ``DeterminationChunk`` events, each a
slice of one list. ``assemble_decree`` gives back the exact ``DeterminationIssued``, refusing a
decree that is not whole or whose content does not match the manifest, so a consumer that holds
only some chunks can never act on half a decree.

The split is structural only: the manifest subclasses ``DeterminationIssued``, so every field added
to the decree (institutions' assistance, say) travels in the manifest unchanged; only the id and
leaf lists named in CHUNKED_FIELDS are cut. Those are what grows with the register.

How it is published and consumed: the registry (for a decree of more than one chunk) appends the chunks and then the manifest in one transaction, all keyed
by decree_number, so they land in one partition in that order and the manifest is the decree's
last event, its commit marker. A consumer keeps chunks (idempotently by chunk_index) and acts only
on the manifest, through assemble_decree: acting per chunk would let a consumer that stopped
between chunks notify or project part of a decree, and the decree's meaning (the register in force,
its root) is only defined for the whole; dtks_runtime.decree_assembly does this for the services'
consumers. The auditor does not rely on the order (it assembles after folding every partition).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from dtks_contracts.events.determination_chunks import (
    CHUNKED_FIELDS,
    RECORDS_PER_CHUNK,
    DeterminationChunk,
    DeterminationManifest,
)
from dtks_contracts.events.registry import DeterminationIssued


class IncompleteDecree(ValueError):
    """The chunks in hand do not make the decree the manifest announced."""


def content_digest(lists: Iterable[tuple[str, Iterable[str]]]) -> str:
    """SHA-256 over "field<TAB>item<LF>" for each item of each list in CHUNKED_FIELDS order."""
    digest = hashlib.sha256()
    for name, items in lists:
        for item in items:
            digest.update(f"{name}\t{item}\n".encode())
    return digest.hexdigest()


def record_count(issued: DeterminationIssued) -> int:
    """Items across the decree's chunked lists: what its manifest's record_count would say."""
    return sum(len(getattr(issued, name)) for name in CHUNKED_FIELDS)


def split_decree(
    issued: DeterminationIssued, records_per_chunk: int = RECORDS_PER_CHUNK
) -> tuple[DeterminationManifest, list[DeterminationChunk]]:
    if records_per_chunk < 1:
        raise ValueError("records_per_chunk must be at least 1")
    lists = [(name, tuple(getattr(issued, name))) for name in CHUNKED_FIELDS]
    slices = [
        (name, start, items[start : start + records_per_chunk])
        for name, items in lists
        for start in range(0, len(items), records_per_chunk)
    ]
    header = issued.model_dump(exclude=set(CHUNKED_FIELDS))
    manifest = DeterminationManifest.model_validate(
        {
            **header,
            "chunk_count": len(slices),
            "record_count": sum(len(items) for _, items in lists),
            "content_sha256": content_digest(lists),
        }
    )
    chunks = [
        DeterminationChunk(
            decree_number=issued.decree_number,
            chunk_index=index,
            chunk_count=len(slices),
            field=name,
            start=start,
            items=items,
        )
        for index, (name, start, items) in enumerate(slices)
    ]
    return manifest, chunks


def assemble_decree(
    manifest: DeterminationManifest, chunks: Iterable[DeterminationChunk]
) -> DeterminationIssued:
    """The whole decree, or IncompleteDecree. A chunk seen twice (redelivery) counts once."""
    by_index: dict[int, DeterminationChunk] = {}
    for chunk in chunks:
        if chunk.decree_number != manifest.decree_number or chunk.chunk_count != manifest.chunk_count:
            raise IncompleteDecree(f"chunk {chunk.chunk_index} belongs to another decree or split")
        held = by_index.setdefault(chunk.chunk_index, chunk)
        if held != chunk:
            raise IncompleteDecree(f"two different chunks numbered {chunk.chunk_index}")
    missing = sorted(set(range(manifest.chunk_count)) - by_index.keys())
    if missing:
        raise IncompleteDecree(f"{len(missing)} of {manifest.chunk_count} chunks missing, first {missing[0]}")
    lists: dict[str, list[str]] = {name: [] for name in CHUNKED_FIELDS}
    for index in range(manifest.chunk_count):
        chunk = by_index[index]
        if chunk.start != len(lists[chunk.field]):
            raise IncompleteDecree(
                f"chunk {index} starts at {chunk.start}, expected {len(lists[chunk.field])}"
            )
        lists[chunk.field].extend(chunk.items)
    ordered = [(name, lists[name]) for name in CHUNKED_FIELDS]
    if sum(len(items) for _, items in ordered) != manifest.record_count:
        raise IncompleteDecree("the chunks do not hold the manifest's record count")
    if content_digest(ordered) != manifest.content_sha256:
        raise IncompleteDecree("the chunks' content does not match the manifest's content_sha256")
    header = manifest.model_dump(exclude={"chunk_count", "record_count", "content_sha256"})
    return DeterminationIssued.model_validate({**header, **lists})


__all__ = [
    "CHUNKED_FIELDS",
    "RECORDS_PER_CHUNK",
    "DeterminationChunk",
    "DeterminationManifest",
    "IncompleteDecree",
    "assemble_decree",
    "content_digest",
    "record_count",
    "split_decree",
]
