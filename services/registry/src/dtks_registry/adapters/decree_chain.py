"""A decree's place in the chain: the decree before it, and the signing key recorded as an event."""

from __future__ import annotations

import datetime as dt
import json

import asyncpg

from dtks_contracts.events.registry import DecreeKeyActivated
from dtks_registry.decree_signing import DecreeSigner
from dtks_runtime.event_store import Causation, NewEvent
from dtks_runtime.unit_of_work import UnitOfWork


async def previous_decree(conn: asyncpg.Connection) -> tuple[str, str] | None:
    """(number, register hash) of the latest decree issued, which the next one chains to."""
    row = await conn.fetchrow(
        "SELECT decree_number, register_hash FROM determinations ORDER BY period_start DESC LIMIT 1"
    )
    return None if row is None else (row["decree_number"], row["register_hash"])


# The keys' events by the log's partial index events_decree_keys (schema.py): a handful of events
# in a log of tens of millions. The type is written into the statement, not passed as a parameter,
# since a generic plan of "event_type = $1" cannot prove the index's predicate and would walk the
# log (every decree did so backwards from the end, and the public keys endpoint read all of it).
KEY_EVENTS = f"SELECT seq, envelope FROM events WHERE event_type = '{DecreeKeyActivated.event_type}'"
ACTIVE_KEY_SQL = f"SELECT envelope->'payload'->>'key_id' FROM ({KEY_EVENTS}) k ORDER BY seq DESC LIMIT 1"
RECORDED_KEYS_SQL = f"SELECT envelope->'payload' AS p FROM ({KEY_EVENTS}) k ORDER BY seq"


async def active_key_id(conn: asyncpg.Connection) -> str | None:
    return await conn.fetchval(ACTIVE_KEY_SQL)


async def record_key(uow: UnitOfWork, signer: DecreeSigner, causation: Causation, now: dt.datetime) -> None:
    """Record the signing key as a registry.decree_key_activated event when it is not the active one
    (the first decree, or the first after a rotation), in the decree's transaction."""
    conn = uow.conn
    active = await active_key_id(conn)
    if active == signer.key_id:
        return
    endorsed = signer.previous_key_id is not None and signer.previous_key_id == active
    key = DecreeKeyActivated(
        key_id=signer.key_id,
        public_key=signer.public_key.hex(),
        activated_at=now,
        previous_key_id=active,
        endorsement=signer.endorsement() if endorsed else None,
    )
    version = await conn.fetchval(
        "SELECT max(stream_version) FROM events WHERE stream_id = $1", f"decree_key:{signer.key_id}"
    )
    await uow.append(
        aggregate_type="decree_key",
        aggregate_id=signer.key_id,
        expected_version=version or 0,
        events=[NewEvent.of(key)],
        causation=causation,
    )


async def recorded_keys(conn: asyncpg.Connection) -> list[dict[str, object]]:
    """Every decree key ever activated, oldest first (the well-known endpoint's list)."""
    rows = await conn.fetch(RECORDED_KEYS_SQL)
    return [json.loads(r["p"]) for r in rows]
