"""The two events a decree larger than one chunk is published as (#21): its manifest and its chunks.

They live among the events so that ``dtks_contracts.events`` registers them without importing
``dtks_contracts.decree_chunks`` (which imports the events: importing it first made a cycle). How
they are split, put together and checked is in ``dtks_contracts.decree_chunks``.
"""

from __future__ import annotations

from typing import ClassVar, Literal, get_args

from pydantic import Field

from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.registry import DeterminationIssued
from dtks_contracts.identifiers import DecreeNumber

ChunkedField = Literal[
    "registered",
    "corrected",
    "deactivated",
    "changed_leaves",
    "institutions_registered",
    "institutions_changed",
    "institutions_closed",
    "institution_leaves",
]
# The order here is the order of the content hash and of the chunks; never reorder it.
CHUNKED_FIELDS: tuple[str, ...] = get_args(ChunkedField)

# 4,000 records a chunk: the longest record is a 64-hex Merkle leaf, 67 bytes in JSON, so a chunk's
# items are under 270 KB and its envelope (ids, signature of provenance) a few KB more: about a
# quarter of Kafka's default 1 MB record limit, leaving room for a broker configured below ours.
RECORDS_PER_CHUNK = 4000


class DeterminationManifest(DeterminationIssued):
    """The decree without its long lists, saying what chunks make it whole."""

    event_type: ClassVar[str] = "registry.determination_manifest"
    schema_version: ClassVar[int] = 1

    chunk_count: int = Field(ge=0, description="DeterminationChunk events of this decree, numbered 0..n-1")
    record_count: int = Field(ge=0, description="Items across every chunk")
    content_sha256: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="content_digest of the lists, independent of chunk size"
    )


# What the manifest says that the decree itself does not (how many chunks and records, their hash):
# left out when the manifest becomes the decree again.
MANIFEST_ONLY_FIELDS: tuple[str, ...] = tuple(
    name for name in DeterminationManifest.model_fields if name not in DeterminationIssued.model_fields
)


class DeterminationChunk(EventPayload):
    """One slice of one of the decree's lists."""

    event_type: ClassVar[str] = "registry.determination_chunk"
    schema_version: ClassVar[int] = 1
    aggregate_type: ClassVar[str] = "determination"
    aggregate_id_field: ClassVar[str] = "decree_number"

    decree_number: DecreeNumber
    chunk_index: int = Field(ge=0)
    chunk_count: int = Field(ge=1)
    field: ChunkedField
    start: int = Field(ge=0, description="Position in the list of the first item")
    items: tuple[str, ...] = Field(min_length=1)
