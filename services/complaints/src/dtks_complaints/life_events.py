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

from dtks_complaints.domain.life_events import Household, LifeEvent, draft_for, person_looked_up
from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.civil_registry import ChildBorn, FamilyCardChanged, PersonDied, PersonMoved
from dtks_contracts.topics import CIVIL_REGISTRY_EVENTS
from dtks_runtime.consumer import BatchHandler
from dtks_runtime.sql_arrays import in_literal, text_array, unnest_literals

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


async def _households_of(
    conn: asyncpg.Connection, looked_up: Sequence[list[str]]
) -> list[tuple[Household, str | None] | None]:
    """For each list of NIKs, the registered household of the first found (an active one first),
    and the name the register has for the person found: one query for the whole batch, instead of
    a round trip per life event (most of a batch's time when it was one)."""
    wanted = sorted({n for niks in looked_up for n in niks})
    rows = await conn.fetch(
        f"""SELECT nik, household_id, village_code, members, active, name FROM register_members
            WHERE nik {in_literal(1)}""",
        text_array(wanted),
    )
    by_nik = {row["nik"]: row for row in rows}
    out: list[tuple[Household, str | None] | None] = []
    for niks in looked_up:
        found = [by_nik[n] for n in niks if n in by_nik]
        if not found:
            out.append(None)
            continue
        row = next((r for r in found if r["active"]), found[0])
        household = Household(row["household_id"], row["village_code"], row["members"], row["active"])
        out.append((household, row["name"]))
    return out


# One row per draft, inserted from parallel arrays; a life event already drafted (published again
# under a new envelope, in an earlier batch) inserts nothing and is not returned.
_INSERT_DRAFTS = f"""
    INSERT INTO life_event_drafts (draft_id, life_event_id, event_type, nik, household_id,
        village_code, proposal_kind, deactivation_reason, note, details, person_name, to_village,
        created_at)
    SELECT d, l, t, n, h, v, k, r, note, details::jsonb, pn, tv, $13
    FROM {unnest_literals(*["text"] * 12)} AS x(d, l, t, n, h, v, k, r, note, details, pn, tv)
    ON CONFLICT (life_event_id) DO NOTHING RETURNING life_event_id"""


def draft_opener(now: Callable[[], dt.datetime]) -> BatchHandler:
    """The consumer's handler; ``now`` dates each draft (the queue shows its age by the same clock).

    Set-based: one lookup of every NIK the batch names, one insert of every draft it opens, one
    update of the tallies, all in the batch's transaction with its inbox rows (so a redelivered
    batch, whose events the inbox drops, changes nothing)."""

    async def open_drafts(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
        tally: Counter[str] = Counter()
        payloads: list[tuple[str, LifeEvent]] = []
        for event in events:
            if event.event_type not in LIFE_EVENT_TYPES:
                continue
            payload = event.typed_payload()  # a payload that breaks its contract is dead-lettered
            assert isinstance(payload, PersonDied | PersonMoved | ChildBorn | FamilyCardChanged)
            payloads.append((event.event_type, payload))
        if not payloads:
            return
        found_all = await _households_of(conn, [person_looked_up(p) for _, p in payloads])
        rows = _draft_rows(payloads, found_all, tally)
        if rows:
            columns = [text_array(column) for column in zip(*rows, strict=True)]
            opened = await conn.fetch(_INSERT_DRAFTS, *columns, now())
            tally["drafted"] += len(opened)
            tally["repeated"] += len(rows) - len(opened)
        tally = +tally  # no outcome written with a count of nought
        if tally:
            await conn.executemany(
                """INSERT INTO life_event_tallies (outcome, count) VALUES ($1, $2)
                   ON CONFLICT (outcome) DO UPDATE SET count = life_event_tallies.count + $2""",
                sorted(tally.items()),
            )

    return open_drafts


def _draft_rows(
    payloads: Sequence[tuple[str, LifeEvent]],
    found_all: Sequence[tuple[Household, str | None] | None],
    tally: Counter[str],
) -> list[tuple[str | None, ...]]:
    """The drafts' rows for one batch, counting in ``tally`` why each event opened none."""
    rows: list[tuple[str | None, ...]] = []
    seen: set[str] = set()
    for (event_type, payload), found in zip(payloads, found_all, strict=True):
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
        if payload.life_event_id in seen:  # published twice within this batch
            tally["repeated"] += 1
            continue
        seen.add(payload.life_event_id)
        rows.append(
            (
                str(uuid.uuid4()),
                payload.life_event_id,
                event_type,
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
            )
        )
    return rows
