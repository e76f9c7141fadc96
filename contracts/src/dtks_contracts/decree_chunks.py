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
from collections.abc import Iterable, Mapping
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


def split_decree(
    issued: DeterminationIssued, records_per_chunk: int = RECORDS_PER_CHUNK
) -> tuple[DeterminationManifest, list[DeterminationChunk]]:
    """The decree in hand as its manifest and chunks (what :class:`DecreeSplitter` cuts from lists
    fed to it as they are read)."""
    lists = [(name, tuple(getattr(issued, name))) for name in CHUNKED_FIELDS]
    splitter = DecreeSplitter(
        issued.decree_number, {name: len(items) for name, items in lists}, records_per_chunk
    )
    chunks = [chunk for name, items in lists for chunk in splitter.feed(name, items)]
    chunks += splitter.finish()
    return splitter.manifest(issued), chunks


class DecreeSplitter:
    """Cuts a decree's lists into chunks as they are fed, a slice at a time, so that the registry can
    publish a national decree reading its lists from the database without ever holding them.

    The chunks' count is in every chunk, so the lists' lengths (``counts``, by field) are given first;
    the lists are then fed in CHUNKED_FIELDS order, each in as many slices as the caller reads it in.
    ``feed`` returns the chunks the slice filled; ``finish`` the last partial one and refuses lists
    whose lengths are not the counts given; ``manifest`` is then the decree's manifest, its content
    hash computed as the items passed. The chunks are those :func:`split_decree` gives for the same
    lists: a field's items cut every ``records_per_chunk``, never a chunk across two fields."""

    def __init__(
        self, decree_number: str, counts: Mapping[str, int], records_per_chunk: int = RECORDS_PER_CHUNK
    ) -> None:
        if records_per_chunk < 1:
            raise ValueError("records_per_chunk must be at least 1")
        unknown = set(counts) - set(CHUNKED_FIELDS)
        if unknown:
            raise ValueError(f"not a chunked field: {sorted(unknown)}")
        self._decree_number = decree_number
        self._counts = {name: counts.get(name, 0) for name in CHUNKED_FIELDS}
        self._per_chunk = records_per_chunk
        self.chunk_count = sum(-(-n // records_per_chunk) for n in self._counts.values())
        self.record_count = sum(self._counts.values())
        self._digest = hashlib.sha256()
        self._field: str | None = None
        self._fed: dict[str, int] = dict.fromkeys(CHUNKED_FIELDS, 0)
        self._pending: list[str] = []  # items of self._field not yet in a chunk
        self._start = 0  # position in self._field of self._pending's first item
        self._index = 0  # the next chunk's index
        self._finished = False

    def feed(self, field: str, items: Iterable[str]) -> list[DeterminationChunk]:
        if self._finished:
            raise ValueError("the decree's lists are finished")
        if field not in _FIELD_ORDER:
            raise ValueError(f"not a chunked field: {field}")
        chunks: list[DeterminationChunk] = []
        if field != self._field:
            if self._field is not None and _FIELD_ORDER[field] < _FIELD_ORDER[self._field]:
                raise ValueError(f"{field} fed after {self._field}: lists come in CHUNKED_FIELDS order")
            chunks += self._flush()
            self._field, self._start = field, 0
        for item in items:
            self._pending.append(item)
            if len(self._pending) == self._per_chunk:
                chunks += self._flush()
        return chunks

    def finish(self) -> list[DeterminationChunk]:
        chunks = self._flush()
        self._finished = True
        if self._fed != self._counts:
            differing = {
                name: (self._counts[name], n) for name, n in self._fed.items() if n != self._counts[name]
            }
            raise ValueError(f"lists of other lengths than announced (announced, fed): {differing}")
        return chunks

    def manifest(self, decree: DeterminationIssued) -> DeterminationManifest:
        """The manifest of ``decree`` (its lists, if it holds any, are left out: the chunks carry them)."""
        if not self._finished:
            raise ValueError("finish the lists before the manifest")
        if decree.decree_number != self._decree_number:
            raise ValueError("the manifest is of another decree than the chunks")
        header = decree.model_dump(exclude=set(CHUNKED_FIELDS))
        return DeterminationManifest.model_validate(
            {
                **header,
                "chunk_count": self.chunk_count,
                "record_count": self.record_count,
                "content_sha256": self._digest.hexdigest(),
            }
        )

    def _flush(self) -> list[DeterminationChunk]:
        if not self._pending:
            return []
        field, items = self._field, tuple(self._pending)
        assert field is not None
        if self._fed[field] + len(items) > self._counts[field]:
            raise ValueError(f"{field} holds more than the {self._counts[field]} items announced")
        _feed(self._digest, field, items)
        chunk = DeterminationChunk(
            decree_number=self._decree_number,
            chunk_index=self._index,
            chunk_count=self.chunk_count,
            field=field,  # checked against CHUNKED_FIELDS in feed
            start=self._start,
            items=items,
        )
        self._index += 1
        self._start += len(items)
        self._fed[field] += len(items)
        self._pending = []
        return [chunk]


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
    "DecreeSplitter",
    "DeterminationChunk",
    "DeterminationManifest",
    "IncompleteDecree",
    "assemble_decree",
    "content_digest",
    "split_decree",
]
