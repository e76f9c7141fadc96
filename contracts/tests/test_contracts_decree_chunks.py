import datetime as dt
import subprocess
import sys

import pytest

from dtks_contracts.actor import Actor
from dtks_contracts.decree_chunks import (
    CHUNKED_FIELDS,
    RECORDS_PER_CHUNK,
    ChunkCheck,
    DecreeSplitter,
    IncompleteDecree,
    assemble_decree,
    content_digest,
    split_decree,
)
from dtks_contracts.events.registry import DeterminationIssued, Period
from dtks_contracts.register_hash import REGISTER_HASH_ALGORITHM
from dtks_contracts.vocabulary import Role


def _decree(households: int, institutions: int = 0) -> DeterminationIssued:
    registered = tuple(f"H-{n}" for n in range(households))
    corrected = tuple(f"C-{n}" for n in range(households // 2))
    return DeterminationIssued(
        decree_number="146/HUK/2025",
        period=Period(year=2025, quarter=2),
        cut_off=dt.datetime(2025, 3, 31, 17, 0, tzinfo=dt.UTC),
        issued_at=dt.datetime(2025, 4, 2, 3, 0, tzinfo=dt.UTC),
        register_hash="ab" * 32,
        hash_algorithm=REGISTER_HASH_ALGORITHM,
        counts={"households": households, "people": 3 * households},
        issued_by=Actor(subject="menteri", role=Role.MINISTRY_DETERMINER, region="ID"),
        registered=registered,
        corrected=corrected,
        deactivated=tuple(f"D-{n}" for n in range(7)),
        changed_leaves=tuple(f"{n:064x}" for n in range(len(registered) + len(corrected))),
        institutions_registered=tuple(f"L-{n}" for n in range(institutions)),
        institution_leaves=tuple(f"{n:064x}" for n in range(institutions)),
    )


def test_a_decree_larger_than_one_chunk_is_split_and_assembles_to_the_same_bytes():
    decree = _decree(25, institutions=3)
    manifest, chunks = split_decree(decree, records_per_chunk=10)
    assert manifest.chunk_count == len(chunks) > 1
    assert manifest.record_count == 25 + 12 + 7 + 37 + 3 + 3
    assert all(len(chunk.items) <= 10 for chunk in chunks)
    assert manifest.registered == () and manifest.changed_leaves == ()
    whole = assemble_decree(manifest, chunks)
    assert whole.model_dump_json() == decree.model_dump_json()


def test_lists_fed_in_slices_as_read_make_the_chunks_and_manifest_of_the_decree_split_whole():
    # The registry feeds a national decree's lists as it reads them from its tables, in slices that
    # do not line up with the chunks; the chunks must not depend on how the lists were read.
    decree = _decree(25, institutions=3)
    splitter = DecreeSplitter(decree.decree_number, {f: len(getattr(decree, f)) for f in CHUNKED_FIELDS}, 10)
    chunks = []
    for field in CHUNKED_FIELDS:
        items, start, width = getattr(decree, field), 0, 1
        while start < len(items):
            chunks += splitter.feed(field, items[start : start + width])
            start, width = start + width, width % 4 + 1  # slices of 1, 2, 3, 4, 1, ...
    chunks += splitter.finish()
    header = decree.model_copy(update={f: () for f in CHUNKED_FIELDS[:4]})  # the lists not in hand
    whole_manifest, whole_chunks = split_decree(decree, records_per_chunk=10)
    assert (splitter.manifest(header), chunks) == (whole_manifest, whole_chunks)
    # The content hash as its definition gives it over the lists, whatever slices they passed in.
    assert whole_manifest.content_sha256 == content_digest((f, getattr(decree, f)) for f in CHUNKED_FIELDS)
    assert assemble_decree(splitter.manifest(header), chunks).model_dump_json() == decree.model_dump_json()


def test_a_splitter_refuses_lists_that_are_not_the_ones_announced():
    counts = {"registered": 2, "changed_leaves": 2}
    short = DecreeSplitter("1/HUK/2027", counts, 10)
    short.feed("registered", ["H-1", "H-2"])
    short.feed("changed_leaves", ["a" * 64])
    with pytest.raises(ValueError, match="other lengths than announced"):
        short.finish()
    long = DecreeSplitter("1/HUK/2027", counts, 1)
    long.feed("registered", ["H-1", "H-2"])
    with pytest.raises(ValueError, match="more than the 2 items announced"):
        long.feed("registered", ["H-3"])
    backwards = DecreeSplitter("1/HUK/2027", counts, 10)
    backwards.feed("changed_leaves", ["a" * 64])
    with pytest.raises(ValueError, match="CHUNKED_FIELDS order"):
        backwards.feed("registered", ["H-1"])
    unfinished = DecreeSplitter("1/HUK/2027", {}, 10)
    with pytest.raises(ValueError, match="finish the lists"):
        unfinished.manifest(_decree(0))


def test_the_content_hash_does_not_depend_on_the_chunk_size():
    decree = _decree(30)
    assert split_decree(decree, 4)[0].content_sha256 == split_decree(decree, 1000)[0].content_sha256


def test_half_a_decree_is_refused_and_a_redelivered_chunk_counts_once():
    manifest, chunks = split_decree(_decree(25), records_per_chunk=10)
    with pytest.raises(IncompleteDecree, match="missing"):
        assemble_decree(manifest, chunks[:-1])
    assert assemble_decree(manifest, [*chunks, chunks[0]]).registered == _decree(25).registered


def test_a_tampered_chunk_is_refused():
    manifest, chunks = split_decree(_decree(25), records_per_chunk=10)
    chunks[0] = chunks[0].model_copy(update={"items": ("H-999", *chunks[0].items[1:])})
    with pytest.raises(IncompleteDecree, match="content_sha256"):
        assemble_decree(manifest, chunks)


def test_chunks_checked_one_at_a_time_are_refused_at_the_first_that_does_not_fit():
    """ChunkCheck is what a reader that never holds the decree relies on: in order, it accepts the
    decree's chunks and refuses any gap, reordering, shifted slice, short end or altered content."""
    manifest, chunks = split_decree(_decree(25), records_per_chunk=10)

    def checked(sequence):
        check = ChunkCheck(manifest)
        for chunk in sequence:
            check.add(chunk)
        check.finish()

    checked(chunks)
    with pytest.raises(IncompleteDecree, match=r"chunk 1 of \d+ missing"):
        checked([chunks[0], *chunks[2:]])
    with pytest.raises(IncompleteDecree, match="missing, first"):
        checked(chunks[:-1])
    swapped = [
        c.model_copy(update={"chunk_index": n}) for n, c in enumerate([chunks[3], *chunks[:3], *chunks[4:]])
    ]
    with pytest.raises(IncompleteDecree, match="after"):
        checked(swapped)
    shifted = chunks[1].model_copy(update={"start": 11})
    with pytest.raises(IncompleteDecree, match="starts at 11"):
        checked([chunks[0], shifted, *chunks[2:]])
    beyond = chunks[-1].model_copy(update={"chunk_index": manifest.chunk_count})
    with pytest.raises(IncompleteDecree, match="another decree or split"):
        checked([*chunks, beyond])
    altered = chunks[2].model_copy(update={"items": ("H-999", *chunks[2].items[1:])})
    with pytest.raises(IncompleteDecree, match="content_sha256"):
        checked([*chunks[:2], altered, *chunks[3:]])


def test_a_full_chunk_of_leaves_stays_well_under_kafkas_default_record_limit():
    manifest, chunks = split_decree(_decree(RECORDS_PER_CHUNK * 2))
    largest = max(len(chunk.model_dump_json()) for chunk in chunks)
    assert largest < 1_048_576 // 3
    assert len(manifest.model_dump_json()) < 10_000


def test_the_manifest_and_chunks_are_events_of_the_decree_aggregate():
    manifest, chunks = split_decree(_decree(5), records_per_chunk=4)
    assert manifest.aggregate_id() == chunks[0].aggregate_id() == "146/HUK/2025"
    assert {manifest.event_type, chunks[0].event_type} == {
        "registry.determination_manifest",
        "registry.determination_chunk",
    }


@pytest.mark.parametrize(
    "module", ["dtks_contracts.decree_chunks", "dtks_contracts.events.determination_chunks"]
)
def test_the_chunk_modules_import_first_in_a_fresh_interpreter(module: str) -> None:
    # Importing decree_chunks before the events package once made a cycle (the registry's replay
    # command failed to start: its first contracts import was decree_chunks).
    done = subprocess.run(
        [sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
