"""What the verification service learns from other services' events.

- dtks.proposal.events: a submission or resubmission starts a round (the proposal's NIKs become
  open claims and its entry checks are queued); a withdrawal ends the proposal.
- dtks.registry.events: the register's households and people, for the uniqueness rules; a household
  entering the register also ends the claim of the proposal that brought it. Its village, record and
  welfare decile are kept for re-verification rounds (a decile that changes flags the household).
Effects are idempotent twice over: the runtime's inbox drops redelivered events, and a round that
is not newer than the one we hold changes nothing.

The runtime hands us every new event of a poll at once, in one transaction. We apply them in bulk,
a few statements per run of events instead of several per event. Order still holds: the batch
is cut into runs of one kind, in arrival order, and a run ends before an event for a proposal or
household it already holds, so within a run no two events touch the same row and their order
cannot matter. (A poison event still fails the whole batch; the runtime then applies the events
one by one, and dead-letters only that one.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import islice
from typing import TypeVar

import asyncpg
from opentelemetry import propagate, trace
from opentelemetry.sdk.trace import SpanLimits
from opentelemetry.trace import SpanKind
from pydantic import PrivateAttr

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events import EventPayload
from dtks_contracts.events.proposal import ProposalResubmitted, ProposalSubmitted, ProposalWithdrawn
from dtks_contracts.events.registry import (
    HouseholdCorrected,
    HouseholdDeactivated,
    HouseholdRegistered,
    InstitutionChanged,
    InstitutionClosed,
    InstitutionRegistered,
    WelfareDecileSet,
)
from dtks_contracts.historical import HISTORICAL_READ
from dtks_contracts.topics import PROPOSAL_EVENTS, REGISTRY_EVENTS
from dtks_runtime.telemetry import get_logger, tracer
from dtks_verification import intake
from dtks_verification.adapters import register
from dtks_verification.adapters.civil_registry import CivilRegistryUnavailable
from dtks_verification.adapters.rounds import (
    NewRound,
    release_open_niks,
    release_open_residents,
    start_rounds,
    withdraw_many,
)
from dtks_verification.deps import VerificationDeps
from dtks_verification.domain.integrity import CivilPerson, people_to_look_up

log = get_logger(__name__)

CONSUMER_NAME = "verification"
# Links a span keeps (OTEL_SPAN_LINK_COUNT_LIMIT, 128 by default), read once: the batch span builds no more.
_MAX_LINKS = SpanLimits().max_links
TOPICS = [PROPOSAL_EVENTS.name, REGISTRY_EVENTS.name]

_PAYLOADS: dict[str, type[EventPayload]] = {
    c.event_type: c
    for c in (
        ProposalSubmitted,
        ProposalResubmitted,
        ProposalWithdrawn,
        HouseholdRegistered,
        HouseholdCorrected,
        HouseholdDeactivated,
        InstitutionRegistered,
        InstitutionChanged,
        InstitutionClosed,
        WelfareDecileSet,
    )
}

P = TypeVar("P", bound=EventPayload)


def _payload(event: EventEnvelope, cls: type[P]) -> P:
    """The typed payload; an event already at the current version skips the upcaster, which
    copies the payload (a measurable share of intake's time)."""
    if event.schema_version == cls.schema_version:
        return cls.model_validate(event.payload, extra="ignore", context=dict(HISTORICAL_READ))
    return event.payload_as(cls)


class _ReadAhead(EventEnvelope):
    """An envelope with its typed payload, read by :func:`decode_event` ahead of its batch."""

    _typed: EventPayload | None = PrivateAttr(default=None)
    _content_json: str | None = PrivateAttr(default=None)  # a round's content, as start_rounds stores it


def decode_event(value: bytes) -> EventEnvelope:
    """The consumer's decoder: the envelope, and the typed payload of the events intake reads.

    The runtime decodes the next batch while the current one is applied (Python's work on one beside
    PostgreSQL's and the civil registry's on the other), so typing the payloads here takes that
    work out of the batch's transaction (about 9% of a batch's time at 1,500 proposals), and so does
    serializing a round's content for its row (another 5%). A payload
    that does not type is left for :func:`runs`, which fails the batch as before (the runtime then
    applies its events one by one and dead-letters that one)."""
    envelope = _ReadAhead.from_bytes(value)
    assert isinstance(envelope, _ReadAhead)
    cls = _PAYLOADS.get(envelope.event_type)
    if cls is not None:
        with contextlib.suppress(Exception):
            envelope._typed = typed = _payload(envelope, cls)
            if isinstance(typed, ProposalSubmitted | ProposalResubmitted):
                envelope._content_json = typed.model_dump_json()
    return envelope


def _typed(event: EventEnvelope, cls: type[P]) -> P:
    typed = event._typed if isinstance(event, _ReadAhead) else None
    return typed if isinstance(typed, cls) else _payload(event, cls)


@dataclass
class _Run:
    """Consecutive events of one kind, each for a different proposal or household."""

    kind: type[EventPayload]
    rounds: list[NewRound] = field(default_factory=list)
    withdrawals: list[str] = field(default_factory=list)
    snapshots: list[HouseholdRegistered | HouseholdCorrected] = field(default_factory=list)
    deactivations: list[HouseholdDeactivated] = field(default_factory=list)
    institutions: list[InstitutionRegistered | InstitutionChanged] = field(default_factory=list)
    closures: list[InstitutionClosed] = field(default_factory=list)
    deciles: list[WelfareDecileSet] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)

    async def apply(self, conn: asyncpg.Connection, *, queue_checks: bool = True) -> None:
        if self.rounds:
            await start_rounds(conn, self.rounds, queue=queue_checks)
        if self.withdrawals:
            await withdraw_many(conn, self.withdrawals)
        if self.snapshots:
            await register.register_households(conn, [(p.household_id, p.household) for p in self.snapshots])
            await release_open_niks(conn, [p.proposal_id for p in self.snapshots])
        if self.deactivations:
            await register.deactivate_households(
                conn, [(p.household_id, p.kk_number) for p in self.deactivations]
            )
            await release_open_niks(conn, [p.proposal_id for p in self.deactivations])
        if self.institutions:
            await register.register_institutions(
                conn, [(p.institution_id, p.institution) for p in self.institutions]
            )
            await release_open_residents(conn, [p.proposal_id for p in self.institutions])
        if self.closures:
            await register.close_institutions(conn, [p.institution_id for p in self.closures])
            await release_open_residents(conn, [p.proposal_id for p in self.closures])
        if self.deciles:
            await register.set_deciles(conn, [(p.household_id, p.decile) for p in self.deciles])


def _kind(payload: EventPayload) -> type[EventPayload]:
    # A registration and a correction are both a snapshot of the household: one kind of run.
    if isinstance(payload, ProposalResubmitted):
        return ProposalSubmitted
    if isinstance(payload, HouseholdCorrected):
        return HouseholdRegistered
    if isinstance(payload, InstitutionChanged):
        return InstitutionRegistered
    return type(payload)


def _key(payload: EventPayload) -> str:
    if isinstance(
        payload, HouseholdRegistered | HouseholdCorrected | HouseholdDeactivated | WelfareDecileSet
    ):
        return payload.household_id
    if isinstance(payload, InstitutionRegistered | InstitutionChanged | InstitutionClosed):
        # An institution's id never equals a household's (their own id namespace), so one key set serves.
        return payload.institution_id
    assert isinstance(payload, ProposalSubmitted | ProposalResubmitted | ProposalWithdrawn)
    return payload.proposal_id


def runs(events: Sequence[EventEnvelope]) -> list[_Run]:
    """Cut the batch into runs that can each be applied in bulk (see the module docstring)."""
    out: list[_Run] = []
    for event in events:
        cls = _PAYLOADS.get(event.event_type)
        if cls is None:
            continue  # events of other types are acknowledged and ignored
        payload = _typed(event, cls)
        kind, key = _kind(payload), _key(payload)
        if not out or out[-1].kind is not kind or key in out[-1].keys:
            out.append(_Run(kind))
        run = out[-1]
        run.keys.add(key)
        if isinstance(payload, ProposalSubmitted | ProposalResubmitted):
            content_json = event._content_json if isinstance(event, _ReadAhead) else None
            run.rounds.append(NewRound(payload, event.correlation_id, str(event.event_id), content_json))
        elif isinstance(payload, ProposalWithdrawn):
            run.withdrawals.append(payload.proposal_id)
        elif isinstance(payload, HouseholdRegistered | HouseholdCorrected):
            run.snapshots.append(payload)
        elif isinstance(payload, HouseholdDeactivated):
            run.deactivations.append(payload)
        elif isinstance(payload, InstitutionRegistered | InstitutionChanged):
            run.institutions.append(payload)
        elif isinstance(payload, InstitutionClosed):
            run.closures.append(payload)
        elif isinstance(payload, WelfareDecileSet):
            run.deciles.append(payload)
    return out


class Intake:
    """The consumer's batch handler. With the civil registry at hand (`deps`), the entry
    checks of the rounds a batch starts run in the batch's own transaction, beside the inbox rows:
    one batch look-up for all their people, sent as the batch begins and answered while the rows
    are written, then set-based reads of the register and a few statements for every outcome. No
    check is queued, leased, read back or locked a second time. When the registry does not answer
    (or its circuit is open), the checks are queued instead, and the checks worker resumes them.

    The look-up is made inside the transaction but takes no lock anyone waits for: the rows it
    holds are this batch's own new rounds. It gets a single attempt (the worker does the retrying)."""

    def __init__(self, deps: VerificationDeps | None = None) -> None:
        self.deps = deps  # set once the service's client exists; until then every check is queued
        self.checked = 0
        self.queued = 0

    async def __call__(self, conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        # One CONSUMER span for the batch, linked to the trace of each event's producer (the batch
        # receive of OpenTelemetry's messaging conventions): a span per event cost more than its SQL.
        # A span keeps at most SpanLimits.max_links links (128 by default) and drops the rest, so
        # only that many are built (the links of a 1,500-event batch cost about 10 ms).
        traced = islice((e for e in events if e.trace_context), _MAX_LINKS)
        links = [
            trace.Link(trace.get_current_span(propagate.extract(dict(e.trace_context))).get_span_context())
            for e in traced
        ]
        with tracer().start_as_current_span(
            "consume proposal and registry events",
            kind=SpanKind.CONSUMER,
            links=links,
            attributes={"messaging.system": "kafka", "messaging.batch.message_count": len(events)},
        ):
            await self._apply(conn, runs(events))

    async def _apply(self, conn: asyncpg.Connection, cut: Sequence[_Run]) -> None:
        rounds = [r for run in cut for r in run.rounds]
        deps = self.deps
        lookup: asyncio.Task[dict[str, CivilPerson | None]] | None = None
        if rounds and deps is not None and deps.civil_registry.breaker.allows():
            niks = [nik for r in rounds for nik in people_to_look_up(r.content)]
            lookup = asyncio.create_task(deps.civil_registry.people_by_nik(niks, retries=0))
        try:
            for run in cut:
                await run.apply(conn, queue_checks=lookup is None)
        except BaseException:
            if lookup is not None:
                lookup.cancel()
                with contextlib.suppress(BaseException):
                    await lookup
            raise
        if lookup is None:
            self.queued += len(rounds)
            return
        assert deps is not None
        uow = deps.within(conn)  # the consumer's transaction, beside the events' inbox rows
        try:
            civil = await lookup
        except Exception as exc:
            # Unavailable, or an answer we could not read: either way the proposals are not at
            # fault, so their checks wait for the worker rather than fail (or dead-letter) the batch.
            if not isinstance(exc, CivilRegistryUnavailable):
                log.warning("civil registry answer unusable; entry checks queued", error=repr(exc))
            log.info("entry checks wait for the civil registry", waiting=len(rounds), error=str(exc))
            self.queued += await intake.queue_new_rounds(uow, rounds)
            return
        self.checked += await intake.check_new_rounds(deps, uow, rounds, civil)
