"""The projection: Ministry acceptances and the registry's own events folded into the register tables.

One writer serves the live service and every replay, so a replay is the same code over the same
events. Each write is keyed so that reading partitions in another interleaving gives the same
tables: candidates by proposal id (the highest round wins), determinations by decree number,
household changes by (household, decree). The only order-sensitive table, ``households`` (the
register in force), is written from household events, which share their household's partition key
and so always arrive in the order they were recorded. ``welfare_deciles`` keeps the highest stream
version per household, so neither order nor redeliveries matter there.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias, TypeVar, cast

import asyncpg
import pydantic

from dtks_contracts.decree_chunks import DeterminationChunk, DeterminationManifest, IncompleteDecree
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import EventPayload, payload_class
from dtks_contracts.events.registry import (
    DeterminationIssued,
    HouseholdCorrected,
    HouseholdDeactivated,
    HouseholdRegistered,
    InstitutionChanged,
    InstitutionClosed,
    InstitutionRegistered,
    WelfareDecileSet,
)
from dtks_contracts.events.verification import AcceptedByMinistry
from dtks_contracts.historical import HISTORICAL_READ
from dtks_contracts.household import Household
from dtks_contracts.institution import DeterminedAssistance, Institution
from dtks_contracts.merkle import leaf_hash
from dtks_contracts.register_hash import assistance_digest, household_digest, institution_digest
from dtks_contracts.topics import REGISTRY_EVENTS, VERIFICATION_EVENTS
from dtks_contracts.vocabulary.proposals import ProposalKind, ProposalSubject
from dtks_registry.domain.identity import household_id_for
from dtks_runtime.decree_assembly import assemble_held, check_held, hold_chunks
from dtks_runtime.event_sniff import sniff_event_type
from dtks_runtime.telemetry import get_logger

log = get_logger(__name__)

# What the register is built from: nothing else.
PROJECTION_TOPICS = (VERIFICATION_EVENTS.name, REGISTRY_EVENTS.name)

_HOUSEHOLD_EVENTS = {
    HouseholdRegistered.event_type: "registered",
    HouseholdCorrected.event_type: "corrected",
    HouseholdDeactivated.event_type: "deactivated",
}

_INSTITUTION_EVENTS = {
    InstitutionRegistered.event_type: "registered",
    InstitutionChanged.event_type: "changed",
    InstitutionClosed.event_type: "closed",
}

# The only event types apply_events reads: a replay leaves every other event unparsed.
PROJECTION_EVENT_TYPES = frozenset(
    {
        AcceptedByMinistry.event_type,
        DeterminationIssued.event_type,
        # A decree larger than one chunk (#21): kept chunk by chunk, written at its manifest.
        DeterminationChunk.event_type,
        DeterminationManifest.event_type,
        WelfareDecileSet.event_type,
        *_HOUSEHOLD_EVENTS,
        *_INSTITUTION_EVENTS,
    }
)


@dataclass(frozen=True)
class HouseholdChange:
    """One registry.household_* event, as the tables need it."""

    event_id: uuid.UUID
    change: str  # registered | corrected | deactivated
    household_id: str
    decree_number: str
    proposal_id: str
    kk_number: str
    household: Household | None = None  # None for a deactivation
    reason: str | None = None
    digest: str | None = None  # the household's digest (register_hash), None for a deactivation

    def leaf(self) -> str:
        """The household's leaf in the decree's Merkle tree (dtks_contracts.merkle.decree_leaf), hex."""
        assert self.digest is not None, "a deactivation has no leaf"
        return leaf_hash(self.household_id, self.digest).hex()

    @classmethod
    def of(
        cls, event_id: uuid.UUID, payload: HouseholdRegistered | HouseholdCorrected | HouseholdDeactivated
    ) -> HouseholdChange:
        if isinstance(payload, HouseholdDeactivated):
            return cls(
                event_id, "deactivated", payload.household_id, payload.decree_number, payload.proposal_id,
                payload.kk_number, reason=payload.reason.value,
            )  # fmt: skip
        change = "registered" if isinstance(payload, HouseholdRegistered) else "corrected"
        return cls(
            event_id, change, payload.household_id, payload.decree_number, payload.proposal_id,
            payload.household.kk_number, household=payload.household,
            digest=household_digest(payload.household),
        )  # fmt: skip


@dataclass(frozen=True)
class InstitutionEntry:
    """One registry.institution_* event, as the institutions tables need it."""

    event_id: uuid.UUID
    change: str  # registered | changed | closed
    institution_id: str
    decree_number: str
    proposal_id: str
    registration_number: str
    institution: Institution | None = None  # None for a closure
    reason: str | None = None

    @classmethod
    def of(
        cls, event_id: uuid.UUID, payload: InstitutionRegistered | InstitutionChanged | InstitutionClosed
    ) -> InstitutionEntry:
        if isinstance(payload, InstitutionClosed):
            return cls(
                event_id, "closed", payload.institution_id, payload.decree_number, payload.proposal_id,
                payload.registration_number, reason=payload.reason.value,
            )  # fmt: skip
        change = "registered" if isinstance(payload, InstitutionRegistered) else "changed"
        return cls(
            event_id, change, payload.institution_id, payload.decree_number, payload.proposal_id,
            payload.institution.registration_number, institution=payload.institution,
        )  # fmt: skip


@dataclass(frozen=True)
class DecileChange:
    """One registry.welfare_decile_set event, as the welfare_deciles table needs it."""

    event_id: uuid.UUID
    version: int  # in the household's stream: orders one household's decile events
    occurred_at: dt.datetime
    payload: WelfareDecileSet


ProjectionPayload: TypeAlias = (
    AcceptedByMinistry
    | DeterminationIssued
    | DeterminationChunk
    | HouseholdRegistered
    | HouseholdCorrected
    | HouseholdDeactivated
    | WelfareDecileSet
    | InstitutionRegistered
    | InstitutionChanged
    | InstitutionClosed
)


@dataclass(frozen=True)
class ProjectionEvent:
    """An event as the projection reads it: its id and its payload at the current version (None for
    the types the projection does not read), with its place in its stream and when it happened."""

    event_id: uuid.UUID
    event_type: str
    payload: ProjectionPayload | None
    version: int = 0
    occurred_at: dt.datetime | None = None


async def apply_events(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
    """Batch handler of the live consumer: events of other types are ignored."""
    await apply_projection_events(
        conn,
        [
            ProjectionEvent(
                e.event_id,
                e.event_type,
                cast(ProjectionPayload, _payload(e, payload_class(e.event_type))),
                e.aggregate_version,
                e.occurred_at,
            )
            for e in events
            if e.event_type in PROJECTION_EVENT_TYPES
        ],
    )


async def apply_projection_events(conn: asyncpg.Connection, events: Sequence[ProjectionEvent]) -> None:
    """The one writer, for the live consumer and the replay (see :func:`decode_projection_event`).

    Keyed throughout (candidates by proposal, determinations by decree number, household changes by
    household and decree), so applying an event a second time changes nothing: a replay needs no inbox.
    """
    acceptances: list[tuple[uuid.UUID, AcceptedByMinistry]] = []
    determinations: list[tuple[uuid.UUID, DeterminationIssued]] = []
    changes: list[HouseholdChange] = []
    deciles: list[DecileChange] = []
    institutions: list[tuple[uuid.UUID, AcceptedByMinistry]] = []
    institution_entries: list[InstitutionEntry] = []
    chunks: list[DeterminationChunk] = []
    manifests: list[tuple[uuid.UUID, DeterminationManifest]] = []
    for event in events:
        payload = event.payload
        if isinstance(payload, DeterminationManifest):  # before DeterminationIssued: it subclasses it
            manifests.append((event.event_id, payload))
        elif isinstance(payload, DeterminationChunk):
            chunks.append(payload)
        elif isinstance(payload, AcceptedByMinistry) and payload.kind.subject is ProposalSubject.INSTITUTION:
            institutions.append((event.event_id, payload))
        elif isinstance(payload, AcceptedByMinistry):
            acceptances.append((event.event_id, payload))
        elif isinstance(payload, DeterminationIssued):
            determinations.append((event.event_id, payload))
        elif isinstance(payload, HouseholdRegistered | HouseholdCorrected | HouseholdDeactivated):
            changes.append(HouseholdChange.of(event.event_id, payload))
        elif isinstance(payload, InstitutionRegistered | InstitutionChanged | InstitutionClosed):
            institution_entries.append(InstitutionEntry.of(event.event_id, payload))
        elif isinstance(payload, WelfareDecileSet):
            assert event.occurred_at is not None and event.version > 0
            deciles.append(DecileChange(event.event_id, event.version, event.occurred_at, payload))
    await write_candidates(conn, acceptances)
    await write_institution_candidates(conn, institutions)
    await hold_chunks(conn, chunks)  # before the manifests of this batch assemble them
    determinations += await _whole_decrees(conn, manifests)
    await write_determinations(conn, determinations)
    await write_household_changes(conn, changes)
    await write_institution_changes(conn, institution_entries)
    await write_deciles(conn, deciles)


async def _whole_decrees(
    conn: asyncpg.Connection, manifests: Sequence[tuple[uuid.UUID, DeterminationManifest]]
) -> list[tuple[uuid.UUID, DeterminationIssued]]:
    """The chunked decrees whose kept chunks make them whole, each recorded as its manifest under its
    manifest's event id (as the live registry records it; readers assemble the lists from the kept
    chunks, see :func:`read_determination`). Checked a chunk at a time, never assembled: a national decree
    lists tens of millions of records, more than the process should hold and more than one jsonb
    value can (268,435,455 bytes). One that is not whole is left out, never written in part: the
    registry wrote its chunks and manifest in one transaction, so a replay missing some reads a
    damaged log, and the audit's comparison then names the decree as missing from the replay."""
    whole: list[tuple[uuid.UUID, DeterminationIssued]] = []
    for event_id, manifest in manifests:
        try:
            await check_held(conn, manifest)
        except IncompleteDecree as exc:
            log.error("decree not whole; not applied", decree_number=manifest.decree_number, reason=str(exc))
        else:
            whole.append((event_id, manifest))
    return whole


P = TypeVar("P", bound=EventPayload)


def _payload(event: EventEnvelope, cls: type[P]) -> P:
    """The typed payload; events already at the current version skip the upcaster (which copies the
    payload), a measurable share of a replay's time."""
    if event.schema_version == cls.schema_version:
        return cls.model_validate(event.payload, extra="ignore", context=dict(HISTORICAL_READ))
    return event.payload_as(cls)


def _typed_envelope(cls: type[EventPayload]) -> type[EventEnvelope]:
    # The envelope with its payload typed: one validation of the bytes instead of the envelope's
    # (payload as a dict) and then the payload's, about half the cost of reading an acceptance.
    return pydantic.create_model(f"{cls.__name__}Envelope", __base__=EventEnvelope, payload=(cls, ...))


_TYPED_ENVELOPES = {t: _typed_envelope(payload_class(t)) for t in PROJECTION_EVENT_TYPES}


def decode_projection_event(value: bytes) -> ProjectionEvent:
    """A record's bytes as the projection reads them (the replay's decoder).

    Raises ValueError (pydantic's ValidationError is one) for a record the live consumer could not
    apply either, which the replay then passes over and names, as the consumer dead-letters it.
    """
    typed = _TYPED_ENVELOPES.get(sniff_event_type(value) or "")
    if typed is not None:
        try:
            envelope: Any = typed.model_validate_json(value, extra="ignore", context=dict(HISTORICAL_READ))
        except pydantic.ValidationError:
            pass  # perhaps an older version that the upcaster lifts: the general path decides
        else:
            payload = envelope.payload
            if envelope.schema_version == payload.schema_version:
                return ProjectionEvent(
                    envelope.event_id,
                    envelope.event_type,
                    payload,
                    envelope.aggregate_version,
                    envelope.occurred_at,
                )
    general = EventEnvelope.from_bytes(value)
    if general.event_type not in PROJECTION_EVENT_TYPES:
        return ProjectionEvent(general.event_id, general.event_type, None)
    return ProjectionEvent(
        general.event_id,
        general.event_type,
        cast(ProjectionPayload, _payload(general, payload_class(general.event_type))),
        general.aggregate_version,
        general.occurred_at,
    )


async def write_candidates(
    conn: asyncpg.Connection, acceptances: Sequence[tuple[uuid.UUID, AcceptedByMinistry]]
) -> None:
    if not acceptances:
        return
    # One row per proposal; a later round's acceptance replaces an earlier one whatever the read order.
    latest: dict[str, tuple[uuid.UUID, AcceptedByMinistry]] = {}
    for event_id, accepted in acceptances:
        seen = latest.get(accepted.proposal_id)
        if seen is None or (accepted.round, str(event_id)) > (seen[1].round, str(seen[0])):
            latest[accepted.proposal_id] = (event_id, accepted)
    rows = list(latest.values())
    await conn.execute(
        """INSERT INTO candidates (proposal_id, round, kind, household_id, household, deactivation_reason,
                                   programs_requested, village_code, accepted_at, event_id)
           SELECT p, r, k, h, hh::jsonb, dr, string_to_array(pr, ','), v, a, e
           FROM unnest($1::text[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::timestamptz[], $10::uuid[]) AS x(p, r, k, h, hh, dr, pr, v, a, e)
           ON CONFLICT (proposal_id) DO UPDATE SET
               round = excluded.round, kind = excluded.kind, household_id = excluded.household_id,
               household = excluded.household, deactivation_reason = excluded.deactivation_reason,
               programs_requested = excluded.programs_requested, village_code = excluded.village_code,
               accepted_at = excluded.accepted_at, event_id = excluded.event_id
           WHERE (excluded.round, excluded.event_id::text) > (candidates.round, candidates.event_id::text)""",
        [a.proposal_id for _, a in rows],
        [a.round for _, a in rows],
        [a.kind.value for _, a in rows],
        [_target(a) for _, a in rows],
        [a.household.model_dump_json() if a.household else None for _, a in rows],
        [a.deactivation_reason.value if a.deactivation_reason else None for _, a in rows],
        [",".join(p.value for p in a.programs_requested) for _, a in rows],
        [a.village_code for _, a in rows],
        [a.accepted_at for _, a in rows],
        [event_id for event_id, _ in rows],
    )


async def write_institution_candidates(
    conn: asyncpg.Connection, acceptances: Sequence[tuple[uuid.UUID, AcceptedByMinistry]]
) -> None:
    """Institutions the Ministry accepted, kept (never lost, never mistaken for a household) until
    a decree determines them; a later round's acceptance replaces an earlier one whatever the order."""
    if not acceptances:
        return
    await conn.executemany(
        """INSERT INTO institution_candidates (proposal_id, round, kind, institution_id, payload, village_code,
                                               accepted_at, event_id)
           VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7, $8)
           ON CONFLICT (proposal_id) DO UPDATE SET
               round = excluded.round, kind = excluded.kind, institution_id = excluded.institution_id,
               payload = excluded.payload, village_code = excluded.village_code,
               accepted_at = excluded.accepted_at, event_id = excluded.event_id
           WHERE (excluded.round, excluded.event_id::text)
                 > (institution_candidates.round, institution_candidates.event_id::text)""",
        [
            (
                a.proposal_id,
                a.round,
                a.kind.value,
                a.target_institution_id,
                a.model_dump_json(),
                a.village_code,
                a.accepted_at,
                event_id,
            )
            for event_id, a in acceptances
        ],
    )


def _target(accepted: AcceptedByMinistry) -> str:
    if accepted.kind is ProposalKind.NEW_HOUSEHOLD:
        return household_id_for(accepted.proposal_id)
    assert accepted.target_household_id is not None
    return accepted.target_household_id


async def write_determinations(
    conn: asyncpg.Connection, determinations: Sequence[tuple[uuid.UUID, DeterminationIssued]]
) -> None:
    for event_id, d in determinations:
        await conn.execute(
            """INSERT INTO determinations (decree_number, period_start, cut_off, issued_at, register_hash,
                                           households, people, event_id, payload)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)
               ON CONFLICT (decree_number) DO NOTHING""",
            d.decree_number,
            d.period.starts_on,
            d.cut_off,
            d.issued_at,
            d.register_hash,
            d.counts.households,
            d.counts.people,
            event_id,
            d.model_dump_json(),
        )
        await write_assistance(conn, d.decree_number, d.institution_assistance)


@dataclass(frozen=True)
class RecordedDecree:
    decree: DeterminationIssued  # with its lists, or for a chunked one read without them its manifest
    event_id: uuid.UUID
    not_applied: list[dict[str, str]]


async def read_determination(
    conn: asyncpg.Connection, decree_number: str, *, lists: bool = True
) -> RecordedDecree | None:
    """A decree as recorded. A chunked one's row holds its manifest (see :func:`_whole_decrees`): with
    ``lists`` its lists are assembled from the kept chunks; without, the manifest is the decree's
    every other field, for readers that need no list (a proof needs its root and signature)."""
    row = await conn.fetchrow(
        """SELECT payload::text AS p, payload ? 'chunk_count' AS chunked, not_applied::text AS n, event_id
           FROM determinations WHERE decree_number = $1""",
        decree_number,
    )
    if row is None:
        return None
    decree: DeterminationIssued
    if row["chunked"]:
        decree = DeterminationManifest.model_validate_json(row["p"])
        if lists:
            decree = await assemble_held(conn, decree)
    else:
        decree = DeterminationIssued.model_validate_json(row["p"])
    return RecordedDecree(decree, row["event_id"], json.loads(row["n"]) if row["n"] else [])


async def write_assistance(
    conn: asyncpg.Connection, decree_number: str, entries: Sequence[DeterminedAssistance]
) -> None:
    """A decree's assistance list into institution_assistance: by the decree as it issues (before its
    register hash is taken), and again from its event (live and in a replay), which changes nothing."""
    if not entries:
        return
    await conn.executemany(
        """INSERT INTO institution_assistance (proposal_id, institution_id, decree_number, program,
               starts_on, ends_on, basis, residents_counted, snapshot, digest)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10)
           ON CONFLICT (proposal_id) DO NOTHING""",
        [
            (
                a.proposal_id, a.institution_id, decree_number, a.program.value, a.starts_on, a.ends_on,
                a.basis.value, a.residents_counted, a.model_dump_json(), assistance_digest(a),
            )
            for a in entries
        ],
    )  # fmt: skip


async def write_household_changes(conn: asyncpg.Connection, changes: Sequence[HouseholdChange]) -> None:
    if not changes:
        return
    snapshots = [c.household.model_dump_json() if c.household else None for c in changes]
    digests = [c.digest for c in changes]
    inserted = await conn.fetch(
        """INSERT INTO household_changes (household_id, decree_number, change, proposal_id, kk_number,
                                          snapshot, digest, village_code, programs, people, reason, event_id)
           SELECT h, d, c, p, kk, s::jsonb, dg, v, string_to_array(pr, ','), n, r, e
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                       $8::text[], $9::text[], $10::int[], $11::text[], $12::uuid[])
                AS x(h, d, c, p, kk, s, dg, v, pr, n, r, e)
           ON CONFLICT (household_id, decree_number) DO NOTHING
           RETURNING household_id, decree_number""",
        [c.household_id for c in changes],
        [c.decree_number for c in changes],
        [c.change for c in changes],
        [c.proposal_id for c in changes],
        [c.kk_number for c in changes],
        snapshots,
        digests,
        [c.household.village_code if c.household else None for c in changes],
        [",".join(p.value for p in c.household.programs) if c.household else None for c in changes],
        [len(c.household.members) if c.household else None for c in changes],
        [c.reason for c in changes],
        [c.event_id for c in changes],
    )
    fresh = {(r["household_id"], r["decree_number"]) for r in inserted}
    # Fold this batch per household in arrival order (per-household order is the partition's order).
    last_snapshot: dict[str, int] = {}
    first_registered: dict[str, str] = {}
    last_deactivation: dict[str, int] = {}
    for i, c in enumerate(changes):
        key = (c.household_id, c.decree_number)
        if key not in fresh:
            continue  # applied before: a redelivery
        # Only its first delivery in this batch: a copy later in the same batch (a redelivery
        # beside its original, as a replay without the inbox can read) would roll the fold back.
        fresh.discard(key)
        if c.household is not None:
            last_snapshot[c.household_id] = i
            last_deactivation.pop(c.household_id, None)
            if c.change == "registered":
                first_registered.setdefault(c.household_id, c.decree_number)
        else:
            last_deactivation[c.household_id] = i
    await _write_snapshots(conn, changes, last_snapshot, first_registered)
    await _write_deactivations(conn, changes, last_deactivation)


async def _write_snapshots(
    conn: asyncpg.Connection,
    changes: Sequence[HouseholdChange],
    last_snapshot: dict[str, int],
    first_registered: dict[str, str],
) -> None:
    if not last_snapshot:
        return
    idx = list(last_snapshot.values())
    ids = [changes[i].household_id for i in idx]
    # Copied from the change rows just written (the snapshot's jsonb as stored, not sent and parsed
    # again); members straight from the snapshot's JSON, in the server.
    await conn.execute(
        """INSERT INTO households (household_id, kk_number, village_code, active, snapshot, digest,
                                   programs, people, registered_in, last_decree)
           SELECT hc.household_id, hc.kk_number, hc.village_code, true, hc.snapshot, hc.digest, hc.programs,
                  hc.people, coalesce(x.ri, hc.decree_number), hc.decree_number
           FROM unnest($1::text[], $2::text[], $3::text[]) AS x(h, d, ri)
           JOIN household_changes hc ON hc.household_id = x.h AND hc.decree_number = x.d
           ON CONFLICT (household_id) DO UPDATE SET
               kk_number = excluded.kk_number, village_code = excluded.village_code, active = true,
               snapshot = excluded.snapshot, digest = excluded.digest, programs = excluded.programs,
               people = excluded.people, last_decree = excluded.last_decree,
               deactivation_reason = NULL, deactivated_in = NULL""",
        ids,
        [changes[i].decree_number for i in idx],
        [first_registered.get(changes[i].household_id) for i in idx],
    )
    # Only a household that had a snapshot before this batch has members to replace. One first
    # registered here has none: a registration is its household's first event (a new stream, which
    # the event store refuses twice), so this batch's registration is its first row anywhere. On
    # the register's first decree that is every household, and asking for them was a sequential
    # scan per chunk over the members written so far (the table had no statistics yet): 32 s of
    # PostgreSQL's CPU in a decree over a million.
    replaced = [h for h in ids if h not in first_registered]
    if replaced:
        await conn.execute("DELETE FROM members WHERE household_id = ANY($1::text[])", replaced)
    await conn.execute(
        """INSERT INTO members (household_id, nik, name, relation_to_head)
           SELECT h.household_id, m->>'nik', m->>'name', m->>'relation_to_head'
           FROM households h, jsonb_array_elements(h.snapshot->'members') AS m
           WHERE h.household_id = ANY($1::text[])""",
        ids,
    )


async def _write_deactivations(
    conn: asyncpg.Connection, changes: Sequence[HouseholdChange], last_deactivation: dict[str, int]
) -> None:
    if not last_deactivation:
        return
    idx = list(last_deactivation.values())
    await conn.execute(
        """UPDATE households SET active = false, deactivation_reason = x.r, deactivated_in = x.d,
                                 last_decree = x.d
           FROM unnest($1::text[], $2::text[], $3::text[]) AS x(h, r, d)
           WHERE households.household_id = x.h""",
        [changes[i].household_id for i in idx],
        [changes[i].reason for i in idx],
        [changes[i].decree_number for i in idx],
    )


async def write_institution_changes(conn: asyncpg.Connection, entries: Sequence[InstitutionEntry]) -> None:
    """The institutions section from its events, as households' from theirs: keyed by (institution,
    decree), so a redelivery changes nothing, and folded per institution in arrival order (one
    institution's events share its partition). Institutions are few (thousands nationally), so one
    statement per event is plenty."""
    for e in entries:
        inserted = await conn.fetchval(
            """INSERT INTO institution_changes (institution_id, decree_number, change, proposal_id,
                                                registration_number, snapshot, digest, village_code,
                                                residents, reason, event_id)
               VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10, $11)
               ON CONFLICT (institution_id, decree_number) DO NOTHING
               RETURNING true""",
            e.institution_id,
            e.decree_number,
            e.change,
            e.proposal_id,
            e.registration_number,
            e.institution.model_dump_json() if e.institution else None,
            institution_digest(e.institution) if e.institution else None,
            e.institution.village_code if e.institution else None,
            living_residents(e.institution) if e.institution else None,
            e.reason,
            e.event_id,
        )
        if not inserted:
            continue  # applied before: a redelivery
        if e.institution is None:
            await conn.execute(
                """UPDATE institutions SET open = false, closure_reason = $2, closed_in = $3, last_decree = $3
                   WHERE institution_id = $1""",
                e.institution_id,
                e.reason,
                e.decree_number,
            )
            # A closed institution has no residents: the citizens' check no longer finds them there.
            await conn.execute(
                "DELETE FROM institution_residents WHERE institution_id = $1", e.institution_id
            )
            continue
        # Copied from the change row just written (the snapshot's jsonb as stored).
        await conn.execute(
            """INSERT INTO institutions (institution_id, registration_number, name, service_type, village_code,
                                         open, snapshot, digest, residents, registered_in, last_decree)
               SELECT ic.institution_id, ic.registration_number, ic.snapshot->>'name',
                      ic.snapshot->>'service_type', ic.village_code, true, ic.snapshot, ic.digest,
                      ic.residents, ic.decree_number, ic.decree_number
               FROM institution_changes ic WHERE ic.institution_id = $1 AND ic.decree_number = $2
               ON CONFLICT (institution_id) DO UPDATE SET
                   registration_number = excluded.registration_number, name = excluded.name,
                   service_type = excluded.service_type, village_code = excluded.village_code, open = true,
                   snapshot = excluded.snapshot, digest = excluded.digest, residents = excluded.residents,
                   last_decree = excluded.last_decree, closure_reason = NULL, closed_in = NULL""",
            e.institution_id,
            e.decree_number,
        )
        await _write_residents(conn, e.institution_id)


async def _write_residents(conn: asyncpg.Connection, institution_id: str) -> None:
    """The institution's residents as its record in force lists them, replacing those of its
    previous record (as ``members`` follow a household's snapshot)."""
    await conn.execute("DELETE FROM institution_residents WHERE institution_id = $1", institution_id)
    await conn.execute(
        """INSERT INTO institution_residents (nik, institution_id, name, admitted_on, discharged_on)
           SELECT r->>'nik', i.institution_id, r->>'name', (r->>'admitted_on')::date,
                  (r->>'discharged_on')::date
           FROM institutions i CROSS JOIN LATERAL jsonb_array_elements(i.snapshot->'residents') r
           WHERE i.institution_id = $1""",
        institution_id,
    )


def living_residents(institution: Institution) -> int:
    """The residents the record lists as living there (no discharge date): a fact of the snapshot,
    not of today's date, so a replay next year counts the same."""
    return sum(1 for r in institution.residents if r.discharged_on is None)


async def write_deciles(conn: asyncpg.Connection, deciles: Sequence[DecileChange]) -> None:
    """The decile in force per household: the event with the highest stream version wins, so a
    redelivered older event (a replay has no inbox) or any interleaving leaves the same row."""
    if not deciles:
        return
    latest: dict[str, DecileChange] = {}
    for d in deciles:
        seen = latest.get(d.payload.household_id)
        if seen is None or d.version > seen.version:
            latest[d.payload.household_id] = d
    rows = list(latest.values())
    await conn.execute(
        """INSERT INTO welfare_deciles (household_id, decile, source, as_of, version, event_id, set_at)
           SELECT * FROM unnest($1::text[], $2::smallint[], $3::text[], $4::date[], $5::int[], $6::uuid[],
                                $7::timestamptz[])
           ON CONFLICT (household_id) DO UPDATE SET
               decile = excluded.decile, source = excluded.source, as_of = excluded.as_of,
               version = excluded.version, event_id = excluded.event_id, set_at = excluded.set_at
           WHERE excluded.version > welfare_deciles.version""",
        [d.payload.household_id for d in rows],
        [d.payload.decile for d in rows],
        [d.payload.source for d in rows],
        [d.payload.as_of for d in rows],
        [d.version for d in rows],
        [d.event_id for d in rows],
        [d.occurred_at for d in rows],
    )
