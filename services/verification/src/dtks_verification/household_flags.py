"""Facts from other services' events that call for a registered household's visit (consumer
``verification-flags``): a member's death the civil registry reports (dtks.civil_registry.events), a
citizen's complaint naming the household or one of its members (dtks.complaint.events). A decile set
to another value is flagged by the register's own consumer (adapters.register.set_deciles). A round
may select the flagged households; a round's visit settles the flags raised before it."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.civil_registry import PersonDied
from dtks_contracts.events.complaint import ComplaintFiled
from dtks_contracts.events.reverification import HouseholdFlag
from dtks_contracts.topics import CIVIL_REGISTRY_EVENTS, COMPLAINT_EVENTS

CONSUMER_NAME = "verification-flags"
TOPICS = [CIVIL_REGISTRY_EVENTS.name, COMPLAINT_EVENTS.name]
# The two types it reads of those topics; the rest is consumed undecoded (EventConsumer).
EVENT_TYPES = frozenset({PersonDied.event_type, ComplaintFiled.event_type})


async def apply_flag_events(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
    by_nik: list[tuple[str, str]] = []  # (NIK, flag): the household the person is registered in
    by_household: list[tuple[str, str]] = []
    for event in events:
        if event.event_type == PersonDied.event_type:
            by_nik.append((event.payload_as(PersonDied).nik, HouseholdFlag.MEMBER_DIED.value))
        elif event.event_type == ComplaintFiled.event_type:
            filed = event.payload_as(ComplaintFiled)
            if filed.subject_household_id is not None:
                by_household.append((filed.subject_household_id, HouseholdFlag.COMPLAINT.value))
            elif filed.subject_nik is not None:
                by_nik.append((filed.subject_nik, HouseholdFlag.COMPLAINT.value))
    if by_nik:
        await conn.execute(
            """INSERT INTO household_flags (household_id, flag)
               SELECT DISTINCT p.household_id, x.flag
               FROM unnest($1::text[], $2::text[]) AS x(nik, flag) JOIN registered_people p USING (nik)
               ON CONFLICT (household_id, flag) DO UPDATE SET raised_at = now()""",
            [n for n, _ in by_nik],
            [f for _, f in by_nik],
        )
    if by_household:
        await conn.execute(
            """INSERT INTO household_flags (household_id, flag)
               SELECT DISTINCT x.h, x.flag
               FROM unnest($1::text[], $2::text[]) AS x(h, flag) JOIN registered_households r ON r.household_id = x.h
               ON CONFLICT (household_id, flag) DO UPDATE SET raised_at = now()""",
            [h for h, _ in by_household],
            [f for _, f in by_household],
        )
