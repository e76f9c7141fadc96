"""Freeze periods as every service that enforces one sees them.

The Ministry declares freezes in the verification service (`verification.freeze_declared`,
`_shortened`, `_lifted` on dtks.verification.events). Each service whose actions a freeze may stop
keeps the freezes in a small table of its own, filled from those events by a consumer
(`apply_freeze_events`; the table is `MIGRATION`), and refuses from it: no service asks
verification before it acts, so a freeze holds while verification is down. The verification
service writes the same rows itself when it records the events.

`Freeze.holds` and `frozen` are the pure rule and the refusal: code `frozen`, a sentence naming
the freeze's reason and end, and the freeze in the problem document (`freeze`); services answer it
with 423 (see their error tables).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.governance import FreezeDeclared, FreezeLifted, FreezeShortened, FrozenAction
from dtks_contracts.regions import contains
from dtks_contracts.timestamps import WIB
from dtks_runtime.errors import DomainError

FROZEN = "frozen"
FROZEN_STATUS = 423

# A service's own copy of the freezes (verification's table has more columns: stream_version, lifted).
MIGRATION = """
CREATE TABLE IF NOT EXISTS freezes (
    freeze_id       text PRIMARY KEY,
    scope           text NOT NULL,
    actions         text[] NOT NULL,
    starts_at       timestamptz NOT NULL,
    ends_at         timestamptz NOT NULL,
    reason          text NOT NULL
);
"""


@dataclass(frozen=True)
class Freeze:
    freeze_id: str
    scope: str
    actions: frozenset[FrozenAction]
    starts_at: dt.datetime
    ends_at: dt.datetime  # already the earlier end when shortened or lifted
    reason: str

    def holds(self, action: FrozenAction, region: str, now: dt.datetime) -> bool:
        return (
            action in self.actions and self.starts_at <= now < self.ends_at and contains(self.scope, region)
        )

    def covers(self, region: str) -> bool:
        """Does the freeze's scope include `region`, or lie within it?"""
        return contains(self.scope, region) or contains(region, self.scope)

    def days(self) -> set[dt.date]:
        """The calendar days (WIB) the freeze touches, its first and last partial days included."""
        first = self.starts_at.astimezone(WIB).date()
        last = (self.ends_at - dt.timedelta(microseconds=1)).astimezone(WIB).date()
        return {first + dt.timedelta(days=n) for n in range((last - first).days + 1)}


_ACTION_WORDS = {
    FrozenAction.TIER_DECISIONS: "Decisions at the tiers",
    FrozenAction.RATIFICATIONS: "Ratifications by decree",
    FrozenAction.DETERMINATION_DECREES: "Determination decrees",
    FrozenAction.NEW_PROPOSALS: "New proposals",
}


def holding(freezes: Iterable[Freeze], action: FrozenAction, region: str, now: dt.datetime) -> Freeze | None:
    """The freeze that stops `action` in `region` at `now`, the one ending last if several do."""
    found = [f for f in freezes if f.holds(action, region, now)]
    return max(found, key=lambda f: f.ends_at) if found else None


def frozen(
    freeze: Freeze, action: FrozenAction, region: str, error: type[DomainError] = DomainError
) -> DomainError:
    ends = freeze.ends_at.astimezone(WIB)
    return error(
        FROZEN,
        f"{_ACTION_WORDS[action]} in {region} are frozen by the Ministry until "
        f"{ends:%Y-%m-%d %H:%M} WIB ({freeze.reason}). What was submitted before is kept and waits; "
        "act again after the freeze ends.",
        extra={
            "freeze": {
                "freeze_id": freeze.freeze_id,
                "scope": freeze.scope,
                "reason": freeze.reason,
                "ends_at": freeze.ends_at.isoformat(),
            }
        },
    )


def row_to_freeze(row: asyncpg.Record) -> Freeze:
    return Freeze(
        row["freeze_id"],
        row["scope"],
        frozenset(FrozenAction(a) for a in row["actions"]),
        row["starts_at"],
        row["ends_at"],
        row["reason"],
    )


async def freezes_ending_after(conn: asyncpg.Connection, moment: dt.datetime) -> list[Freeze]:
    """Freezes still holding or to come at `moment` (a handful a year)."""
    rows = await conn.fetch("SELECT * FROM freezes WHERE ends_at > $1 ORDER BY starts_at", moment)
    return [row_to_freeze(r) for r in rows]


async def ensure_not_frozen(
    conn: asyncpg.Connection, action: FrozenAction, region: str, now: dt.datetime
) -> None:
    """Raise `frozen` if a freeze in the service's table stops `action` in `region` at `now`."""
    found = holding(await freezes_ending_after(conn, now), action, region, now)
    if found is not None:
        raise frozen(found, action, region)


# What apply_freeze_events reads: its consumer passes the rest of verification's stream by undecoded.
FREEZE_EVENT_TYPES = frozenset(
    {FreezeDeclared.event_type, FreezeShortened.event_type, FreezeLifted.event_type}
)


async def apply_freeze_events(conn: asyncpg.Connection, events: Sequence[EventEnvelope]) -> None:
    """A consumer's batch handler: keep the freezes table in step with verification's freeze events
    (other events of the topic pass by). Idempotent by itself too: a declaration is inserted once,
    and a change only ever moves the end earlier."""
    for event in events:
        if event.event_type not in FREEZE_EVENT_TYPES:
            continue
        match event.typed_payload():
            case FreezeDeclared() as declared:
                await conn.execute(
                    """INSERT INTO freezes (freeze_id, scope, actions, starts_at, ends_at, reason)
                       VALUES ($1, $2, $3::text[], $4, $5, $6) ON CONFLICT (freeze_id) DO NOTHING""",
                    declared.freeze_id,
                    declared.scope,
                    [a.value for a in declared.actions],
                    declared.starts_at,
                    declared.ends_at,
                    declared.reason,
                )
            case (
                FreezeShortened(freeze_id=freeze_id, ends_at=end)
                | FreezeLifted(freeze_id=freeze_id, lifted_at=end)
            ):
                await conn.execute(
                    "UPDATE freezes SET ends_at = least(ends_at, $2) WHERE freeze_id = $1", freeze_id, end
                )
