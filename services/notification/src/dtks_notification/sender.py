"""The sender: claims due deliveries, sends them, records every attempt and its event.

Each round runs in one transaction: claim up to a batch of due deliveries (``FOR UPDATE SKIP
LOCKED``, so several senders, in one process or many, never take the same one), send them
concurrently, then record the attempts, the new state of each delivery and one
``notification.delivered`` or ``notification.failed`` event per attempt (through the outbox), and
commit. A crash before the commit leaves the deliveries pending with their attempt uncounted: the
next sender sends them again with the same delivery id, which is what receivers deduplicate on.
So a delivery reaches its receiver at least once and never under two ids.

The workers are woken by NOTIFY on a connection of their own (LISTEN), and look anyway every
``poll_seconds``. That connection is kept: lost (PostgreSQL restarted, say), it is opened again
with backoff, and /healthz shows it (``delivery_listener``); without it deliveries wait for the poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import asyncpg

from dtks_contracts.events import NotificationDelivered, NotificationFailed
from dtks_contracts.vocabulary.notifications import NotificationChannel
from dtks_notification.adapters.channels import CONNECTION_FAILED, Channel, DeliveryFailed, Outgoing
from dtks_notification.adapters.records import webhook_body
from dtks_notification.adapters.schema import DUE_CHANNEL
from dtks_notification.domain.retry import RetryPolicy
from dtks_runtime.event_store import Causation, NewEvent, StreamAppend
from dtks_runtime.telemetry import get_logger
from dtks_runtime.unit_of_work import UnitOfWork, UnitsOfWork

log = get_logger(__name__)

CLAIM_DUE = """
SELECT d.delivery_id, d.notification_id, d.channel, d.recipient, d.attempts, d.attempt_limit,
       d.subscription_id, n.title, n.body, n.related_event_id, n.correlation_id,
       s.callback_url, s.secret, s.deleted_at
FROM deliveries d
JOIN notifications n ON n.notification_id = d.notification_id
LEFT JOIN subscriptions s ON s.subscription_id = d.subscription_id
WHERE d.status = 'pending' AND d.next_attempt_at <= now()
ORDER BY d.next_attempt_at
LIMIT $1
FOR UPDATE OF d SKIP LOCKED
"""

MAX_ERROR = 2000  # the contract's limit for an error in notification.failed
# The listener's connection: opened again after 0.5, 1, 2 ... up to 10 s while PostgreSQL is away,
# and checked with a query when it has been quiet this long (a peer gone without a word is noticed).
LISTEN_RETRY_FIRST, LISTEN_RETRY_CAP = 0.5, 10.0
LISTEN_KEEPALIVE_SECONDS = 15.0
# /healthz turns degraded when no listener has been connected for this long: deliveries still go
# out, but only on the poll.
LISTEN_GRACE_SECONDS = 60.0


# The kept envelopes of a round's agency deliveries, read once per event however many agencies it
# goes to: a decree's chunk is some 250 KB, and a round claims hundreds of deliveries.
KEPT_ENVELOPES = "SELECT event_id, envelope FROM agency_envelopes WHERE event_id = ANY($1::uuid[])"


def _body(row: asyncpg.Record, envelopes: Mapping[uuid.UUID, str]) -> str:
    """What the delivery carries: its notification's text, or for an agency the event's kept
    envelope wrapped in the delivery's ids (deliveries decided before envelopes were kept once
    carry their whole body in the notification)."""
    if row["body"] is not None:
        return str(row["body"])
    envelope = envelopes.get(row["related_event_id"])
    if envelope is None:  # cannot happen: the envelope is kept in the notices' transaction
        raise DeliveryFailed(f"the envelope of event {row['related_event_id']} is not kept")
    return webhook_body(row["delivery_id"], row["subscription_id"], envelope)


@dataclass(frozen=True)
class Outcome:
    error: str | None
    duration_ms: int


class Sender:
    def __init__(
        self,
        *,
        pool: asyncpg.Pool,
        units: UnitsOfWork,
        database_url: str,
        channels: Mapping[NotificationChannel, Channel],
        policy: RetryPolicy,
        send_timeout: float,
        batch_size: int = 200,
        workers: int = 2,
        poll_seconds: float = 1.0,
    ) -> None:
        # The pool for the idle loop's reads; every round writes through a unit of work.
        self.pool, self.units, self.database_url = pool, units, database_url
        self.channels, self.policy, self.send_timeout = channels, policy, send_timeout
        self.batch_size, self.workers, self.poll_seconds = batch_size, workers, poll_seconds
        self.sent = 0
        self._wake = asyncio.Event()
        self.heartbeat: Callable[[], None] = lambda: None
        self._turned: set[int] = set()  # workers that turned since the last heartbeat
        self.listening = False
        self.listener_connects = 0
        self._not_listening_since = time.monotonic()

    @property
    def stuck_after(self) -> float:
        """Seconds a turn of every worker may take: a round's sends, its records, one idle wait."""
        return max(60.0, 3 * self.send_timeout + self.poll_seconds)

    async def run(self, stop: asyncio.Event) -> None:
        """Send until ``stop`` is set; woken by NOTIFY when deliveries are decided. A worker or the
        listener that fails ends the others and the run, with its error (a supervised task)."""
        parts = [asyncio.create_task(self._listen(stop), name="delivery-listener")]
        parts += [
            asyncio.create_task(self._work(stop, n), name=f"delivery-worker-{n}") for n in range(self.workers)
        ]
        try:
            done, _ = await asyncio.wait(parts, return_when=asyncio.FIRST_EXCEPTION)
            for part in done:
                error = None if part.cancelled() else part.exception()
                if error is not None:
                    raise error
        finally:
            for part in parts:
                part.cancel()
            await asyncio.gather(*parts, return_exceptions=True)

    async def _listen(self, stop: asyncio.Event) -> None:
        """Keep a LISTEN connection open until ``stop``, opening it again whenever it is lost."""
        retry_in = LISTEN_RETRY_FIRST
        while not stop.is_set():
            try:
                listener = await asyncpg.connect(self.database_url, timeout=10)
            except Exception as exc:
                log.warning("delivery listener cannot connect; retrying", error=repr(exc), retry_in=retry_in)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), retry_in)
                retry_in = min(retry_in * 2, LISTEN_RETRY_CAP)
                continue
            lost = asyncio.Event()
            listener.add_termination_listener(lambda _, lost=lost: lost.set())
            try:
                await listener.add_listener(DUE_CHANNEL, lambda *_: self._wake.set())
                self.listening, retry_in = True, LISTEN_RETRY_FIRST
                self.listener_connects += 1
                if self.listener_connects > 1:
                    log.info("delivery listener connected again", connects=self.listener_connects)
                self._wake.set()  # what was decided while nobody listened is due now
                while not stop.is_set() and not lost.is_set():
                    ended = asyncio.ensure_future(stop.wait()), asyncio.ensure_future(lost.wait())
                    done, _ = await asyncio.wait(
                        ended, timeout=LISTEN_KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
                    )
                    for waiter in ended:
                        waiter.cancel()
                    if not done:
                        await listener.execute("SELECT 1", timeout=10)
            except Exception as exc:
                log.warning("delivery listener lost; connecting again", error=repr(exc))
            finally:
                if self.listening:
                    self.listening, self._not_listening_since = False, time.monotonic()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(listener.close(), 5)
            if lost.is_set() and not stop.is_set():
                log.warning("delivery listener's connection closed; connecting again")

    async def listener_health(self) -> tuple[bool, dict[str, object]]:
        """The listener's part of /healthz: connected, or not for less than the grace period."""
        silent = 0.0 if self.listening else time.monotonic() - self._not_listening_since
        return silent <= LISTEN_GRACE_SECONDS, {
            "listening": self.listening,
            "connects": self.listener_connects,
            "seconds_without_listener": round(silent, 1),
        }

    def _turn(self, worker: int) -> None:
        # One heartbeat once every worker has turned: a worker stuck in a round is not hidden by
        # the others' turns.
        self._turned.add(worker)
        if len(self._turned) >= self.workers:
            self._turned.clear()
            self.heartbeat()

    async def _work(self, stop: asyncio.Event, worker: int = 0) -> None:
        while not stop.is_set():
            self._turn(worker)
            try:
                claimed = await self.run_once()
            except Exception as exc:  # the database went away, say: keep the loop alive, try again
                log.warning("sender round failed; retrying", error=repr(exc))
                claimed = 0
            if claimed < self.batch_size:
                await self._idle(stop)

    async def _idle(self, stop: asyncio.Event) -> None:
        timeout = self.poll_seconds
        with contextlib.suppress(Exception):
            async with self.pool.acquire() as conn:
                due_in = await conn.fetchval(
                    """SELECT extract(epoch FROM min(next_attempt_at) - now())::float8
                       FROM deliveries WHERE status = 'pending'"""
                )
            if due_in is not None:
                timeout = min(max(due_in, 0.0), self.poll_seconds)
        if timeout <= 0:
            return
        self._wake.clear()
        waits = [asyncio.ensure_future(self._wake.wait()), asyncio.ensure_future(stop.wait())]
        await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for w in waits:
            w.cancel()

    async def run_once(self) -> int:
        """One round: claim, send, record, commit. Returns how many deliveries it attempted."""
        async with self.units() as uow:
            rows = await uow.conn.fetch(CLAIM_DUE, self.batch_size)
            if not rows:
                return 0
            wrapped = {r["related_event_id"] for r in rows if r["body"] is None}
            kept = await uow.conn.fetch(KEPT_ENVELOPES, list(wrapped)) if wrapped else []
            envelopes = {k["event_id"]: k["envelope"] for k in kept}
            outcomes = await asyncio.gather(*(self._attempt(r, envelopes) for r in rows))
            await self._record(uow, rows, outcomes)
        self.sent += len(rows)
        return len(rows)

    async def _attempt(self, row: asyncpg.Record, envelopes: Mapping[uuid.UUID, str]) -> Outcome:
        channel_name = NotificationChannel(row["channel"])
        started = time.perf_counter()
        error: str | None = None
        channel = self.channels.get(channel_name)
        try:
            if channel is None:
                raise DeliveryFailed(f"the {channel_name.value} channel is not configured on this service")
            deleted = row["deleted_at"] is not None
            outgoing = Outgoing(
                delivery_id=row["delivery_id"],
                notification_id=row["notification_id"],
                channel=channel_name,
                recipient=row["recipient"],
                title=row["title"],
                body=_body(row, envelopes),
                attempt=row["attempts"] + 1,
                callback_url=None if deleted else row["callback_url"],
                secret=None if deleted else row["secret"],
            )
            await asyncio.wait_for(channel.send(outgoing), self.send_timeout)
        except DeliveryFailed as exc:
            error = str(exc)
        except TimeoutError:
            # A webhook's log says no more of a timeout than of any failed connection (see channels).
            webhook = channel_name is NotificationChannel.WEBHOOK
            error = CONNECTION_FAILED if webhook else f"no answer within {self.send_timeout:g} s"
        except Exception as exc:  # a fault in a channel must not stop the others
            error = f"{type(exc).__name__}: {exc}"
        return Outcome(error, int((time.perf_counter() - started) * 1000))

    async def _record(
        self, uow: UnitOfWork, rows: Sequence[asyncpg.Record], outcomes: Sequence[Outcome]
    ) -> None:
        ids, statuses, attempts, delays, errors = [], [], [], [], []
        events: dict[str, list[NewEvent]] = defaultdict(list)
        causes: dict[str, Causation] = {}
        for row, outcome in zip(rows, outcomes, strict=True):
            attempt = row["attempts"] + 1
            common = {
                "notification_id": row["notification_id"],
                "delivery_id": row["delivery_id"],
                "channel": row["channel"],
                "recipient": row["recipient"],
                "attempt": attempt,
                "related_event_id": row["related_event_id"],
            }
            if outcome.error is None:
                status, delay = "delivered", 0.0
                events[row["notification_id"]].append(NewEvent.of(NotificationDelivered(**common)))
            else:
                dead = self.policy.exhausted(attempt, row["attempt_limit"])
                status, delay = ("dead", 0.0) if dead else ("pending", self.policy.delay_after(attempt))
                error = outcome.error[:MAX_ERROR]
                events[row["notification_id"]].append(
                    NewEvent.of(NotificationFailed(**common, error=error, will_retry=not dead))
                )
                log.info("delivery failed", delivery_id=row["delivery_id"], attempt=attempt, status=status)
            causes[row["notification_id"]] = Causation(
                correlation_id=row["correlation_id"], causation_id=str(row["related_event_id"])
            )
            ids.append(row["delivery_id"])
            statuses.append(status)
            attempts.append(attempt)
            delays.append(delay)
            errors.append(outcome.error)
        await uow.conn.execute(
            """UPDATE deliveries d
               SET status = x.s, attempts = x.a, last_error = x.e,
                   next_attempt_at = now() + x.delay * interval '1 second',
                   delivered_at = CASE WHEN x.s = 'delivered' THEN now() END
               FROM unnest($1::text[], $2::text[], $3::int[], $4::float8[], $5::text[]) AS x(id, s, a, delay, e)
               WHERE d.delivery_id = x.id""",
            ids,
            statuses,
            attempts,
            delays,
            errors,
        )
        await uow.conn.execute(
            """INSERT INTO delivery_attempts (delivery_id, attempt, outcome, error, duration_ms)
               SELECT id, a, CASE WHEN e IS NULL THEN 'delivered' ELSE 'failed' END, e, ms
               FROM unnest($1::text[], $2::int[], $3::text[], $4::int[]) AS x(id, a, e, ms)""",
            ids,
            attempts,
            errors,
            [o.duration_ms for o in outcomes],
        )
        await self._append_events(uow, events, causes)

    async def _append_events(
        self, uow: UnitOfWork, events: dict[str, list[NewEvent]], causes: dict[str, Causation]
    ) -> None:
        # Each notification is a stream; its version lives on its row, locked in id order so two
        # senders recording attempts of the same notification (email and SMS) take turns.
        rows = await uow.conn.fetch(
            """SELECT notification_id, event_version FROM notifications
               WHERE notification_id = ANY($1::text[]) ORDER BY notification_id FOR NO KEY UPDATE""",
            list(events),
        )
        versions = [(r["notification_id"], r["event_version"]) for r in rows]
        await uow.append_many(
            [
                StreamAppend("notification", nid, version, events[nid], causes[nid])
                for nid, version in versions
            ],
            causation=Causation(),
        )
        versions = [(nid, version + len(events[nid])) for nid, version in versions]
        await uow.conn.execute(
            """UPDATE notifications n SET event_version = x.v
               FROM unnest($1::text[], $2::int[]) AS x(id, v) WHERE n.notification_id = x.id""",
            [v[0] for v in versions],
            [v[1] for v in versions],
        )
