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
from typing import Any

from dtks_contracts.events.determination_chunks import (
    CHUNKED_FIELDS,
    MANIFEST_ONLY_FIELDS,
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
        _feed(digest, name, items)
    return digest.hexdigest()


def _feed(digest: Any, name: str, items: Iterable[str]) -> None:
    for item in items:
        digest.update(f"{name}\t{item}\n".encode())


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
        held = by_index.setdefault(chunk.chunk_index, chunk)
        if held != chunk:
            raise IncompleteDecree(f"two different chunks numbered {chunk.chunk_index}")
    missing = sorted(set(range(manifest.chunk_count)) - by_index.keys())
    if missing:
        raise IncompleteDecree(f"{len(missing)} of {manifest.chunk_count} chunks missing, first {missing[0]}")
    lists: dict[str, list[str]] = {name: [] for name in CHUNKED_FIELDS}
    check = ChunkCheck(manifest)
    for chunk in (by_index[index] for index in sorted(by_index)):
        check.add(chunk)
        lists[chunk.field].extend(chunk.items)
    check.finish()
    header = manifest.model_dump(exclude=set(MANIFEST_ONLY_FIELDS))
    return DeterminationIssued.model_validate({**header, **lists})


class ChunkCheck:
    """A decree's chunks checked against its manifest as they pass, one at a time in chunk_index
    order without repeats: ``add`` raises IncompleteDecree at the first chunk that does not fit,
    ``finish`` if the chunks added do not make the whole decree (count, content hash). Holding one
    chunk at a time, a reader that only needs to know a decree is whole (the registry's projection)
    never holds the decree, which nationally lists tens of millions of records.

    Chunks come in CHUNKED_FIELDS order (split_decree cuts the lists in that order), which is what
    lets the content hash be computed as they pass."""

    def __init__(self, manifest: DeterminationManifest) -> None:
        self._manifest = manifest
        self._digest = hashlib.sha256()
        self._field = CHUNKED_FIELDS[0]
        self._length = 0  # items of self._field so far
        self._records = 0
        self._chunks = 0

    def add(self, chunk: DeterminationChunk) -> None:
        manifest, expected = self._manifest, self._chunks
        if (
            chunk.decree_number != manifest.decree_number
            or chunk.chunk_count != manifest.chunk_count
            or chunk.chunk_index >= manifest.chunk_count
        ):
            raise IncompleteDecree(f"chunk {chunk.chunk_index} belongs to another decree or split")
        if chunk.chunk_index != expected:
            raise IncompleteDecree(f"chunk {expected} of {manifest.chunk_count} missing")
        if _FIELD_ORDER[chunk.field] < _FIELD_ORDER[self._field]:
            raise IncompleteDecree(f"chunk {expected} holds {chunk.field} after {self._field}")
        if chunk.field != self._field:
            self._field, self._length = chunk.field, 0
        if chunk.start != self._length:
            raise IncompleteDecree(f"chunk {expected} starts at {chunk.start}, expected {self._length}")
        _feed(self._digest, chunk.field, chunk.items)
        self._length += len(chunk.items)
        self._records += len(chunk.items)
        self._chunks += 1

    def finish(self) -> None:
        manifest = self._manifest
        if self._chunks != manifest.chunk_count:
            raise IncompleteDecree(
                f"{manifest.chunk_count - self._chunks} of {manifest.chunk_count} chunks missing, "
                f"first {self._chunks}"
            )
        if self._records != manifest.record_count:
            raise IncompleteDecree("the chunks do not hold the manifest's record count")
        if self._digest.hexdigest() != manifest.content_sha256:
            raise IncompleteDecree("the chunks' content does not match the manifest's content_sha256")


_FIELD_ORDER = {name: position for position, name in enumerate(CHUNKED_FIELDS)}


__all__ = [
    "CHUNKED_FIELDS",
    "MANIFEST_ONLY_FIELDS",
    "RECORDS_PER_CHUNK",
    "ChunkCheck",
    "DeterminationChunk",
    "DeterminationManifest",
    "IncompleteDecree",
    "assemble_decree",
    "content_digest",
    "record_count",
    "split_decree",
]
