"""The status read model, fed by verification and registry events (consumer ``proposal-status``).

Each event moves the proposal's standing (see :mod:`dtks_proposal.domain.status`) and adds a
timeline entry, in the transaction the runtime opens with the inbox row, so a redelivered event
changes nothing. Events about proposals this service never recorded (civil-registry proposals
raised elsewhere) are acknowledged and ignored.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.topics import REGISTRY_EVENTS, VERIFICATION_EVENTS
from dtks_contracts.vocabulary.tiers import Tier
from dtks_proposal.adapters import proposals as repo
from dtks_proposal.domain import status as rules
from dtks_proposal.timeline import registry_entry, verification_entry
from dtks_runtime.consumer import BatchHandler, per_event
from dtks_runtime.service import event_handler_registry

CONSUMER_NAME = "proposal-status"
TOPICS = [VERIFICATION_EVENTS.name, REGISTRY_EVENTS.name]

Handler = Callable[[asyncpg.Connection, EventEnvelope], Awaitable[None]]


async def _timeline_only(conn: asyncpg.Connection, event: EventEnvelope) -> None:
    stored = await repo.load_for_update(conn, str(event.payload["proposal_id"]))
    if stored is not None:
        await repo.add_timeline(conn, [verification_entry(event)])


def _moving(decide: Callable[[rules.Standing, EventEnvelope], rules.Standing]) -> Handler:
    async def handle(conn: asyncpg.Connection, event: EventEnvelope) -> None:
        stored = await repo.load_for_update(conn, str(event.payload["proposal_id"]))
        if stored is None:
            return
        await repo.save_standing(conn, stored.proposal_id, decide(stored.standing, event))
        await repo.add_timeline(conn, [verification_entry(event)])

    return handle


async def _batch_ratified(conn: asyncpg.Connection, event: EventEnvelope) -> None:
    # One decree over many proposals: an entry in each known proposal's timeline.
    known = await conn.fetch(
        "SELECT proposal_id FROM proposals WHERE proposal_id = ANY($1::text[])",
        [str(p) for p in event.payload["proposal_ids"]],
    )
    await repo.add_timeline(conn, [verification_entry(event, r["proposal_id"]) for r in known])


async def _determined(conn: asyncpg.Connection, event: EventEnvelope) -> None:
    stored = await repo.load_for_update(conn, str(event.payload["proposal_id"]))
    if stored is None:
        return
    await repo.save_standing(
        conn,
        stored.proposal_id,
        rules.determined(stored.standing),
        household_id=str(event.payload["household_id"]),
        decree_number=str(event.payload["decree_number"]),
    )
    await repo.add_timeline(conn, [registry_entry(event)])


HANDLERS: dict[str, Handler] = {
    "verification.integrity_checked": _timeline_only,
    "verification.verified_at_tier": _moving(
        lambda s, e: rules.verified_at(s, int(e.payload["round"]), Tier(e.payload["tier"]))
    ),
    "verification.returned_at_tier": _moving(lambda s, e: rules.returned_at(s, int(e.payload["round"]))),
    "verification.accepted_by_ministry": _moving(lambda s, e: rules.accepted(s, int(e.payload["round"]))),
    "verification.batch_ratified": _batch_ratified,
    "registry.household_registered": _determined,
    "registry.household_corrected": _determined,
    "registry.household_deactivated": _determined,
}


def status_handler() -> BatchHandler:
    dispatch = event_handler_registry(HANDLERS)

    async def validated(conn: asyncpg.Connection, event: EventEnvelope) -> None:
        if event.event_type in HANDLERS:
            # A payload that breaks its contract raises ValidationError: dead-lettered, not retried.
            event.typed_payload()
        await dispatch(conn, event)

    return per_event(validated)
