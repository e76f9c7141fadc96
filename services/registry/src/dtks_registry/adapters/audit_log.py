"""Every event of every service, kept for the causal history of one household (audit)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import asyncpg

from dtks_contracts.decree_chunks import DeterminationManifest
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.governance import ItemsOverdue
from dtks_contracts.events.proposal import ProposalWindowSet
from dtks_contracts.events.registry import DeterminationIssued
from dtks_contracts.events.verification import AcceptedByMinistry
from dtks_contracts.topics import NOTIFICATION_EVENTS, PROPOSAL_EVENTS, REGISTRY_EVENTS, VERIFICATION_EVENTS
from dtks_registry.domain.history import HistoryEntry, causal_order
from dtks_registry.domain.identity import household_id_for

AUDIT_TOPICS = (
    PROPOSAL_EVENTS.name,
    VERIFICATION_EVENTS.name,
    REGISTRY_EVENTS.name,
    NOTIFICATION_EVENTS.name,
)
_DECREE_LISTS = ("registered", "corrected", "deactivated")


def _household_of(event: EventEnvelope) -> str | None:
    p = event.payload
    if p.get("household_id"):
        return str(p["household_id"])
    if p.get("target_household_id"):
        return str(p["target_household_id"])
    household = p.get("household") or {}
    if household.get("household_id"):
        return str(household["household_id"])
    if event.event_type == AcceptedByMinistry.event_type and p.get("kind") == "new_household":
        return household_id_for(str(p["proposal_id"]))
    return None


async def record(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
    """Batch handler of the audit consumer. Keyed by event id, so a second copy of an event (a
    relay's redelivery, in one batch or another) changes nothing: the audit replay relies on it."""
    if not events:
        return
    await conn.execute(
        """INSERT INTO audit_events (event_id, event_type, occurred_at, correlation_id, causation_id,
                                     proposal_id, household_id, decree_number, related_event_id, envelope)
           SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[], $4::text[], $5::text[],
                                $6::text[], $7::text[], $8::text[], $9::uuid[], $10::jsonb[])
           ON CONFLICT (event_id) DO NOTHING""",
        [e.event_id for e in events],
        [e.event_type for e in events],
        [e.occurred_at for e in events],
        [e.correlation_id for e in events],
        [e.causation_id for e in events],
        [e.payload.get("proposal_id") for e in events],
        [_household_of(e) for e in events],
        [e.payload.get("decree_number") for e in events],
        [e.payload.get("related_event_id") for e in events],
        [e.model_dump_json() for e in events],
    )
    listed = [(pid, e.event_id) for e in events for pid in _proposals_listed(e)]
    if listed:
        await conn.execute(
            """INSERT INTO audit_event_proposals (proposal_id, event_id)
               SELECT * FROM unnest($1::text[], $2::uuid[]) ON CONFLICT DO NOTHING""",
            [p for p, _ in listed],
            [e for _, e in listed],
        )


def _proposals_listed(event: EventEnvelope) -> list[str]:
    """The proposals an event names in a list (an overdue notice's), each filed under its own."""
    if event.event_type != ItemsOverdue.event_type:
        return []
    return [
        str(pid) for group in event.payload.get("groups") or [] for pid in group.get("proposal_ids") or []
    ]


async def household_history(conn: asyncpg.Connection, household_id: str) -> list[dict[str, Any]] | None:
    """Every event about the household, from its proposals to its decrees, in causal order; None if
    nothing is known about it.

    Over 60 lines because most of it is one SQL statement (the household's proposals, decrees and
    regencies gathered in one round trip), which reads best whole."""
    rows = await conn.fetch(
        """WITH proposals AS (
               SELECT proposal_id FROM candidates WHERE household_id = $1
               UNION SELECT proposal_id FROM household_changes WHERE household_id = $1
               UNION SELECT proposal_id FROM audit_events WHERE household_id = $1 AND proposal_id IS NOT NULL
           ), listed AS (
               -- Notices about many proposals (overdue items), this household's among them.
               SELECT event_id FROM audit_event_proposals WHERE proposal_id IN (SELECT proposal_id FROM proposals)
           ), decrees AS (
               SELECT decree_number FROM household_changes WHERE household_id = $1
           ), regencies AS (
               SELECT left(village_code, 5) AS code FROM candidates WHERE household_id = $1
               UNION SELECT left(village_code, 5) FROM household_changes
                     WHERE household_id = $1 AND village_code IS NOT NULL
           ), direct AS (
               SELECT event_id FROM audit_events
               WHERE proposal_id IN (SELECT proposal_id FROM proposals) OR household_id = $1
                  OR (event_type IN ($2, $4) AND decree_number IN (SELECT decree_number FROM decrees))
               UNION SELECT event_id FROM listed
               -- The proposal windows and quotas its regency's proposals were admitted under.
               UNION SELECT event_id FROM audit_events
               WHERE event_type = $3 AND (envelope->'payload'->>'regency_code') IN (SELECT code FROM regencies)
           ), related AS (
               SELECT event_id FROM direct
               UNION SELECT event_id FROM audit_events WHERE related_event_id IN (SELECT event_id FROM direct)
           )
           SELECT a.event_id::text AS event_id, a.occurred_at, a.causation_id,
                  CASE WHEN a.event_type IN ($2, $4)
                       THEN jsonb_set(a.envelope, '{payload}',
                                      (a.envelope->'payload') - 'registered' - 'corrected' - 'deactivated'
                                      - 'changed_leaves')
                       -- A notice's list: only this household's proposals, not the region's others.
                       WHEN a.event_id IN (SELECT event_id FROM listed)
                       THEN jsonb_set(a.envelope, '{payload,groups}', (
                           SELECT coalesce(jsonb_agg(jsonb_set(g, '{proposal_ids}', to_jsonb(own.ids))), '[]')
                           FROM jsonb_array_elements(a.envelope->'payload'->'groups') g
                           CROSS JOIN LATERAL (
                               SELECT array_agg(x) AS ids FROM jsonb_array_elements_text(g->'proposal_ids') x
                               WHERE x IN (SELECT proposal_id FROM proposals)) own
                           WHERE own.ids IS NOT NULL))
                       ELSE a.envelope END::text AS envelope,
                  (SELECT change FROM household_changes hc
                    WHERE hc.household_id = $1 AND hc.decree_number = a.decree_number
                      AND a.event_type IN ($2, $4)) AS decree_change
           FROM audit_events a WHERE a.event_id IN (SELECT event_id FROM related)""",
        household_id,
        DeterminationIssued.event_type,
        ProposalWindowSet.event_type,
        # A decree larger than one chunk is in the history as its manifest (#21), which carries
        # everything but the lists: its chunks are not the household's history.
        DeterminationManifest.event_type,
    )
    return _in_causal_order(rows, "this_household")


# A decree's lists, trimmed from its envelope in an institution's history (what the decree did to
# the institution is named beside it instead).
_ALL_DECREE_LISTS = (
    "registered",
    "corrected",
    "deactivated",
    "changed_leaves",
    "institutions_registered",
    "institutions_changed",
    "institutions_closed",
    "institution_leaves",
    "institution_assistance",
)


async def institution_history(conn: asyncpg.Connection, institution_id: str) -> list[dict[str, Any]] | None:
    """Every event about an institution (LKS), from its proposals (registration, changes, closure,
    assistance) to the decrees that fixed them, in causal order; None if nothing is known about it.
    A registration still waiting for its decree has no institution id yet: it appears once decreed."""
    rows = await conn.fetch(
        """WITH proposals AS (
               SELECT proposal_id FROM institution_changes WHERE institution_id = $1
               UNION SELECT proposal_id FROM institution_assistance WHERE institution_id = $1
               UNION SELECT proposal_id FROM institution_candidates WHERE institution_id = $1
           ), decrees AS (
               SELECT decree_number FROM institution_changes WHERE institution_id = $1
               UNION SELECT decree_number FROM institution_assistance WHERE institution_id = $1
           ), direct AS (
               SELECT event_id FROM audit_events
               WHERE proposal_id IN (SELECT proposal_id FROM proposals)
                  OR (event_type IN ($2, $3) AND decree_number IN (SELECT decree_number FROM decrees))
           ), related AS (
               SELECT event_id FROM direct
               UNION SELECT event_id FROM audit_events WHERE related_event_id IN (SELECT event_id FROM direct)
           )
           SELECT a.event_id::text AS event_id, a.occurred_at, a.causation_id,
                  CASE WHEN a.event_type IN ($2, $3)
                       THEN jsonb_set(a.envelope, '{payload}', (a.envelope->'payload') - $4::text[])
                       ELSE a.envelope END::text AS envelope,
                  CASE WHEN a.event_type IN ($2, $3) THEN
                      (SELECT jsonb_build_object(
                                  'change', (SELECT change FROM institution_changes ic
                                             WHERE ic.institution_id = $1 AND ic.decree_number = a.decree_number),
                                  'assistance', (SELECT jsonb_agg(ia.proposal_id ORDER BY ia.proposal_id)
                                                 FROM institution_assistance ia
                                                 WHERE ia.institution_id = $1
                                                   AND ia.decree_number = a.decree_number)))::text
                  END AS decree_change
           FROM audit_events a WHERE a.event_id IN (SELECT event_id FROM related)""",
        institution_id,
        DeterminationIssued.event_type,
        DeterminationManifest.event_type,
        list(_ALL_DECREE_LISTS),
    )
    return _in_causal_order(rows, "this_institution")


def _in_causal_order(rows: Sequence[asyncpg.Record], named: str) -> list[dict[str, Any]] | None:
    """The history's documents in causal order; a decree's entry names what it did to the subject
    under ``named``."""
    if not rows:
        return None
    entries = []
    for r in rows:
        document = json.loads(r["envelope"])
        if r["decree_change"]:
            # The decree lists are trimmed to what it did to this household or institution.
            change = r["decree_change"]
            document["payload"][named] = json.loads(change) if named == "this_institution" else change
        stream = (
            str(document["event_type"]).split(".")[0],
            document["aggregate_type"],
            document["aggregate_id"],
        )
        entries.append(
            HistoryEntry(
                r["event_id"],
                r["occurred_at"],
                r["causation_id"],
                document,
                stream,
                document["aggregate_version"],
            )
        )
    return [e.document for e in causal_order(entries)]
