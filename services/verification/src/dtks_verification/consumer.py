"""What the verification service learns from other services' events.

- dtks.proposal.events: a submission or resubmission starts a round (the proposal's NIKs become
  open claims and its entry checks are queued); a withdrawal ends the proposal.
- dtks.registry.events: the register's households and people, for the uniqueness rules; a household
  entering the register also ends the claim of the proposal that brought it.
Effects are idempotent twice over: the runtime's inbox drops redelivered events, and a round that
is not newer than the one we hold changes nothing.
"""

from __future__ import annotations

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.proposal import ProposalResubmitted, ProposalSubmitted, ProposalWithdrawn
from dtks_contracts.events.registry import HouseholdCorrected, HouseholdDeactivated, HouseholdRegistered
from dtks_contracts.topics import PROPOSAL_EVENTS, REGISTRY_EVENTS
from dtks_runtime.consumer import per_event
from dtks_runtime.service import event_handler_registry
from dtks_verification.adapters import postgres as pg

CONSUMER_NAME = "verification"
TOPICS = [PROPOSAL_EVENTS.name, REGISTRY_EVENTS.name]


async def on_submitted(conn: asyncpg.Connection, event: EventEnvelope) -> None:
    payload = event.typed_payload()
    assert isinstance(payload, ProposalSubmitted | ProposalResubmitted)
    await pg.start_round(conn, payload, event.correlation_id, str(event.event_id))


async def on_withdrawn(conn: asyncpg.Connection, event: EventEnvelope) -> None:
    payload = event.payload_as(ProposalWithdrawn)
    await pg.withdraw(conn, payload.proposal_id)


async def on_household_snapshot(conn: asyncpg.Connection, event: EventEnvelope) -> None:
    payload = event.typed_payload()
    assert isinstance(payload, HouseholdRegistered | HouseholdCorrected)
    await pg.register_household(conn, payload.household_id, payload.household)
    await pg.release_open_niks(conn, payload.proposal_id)


async def on_household_deactivated(conn: asyncpg.Connection, event: EventEnvelope) -> None:
    payload = event.payload_as(HouseholdDeactivated)
    await pg.deactivate_household(conn, payload.household_id, payload.kk_number)
    await pg.release_open_niks(conn, payload.proposal_id)


handle_events = per_event(
    event_handler_registry(
        {
            ProposalSubmitted.event_type: on_submitted,
            ProposalResubmitted.event_type: on_submitted,
            ProposalWithdrawn.event_type: on_withdrawn,
            HouseholdRegistered.event_type: on_household_snapshot,
            HouseholdCorrected.event_type: on_household_snapshot,
            HouseholdDeactivated.event_type: on_household_deactivated,
        }
    )
)
