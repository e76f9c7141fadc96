"""Group commit: concurrent first submissions written in one transaction, each answered after it.

Under a hundred concurrent clients, a submission written alone costs its round trips and a
commit (a WAL flush) of its own, and the service and PostgreSQL spend more on that machinery than on
the proposal. Here a submission that arrives while ``max_inflight`` transactions are already running
waits in a queue; when one of them ends, everything queued (up to ``max_batch``) goes into the next
transaction. This module only batches: the group is written by the one entry function of every
first submission (:func:`dtks_proposal.entry.enter_submissions`, through
:func:`~dtks_proposal.handlers.write_entries`), whose statements do not grow with the group. When the
service is quiet, a submission finds no transaction running and goes alone at once, so nobody
waits for a group to fill; while one runs, another starts only once ``min_batch`` are waiting.

Each request is answered only after the transaction holding its submission committed, by the rules
of the entry function (the same for a submission alone). Two submissions with the same key or
proposal id never share a group: the later one waits for the next. If the group loses a race (a
proposal id or key taken meanwhile by a request on another connection) or fails in any other way,
it is rolled back whole and every submission of it is decided again alone
(:func:`~dtks_proposal.handlers.enter_alone`), which is the reference behaviour.
"""

from __future__ import annotations

import asyncio
from collections import deque

from dtks_proposal.answers import Answer
from dtks_proposal.deps import ProposalDeps
from dtks_proposal.entry import Entry, Outcome
from dtks_proposal.handlers import LostARace, enter_alone, write_entries
from dtks_runtime.telemetry import get_logger

log = get_logger(__name__)

_Waiting = tuple[Entry, "asyncio.Future[Answer]"]


class SubmissionGroup:
    def __init__(
        self, deps: ProposalDeps, *, max_batch: int = 100, max_inflight: int = 3, min_batch: int = 10
    ) -> None:
        self.deps = deps
        self.max_batch = max_batch
        # Transactions at once: enough to keep PostgreSQL busy while a group commits, few enough to
        # leave the pool's other connections to reads, the import and the consumer.
        self.max_inflight = max_inflight
        # While a group is being written, another starts only with this many waiting: a group of
        # one beside a running group costs a transaction and a slot, and its neighbours wait longer.
        self.min_batch = min_batch
        self._queue: deque[_Waiting] = deque()
        self._inflight = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self.groups = 0  # for tests and benchmarks: transactions written
        self.fallbacks = 0  # groups decided again one by one

    async def enter(self, submission: Entry) -> Answer:
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._queue.append((submission, future))
        self._start_groups()
        return await future

    def _start_groups(self) -> None:
        while (
            self._queue
            and self._inflight < self.max_inflight
            and (self._inflight == 0 or len(self._queue) >= self.min_batch)
        ):
            group = self._take()
            self._inflight += 1
            task = asyncio.create_task(self._run(group), name="submission-group")
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _take(self) -> list[_Waiting]:
        """The queue's first submissions, none sharing a key or proposal id with another."""
        group: list[_Waiting] = []
        names: set[str] = set()
        later: list[_Waiting] = []
        while self._queue and len(group) < self.max_batch:
            waiting = self._queue.popleft()
            submission = waiting[0]
            own = {submission.proposal_id, *((submission.key,) if submission.key else ())}
            if own & names:
                later.append(waiting)  # the same proposal again: after this group has committed
                continue
            names |= own
            group.append(waiting)
        self._queue.extendleft(reversed(later))
        return group

    async def _run(self, group: list[_Waiting]) -> None:
        submissions = [s for s, _ in group]
        try:
            outcomes: list[Outcome | Exception] = list(await write_entries(self.deps, submissions))
            self.groups += 1
        except Exception as exc:
            self.fallbacks += 1
            if not isinstance(exc, LostARace):
                log.warning("group commit failed; deciding its submissions one by one", error=repr(exc))
            outcomes = list(await asyncio.gather(*(self._alone(s) for s in submissions)))
        finally:
            self._inflight -= 1
            self._start_groups()
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if future.done():  # the client went away; its submission stands all the same
                continue
            if isinstance(outcome, BaseException):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)

    async def _alone(self, submission: Entry) -> Answer | Exception:
        try:
            return await enter_alone(self.deps, submission)
        except Exception as exc:
            return exc
