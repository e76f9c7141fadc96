"""Notify: at each decree, what changed is sent to every subscription it matches.

The registry's decree is consumed effectively once (inbox and effect in one transaction, provenance
verified): it records one ``dci_notifications`` row per active subscription. The notify worker reads
the decree's changed households through the registry's API, keeps the ones the subscription's
filter and the agency's grant allow, and POSTs them as the standard's ``notify`` message, signed,
retried until taken. A decree that changed nothing a subscription may see is recorded as delivered
with nothing sent.

A decree in one event names its changed households in the row. A decree published in chunks (#21)
is notified in pages, so that neither this service nor the agency holds a national decree at once:
its chunks are kept (dtks_runtime.decree_assembly, which also checks the decree whole before its
manifest reaches ``on_registry_event``), and each chunk of changed households is one page, read
from them when its turn comes. Pages go out in order, each once taken; one with nothing for the
subscription is skipped, but the last is always sent once an earlier one was, so that the agency
sees ``meta.page == meta.pages`` and knows the decree's notify is complete.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
import httpx
import structlog

from dtks_contracts.envelope import EventEnvelope
from dtks_contracts.events.determination_chunks import DeterminationChunk, DeterminationManifest
from dtks_contracts.events.registry import DeterminationIssued
from dtks_dci.adapters.registry import RegistryClient
from dtks_dci.callbacks import backoff
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


# The lists of households a decree changed: a page for each of their chunks.
CHANGED = ("registered", "corrected", "deactivated")


async def on_registry_event(conn: asyncpg.Connection, event: EventEnvelope) -> None:
    if event.event_type == DeterminationManifest.event_type:
        await _record_paged(conn, event.payload_as(DeterminationManifest), event)
        return
    if event.event_type != DeterminationIssued.event_type:
        return
    decree = event.payload_as(DeterminationIssued)
    changed = [*decree.registered, *decree.corrected, *decree.deactivated]
    if not changed:
        return
    await conn.execute(
        """INSERT INTO dci_notifications (subscription_code, decree_number, household_ids)
           SELECT code, $1, $2 FROM dci_subscriptions WHERE status = 'subscribe' AND created_at <= $3
           ON CONFLICT (subscription_code, decree_number) DO NOTHING""",
        decree.decree_number, changed, event.occurred_at,
    )  # fmt: skip
    # A subscription hears of the decrees issued after it was made: a decree this consumer reads late
    # (it was issued before the agency subscribed) is not a change since subscribing.


async def _record_paged(
    conn: asyncpg.Connection, manifest: DeterminationManifest, event: EventEnvelope
) -> None:
    pages, changed = await decree_assembly.held_items(conn, manifest.decree_number, CHANGED)
    if not changed:
        return
    await conn.execute(
        """INSERT INTO dci_notifications (subscription_code, decree_number, household_ids, next_chunk, pages)
           SELECT code, $1, NULL, 0, $2 FROM dci_subscriptions WHERE status = 'subscribe' AND created_at <= $3
           ON CONFLICT (subscription_code, decree_number) DO NOTHING""",
        manifest.decree_number, pages, event.occurred_at,
    )  # fmt: skip


def notify_uri(callback_uri: str) -> str:
    """Where notify goes: the subscriber's /registry/notify beside the on-subscribe it gave (the
    standard's two paths are siblings); a sender_uri of another shape gets the notify itself."""
    head, _, last = callback_uri.rstrip("/").rpartition("/")
    return f"{head}/notify" if last == "on-subscribe" else callback_uri


class NotifyWorker:
    def __init__(self, pool: asyncpg.Pool, http: httpx.AsyncClient, registry: RegistryClient, key: SigningKey,
                 registry_id: str, max_attempts: int, poll_seconds: float, guard: CallbackGuard) -> None:  # fmt: skip
        self.pool, self.http, self.registry, self.key = pool, http, registry, key
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
        for household in await self.registry.households_by_id(household_ids):
            if not grant.may_read(household) or not matches(query, household):
                continue
            for record in records_for([household], entity, grant.fields, nik=query.nik):
                events.append({
                    "reference_id": env.new_id(), "timestamp": env.timestamp(), "locale": "eng",
                    "data": {"version": "1.0.0", "reg_type": REG_TYPE, "reg_event_type": "REGISTER",
                             "reg_record_type": entity, "reg_records": record},
                })  # fmt: skip
        return events

    async def _handle(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        if row["sub_status"] != "subscribe":
            await conn.execute("UPDATE dci_notifications SET delivered_at = now(), last_error = 'unsubscribed' "
                               "WHERE id = $1", row["id"])  # fmt: skip
            return
        page: DeterminationChunk | None = None
        if row["household_ids"] is None:
            page = await decree_assembly.next_held_chunk(
                conn, row["decree_number"], row["next_chunk"], CHANGED
            )
            if page is None:  # every page done (kept chunks are never removed, so none goes missing)
                await conn.execute(
                    "UPDATE dci_notifications SET delivered_at = now() WHERE id = $1", row["id"]
                )
                return
        error: str | None = None
        try:
            events = await self._events(row, row["household_ids"] if page is None else page.items)
        except env.DciError as exc:
            events, error = [], exc.code
        meta: dict[str, Any] = {
            "subscription_code": row["subscription_code"],
            "decree_number": row["decree_number"],
        }
        last = page is None or page.chunk_index + 1 >= row["pages"]
        if page is not None:
            meta |= {"page": page.chunk_index + 1, "pages": row["pages"]}
            if not events and error is None and not (last and row["pages_sent"] > 0):
                await self._page_done(conn, row, page, last, sent=False)
                return
        header: dict[str, Any] = {}
        if error is None and (events or page is not None):
            message = {
                "transaction_id": f"{row['subscription_code']}:{row['decree_number']}",
                "notify_event": events,
            }
            header = env.callback_header(action="notify", sender_id=self.registry_id, receiver_id=row["agency"],
                                         total_count=len(events), completed_count=len(events))  # fmt: skip
            header["meta"] = meta
            body = {
                "signature": self.key.sign(self.registry_id, header, message),
                "header": header,
                "message": message,
            }
            try:
                await self.guard.check(notify_uri(row["callback_uri"]))
                answer = await self.http.post(notify_uri(row["callback_uri"]), json=body)
                if answer.status_code >= 300:
                    error = f"HTTP {answer.status_code}"
            except httpx.HTTPError as exc:
                error = refusal_code(exc) or type(exc).__name__
            except CallbackRefused as exc:  # its name points at an internal address now: not called
                error = exc.code
        if error is None and page is not None:
            await self._page_done(conn, row, page, last, sent=True)
        elif error is None:
            await conn.execute("UPDATE dci_notifications SET delivered_at = now(), attempts = attempts + 1 "
                               "WHERE id = $1", row["id"])  # fmt: skip
        else:
            await conn.execute(
                """UPDATE dci_notifications SET attempts = attempts + 1, last_error = $2,
                       next_attempt_at = now() + make_interval(secs => $3) WHERE id = $1""",
                row["id"], error, backoff(row["attempts"] + 1),
            )  # fmt: skip
            log.warning("dci notify failed", subscription=row["subscription_code"], error=error)
        if header:  # a notify went out (a paged decree's last page may carry no record)
            await conn.execute(
                """INSERT INTO dci_exchanges (direction, path, agency, sender_id, message_id, transaction_id,
                       action, outcome, records, detail)
                   VALUES ('out', $1, $2, $3, $4, $5, 'notify', $6, $7, $8)""",
                notify_uri(row["callback_uri"])[:500], row["agency"], self.registry_id, header.get("message_id"),
                f"{row['subscription_code']}:{row['decree_number']}", "succ" if error is None else "failed",
                len(events), error,
            )  # fmt: skip

    async def _page_done(
        self,
        conn: asyncpg.Connection,
        row: asyncpg.Record,
        page: DeterminationChunk,
        last: bool,
        *,
        sent: bool,
    ) -> None:
        """The page taken (or skipped, with nothing for the subscription): the next one is due now,
        with its own attempts; the last one delivers the notification."""
        await conn.execute(
            """UPDATE dci_notifications SET next_chunk = $2, pages_sent = pages_sent + $3::int, attempts = 0,
                   last_error = NULL, delivered_at = CASE WHEN $4 THEN now() END WHERE id = $1""",
            row["id"], page.chunk_index + 1, int(sent), last,
        )  # fmt: skip
