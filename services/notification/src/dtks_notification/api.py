"""HTTP routes: thin. Parse, authorize, read or write one thing, answer."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field, HttpUrl

from dtks_contracts.regions import region_level
from dtks_contracts.text import SafeStr
from dtks_contracts.vocabulary.programs import Program
from dtks_contracts.vocabulary.roles import Role
from dtks_notification.adapters.directory import DirectoryEntry, upsert_entries
from dtks_notification.adapters.guarded_resolver import check_callback
from dtks_notification.adapters.schema import DUE_CHANNEL
from dtks_notification.deps import NotificationDeps
from dtks_notification.domain.callbacks import CallbackRefused
from dtks_notification.domain.subscriptions import FilterRefused, granted_filter
from dtks_runtime.auth import Principal, check_scope
from dtks_runtime.auth.deps import CurrentPrincipal, require_role
from dtks_runtime.problems import Problem

router = APIRouter()
AgencyPrincipal = Annotated[Principal, Depends(require_role(Role.AGENCY))]
# Who may see and replay every dead letter: the Ministry's data centre runs this service.
OPERATORS = frozenset({Role.MINISTRY_VERIFIER})


async def _deps(request: Request) -> NotificationDeps:
    # async: FastAPI runs a plain function dependency in its thread pool, a thread hand-off on every
    # request for one attribute read (measured in complaints' public form, #17).
    deps: NotificationDeps = request.app.state.deps
    return deps


Deps = Annotated[NotificationDeps, Depends(_deps)]


# --- inbox -------------------------------------------------------------------------------------


class InboxItem(BaseModel):
    notification_id: str
    rule: str
    role: str
    region: str
    subject: str | None
    title: str
    body: str
    related_event_id: uuid.UUID
    created_at: dt.datetime
    read_at: dt.datetime | None = Field(description="When you marked it read; none if unread")


class Inbox(BaseModel):
    items: list[InboxItem]
    unread: int = Field(description="Unread items addressed to your role and region")


_INBOX_SELECT = """
SELECT n.notification_id, n.rule, n.role, n.region, n.subject, n.title, n.body, n.related_event_id,
       n.created_at, r.read_at
FROM notifications n LEFT JOIN inbox_reads r ON r.notification_id = n.notification_id AND r.reader = $3
WHERE n.role = $1 AND n.region = $2
"""


@router.get("/inbox", tags=["inbox"], summary="Notifications addressed to your role and region")
async def get_inbox(
    deps: Deps,
    principal: CurrentPrincipal,
    unread_only: bool = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Inbox:
    who = (principal.role.value, principal.region, principal.subject)
    async with deps.pool.acquire() as conn:
        rows = await conn.fetch(
            _INBOX_SELECT
            + (" AND r.read_at IS NULL" if unread_only else "")
            + " ORDER BY n.created_at DESC LIMIT $4",
            *who,
            limit,
        )
        unread = await conn.fetchval(
            f"SELECT count(*) FROM ({_INBOX_SELECT} AND r.read_at IS NULL) AS u", *who
        )
    return Inbox(items=[InboxItem(**dict(r)) for r in rows], unread=unread)


@router.post("/inbox/{notification_id}/read", tags=["inbox"], summary="Mark an inbox item read (for you)")
async def mark_read(deps: Deps, notification_id: str, principal: CurrentPrincipal) -> InboxItem:
    who = (principal.role.value, principal.region, principal.subject)
    async with deps.pool.acquire() as conn, conn.transaction():
        exists = await conn.fetchval(
            "SELECT 1 FROM notifications WHERE notification_id = $1 AND role = $2 AND region = $3",
            notification_id,
            *who[:2],
        )
        if not exists:
            raise Problem(
                404,
                "inbox_item_not_found",
                f"No inbox item {notification_id} is addressed to {principal.role.value} of {principal.region}.",
            )
        await conn.execute(
            "INSERT INTO inbox_reads (notification_id, reader) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            notification_id,
            principal.subject,
        )
        row = await conn.fetchrow(_INBOX_SELECT + " AND n.notification_id = $4", *who, notification_id)
    return InboxItem(**dict(row))


# --- directory ---------------------------------------------------------------------------------


@router.put("/directory", tags=["directory"], summary="Set how an officer (or an office) is reached")
async def put_directory(deps: Deps, entry: DirectoryEntry, principal: CurrentPrincipal) -> DirectoryEntry:
    """Officers set their own entry (their role and region; subject: themselves, or empty for the
    office's shared address). The Ministry's operators may set anyone's."""
    try:
        check_scope(entry.role, entry.region)
    except ValueError as exc:
        raise Problem(422, "role_region_mismatch", f"{exc}.") from exc
    own = (
        entry.role is principal.role
        and entry.region == principal.region
        and entry.subject in ("", principal.subject)
    )
    if not own and principal.role not in OPERATORS:
        raise Problem(
            403,
            "directory_entry_not_yours",
            "You may set only your own entry (your role, your region, your subject or the office's).",
        )
    async with deps.pool.acquire() as conn:
        await upsert_entries(conn, [entry])
    return entry


# --- subscriptions -----------------------------------------------------------------------------


class NewSubscription(BaseModel):
    callback_url: HttpUrl = Field(description="Where signed deliveries are POSTed")
    secret: SafeStr = Field(min_length=16, max_length=200, description="Shared secret for the HMAC signature")
    event_types: list[SafeStr] = Field(default=[], description="Public register event types; empty: all")
    regions: list[SafeStr] = Field(
        default=[], description="Region codes within your scope; empty: your scope"
    )
    programs: list[Program] = Field(
        default=[], description="Households in any of these programs; empty: all granted"
    )


class Subscription(BaseModel):
    subscription_id: str
    agency: str
    callback_url: str
    event_types: list[str]
    regions: list[str]
    programs: list[str]
    created_at: dt.datetime
    deleted_at: dt.datetime | None


_SUBSCRIPTION_COLUMNS = (
    "subscription_id, agency, callback_url, event_types, regions, programs, created_at, deleted_at"
)


@router.post(
    "/subscriptions", tags=["subscriptions"], status_code=201, summary="Subscribe to register changes"
)
async def create_subscription(deps: Deps, body: NewSubscription, agency: AgencyPrincipal) -> Subscription:
    for code in body.regions:
        try:
            region_level(code)
        except ValueError as exc:
            raise Problem(422, "unknown_region", f"Region {code} is not a region code: {exc}.") from exc
    try:
        f = granted_filter(
            event_types=body.event_types,
            regions=body.regions,
            programs=[p.value for p in body.programs],
            agency_region=agency.region,
            agency_programs=agency.programs,
        )
    except FilterRefused as exc:
        status = 422 if exc.code == "event_type_not_public" else 403
        raise Problem(status, exc.code, str(exc)) from exc
    settings = deps.settings
    try:
        await check_callback(str(body.callback_url), settings.callback_policy, deps.lookup)
    except CallbackRefused as exc:
        raise Problem(
            422,
            exc.code,
            str(exc),
            errors=[{"field": "callback_url", "message": str(exc), "type": exc.code}],
        ) from exc
    async with deps.pool.acquire() as conn:
        row = await conn.fetchrow(
            f"""INSERT INTO subscriptions (subscription_id, agency, agency_region, callback_url, secret,
                                          event_types, regions, programs)
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {_SUBSCRIPTION_COLUMNS}""",
            f"sub-{uuid.uuid4()}",
            agency.subject,
            agency.region,
            str(body.callback_url),
            body.secret,
            list(f.event_types),
            list(f.regions),
            list(f.programs),
        )
    return Subscription(**dict(row))


async def _own_subscription(
    conn: asyncpg.Connection, subscription_id: str, agency: Principal
) -> asyncpg.Record:
    row = await conn.fetchrow(
        f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE subscription_id = $1 AND agency = $2",
        subscription_id,
        agency.subject,
    )
    if row is None:
        # Someone else's subscription is answered like a missing one: its existence is not ours to tell.
        raise Problem(404, "subscription_not_found", f"Your agency has no subscription {subscription_id}.")
    return row


@router.get("/subscriptions", tags=["subscriptions"], summary="Your agency's subscriptions")
async def list_subscriptions(deps: Deps, agency: AgencyPrincipal) -> list[Subscription]:
    async with deps.pool.acquire() as conn:
        rows = await conn.fetch(
            f"SELECT {_SUBSCRIPTION_COLUMNS} FROM subscriptions WHERE agency = $1 ORDER BY created_at",
            agency.subject,
        )
    return [Subscription(**dict(r)) for r in rows]


@router.get("/subscriptions/{subscription_id}", tags=["subscriptions"], summary="One of your subscriptions")
async def get_subscription(deps: Deps, subscription_id: str, agency: AgencyPrincipal) -> Subscription:
    async with deps.pool.acquire() as conn:
        return Subscription(**dict(await _own_subscription(conn, subscription_id, agency)))


@router.delete("/subscriptions/{subscription_id}", tags=["subscriptions"], summary="Stop a subscription")
async def delete_subscription(deps: Deps, subscription_id: str, agency: AgencyPrincipal) -> Subscription:
    """Nothing new is decided for it; deliveries still pending are parked as dead letters, so
    the log shows what was never sent."""
    async with deps.pool.acquire() as conn, conn.transaction():
        await _own_subscription(conn, subscription_id, agency)
        row = await conn.fetchrow(
            f"""UPDATE subscriptions SET deleted_at = coalesce(deleted_at, now())
                WHERE subscription_id = $1 RETURNING {_SUBSCRIPTION_COLUMNS}""",
            subscription_id,
        )
        await conn.execute(
            """UPDATE deliveries SET status = 'dead', last_error = 'subscription deleted'
               WHERE subscription_id = $1 AND status = 'pending'""",
            subscription_id,
        )
    return Subscription(**dict(row))


# --- deliveries and dead letters ---------------------------------------------------------------


class Attempt(BaseModel):
    attempt: int
    attempted_at: dt.datetime
    outcome: str
    error: str | None
    duration_ms: int


class Delivery(BaseModel):
    delivery_id: str
    notification_id: str
    channel: str
    recipient: str
    subscription_id: str | None
    status: str = Field(description="pending, delivered, or dead (in the dead-letter list)")
    attempts: int
    attempt_limit: int
    next_attempt_at: dt.datetime | None
    last_error: str | None
    delivered_at: dt.datetime | None
    created_at: dt.datetime
    log: list[Attempt] = Field(description="Every attempt, oldest first")


_DELIVERY_SELECT = """
SELECT d.delivery_id, d.notification_id, d.channel, d.recipient, d.subscription_id, d.status, d.attempts,
       d.attempt_limit, CASE WHEN d.status = 'pending' THEN d.next_attempt_at END AS next_attempt_at,
       d.last_error, d.delivered_at, d.created_at,
       coalesce((SELECT json_agg(json_build_object('attempt', a.attempt, 'attempted_at', a.attempted_at,
                                                   'outcome', a.outcome, 'error', a.error,
                                                   'duration_ms', a.duration_ms) ORDER BY a.attempt)
                 FROM delivery_attempts a WHERE a.delivery_id = d.delivery_id), '[]')::text AS log
FROM deliveries d LEFT JOIN subscriptions s ON s.subscription_id = d.subscription_id
"""


def _delivery(row: asyncpg.Record) -> Delivery:
    data: dict[str, Any] = dict(row)
    data["log"] = json.loads(data["log"])
    return Delivery.model_validate(data)


@router.get(
    "/subscriptions/{subscription_id}/deliveries",
    tags=["subscriptions"],
    summary="Deliveries of a subscription, with every attempt",
)
async def subscription_deliveries(
    deps: Deps,
    subscription_id: str,
    agency: AgencyPrincipal,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[Delivery]:
    async with deps.pool.acquire() as conn:
        await _own_subscription(conn, subscription_id, agency)
        rows = await conn.fetch(
            _DELIVERY_SELECT + " WHERE d.subscription_id = $1 ORDER BY d.created_at DESC LIMIT $2",
            subscription_id,
            limit,
        )
    return [_delivery(r) for r in rows]


def _visibility(principal: Principal) -> tuple[str, list[Any]]:
    """Agencies see their own webhook deliveries; the Ministry's operators see all."""
    if principal.role in OPERATORS:
        return "TRUE", []
    if principal.role is Role.AGENCY:
        return "s.agency = $1", [principal.subject]
    raise Problem(
        403,
        "role_not_allowed",
        "Dead letters are handled by the agency that owns the subscription or by the Ministry's operators.",
    )


@router.get("/dead-letters", tags=["dead letters"], summary="Deliveries that used up their attempts")
async def dead_letters(
    deps: Deps, principal: CurrentPrincipal, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> list[Delivery]:
    where, args = _visibility(principal)
    async with deps.pool.acquire() as conn:
        rows = await conn.fetch(
            _DELIVERY_SELECT + f" WHERE d.status = 'dead' AND {where} ORDER BY d.created_at LIMIT {limit}",
            *args,
        )
    return [_delivery(r) for r in rows]


@router.post(
    "/dead-letters/{delivery_id}/replay",
    tags=["dead letters"],
    status_code=202,
    summary="Send a dead delivery again (same delivery id, a fresh set of attempts)",
)
async def replay_dead_letter(deps: Deps, delivery_id: str, principal: CurrentPrincipal) -> Delivery:
    where, args = _visibility(principal)
    max_attempts: int = deps.settings.notification_max_attempts
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            f"""SELECT d.status, s.deleted_at FROM deliveries d
                LEFT JOIN subscriptions s ON s.subscription_id = d.subscription_id
                WHERE d.delivery_id = ${len(args) + 1} AND {where} FOR UPDATE OF d""",
            *args,
            delivery_id,
        )
        if row is None:
            raise Problem(404, "delivery_not_found", f"No delivery {delivery_id} is visible to you.")
        if row["status"] != "dead":
            raise Problem(
                409,
                "delivery_not_dead",
                f"Delivery {delivery_id} is {row['status']}; only dead letters can be replayed.",
            )
        if row["deleted_at"] is not None:
            raise Problem(
                409,
                "subscription_deleted",
                f"The subscription of delivery {delivery_id} was deleted; subscribe again to receive events.",
            )
        await conn.execute(
            """UPDATE deliveries SET status = 'pending', next_attempt_at = now(),
                                     attempt_limit = attempts + $2
               WHERE delivery_id = $1""",
            delivery_id,
            max_attempts,
        )
        await conn.execute(f"NOTIFY {DUE_CHANNEL}")
        updated = await conn.fetchrow(_DELIVERY_SELECT + " WHERE d.delivery_id = $1", delivery_id)
    return _delivery(updated)
