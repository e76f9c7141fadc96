"""The two rows every DCI request writes (its message id, against replays, and its exchange-log
entry), written for concurrent requests in one statement each.

Under 50 concurrent agencies, each of these statements written alone was a round trip and a commit
of its own, and the round trips were the largest share of the adapter's CPU per search (py-spy:
about a quarter of it in asyncpg's send and receive for three statements per search), beside the
commits PostgreSQL made. Here a row that arrives while a statement of its kind is running waits, and
everything waiting goes in the next statement when it ends; a row that finds none running goes at
once, so a quiet service waits for nothing. A request goes on only once the statement holding its
row has committed (each statement commits on its own), so nothing is answered before it is
recorded, as before; a statement that fails fails each request of its group.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Generic, TypeVar

import asyncpg

Row = TypeVar("Row")
Result = TypeVar("Result")


class Grouped(Generic[Row, Result]):
    """Rows of concurrent callers written ``max_batch`` at a time by ``write`` (one result per row, in
    order), at most ``max_inflight`` statements at once."""

    def __init__(
        self,
        write: Callable[[list[Row]], Awaitable[Sequence[Result]]],
        *,
        max_inflight: int = 1,
        max_batch: int = 500,
    ) -> None:
        self._write, self.max_inflight, self.max_batch = write, max_inflight, max_batch
        self._queue: deque[tuple[Row, asyncio.Future[Result]]] = deque()
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.statements = 0  # for tests: statements written

    async def __call__(self, row: Row) -> Result:
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._queue.append((row, future))
        self._start()
        return await future

    def _start(self) -> None:
        while self._queue and self._inflight < self.max_inflight:
            group = [self._queue.popleft() for _ in range(min(self.max_batch, len(self._queue)))]
            self._inflight += 1
            task = asyncio.create_task(self._run(group), name="dci-grouped-write")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _run(self, group: list[tuple[Row, asyncio.Future[Result]]]) -> None:
        try:
            results = await self._write([row for row, _ in group])
            self.statements += 1
        except Exception as exc:
            for _, future in group:
                if not future.done():
                    future.set_exception(exc)
            return
        finally:
            self._inflight -= 1
            self._start()
        for (_, future), result in zip(group, results, strict=True):
            if not future.done():  # the client went away: its row stands all the same
                future.set_result(result)


MessageSeen = tuple[str, str, dt.datetime]  # sender_id, message_id, message_ts


class RequestWrites:
    """``first_time(sender, message_id, ts)``: is this message new (recorded now) or a replay;
    ``log(row)``: an inbound exchange-log entry (the columns of :data:`LOG_COLUMNS`)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self.first_time = Grouped(self._record_messages)
        self.log = Grouped(self._write_log)

    async def _record_messages(self, rows: list[MessageSeen]) -> list[bool]:
        inserted = await self._pool.fetch(
            """INSERT INTO dci_messages (sender_id, message_id, message_ts)
               SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
               ON CONFLICT DO NOTHING RETURNING sender_id, message_id""",
            [r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows],
        )  # fmt: skip
        new = {(r["sender_id"], r["message_id"]) for r in inserted}
        fresh = []
        for sender, message_id, _ in rows:
            key = (sender, message_id)
            fresh.append(key in new)
            new.discard(key)  # the same message twice in one group: the second is the replay
        return fresh

    async def _write_log(self, rows: list[tuple[Any, ...]]) -> list[None]:
        columns = [list(c) for c in zip(*rows, strict=True)]
        # In the group's order (ids follow it), as if each had been written alone.
        await self._pool.execute(
            f"""INSERT INTO dci_exchanges (direction, {", ".join(LOG_COLUMNS)})
                SELECT 'in', p, a, s, m, t, c, ac, h, o, r, d
                FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
                            $7::text[], $8::int[], $9::text[], $10::int[], $11::text[])
                     WITH ORDINALITY AS x(p, a, s, m, t, c, ac, h, o, r, d, n)
                ORDER BY n""",
            *columns,
        )
        return [None] * len(rows)


LOG_COLUMNS = ("path", "agency", "sender_id", "message_id", "transaction_id", "correlation_id", "action",
               "http_status", "outcome", "records", "detail")  # fmt: skip
