"""Notify: at each decree, what changed is sent to every subscription it matches.

The registry's decree is consumed effectively once (inbox and effect in one transaction, provenance
verified): it records one ``dci_notifications`` row per active subscription. The notify worker reads
the decree's changed households through the registry's API (``POST /households/lookup``), keeps the
ones the subscription's filter and the agency's grant allow, and POSTs them as the standard's
``notify`` message, signed, retried until taken. A decree that changed nothing a subscription may
see is recorded as delivered with nothing sent.

**Pages.** The changes go out in pages of at most ``DTKS_DCI_NOTIFY_PAGE_HOUSEHOLDS`` households
(a message an agency's server takes, whatever the decree's size), under one ``transaction_id``, in
order, each sent once the one before was taken; ``header.meta`` names the subscription, the decree,
the ``page`` and how many ``pages``. A page with nothing for the subscription is skipped, but the
last is always sent (empty if need be) once an earlier one was, so ``page == pages`` tells the
agency it has the decree's whole notify. A decree in one event names its changed households in the
row. A decree published in chunks (#21) is read from its chunks as each page's turn comes (kept by
dtks_runtime.decree_assembly, which also checks the decree whole before its manifest reaches this
handler), so neither this service nor the agency ever holds a national decree at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx
import structlog

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.determination_chunks import DeterminationManifest
from dtks_contracts.events.registry import DeterminationIssued
from dtks_dci.adapters.registry import RegistryClient
from dtks_dci.callbacks import JSON_BODY, backoff
from dtks_dci.domain import envelope as env
from dtks_dci.domain.grants import Grant
from dtks_dci.domain.records import records_for
from dtks_dci.domain.signing import SigningKey
from dtks_dci.domain.subscriptions import matches, query_from_json
from dtks_dci.search import REG_TYPE
from dtks_runtime import decree_assembly
from dtks_runtime.callback_guard import CallbackGuard, CallbackRefused
from dtks_runtime.db import TRANSIENT_DATABASE_ERRORS
from dtks_runtime.guarded_http import refusal_code

log = structlog.get_logger(__name__)
TRANSIENT: tuple[type[BaseException], ...] = (*TRANSIENT_DATABASE_ERRORS, httpx.TransportError)


# The lists of households a decree changed, in the order they are notified.
CHANGED = ("registered", "corrected", "deactivated")
# What DecreeNotices acts on (a chunk is kept by decree_assembly, before it).
DECREE_TYPES = (DeterminationIssued.event_type, DeterminationManifest.event_type)


def pages_of(lengths: Sequence[int], page_households: int) -> int:
    """Pages of at most ``page_households`` cut from each list (or chunk) of changed households."""
    return sum(-(-n // page_households) for n in lengths)


@dataclass(frozen=True)
class DecreeNotices:
    """The consumer's handler: at each decree, a notification for each subscription made before it."""

    page_households: int

    async def __call__(self, conn: asyncpg.Connection, event: EventEnvelope) -> None:
        if event.event_type == DeterminationManifest.event_type:
            number = event.payload_as(DeterminationManifest).decree_number
            changed: list[str] | None = None  # named by its chunks, kept in decree_chunks
            lengths = await decree_assembly.held_lengths(conn, number, CHANGED)
        elif event.event_type == DeterminationIssued.event_type:
            decree = event.payload_as(DeterminationIssued)
            number, changed = (
                decree.decree_number,
                [*decree.registered, *decree.corrected, *decree.deactivated],
            )
            lengths = [len(changed)]
        else:
            return
        pages = pages_of(lengths, self.page_households)
        if not pages:
            return
        await conn.execute(
            """INSERT INTO dci_notifications (subscription_code, decree_number, household_ids, pages)
               SELECT code, $1, $2, $3 FROM dci_subscriptions WHERE status = 'subscribe' AND created_at <= $4
               ON CONFLICT (subscription_code, decree_number) DO NOTHING""",
            number, changed, pages, event.occurred_at,
        )  # fmt: skip
        # A subscription hears of the decrees issued after it was made: a decree this consumer reads late
        # (it was issued before the agency subscribed) is not a change since subscribing.


@dataclass(frozen=True)
class Page:
    """The households of one page, and where the next page starts."""

    household_ids: Sequence[str]
    number: int
    pages: int
    next_chunk: int
    next_item: int

    @property
    def last(self) -> bool:
        return self.number >= self.pages


def notify_uri(callback_uri: str) -> str:
    """Where notify goes: the subscriber's /registry/notify beside the on-subscribe it gave (the
    standard's two paths are siblings); a sender_uri of another shape gets the notify itself."""
    head, _, last = callback_uri.rstrip("/").rpartition("/")
    return f"{head}/notify" if last == "on-subscribe" else callback_uri


class NotifyWorker:
    def __init__(self, pool: asyncpg.Pool, http: httpx.AsyncClient, registry: RegistryClient, key: SigningKey,
                 registry_id: str, max_attempts: int, poll_seconds: float, guard: CallbackGuard,
                 page_households: int) -> None:  # fmt: skip
        self.pool, self.http, self.registry, self.key = pool, http, registry, key
        self.page_households = page_households
        self.registry_id, self.max_attempts, self.poll_seconds = registry_id, max_attempts, poll_seconds
        # Checked again before each call: the name may point elsewhere now (DNS rebinding).
        self.guard = guard
        self.heartbeat: Callable[[], None] = lambda: None
        self.stuck_after = 300.0

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self.heartbeat()
            try:
                if await self.once():
                    continue
            except TRANSIENT as exc:
                # As the callbacks' worker: a database restart must not end the notices for good.
                log.warning("notify round failed; retrying", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_seconds)

    async def once(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT n.*, s.agency, s.grant_json, s.query, s.criteria, s.callback_uri, s.status AS sub_status,
                          s.reference_id
                   FROM dci_notifications n JOIN dci_subscriptions s ON s.code = n.subscription_code
                   WHERE n.delivered_at IS NULL AND n.attempts < $1 AND n.next_attempt_at <= now()
                   ORDER BY n.id LIMIT 5 FOR UPDATE OF n SKIP LOCKED""",
                self.max_attempts,
            )
            for row in rows:
                await self._handle(conn, row)
        return len(rows)

    async def _events(self, row: asyncpg.Record, household_ids: Sequence[str]) -> list[dict[str, Any]]:
        grant = Grant.from_json(json.loads(row["grant_json"]))
        query = query_from_json(json.loads(row["query"]))
        criteria = json.loads(row["criteria"])
        entity = "Member" if str(criteria.get("notify_record_type", "Group")).endswith("Member") else "Group"
        events = []
        # The subscription's region asked of the registry: a district's subscription to a national
        # decree is not sent the country's households to drop them here.
        for household in await self.registry.households_by_id(household_ids, query.region):
            if not grant.may_read(household) or not matches(query, household):
                continue
            for record in records_for([household], entity, grant.fields, nik=query.nik):
                events.append({
                    "reference_id": env.new_id(), "timestamp": env.timestamp(), "locale": "eng",
                    "data": {"version": "1.0.0", "reg_type": REG_TYPE, "reg_event_type": "REGISTER",
                             "reg_record_type": entity, "reg_records": record},
                })  # fmt: skip
        return events

    async def _page(self, conn: asyncpg.Connection, row: asyncpg.Record) -> Page | None:
        """The row's next page; None once every page is done."""
        start, end = row["next_item"], row["next_item"] + self.page_households
        if row["household_ids"] is not None:
            ids, at, length = row["household_ids"][start:end], 0, len(row["household_ids"])
        else:
            held = await decree_assembly.next_held_slice(
                conn, row["decree_number"], row["next_chunk"], CHANGED, start, self.page_households
            )
            if held is None:  # kept chunks are never removed: past the last one
                return None
            ids, at, length = held.items, held.chunk_index, held.chunk_length
        if start >= length:
            return None
        # A row recorded before pages were counted has its ids in hand.
        pages = row["pages"] or pages_of([length], self.page_households)
        following = (at, end) if end < length else (at + 1, 0)
        return Page(ids, row["pages_done"] + 1, pages, *following)

    async def _handle(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        if row["sub_status"] != "subscribe":
            await conn.execute("UPDATE dci_notifications SET delivered_at = now(), last_error = 'unsubscribed' "
                               "WHERE id = $1", row["id"])  # fmt: skip
            return
        page = await self._page(conn, row)
        if page is None:
            await conn.execute("UPDATE dci_notifications SET delivered_at = now() WHERE id = $1", row["id"])
            return
        error: str | None = None
        try:
            events = await self._events(row, page.household_ids)
        except env.DciError as exc:
            events, error = [], exc.code
        if error is None and not events and not (page.last and row["pages_sent"] > 0):
            await self._page_done(conn, row, page, sent=False)  # nothing for this subscription here
            return
        transaction_id = f"{row['subscription_code']}:{row['decree_number']}"
        header: dict[str, Any] = {}
        if error is None:
            message = {"transaction_id": transaction_id, "notify_event": events}
            header = env.callback_header(action="notify", sender_id=self.registry_id, receiver_id=row["agency"],
                                         total_count=len(events), completed_count=len(events))  # fmt: skip
            header["meta"] = {"subscription_code": row["subscription_code"], "decree_number": row["decree_number"],
                              "page": page.number, "pages": page.pages}  # fmt: skip
            # Serialised once: the canonical text the signature's digest is taken over is the body.
            body = self.key.signed_body(self.registry_id, header, message)
            try:
                await self.guard.check(notify_uri(row["callback_uri"]))
                answer = await self.http.post(
                    notify_uri(row["callback_uri"]), content=body, headers=JSON_BODY
                )
                if answer.status_code >= 300:
                    error = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                error = refusal_code(exc) or type(exc).__name__
            except CallbackRefused as exc:  # its name points at an internal address now: not called
                error = exc.code
        if error is None:
            await self._page_done(conn, row, page, sent=True)
        else:
            await conn.execute(
                """UPDATE dci_notifications SET attempts = attempts + 1, last_error = $2,
                       next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1""",
                row["id"], error, backoff(row["attempts"] + 1),
            )  # fmt: skip
            log.warning("dci notify failed", subscription=row["subscription_code"], error=error)
        if header:  # a notify went out (the last page may carry no record)
            await conn.execute(
                """INSERT INTO dci_exchanges (direction, path, agency, sender_id, message_id, transaction_id,
                       action, outcome, records, detail)
                   VALUES ('out', $1, $2, $3, $4, $5, 'notify', $6, $7, $8)""",
                notify_uri(row["callback_uri"])[:500], row["agency"], self.registry_id, header.get("message_id"),
                transaction_id, "succ" if error is None else "failed", len(events), error,
            )  # fmt: skip

    async def _page_done(
        self, conn: asyncpg.Connection, row: asyncpg.Record, page: Page, *, sent: bool
    ) -> None:
        """The page taken (or skipped): the next is due now, with attempts of its own; the last one
        delivers the notification."""
        await conn.execute(
            """UPDATE dci_notifications SET next_chunk = $2, next_item = $3, pages_done = pages_done + 1,
                   pages_sent = pages_sent + $4::int, attempts = 0, last_error = NULL, next_attempt_at = now(),
                   delivered_at = CASE WHEN $5 THEN now() END WHERE id = $1""",
            row["id"], page.next_chunk, page.next_item, int(sent), page.last,
        )  # fmt: skip
