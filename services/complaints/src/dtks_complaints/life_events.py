"""Life events from the civil registry open draft proposals (consumer ``complaint-life-events``).

For every event that touches a registered, active household, one draft of the proposal it calls for
waits for the village operator (``GET /life-event-drafts``). The same event delivered twice opens
one draft: the runtime's inbox drops a redelivered record, and the draft is unique per life event
id for one published twice. Events about people not in the register, or households no longer
active, are tallied and dropped; an undecodable record or a payload breaking its contract is
dead-lettered by the runtime, and the consumer goes on.

The register itself comes from the registry's household events (:func:`project_register`), applied
by the ``complaint-status`` consumer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections import Counter
from collections.abc import Callable, Sequence

import asyncpg

from dtks_complaints.domain.life_events import Household, draft_for, person_looked_up
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.civil_registry import ChildBorn, FamilyCardChanged, PersonDied, PersonMoved
from dtks_contracts.topics import CIVIL_REGISTRY_EVENTS
from dtks_runtime.consumer import BatchHandler

CONSUMER_NAME = "complaint-life-events"
TOPICS = [CIVIL_REGISTRY_EVENTS.name]
LIFE_EVENT_TYPES = frozenset(
    {
        "civil_registry.person_died",
        "civil_registry.person_moved",
        "civil_registry.child_born",
        "civil_registry.family_card_changed",
    }
)
SNAPSHOTS = frozenset({"registry.household_registered", "registry.household_corrected"})


async def project_register(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
    """Keep who belongs to which registered household, from the registry's household events."""
    for event in events:
        if event.event_type in SNAPSHOTS:
            household = event.payload["household"]
            household_id = str(event.payload["household_id"])
            members = household["members"]
            await conn.execute("DELETE FROM register_members WHERE household_id = $1", household_id)
            await conn.executemany(
                """INSERT INTO register_members (nik, household_id, village_code, members, active, name)
                   VALUES ($1, $2, $3, $4, true, $5)
                   ON CONFLICT (nik) DO UPDATE SET household_id = $2, village_code = $3, members = $4,
                       active = true, name = $5""",
                [
                    (m["nik"], household_id, household["village_code"], len(members), m.get("name"))
                    for m in members
                ],
            )
        elif event.event_type == "registry.household_deactivated":
            await conn.execute(
                "UPDATE register_members SET active = false WHERE household_id = $1",
                str(event.payload["household_id"]),
            )


async def _household_of(conn: asyncpg.Connection, niks: list[str]) -> tuple[Household, str | None] | None:
    """The registered household of the first of ``niks`` found (an active one first), and the name
    the register has for the person found."""
    row = await conn.fetchrow(
        """SELECT household_id, village_code, members, active, name FROM register_members
           WHERE nik = ANY($1::text[]) ORDER BY active DESC LIMIT 1""",
        niks,
    )
    if row is None:
        return None
    found = dict(row)
    name = found.pop("name")
    return Household(**found), name


def draft_opener(now: Callable[[], dt.datetime]) -> BatchHandler:
    """The consumer's handler; ``now`` dates each draft (the queue shows its age by the same clock)."""

    async def open_drafts(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        tally: Counter[str] = Counter()
        for event in events:
            if event.event_type not in LIFE_EVENT_TYPES:
                continue
            payload = event.typed_payload()  # a payload that breaks its contract is dead-lettered
            assert isinstance(payload, PersonDied | PersonMoved | ChildBorn | FamilyCardChanged)
            found = await _household_of(conn, person_looked_up(payload))
            if found is None:
                tally["unknown_nik"] += 1
                continue
            household, name = found
            if not household.active:
                tally["household_inactive"] += 1
                continue
            draft = draft_for(payload, household)
            if draft is None:
                tally["no_change"] += 1
                continue
            opened = await conn.fetchval(
                """INSERT INTO life_event_drafts (draft_id, life_event_id, event_type, nik, household_id,
                       village_code, proposal_kind, deactivation_reason, note, details, person_name,
                       to_village, created_at)
                   VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
                   ON CONFLICT (life_event_id) DO NOTHING RETURNING draft_id""",
                str(uuid.uuid4()),
                payload.life_event_id,
                event.event_type,
                payload.nik,
                household.household_id,
                household.village_code,
                draft.kind.value,
                draft.deactivation_reason.value if draft.deactivation_reason else None,
                draft.note,
                payload.model_dump_json(),
                # A birth is looked up by a parent: the child has no name in the register yet.
                None if isinstance(payload, ChildBorn) else name,
                payload.to_village if isinstance(payload, PersonMoved) else None,
                now(),
            )
            tally["drafted" if opened else "repeated"] += 1
        if tally:
            await conn.executemany(
                """INSERT INTO life_event_tallies (outcome, count) VALUES ($1, $2)
                   ON CONFLICT (outcome) DO UPDATE SET count = life_event_tallies.count + $2""",
                list(tally.items()),
            )

    return open_drafts
