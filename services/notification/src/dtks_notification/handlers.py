"""The consumer's handler: decide what every event means for whom, and record it in the consumer's
transaction (the runtime commits it together with the events' inbox entries, then the offsets).

Nothing is sent here. Sending is the sender's job (:mod:`dtks_notification.sender`); a crash after
this transaction commits leaves pending deliveries that the sender picks up after a restart.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.base import EventPayload
from dtks_contracts.events.registry import DeterminationIssued
from dtks_contracts.masking import for_agency
from dtks_notification.adapters import records
from dtks_notification.adapters.records import ChannelsOn
from dtks_notification.domain.notices import AgencyAudience, Notice
from dtks_notification.domain.rules import Decision, QueueEntry, QueueExit, decide
from dtks_notification.domain.subscriptions import matching


@dataclass(frozen=True)
class RuleHandler:
    channels: ChannelsOn
    attempt_limit: int

    async def __call__(self, conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        typed = [(e, e.typed_payload()) for e in events]
        known = await records.load_knowledge(
            conn,
            _proposal_ids(p for _, p in typed),
            (str(p.household_id) for _, p in typed if hasattr(p, "household_id")),
        )
        subscriptions = await records.active_subscriptions(conn)
        notices: list[Notice] = []
        correlation: dict[str, str] = {}
        entries: list[QueueEntry] = []
        exits: list[QueueExit] = []
        learned = Decision()
        envelopes: dict[uuid.UUID, str] = {}  # each event agencies receive, kept once for them all
        for event, payload in typed:
            d = decide(event, payload, known)
            # Later events of this batch must see what earlier ones taught.
            known.proposals.update(d.learned_proposals)
            known.households.update(d.learned_households)
            learned.learned_proposals.update(d.learned_proposals)
            learned.learned_households.update(d.learned_households)
            entries += d.queue_entries
            exits += d.queue_exits
            found = list(d.notices)
            if d.public is not None and (to := matching(subscriptions, d.public)):
                found += _agency_notices(event, to)
                envelopes[event.event_id] = records.canonical_envelope(public_envelope(event))
            for n in found:
                correlation[n.notification_id] = event.correlation_id
            notices += found
        await records.save_knowledge(conn, learned.learned_proposals, learned.learned_households)
        await records.record_queue_changes(conn, entries, exits)
        await records.keep_agency_envelopes(conn, envelopes)
        await records.record_notices(
            conn,
            notices,
            correlation_ids=correlation,
            channels=self.channels,
            attempt_limit=self.attempt_limit,
        )


def _proposal_ids(payloads: Iterable[EventPayload]) -> list[str]:
    """The proposals the events concern: their own, and a decree's assistance proposals (#19), whose
    proposers it tells."""
    ids = []
    for p in payloads:
        if hasattr(p, "proposal_id"):
            ids.append(str(p.proposal_id))
        if isinstance(p, DeterminationIssued):
            ids += [a.proposal_id for a in p.institution_assistance]
    return ids


def _agency_notices(event: EventEnvelope, subscription_ids: list[str]) -> list[Notice]:
    """A webhook notice per subscription, without a body: the sender wraps the event's kept public
    envelope in the delivery's ids when it sends (records.webhook_body)."""
    return [
        Notice("agency_webhook", AgencyAudience(sid), event.event_type, "", event.event_id)
        for sid in subscription_ids
    ]


def public_envelope(event: EventEnvelope) -> dict[str, object]:
    """The event as an agency receives it: the household's phone stays with us (the family agreed
    to be contacted about its record, not to have its number passed on), and an institution's
    residents are masked (dtks_contracts.masking.for_agency), as on the registry's public topic."""
    data = event.model_dump(mode="json")
    data["payload"] = for_agency(event.event_type, data["payload"])
    household = data["payload"].get("household")
    if isinstance(household, dict):
        household.pop("contact", None)
    return data
