"""The asynchronous side: transactions taken by ``/registry/search``, ``/subscribe``,
``/unsubscribe`` and ``/txn/status`` are answered here and their results POSTed, signed, to the
requester's ``sender_uri`` (the ``on-*`` endpoint), retried with backoff until it takes them.

The worker takes due rows with ``FOR UPDATE SKIP LOCKED``, so several processes share the work
without sending one twice; a result is computed once and kept (``response``), so a retry sends the
same message and ``txn/status`` can show it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from typing import Any

import asyncpg
import httpx
import structlog

from dtks_dci import search
from dtks_dci.adapters.registry import RegistryClient
from dtks_dci.domain import envelope as env
from dtks_dci.domain.grants import Grant
from dtks_dci.domain.signing import SigningKey
from dtks_runtime.callback_guard import CallbackGuard, CallbackRefused
from dtks_runtime.db import TRANSIENT_DATABASE_ERRORS
from dtks_runtime.guarded_http import refusal_code

log = structlog.get_logger(__name__)
JSON_BODY = {"content-type": "application/json"}
TRANSIENT: tuple[type[BaseException], ...] = (*TRANSIENT_DATABASE_ERRORS, httpx.TransportError)
ON_ACTION = {"search": "on-search", "subscribe": "on-subscribe", "unsubscribe": "on-unsubscribe",
             "txn-status": "txn-on-status"}  # fmt: skip
RESULT_KEY = {"search": "search_response", "subscribe": "subscribe_response"}


def backoff(attempts: int) -> float:
    return float(min(300, 2 ** min(attempts, 8)))


def completed(kind: str, message: dict[str, Any]) -> tuple[int, int]:
    """(total_count, completed_count) of a result message, for its callback header."""
    items = message.get(RESULT_KEY.get(kind, ""))
    if isinstance(items, list):
        return len(items), sum(1 for i in items if i.get("status") in (env.SUCCEEDED, env.REJECTED))
    return 1, 1


class CallbackWorker:
    def __init__(self, pool: asyncpg.Pool, http: httpx.AsyncClient, registry: RegistryClient, key: SigningKey,
                 registry_id: str, max_matches: int, max_attempts: int, poll_seconds: float,
                 guard: CallbackGuard) -> None:  # fmt: skip
        self.pool, self.http, self.registry, self.key = pool, http, registry, key
        self.registry_id, self.max_matches = registry_id, max_matches
        self.max_attempts, self.poll_seconds = max_attempts, poll_seconds
        # Checked again before each call: the name may point elsewhere now (DNS rebinding).
        self.guard = guard
        self.heartbeat: Callable[[], None] = lambda: None
        self.stuck_after = 120.0
        # Message ids are kept past the staleness window (age limit plus clock skew, with margin).
        self.keep_ids_seconds = 3600.0

    async def run(self, stop: asyncio.Event) -> None:
        pruned = 0.0
        while not stop.is_set():
            self.heartbeat()
            try:
                if time.monotonic() - pruned > 60:
                    await self.prune()
                    pruned = time.monotonic()
                if await self.once():
                    continue
            except TRANSIENT as exc:
                # The database or a connection away for a moment (a restart): the callbacks wait in
                # their table for the next round. If this task died, no callback would go out again
                # until the process restarts.
                log.warning("callback round failed; retrying", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.poll_seconds)

    async def prune(self) -> None:
        """Forget message ids too old to be replayed: such a message is refused as stale anyway."""
        async with self.pool.acquire() as conn:
            await conn.execute(
                "DELETE FROM dci_messages WHERE message_ts < now() - make_interval(secs => $1)",
                self.keep_ids_seconds,
            )

    async def once(self) -> int:
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                """SELECT * FROM dci_transactions
                   WHERE delivered_at IS NULL AND callback_uri IS NOT NULL AND attempts < $1
                     AND next_attempt_at <= now()
                   ORDER BY next_attempt_at LIMIT 10 FOR UPDATE SKIP LOCKED""",
                self.max_attempts,
            )
            for row in rows:
                await self._handle(conn, row)
        return len(rows)

    async def _handle(self, conn: asyncpg.Connection, row: asyncpg.Record) -> None:
        """Answer one taken transaction at its callback: search if not yet answered, sign, send, then
        record the outcome and the exchange.

        Over 60 lines because the attempt, its bookkeeping (attempts, backoff) and the exchange record
        share the one row and connection; each failure path writes both."""
        kind = row["kind"]
        message = json.loads(row["response"]) if row["response"] is not None else None
        if message is None:  # only searches are answered here; the others were answered when taken
            grant = Grant.from_json(json.loads(row["grant_json"]))
            try:
                items = await search.answer(
                    json.loads(row["request"]), grant, self.registry, self.max_matches
                )
            except env.DciError as exc:  # the registry is away: try again later, the worker goes on
                await conn.execute(
                    """UPDATE dci_transactions SET attempts = attempts + 1, last_error = $2,
                           next_attempt_at = now() + make_interval(secs => $3) WHERE correlation_id = $1""",
                    row["correlation_id"], exc.code, backoff(row["attempts"] + 1),
                )  # fmt: skip
                return
            message = {"transaction_id": row["transaction_id"], "correlation_id": row["correlation_id"],
                       "search_response": items}  # fmt: skip
            await conn.execute(
                "UPDATE dci_transactions SET response = $2, status = 'succ' WHERE correlation_id = $1",
                row["correlation_id"], json.dumps(message),
            )  # fmt: skip
        total, done = completed(kind, message)
        header = env.callback_header(action=ON_ACTION[kind], sender_id=self.registry_id, receiver_id=row["agency"],
                                     total_count=total, completed_count=done)  # fmt: skip
        body = self.key.signed_body(self.registry_id, header, message)  # serialised once (see signed_body)
        outcome, error = "succ", None
        try:
            await self.guard.check(row["callback_uri"])
            answer = await self.http.post(row["callback_uri"], content=body, headers=JSON_BODY)
            if answer.status_code >= 300:
                outcome, error = "failed", f"HTTP {answer.status_code}"
        except httpx.HTTPError as exc:
            outcome, error = "failed", refusal_code(exc) or type(exc).__name__
        except CallbackRefused as exc:  # its name points at an internal address now: not called
            outcome, error = "failed", exc.code
        if error is None:
            await conn.execute("UPDATE dci_transactions SET delivered_at = now(), attempts = attempts + 1 "
                               "WHERE correlation_id = $1", row["correlation_id"])  # fmt: skip
        else:
            await conn.execute(
                """UPDATE dci_transactions SET attempts = attempts + 1, last_error = $2,
                       next_attempt_at = now() + make_interval(secs => $3) WHERE correlation_id = $1""",
                row["correlation_id"], error, backoff(row["attempts"] + 1),
            )  # fmt: skip
        records = sum(
            len(i.get("data", {}).get("reg_records", [])) for i in message.get("search_response", [])
        )
        await conn.execute(
            """INSERT INTO dci_exchanges (direction, path, agency, sender_id, message_id, transaction_id,
                   correlation_id, action, http_status, outcome, records, detail)
               VALUES ('out', $1, $2, $3, $4, $5, $6, $7, NULL, $8, $9, $10)""",
            row["callback_uri"][:500], row["agency"], self.registry_id, header["message_id"], row["transaction_id"],
            row["correlation_id"], header["action"], outcome, records, error,
        )  # fmt: skip
        if error:
            log.warning("dci callback failed", correlation_id=row["correlation_id"], error=error)
