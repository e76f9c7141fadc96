"""The registry's institutions as the proposal service keeps them, for the door of an assistance
proposal (domain/assistance.py): fed by the registry's institution events on the status consumer's
transaction, so a redelivered event changes nothing (each row is the latest snapshot, replaced)."""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.registry import InstitutionChanged, InstitutionClosed, InstitutionRegistered
from dtks_contracts.institution import Accreditation, Resident
from dtks_proposal.domain.assistance import RegisteredInstitution

INSTITUTION_EVENTS = frozenset(
    {InstitutionRegistered.event_type, InstitutionChanged.event_type, InstitutionClosed.event_type}
)


async def apply_institution_events(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
    """Each institution event in the order read (one institution's share its partition): a
    registration or change replaces what we knew, a closure marks it closed and keeps it known."""
    for event in events:
        if event.event_type not in INSTITUTION_EVENTS:
            continue
        payload = event.typed_payload()
        if isinstance(payload, InstitutionClosed):
            await conn.execute(
                "UPDATE registered_institutions SET open = false, last_decree = $2 WHERE institution_id = $1",
                payload.institution_id,
                payload.decree_number,
            )
            continue
        assert isinstance(payload, InstitutionRegistered | InstitutionChanged)
        institution = payload.institution
        await conn.execute(
            """INSERT INTO registered_institutions
                   (institution_id, village_code, open, accreditation, residents, last_decree)
               VALUES ($1, $2, true, $3::jsonb, $4::jsonb, $5)
               ON CONFLICT (institution_id) DO UPDATE SET
                   village_code = EXCLUDED.village_code, open = true,
                   accreditation = EXCLUDED.accreditation, residents = EXCLUDED.residents,
                   last_decree = EXCLUDED.last_decree""",
            payload.institution_id,
            institution.village_code,
            institution.accreditation.model_dump_json() if institution.accreditation else None,
            json.dumps([r.model_dump(mode="json") for r in institution.residents]),
            payload.decree_number,
        )


async def find_institution(
    conn: asyncpg.Connection | asyncpg.Pool, institution_id: str
) -> RegisteredInstitution | None:
    row = await conn.fetchrow(
        """SELECT institution_id, village_code, open, accreditation::text AS a, residents::text AS r,
                  last_decree
           FROM registered_institutions WHERE institution_id = $1""",
        institution_id,
    )
    if row is None:
        return None
    return RegisteredInstitution(
        institution_id=row["institution_id"],
        village_code=row["village_code"],
        open=row["open"],
        accreditation=Accreditation.model_validate_json(row["a"]) if row["a"] else None,
        residents=tuple(Resident.model_validate(r) for r in json.loads(row["r"])),
        last_decree=row["last_decree"],
    )
