"""Commands of the registry: issuing a determination (penetapan) and setting welfare deciles centrally.
Load, decide (pure), write, append, in one unit of work.

Both append to household streams with the version the decision saw, loaded in the same statement as
the state it decided on; a writer that moved a stream in between makes the append fail with a
ConcurrencyConflict, and the command loads and decides again (dtks_runtime.unit_of_work). After a
few such losses it answers ``register_changed`` (409): nothing was written, and sending it again is
safe (a decree by its number, a decile batch by its content)."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from dtks_contracts.actor import Actor
from dtks_contracts.decree_chunks import (
    CHUNKED_FIELDS,
    MANIFEST_ONLY_FIELDS,
    DecreeSplitter,
    DeterminationChunk,
    DeterminationManifest,
)
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.governance import FrozenAction
from dtks_contracts.events.registry import (
    DeterminationIssued,
    HouseholdCorrected,
    HouseholdDeactivated,
    HouseholdRegistered,
    InstitutionAssistanceDetermined,
    InstitutionChanged,
    InstitutionClosed,
    InstitutionRegistered,
    Period,
    RegisterCounts,
    WelfareDecileSet,
)
from dtks_contracts.institution import DeterminedAssistance
from dtks_contracts.merkle import (
    ASSISTANCE_SECTION,
    INSTITUTION_SECTION,
    MERKLE_ALGORITHM,
    institution_decree_leaf,
)
from dtks_registry.adapters import decree_chain, register
from dtks_registry.adapters.projection import (
    DecileChange,
    HouseholdChange,
    InstitutionEntry,
    RecordedDecree,
    read_determination,
    write_assistance,
    write_deciles,
    write_determinations,
    write_household_changes,
    write_institution_changes,
)
from dtks_registry.decree_signing import DecreeSigner
from dtks_registry.deps import RegistryDeps
from dtks_registry.domain.determination import Decision, InForce, decide
from dtks_registry.domain.institution_determination import decide_institutions
from dtks_registry.domain.periods import period_text
from dtks_registry.domain.welfare import CurrentDecile, DecileItem, ItemOutcome, Standing, decide_deciles
from dtks_runtime.db import advisory_key
from dtks_runtime.decree_assembly import CHUNKS_PREFETCHED, hold_chunks
from dtks_runtime.errors import DomainError
from dtks_runtime.event_store import Causation, ConcurrencyConflict, NewEvent, PreparedAppend, StreamAppend
from dtks_runtime.freezes import ensure_not_frozen
from dtks_runtime.gc_policy import rare_collections
from dtks_runtime.unit_of_work import UnitOfWork, UnitsOfWork, retry_on_conflict

# A decree takes it exclusively: one decree at a time (two would each see the other's candidates as
# pending, and the period order and the register hash are over the whole register). A decile batch
# takes it shared, so it waits for a decree in progress instead of making that long transaction lose
# a version race and start again; batches run beside each other, kept apart by expected versions.
DETERMINATION_LOCK = advisory_key("dtks:registry:determination")


def _register_changed() -> DomainError:
    return DomainError(
        "register_changed",
        "The register changed while this was being applied, several times over; nothing was written. "
        "Send it again.",
    )


# Settings for the decree's own transaction (SET LOCAL: they end with it).
# - Each statement planned for its own arguments (no cached generic plan): the decree runs the same
#   statements once per chunk while it fills the very tables they read. A generic plan made when a
#   table was empty scans it whole for each chunk and matches every row against the chunk's
#   household ids one by one (a parameter's array is not hashed): 100,000 households took 266 s
#   instead of 42 s, PostgreSQL's CPU 240 s, on a connection whose statements were prepared before
#   the tables were emptied. Planning a few statements per chunk of thousands costs next to nothing.
# - At least 64 MB to sort in: each chunk's events are sorted in their insert (by ordinality, which
#   keeps their order), and at the default 4 MB they spilled 346 MB to temporary files over
#   100,000 households; never lowered below what the server was given.
DECREE_PLANNING = """
    SELECT set_config('plan_cache_mode', 'force_custom_plan', true),
           CASE WHEN pg_size_bytes(current_setting('work_mem')) < pg_size_bytes('64MB')
                THEN set_config('work_mem', '64MB', true) END
"""


@dataclass(frozen=True)
class DeterminationRequest:
    decree_number: str
    period: Period
    cutoff: dt.datetime


async def issue_determination(
    deps: RegistryDeps,
    request: DeterminationRequest,
    actor: Actor,
    correlation_id: str,
    *,
    chunk: int = register.CHUNK,
    signer: DecreeSigner | None = None,
) -> tuple[RecordedDecree, bool]:
    """Issue the decree, or return the one already issued under this number. Returns (the decree as
    recorded, created): a chunked decree as its manifest, its lists left in its chunks for the caller
    to stream (:func:`streamed_determination`), as a national decree's are too many to hold.

    ``chunk``: about how many candidates are decided and written at a time (memory, not outcome).
    ``signer``: the Ministry's decree key (default: the development key, refused in production by
    the settings before a request can get here)."""
    now = deps.now()
    if request.cutoff > now:
        raise DomainError(
            "cutoff_in_future",
            "The cut-off lies in the future; a decree can only fix acceptances that already happened.",
        )
    signer = signer or DecreeSigner.from_seeds(None, production=False)
    with rare_collections():
        try:
            return await retry_on_conflict(
                lambda: _issue(deps, request, actor, correlation_id, now, chunk, signer)
            )
        except ConcurrencyConflict:
            raise _register_changed() from None


async def _issue(
    deps: RegistryDeps,
    request: DeterminationRequest,
    actor: Actor,
    correlation_id: str,
    now: dt.datetime,
    chunk: int,
    signer: DecreeSigner,
) -> tuple[RecordedDecree, bool]:
    """One attempt at the decree in one unit of work. Its steps must happen in this order (the lock,
    a decree already issued under this number, the period's order, the households chunk by chunk,
    the institutions, the decree's own event), and they read top to bottom as one function, which
    is why it runs over 60 lines."""
    async with deps.unit_of_work() as uow:
        conn = uow.conn
        # One decree at a time: two concurrent decrees would each see the other's candidates as pending.
        await conn.execute("SELECT pg_advisory_xact_lock($1)", DETERMINATION_LOCK)
        await conn.execute(DECREE_PLANNING)
        existing = await read_determination(conn, request.decree_number, lists=False)
        if existing is not None:
            return existing, False
        # A decree is national: only a freeze of the whole country stops it (see verification's
        # governance); a decree already issued is still answered above.
        await ensure_not_frozen(conn, FrozenAction.DETERMINATION_DECREES, "ID", now)
        await _check_period(conn, request)
        causation = Causation(actor=actor, correlation_id=correlation_id)
        # A chunk of households at a time (decide, append their events, write them), so memory stays
        # bounded however many candidates a national quarter brings; the rule decides per household,
        # so chunks that never split a household give exactly the decision over all of them at once.
        # How many households each list of the decree will give; the lists themselves are read back
        # from the change rows when the decree is published (register.decree_household_lists).
        changed: Counter[str] = Counter()
        not_applied: list[dict[str, str]] = []
        chunks = register.pending_by_household(conn, request.cutoff, chunk)
        # Each chunk is written while the next is parsed, decided and built: PostgreSQL writes one on its
        # core while Python builds the other on the other core (they took turns, their CPU summing to
        # the decree's time). The connection does one thing at a time, so a chunk's reads come
        # before the writes of the chunk before it start, and those end before the next chunk is
        # read. Sound because chunks never share a household: a chunk's reads do not see the writes
        # of the one before, nor need them.
        built: BuiltChunk | None = None  # decided and built, not yet written
        async with contextlib.aclosing(chunks):  # on an error, its cursor closes before the rollback
            async for pending in chunks:
                in_force = await register.in_force(conn, pending.targets)
                writing = asyncio.create_task(_write_chunk(uow, built)) if built else None
                try:
                    # Parsed here, not as read: while the database writes the chunk before.
                    decision = decide(await pending.candidates(), in_force, request.cutoff)
                    not_applied += (
                        {"proposal_id": n.proposal_id, "household_id": n.household_id, "reason": n.reason}
                        for n in decision.not_applied
                    )
                    built = None
                    if decision.changes_anything:
                        built = await _build_chunk(uow, request, decision, in_force, causation)
                finally:
                    if writing is not None:
                        await writing  # its error, if any, is the decree's
                if built is not None:
                    changed.update(c.change for c in built.changes)
        if built is not None:
            await _write_chunk(uow, built)
        institutions = await _determine_institutions(uow, request, causation)
        not_applied += institutions.not_applied
        if not (changed or institutions.changes_anything):
            # Raising rolls the transaction back: nothing was written.
            raise DomainError(
                "nothing_to_determine",
                "No acceptance up to this cut-off changes the register, so there is nothing to decree; "
                "check the cut-off or wait for the Ministry's acceptances.",
                extra={"not_applied": not_applied},
            )
        summary = await register.current_summary(conn)
        previous = await decree_chain.previous_decree(conn)
        await decree_chain.record_key(uow, signer, causation, now)
        issued = DeterminationIssued(
            decree_number=request.decree_number,
            period=request.period,
            cut_off=request.cutoff,
            issued_at=now,
            register_hash=summary.register_hash,
            # A register with institutions says how their section is hashed; without, the text (and so
            # the decree's bytes) is as it always was.
            hash_algorithm=_hash_algorithm(summary),
            counts=RegisterCounts(
                households=summary.households, people=summary.people, institutions=summary.institutions
            ),
            issued_by=actor,
            tree_size=summary.tree_size,
            previous_decree=previous[0] if previous else None,
            previous_register_hash=previous[1] if previous else None,
            institutions_registered=institutions.registered,
            institutions_changed=institutions.changed,
            institutions_closed=institutions.closed,
            institution_leaves=institutions.leaves,
            institution_assistance=institutions.assistance,
        )
        # The tree head signed is the decree's every field but its lists (dtks_contracts.tree_head).
        issued = signer.sign(issued)
        envelope, recorded = await _append_decree(uow, issued, changed, deps.decree_chunk_records, causation)
        await write_determinations(conn, [(envelope.event_id, recorded)])
        await conn.execute(
            "UPDATE determinations SET not_applied = $2::jsonb WHERE decree_number = $1",
            request.decree_number,
            json.dumps(not_applied, ensure_ascii=False),
        )
        return RecordedDecree(recorded, envelope.event_id, not_applied), True


# Chunks appended (and kept) at a time while a decree is published: some 7 MB of events.
CHUNKS_PER_APPEND = 25
# The lists a decree has in hand as it issues: the institutions' (thousands, not millions). The
# households' are read back from the change rows the decree wrote.
_INSTITUTION_LISTS = tuple(name for name in CHUNKED_FIELDS if name.startswith("institution"))


async def _append_decree(
    uow: UnitOfWork,
    head: DeterminationIssued,
    changed: Counter[str],
    chunk_records: int,
    causation: Causation,
) -> tuple[EventEnvelope, DeterminationIssued]:
    """The decree's own events; returns the one that stands for the whole decree, and what its
    determinations row records: the decree, or for a chunked one its manifest, its chunks kept in
    decree_chunks as the projection keeps them (see projection.read_determination).

    ``head`` is the decree without its household lists, which are read back from the change rows
    the decree wrote (``changed``: how many households of each change). A decree that fits in one
    chunk stays one ``DeterminationIssued``, byte for byte what it always was (its readers, agencies'
    among them, and every decree already issued read it so). A larger one is its chunks and then its
    manifest (dtks_contracts.decree_chunks), in this one transaction and on the decree's one stream,
    so they share a partition and the manifest is the decree's last event: a consumer acts on it,
    with every chunk already read, and never on part of a decree. Its chunks are cut and appended
    as its lists are read, a few at a time: the registry never holds a national decree's lists."""
    counts = {
        "registered": changed["registered"],
        "corrected": changed["corrected"],
        "deactivated": changed["deactivated"],
        "changed_leaves": changed["registered"] + changed["corrected"],
        **{name: len(getattr(head, name)) for name in _INSTITUTION_LISTS},  # in hand
    }
    lists = _decree_lists(uow.conn, head)
    if sum(counts.values()) <= chunk_records:
        whole: dict[str, list[str]] = {name: [] for name in CHUNKED_FIELDS}
        async with contextlib.aclosing(lists):
            async for name, items in lists:
                whole[name] += items
        issued = DeterminationIssued.model_validate({**head.model_dump(), **whole})
        envelopes = await _append_to_decree(uow, issued.decree_number, 0, [issued], causation)
        return envelopes[-1], issued
    splitter = DecreeSplitter(head.decree_number, counts, chunk_records)
    appended = 0
    ready: list[DeterminationChunk] = []
    async with contextlib.aclosing(lists):
        async for name, items in lists:
            ready += splitter.feed(name, items)
            if len(ready) >= CHUNKS_PER_APPEND:
                appended += len(await _append_chunks(uow, head.decree_number, appended, ready, causation))
                ready = []
    ready += splitter.finish()
    appended += len(await _append_chunks(uow, head.decree_number, appended, ready, causation))
    manifest = splitter.manifest(head)
    envelopes = await _append_to_decree(uow, head.decree_number, appended, [manifest], causation)
    return envelopes[-1], manifest


async def _decree_lists(
    conn: asyncpg.Connection, head: DeterminationIssued
) -> AsyncGenerator[tuple[str, list[str]], None]:
    """The decree's lists in CHUNKED_FIELDS order: the households' from the change rows, then the
    institutions' from ``head`` (an institutions section is thousands, not millions)."""
    households = register.decree_household_lists(conn, head.decree_number)
    async with contextlib.aclosing(households):
        async for name, items in households:
            yield name, items
    for name in _INSTITUTION_LISTS:
        yield name, list(getattr(head, name))


async def _append_chunks(
    uow: UnitOfWork,
    decree_number: str,
    version: int,
    chunks: Sequence[DeterminationChunk],
    causation: Causation,
) -> list[EventEnvelope]:
    await hold_chunks(uow.conn, chunks)
    return await _append_to_decree(uow, decree_number, version, chunks, causation)


async def _append_to_decree(
    uow: UnitOfWork, decree_number: str, version: int, payloads: Sequence[EventPayload], causation: Causation
) -> list[EventEnvelope]:
    if not payloads:
        return []
    return await uow.append(
        aggregate_type="determination",
        aggregate_id=decree_number,
        expected_version=version,
        events=[NewEvent.of(p) for p in payloads],
        causation=causation,
    )


def _hash_algorithm(summary: register.RegisterSummary) -> str:
    """A register with institutions (and assistance) says how their sections are hashed; without,
    the text (and so the decree's bytes) is as it always was."""
    sections = [MERKLE_ALGORITHM]
    if summary.institutions or summary.assistance:
        sections.append(INSTITUTION_SECTION)
    if summary.assistance:
        sections.append(ASSISTANCE_SECTION)
    return "; ".join(sections)


async def _check_period(conn: asyncpg.Connection, request: DeterminationRequest) -> None:
    taken = await conn.fetchval(
        "SELECT decree_number FROM determinations WHERE period_start = $1", request.period.starts_on
    )
    if taken is not None:
        raise DomainError(
            "period_already_determined",
            f"Period {period_text(request.period)} was already determined by decree {taken}; "
            "a change now goes into the next quarter's decree.",
        )
    latest = await conn.fetchrow(
        "SELECT decree_number, period_start FROM determinations ORDER BY period_start DESC LIMIT 1"
    )
    if latest is not None and latest["period_start"] > request.period.starts_on:
        raise DomainError(
            "period_out_of_order",
            f"Decree {latest['decree_number']} already fixed the later period starting "
            f"{latest['period_start']:%Y-%m}; decrees follow the quarters in order.",
        )


@dataclass(frozen=True)
class BuiltChunk:
    """A chunk's household events built and serialized, and the changes they make, not yet written."""

    events: PreparedAppend
    changes: list[HouseholdChange]


async def _build_chunk(
    uow: UnitOfWork,
    request: DeterminationRequest,
    decision: Decision,
    in_force: Mapping[str, InForce],
    causation: Causation,
) -> BuiltChunk:
    """One event per changed household (its own stream) and the changes they make, built in slices.

    A registration starts a new stream; a correction or a deactivation continues its household's at
    the version the decision saw (``in_force``)."""
    decree = request.decree_number
    events: list[tuple[str, HouseholdRegistered | HouseholdCorrected | HouseholdDeactivated]] = []
    for r in decision.registrations:
        hid = str(r.household.household_id)
        events.append(
            (
                hid,
                HouseholdRegistered(
                    household_id=hid, decree_number=decree, household=r.household, proposal_id=r.proposal_id
                ),
            )
        )
    for c in decision.corrections:
        hid = str(c.household.household_id)
        events.append(
            (hid, HouseholdCorrected(household_id=hid, decree_number=decree, household=c.household,
                                     proposal_id=c.proposal_id, changed_fields=c.changed_fields,
                                     programs_added=c.programs_added, programs_removed=c.programs_removed))
        )  # fmt: skip
    for d in decision.deactivations:
        events.append(
            (d.household_id, HouseholdDeactivated(household_id=d.household_id, decree_number=decree,
                                                  kk_number=d.kk_number, reason=d.reason, proposal_id=d.proposal_id))
        )  # fmt: skip
    parts: list[PreparedAppend] = []
    changes: list[HouseholdChange] = []
    for start in range(0, len(events), register.TURN_EVERY):
        part = events[start : start + register.TURN_EVERY]
        prepared = uow.store.prepare_many(
            [
                StreamAppend(
                    "household",
                    hid,
                    0 if isinstance(payload, HouseholdRegistered) else in_force[hid].stream_version,
                    [NewEvent.of(payload)],
                )
                for hid, payload in part
            ],
            causation=causation,
        )
        parts.append(prepared)
        # The same writer a replay uses, fed the payloads just built (no second parse).
        changes += (
            HouseholdChange.of(e.event_id, p) for e, (_, p) in zip(prepared.envelopes, part, strict=True)
        )
        await asyncio.sleep(0)  # the chunk being written sends its next statement
    return BuiltChunk(PreparedAppend.joined(parts), changes)


async def _write_chunk(uow: UnitOfWork, built: BuiltChunk) -> None:
    await uow.store.insert_prepared(uow.conn, built.events)
    await write_household_changes(uow.conn, built.changes)


@dataclass(frozen=True)
class InstitutionsDetermined:
    """What a decree did to the institutions section, as the decree event lists it."""

    registered: tuple[str, ...]
    changed: tuple[str, ...]
    closed: tuple[str, ...]
    leaves: tuple[str, ...]  # one per registered, then per changed institution
    not_applied: list[dict[str, str]]
    assistance: tuple[DeterminedAssistance, ...] = ()  # what each institution is to receive

    @property
    def changes_anything(self) -> bool:
        return bool(self.registered or self.changed or self.closed or self.assistance)


async def _announce_assistance(
    uow: UnitOfWork, decree: str, assistance: Sequence[DeterminedAssistance], causation: Causation
) -> None:
    """Each assistance the decree determined as an event of its own, for the agencies whose regions
    hold the institution (the decree's list goes to every decree subscriber). The institution is in the
    tables by now, those registered by this decree included."""
    if not assistance:
        return
    villages = dict(
        await uow.conn.fetch(
            "SELECT institution_id, snapshot->>'village_code' FROM institutions WHERE institution_id = ANY($1::text[])",
            sorted({a.institution_id for a in assistance}),
        )
    )
    await uow.append_many(
        [
            StreamAppend(
                "institution_assistance",
                a.proposal_id,
                0,
                [
                    NewEvent.of(
                        InstitutionAssistanceDetermined(
                            institution_id=a.institution_id,
                            decree_number=decree,
                            proposal_id=a.proposal_id,
                            village_code=villages[a.institution_id],
                            assistance=a,
                        )
                    )
                ],
            )
            for a in assistance
        ],
        causation=causation,
    )


async def _determine_institutions(
    uow: UnitOfWork, request: DeterminationRequest, causation: Causation
) -> InstitutionsDetermined:
    """The institutions section of the decree (#19): the same rule as households' (decide once, in
    one go: institutions are thousands, not millions), one event per changed institution on its own
    stream, written to the institutions tables by the writer a replay uses.

    Over 60 lines because deciding, emitting each event on its stream and writing the projections
    run in the decree's one unit of work and share its lists of what entered, changed and left."""
    conn = uow.conn
    pending = await register.pending_institutions(conn, request.cutoff)
    targets = sorted({c.institution_id for c in pending if c.target_institution_id is not None})
    in_force = await register.institutions_in_force(conn, targets)
    decision = decide_institutions(pending, in_force, request.cutoff)
    not_applied = [
        {"proposal_id": n.proposal_id, "institution_id": n.household_id, "reason": n.reason}
        for n in decision.not_applied
    ]
    decree = request.decree_number
    payloads: list[InstitutionRegistered | InstitutionChanged | InstitutionClosed] = [
        *(
            InstitutionRegistered(
                institution_id=str(r.institution.institution_id), decree_number=decree,
                proposal_id=r.proposal_id, institution=r.institution,
            )
            for r in decision.registrations
        ),
        *(
            InstitutionChanged(
                institution_id=str(c.institution.institution_id), decree_number=decree,
                proposal_id=c.proposal_id, institution=c.institution, changed_fields=c.changed_fields,
            )
            for c in decision.changes
        ),
        *(
            InstitutionClosed(
                institution_id=c.institution_id, decree_number=decree, proposal_id=c.proposal_id,
                registration_number=c.registration_number, reason=c.reason,
            )
            for c in decision.closures
        ),
    ]  # fmt: skip
    if payloads:
        envelopes = await uow.append_many(
            [
                StreamAppend(
                    "institution",
                    p.institution_id,
                    0 if isinstance(p, InstitutionRegistered) else in_force[p.institution_id].stream_version,
                    [NewEvent.of(p)],
                )
                for p in payloads
            ],
            causation=causation,
        )
        await write_institution_changes(
            conn, [InstitutionEntry.of(e.event_id, p) for e, p in zip(envelopes, payloads, strict=True)]
        )
    # Written now, before the decree takes the register's hash (its assistance section counts them);
    # the decree's event writes them again, changing nothing, live and in a replay.
    await write_assistance(conn, decree, decision.assistance)
    await _announce_assistance(uow, decree, decision.assistance, causation)
    return InstitutionsDetermined(
        registered=tuple(str(r.institution.institution_id) for r in decision.registrations),
        changed=tuple(str(c.institution.institution_id) for c in decision.changes),
        closed=tuple(c.institution_id for c in decision.closures),
        leaves=tuple(
            institution_decree_leaf(i)
            for i in (
                *(r.institution for r in decision.registrations),
                *(c.institution for c in decision.changes),
            )
        ),
        not_applied=not_applied,
        assistance=tuple(decision.assistance),
    )


async def load_determination(conn: asyncpg.Connection, decree_number: str) -> dict[str, Any] | None:
    recorded = await read_determination(conn, decree_number)
    if recorded is None:
        return None
    return determination_document(recorded)


def determination_document(recorded: RecordedDecree) -> dict[str, Any]:
    """A decree's document, whole (for a chunked decree read without its lists, see
    :func:`streamed_determination`)."""
    return _document(recorded.decree, recorded.event_id, recorded.not_applied)


async def streamed_determination(pool: asyncpg.Pool, recorded: RecordedDecree) -> AsyncIterator[bytes]:
    """The document of a chunked decree read without its lists (``read_determination(lists=False)``),
    as JSON bytes whose lists come straight from its kept chunks a few at a time: the same document as
    :func:`load_determination`'s (its lists' keys last), without holding a national decree's tens
    of millions of records, or their JSON, in the service."""
    head = determination_document(recorded)
    # The lists the document shows even when empty (the institutions' are left out when empty).
    shown_empty = [name for name in CHUNKED_FIELDS if name in head]
    for name in (*CHUNKED_FIELDS, *MANIFEST_ONLY_FIELDS):
        head.pop(name, None)
    yield json.dumps(head, ensure_ascii=False)[:-1].encode()  # without its closing brace
    listed: list[str] = []
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        # A chunk's items as jsonb prints them ("[...]"): ids and hex leaves, spliced without parsing.
        async for row in conn.cursor(
            """SELECT chunk->>'field' AS field, (chunk->'items')::text AS items FROM decree_chunks
               WHERE decree_number = $1 ORDER BY chunk_index""",
            recorded.decree.decree_number,
            prefetch=CHUNKS_PREFETCHED,
        ):
            items = row["items"][1:-1]
            if listed and row["field"] == listed[-1]:
                yield f",{items}".encode()
            else:
                yield f'{"]" if listed else ""},"{row["field"]}":[{items}'.encode()
                listed.append(row["field"])
    yield ("]" if listed else "").encode()
    yield "".join(f',"{name}":[]' for name in shown_empty if name not in listed).encode() + b"}"


async def listed_determination(pool: asyncpg.Pool, recorded: RecordedDecree, limit: int) -> dict[str, Any]:
    """A decree's document with each list cut to its first ``limit`` items, and ``list_counts``
    giving each list's whole length: what a page shows of a decree, read for a chunked one from the
    first chunk of each list, never its lists whole."""
    document = determination_document(recorded)
    if not isinstance(recorded.decree, DeterminationManifest):
        counts = {name: len(document[name]) for name in CHUNKED_FIELDS if name in document}
    else:
        for name in MANIFEST_ONLY_FIELDS:
            document.pop(name, None)
        async with pool.acquire() as conn:
            rows = await conn.fetch(
                """SELECT chunk->>'field' AS field, sum(jsonb_array_length(chunk->'items')) AS items,
                          min(chunk_index) AS first FROM decree_chunks WHERE decree_number = $1 GROUP BY 1""",
                recorded.decree.decree_number,
            )
            counts = {name: 0 for name in CHUNKED_FIELDS if name in document}
            for row in rows:
                counts[row["field"]] = int(row["items"])
                first = await conn.fetchval(
                    "SELECT (chunk->'items')::text FROM decree_chunks WHERE decree_number = $1 AND chunk_index = $2",
                    recorded.decree.decree_number, row["first"],
                )  # fmt: skip
                document[row["field"]] = json.loads(first)
    for name in counts:
        document[name] = document.get(name, [])[:limit]
    document["list_counts"] = counts
    return document


def _document(
    issued: DeterminationIssued, event_id: Any, not_applied: list[dict[str, str]]
) -> dict[str, Any]:
    document: dict[str, Any] = issued.model_dump(mode="json")
    document["period"] = period_text(issued.period)
    document["period_label"] = issued.period.label
    document["event_id"] = str(event_id)
    document["not_applied"] = not_applied
    return document


@dataclass(frozen=True)
class DecileBatch:
    source: str
    as_of: dt.date
    items: tuple[DecileItem, ...]


async def set_welfare_deciles(
    deps: RegistryDeps, batch: DecileBatch, actor: Actor, correlation_id: str
) -> list[tuple[ItemOutcome, str | None]]:
    """Set the deciles of a batch: per item its outcome and, for a change, the recorded event's id.

    One registry.welfare_decile_set per changed household, on that household's stream, recorded and
    projected in one transaction (as a decree's household events are)."""
    causation = Causation(actor=actor, correlation_id=correlation_id)
    try:
        return await retry_on_conflict(lambda: _set_deciles(deps.unit_of_work, batch, causation))
    except ConcurrencyConflict:
        raise _register_changed() from None


async def _set_deciles(
    units: UnitsOfWork, batch: DecileBatch, causation: Causation
) -> list[tuple[ItemOutcome, str | None]]:
    async with units() as uow:
        await uow.conn.execute("SELECT pg_advisory_xact_lock_shared($1)", DETERMINATION_LOCK)
        standing, versions = await _standing(uow.conn, sorted({i.household_id for i in batch.items}))
        outcomes = decide_deciles(batch.items, batch.source, batch.as_of, standing)
        changed = [o for o in outcomes if o.changed]
        if not changed:
            return [(o, None) for o in outcomes]
        payloads = [
            WelfareDecileSet(
                household_id=o.item.household_id, decile=o.item.decile, source=batch.source, as_of=batch.as_of
            )
            for o in changed
        ]
        envelopes = await uow.append_many(
            [
                StreamAppend("household", p.household_id, versions[p.household_id], [NewEvent.of(p)])
                for p in payloads
            ],
            causation=causation,
        )
        # The same writer a replay uses, fed the payloads just recorded.
        await write_deciles(
            uow.conn,
            [
                DecileChange(e.event_id, e.aggregate_version, e.occurred_at, p)
                for e, p in zip(envelopes, payloads, strict=True)
            ],
        )
        event_ids = {o.item.index: str(e.event_id) for o, e in zip(changed, envelopes, strict=True)}
        return [(o, event_ids.get(o.item.index)) for o in outcomes]


async def _standing(
    conn: asyncpg.Connection, household_ids: list[str]
) -> tuple[dict[str, Standing], dict[str, int]]:
    """The households' standing and their streams' versions, read in one statement (one snapshot):
    the version a change is appended after is the one its decision saw."""
    rows = await conn.fetch(
        f"""SELECT h.household_id, h.active, h.deactivated_in, w.decile, w.source, w.as_of,
                  {register.stream_version_sql("h.household_id")} AS version
           FROM households h LEFT JOIN welfare_deciles w USING (household_id)
           WHERE h.household_id = ANY($1::text[])""",
        household_ids,
    )
    standing = {
        r["household_id"]: Standing(
            r["active"],
            r["deactivated_in"],
            CurrentDecile(r["decile"], r["source"], r["as_of"]) if r["decile"] is not None else None,
        )
        for r in rows
    }
    return standing, {r["household_id"]: r["version"] for r in rows}
