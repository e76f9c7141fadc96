"""Recording decisions in PostgreSQL, always on the caller's connection and inside its transaction,
so that a notification and its deliveries commit together with the consumed event's inbox entry."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import asyncpg

from dtks_contracts.vocabulary.notifications import NotificationChannel
from dtks_notification.adapters.schema import DUE_CHANNEL
from dtks_notification.domain.notices import (
    ActorAudience,
    AgencyAudience,
    HouseholdAudience,
    Notice,
    delivery_id_for,
)
from dtks_notification.domain.rules import HouseholdFacts, Knowledge, ProposalFacts, QueueEntry, QueueExit
from dtks_notification.domain.subscriptions import SubscriptionFilter


async def load_knowledge(
    conn: asyncpg.Connection, proposal_ids: Iterable[str], household_ids: Iterable[str]
) -> Knowledge:
    known = Knowledge()
    for r in await conn.fetch(
        "SELECT * FROM known_proposals WHERE proposal_id = ANY($1::text[])", list(set(proposal_ids))
    ):
        known.proposals[r["proposal_id"]] = ProposalFacts(
            r["village_code"], r["submitted_by"], r["kind"], r["submitter_role"], r["submitter_region"]
        )
    for r in await conn.fetch(
        "SELECT * FROM known_households WHERE household_id = ANY($1::text[])", list(set(household_ids))
    ):
        known.households[r["household_id"]] = HouseholdFacts(
            r["village_code"], r["kk_number"], tuple(r["programs"]), r["phone"]
        )
    return known


async def save_knowledge(
    conn: asyncpg.Connection, proposals: dict[str, ProposalFacts], households: dict[str, HouseholdFacts]
) -> None:
    if proposals:
        await conn.execute(
            """INSERT INTO known_proposals (proposal_id, village_code, submitted_by, kind, submitter_role,
                                           submitter_region)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
               ON CONFLICT (proposal_id) DO UPDATE
               SET village_code = EXCLUDED.village_code,
                   submitted_by = coalesce(EXCLUDED.submitted_by, known_proposals.submitted_by),
                   kind = coalesce(EXCLUDED.kind, known_proposals.kind),
                   submitter_role = coalesce(EXCLUDED.submitter_role, known_proposals.submitter_role),
                   submitter_region = coalesce(EXCLUDED.submitter_region, known_proposals.submitter_region)""",
            list(proposals),
            [p.village_code for p in proposals.values()],
            [p.submitted_by for p in proposals.values()],
            [p.kind for p in proposals.values()],
            [p.submitter_role for p in proposals.values()],
            [p.submitter_region for p in proposals.values()],
        )
    if households:
        await conn.execute(
            """INSERT INTO known_households (household_id, village_code, kk_number, programs, phone)
               SELECT h, v, k, coalesce(string_to_array(p, ','), '{}'), ph
               FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) AS x(h, v, k, p, ph)
               ON CONFLICT (household_id) DO UPDATE
               SET village_code = EXCLUDED.village_code, kk_number = EXCLUDED.kk_number,
                   programs = EXCLUDED.programs, phone = EXCLUDED.phone""",
            list(households),
            [h.village_code for h in households.values()],
            [h.kk_number for h in households.values()],
            [",".join(h.programs) if h.programs else None for h in households.values()],
            [h.phone for h in households.values()],
        )


async def active_subscriptions(conn: asyncpg.Connection) -> list[tuple[str, SubscriptionFilter]]:
    rows = await conn.fetch(
        """SELECT subscription_id, event_types, regions, programs FROM subscriptions
           WHERE deleted_at IS NULL ORDER BY subscription_id"""
    )
    return [
        (
            r["subscription_id"],
            SubscriptionFilter(tuple(r["event_types"]), tuple(r["regions"]), tuple(r["programs"])),
        )
        for r in rows
    ]


async def record_queue_changes(
    conn: asyncpg.Connection, entries: Sequence[QueueEntry], exits: Sequence[QueueExit]
) -> None:
    # Exits first: a proposal verified at one tier leaves it and enters the next in one event.
    if exits:
        await conn.execute(
            """DELETE FROM queue_arrivals q USING unnest($1::text[], $2::text[]) AS x(p, t)
               WHERE q.proposal_id = x.p AND (x.t IS NULL OR q.tier = x.t)""",
            [e.proposal_id for e in exits],
            [e.tier.value if e.tier is not None else None for e in exits],
        )
    if entries:
        await conn.execute(
            """INSERT INTO queue_arrivals (tier, region, proposal_id)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[])
               ON CONFLICT (tier, proposal_id) DO NOTHING""",
            [e.tier.value for e in entries],
            [e.region for e in entries],
            [e.proposal_id for e in entries],
        )


@dataclass(frozen=True)
class ChannelsOn:
    """Which external channels are configured: deliveries are decided only for those."""

    email: bool
    sms: bool
    webhook: bool = True


@dataclass(frozen=True)
class Contact:
    subject: str
    email: str | None
    phone: str | None


async def directory_contacts(
    conn: asyncpg.Connection, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], list[Contact]]:
    keys = list(set(keys))
    out: dict[tuple[str, str], list[Contact]] = {k: [] for k in keys}
    if not keys:
        return out
    rows = await conn.fetch(
        """SELECT d.role, d.region, d.subject, d.email, d.phone
           FROM directory d JOIN unnest($1::text[], $2::text[]) AS k(role, region)
             ON d.role = k.role AND d.region = k.region
           ORDER BY d.subject""",
        [k[0] for k in keys],
        [k[1] for k in keys],
    )
    for r in rows:
        out[(r["role"], r["region"])].append(Contact(r["subject"], r["email"], r["phone"]))
    return out


def recipients_of(audience: ActorAudience, contacts: Sequence[Contact]) -> list[Contact]:
    """The named officer when the directory knows them, else everyone listed for the role and region."""
    if audience.subject:
        named = [c for c in contacts if c.subject == audience.subject]
        if named:
            return named
    return list(contacts)


# A delivery as inserted: notification id, channel, recipient, notification id, subscription id.
DeliveryRow = tuple[str, str, str, str, str | None]


def _delivery_rows(
    n: Notice, contacts: dict[tuple[str, str], list[Contact]], channels: ChannelsOn
) -> list[DeliveryRow]:
    """Every way ``n`` goes out: each recipient's email and SMS on the channels this service has, a
    household's SMS, an agency's webhook."""
    a, nid = n.audience, n.notification_id
    rows: list[DeliveryRow] = []
    if isinstance(a, ActorAudience):
        for c in recipients_of(a, contacts[(a.role, a.region)]):
            if channels.email and c.email:
                rows.append((nid, NotificationChannel.EMAIL.value, c.email, nid, None))
            if channels.sms and c.phone:
                rows.append((nid, NotificationChannel.SMS.value, c.phone, nid, None))
    elif isinstance(a, HouseholdAudience):
        if channels.sms:
            rows.append((nid, NotificationChannel.SMS.value, a.phone, nid, None))
    elif isinstance(a, AgencyAudience):
        rows.append((nid, NotificationChannel.WEBHOOK.value, a.subscription_id, nid, a.subscription_id))
    return rows


def _notification_row(n: Notice, correlation_ids: dict[str, str]) -> tuple[object, ...]:
    a, nid = n.audience, n.notification_id
    role = region = subject = household = subscription = None
    if isinstance(a, ActorAudience):
        role, region, subject = a.role, a.region, a.subject
    elif isinstance(a, HouseholdAudience):
        household = a.household_id
    body: str | None = n.body
    if isinstance(a, AgencyAudience):
        subscription, body = a.subscription_id, None  # the sender wraps the kept envelope
    return (
        nid, n.rule, role, region, subject, household, subscription, n.title, body, n.related_event_id,
        correlation_ids.get(nid) or str(n.related_event_id),
    )  # fmt: skip


async def record_notices(
    conn: asyncpg.Connection,
    notices: Sequence[Notice],
    *,
    correlation_ids: dict[str, str],
    channels: ChannelsOn,
    attempt_limit: int,
) -> int:
    """Insert notifications and their deliveries; returns the number of deliveries decided.

    Ids are derived from the event and the audience, so recording the same decision twice (a
    replayed dead letter beside its original) changes nothing: same id, same decision.
    """
    if not notices:
        return 0
    contacts = await directory_contacts(
        conn, ((n.audience.role, n.audience.region) for n in notices if isinstance(n.audience, ActorAudience))
    )
    notification_rows = [_notification_row(n, correlation_ids) for n in notices]
    delivery_rows = [row for n in notices for row in _delivery_rows(n, contacts, channels)]
    columns = list(zip(*notification_rows, strict=True))
    await conn.execute(
        """INSERT INTO notifications (notification_id, rule, role, region, subject, household_id,
                                      subscription_id, title, body, related_event_id, correlation_id)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                                $7::text[], $8::text[], $9::text[], $10::uuid[], $11::text[])
           ON CONFLICT (notification_id) DO NOTHING""",
        *[list(c) for c in columns],
    )
    if delivery_rows:
        await conn.execute(
            """INSERT INTO deliveries (delivery_id, notification_id, channel, recipient, subscription_id,
                                       attempt_limit)
               SELECT * , $6::int FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
               ON CONFLICT (delivery_id) DO NOTHING""",
            [delivery_id_for(nid, ch, rcpt) for nid, ch, rcpt, _, _ in delivery_rows],
            [r[3] for r in delivery_rows],
            [r[1] for r in delivery_rows],
            [r[2] for r in delivery_rows],
            [r[4] for r in delivery_rows],
            attempt_limit,
        )
        await conn.execute(f"NOTIFY {DUE_CHANNEL}")
    return len(delivery_rows)


def canonical_envelope(envelope: dict[str, object]) -> str:
    """An event's public envelope as kept (``agency_envelopes``) and sent: compact, keys sorted."""
    return json.dumps(envelope, separators=(",", ":"), sort_keys=True, ensure_ascii=False)


def webhook_body(delivery_id: str, subscription_id: str, envelope: str) -> str:
    """The exact text an agency receives: ``{"delivery_id", "event", "subscription_id"}``, keys sorted
    and compact, around the kept :func:`canonical_envelope`. Built by joining rather than by
    serialising the envelope again (a decree's chunk is megabytes), and the same on every attempt,
    since the ids and the kept envelope never change."""
    ids = (json.dumps(delivery_id, ensure_ascii=False), json.dumps(subscription_id, ensure_ascii=False))
    return f'{{"delivery_id":{ids[0]},"event":{envelope},"subscription_id":{ids[1]}}}'


async def keep_agency_envelopes(conn: asyncpg.Connection, envelopes: dict[uuid.UUID, str]) -> None:
    """Keep each event's public envelope once, for every agency it goes to (a replayed dead letter
    keeps nothing new: the event's id decides)."""
    if envelopes:
        await conn.execute(
            """INSERT INTO agency_envelopes (event_id, envelope)
               SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT (event_id) DO NOTHING""",
            list(envelopes),
            list(envelopes.values()),
        )
