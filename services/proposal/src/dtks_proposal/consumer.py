"""The status read model, fed by verification and registry events (consumer ``proposal-status``).

Each event moves the proposal's standing (see :mod:`dtks_proposal.domain.status`) and adds a
timeline entry, in the transaction the runtime opens with the inbox rows, so a redelivered event
changes nothing. Events about proposals this service never recorded (civil-registry proposals
raised elsewhere) are acknowledged and ignored.

A batch is folded in memory, in the order it was read (one proposal's events share a partition, so
that is their order): its proposals are locked with one statement, their standings moved by the
pure rules, and the new standings and timeline entries written with one statement each. Three
round trips per event made this consumer the slowest of the pipeline (about 1,500 events/s,
minutes of lag behind a Ministry's batch decisions). A batch that fails is retried event by event
by the runtime, through this same function, so a poison event is still isolated.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.topics import REGISTRY_EVENTS, VERIFICATION_EVENTS
from dtks_contracts.vocabulary.tiers import Tier
from dtks_proposal.adapters import proposals as repo
from dtks_proposal.adapters.institutions import INSTITUTION_EVENTS, apply_institution_events
from dtks_proposal.domain import status as rules
from dtks_proposal.timeline import registry_entry, verification_entry
from dtks_runtime.consumer import BatchHandler

CONSUMER_NAME = "proposal-status"
TOPICS = [VERIFICATION_EVENTS.name, REGISTRY_EVENTS.name]

# A move reads the standing, the event and the proposal's kind (whose tier path says what follows).
Move = Callable[[rules.Standing, EventEnvelope, str], rules.Standing]

# Verification events that move a proposal's standing; each also gets a timeline entry.
MOVES: dict[str, Move] = {
    "verification.verified_at_tier": lambda s, e, kind: rules.verified_at(
        s, int(e.payload["round"]), Tier(e.payload["tier"]), kind
    ),
    "verification.returned_at_tier": lambda s, e, kind: rules.returned_at(s, int(e.payload["round"])),
    "verification.sent_back_for_correction": lambda s, e, kind: rules.sent_back_for_correction(
        s, int(e.payload["round"]), Tier(e.payload["to_tier"])
    ),
    "verification.accepted_by_ministry": lambda s, e, kind: rules.accepted(s, int(e.payload["round"])),
}
TIMELINE_ONLY = frozenset({"verification.integrity_checked"})
BATCH_RATIFIED = "verification.batch_ratified"  # one regent's decree over many proposals
# The decree that put a proposal's household in the register (or changed or ended it there).
HOUSEHOLD_DETERMINED = frozenset(
    {"registry.household_registered", "registry.household_corrected", "registry.household_deactivated"}
)
# The same for an institution's proposal (#19): its registration, change or closure by a decree.
INSTITUTION_DETERMINED = frozenset(
    {"registry.institution_registered", "registry.institution_changed", "registry.institution_closed"}
)
DETERMINED = HOUSEHOLD_DETERMINED | INSTITUTION_DETERMINED
HANDLED = frozenset({*MOVES, *TIMELINE_ONLY, BATCH_RATIFIED, *DETERMINED})
# Every type apply_status_events reads, the institutions' included. The consumer passes the others
# by undecoded (EventConsumer's event_types): a decree's chunks and manifest, and the welfare
# deciles the Ministry sets for every household in the country, which this consumer decoded to drop.
EVENT_TYPES = HANDLED | INSTITUTION_EVENTS


def _proposal_ids(event: EventEnvelope) -> list[str]:
    if event.event_type == BATCH_RATIFIED:
        return [str(p) for p in event.payload["proposal_ids"]]
    return [str(event.payload["proposal_id"])]


async def apply_status_events(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
    # The registry's institutions, kept for the door of an assistance proposal (#19).
    await apply_institution_events(conn, events)
    relevant = [e for e in events if e.event_type in HANDLED]
    for event in relevant:
        # A payload that breaks its contract raises ValidationError: dead-lettered, not retried.
        event.typed_payload()
    stored = await repo.load_many_for_update(
        conn, sorted({pid for e in relevant for pid in _proposal_ids(e)})
    )
    standings = {pid: s.standing for pid, s in stored.items()}
    placed: dict[str, tuple[str | None, str]] = {}  # proposal -> (household, decree) of its determination
    moved: set[str] = set()
    entries: list[repo.TimelineEntry] = []
    for event in relevant:
        if event.event_type == BATCH_RATIFIED:
            entries += [verification_entry(event, pid) for pid in _proposal_ids(event) if pid in stored]
            continue
        pid = str(event.payload["proposal_id"])
        if pid not in stored:
            continue
        if event.event_type in DETERMINED:
            standings[pid] = rules.determined(standings[pid])
            # An institution's id is no household's: the proposal keeps no household, only the decree.
            household = event.payload.get("household_id")
            placed[pid] = (str(household) if household else None, str(event.payload["decree_number"]))
            moved.add(pid)
            entries.append(registry_entry(event))
            continue
        move = MOVES.get(event.event_type)
        if move is not None:
            standings[pid] = move(standings[pid], event, stored[pid].kind)
            moved.add(pid)
        entries.append(verification_entry(event))
    await repo.save_standings(
        conn,
        [repo.StandingUpdate(pid, standings[pid], *placed.get(pid, (None, None))) for pid in sorted(moved)],
    )
    await repo.add_timeline(conn, entries)


def status_handler() -> BatchHandler:
    return apply_status_events
