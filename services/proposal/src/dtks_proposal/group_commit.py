"""Group commit: concurrent first submissions written in one transaction, each answered after it.

Under a hundred concurrent clients, a submission written alone costs five round trips and a
commit (a WAL flush) of its own, and the service and PostgreSQL spend more on that machinery than on
the proposal. Here a submission that arrives while ``max_inflight`` transactions are already running
waits in a queue; when one of them ends, everything queued (up to ``max_batch``) goes into the next
transaction, with a constant number of statements: the stored answers, the windows (locked), one
event insert for all, one statement for the proposals, timelines, quotas and answers. When the
service is quiet, a submission finds no transaction running and goes alone at once, so nobody
waits for a group to fill; while one runs, another starts only once ``min_batch`` are waiting.

Each request is answered only after the transaction holding its submission committed. Rules are
the same as for a submission alone: a stored answer is replayed (or a different body refused), a
closed window or used-up quota refuses (counting the group's earlier submissions against the
quota in order), and nothing of a refused submission is written. Two submissions with the same key
or proposal id never share a group: the later one waits for the next. If the group loses a race
(a proposal id or key taken meanwhile by a request on another connection) or fails in any other
way, it is rolled back whole and every submission of it is decided again alone
(:func:`~dtks_proposal.handlers.enter_alone`), which is the reference behaviour.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from dataclasses import replace

from dtks_proposal.adapters import proposals as repo
from dtks_proposal.domain.windows import admits
from dtks_proposal.handlers import (
    Answer,
    Submission,
    enter_alone,
    new_proposal,
    replay_answer,
    submitted_body,
    today,
    window_problem,
)
from dtks_proposal.timeline import own_event_entry
from dtks_runtime.event_store import NewEvent, StreamAppend
from dtks_runtime.problems import Problem
from dtks_runtime.service import ServiceRuntime
from dtks_runtime.telemetry import get_logger

log = get_logger(__name__)

_Waiting = tuple[Submission, "asyncio.Future[Answer]"]


class _GroupLostARace(Exception):
    """A proposal id or key of the group was taken by another transaction first."""


class SubmissionGroup:
    def __init__(
        self, runtime: ServiceRuntime, *, max_batch: int = 100, max_inflight: int = 3, min_batch: int = 10
    ) -> None:
        self.runtime = runtime
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

    async def enter(self, submission: Submission) -> Answer:
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
            own = {submission.event.proposal_id, *((submission.key,) if submission.key else ())}
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
            outcomes = await self._write(submissions)
            self.groups += 1
        except Exception as exc:
            self.fallbacks += 1
            if not isinstance(exc, _GroupLostARace):
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

    async def _alone(self, submission: Submission) -> Answer | Exception:
        try:
            return await enter_alone(self.runtime, submission)
        except Exception as exc:
            return exc

    async def _write(self, submissions: list[Submission]) -> list[Answer | Exception]:
        runtime = self.runtime
        assert runtime.pool is not None and runtime.store is not None
        outcomes: list[Answer | Exception | None] = [None] * len(submissions)
        async with runtime.pool.acquire() as conn, conn.transaction():
            stored = await repo.find_answers(conn, [s.key for s in submissions if s.key])
            fresh = [i for i, s in enumerate(submissions) if not (s.key and s.key in stored)]
            # Locked until commit, in code order, as for a submission alone.
            windows = await repo.lock_windows(conn, [submissions[i].regency for i in fresh])
            day = today()
            admitted: Counter[str] = Counter()
            accepted: list[int] = []
            for i, s in enumerate(submissions):
                if s.key and s.key in stored:
                    try:
                        outcomes[i] = replay_answer(stored[s.key], s.proposal.same_as, s.what)
                    except Problem as problem:
                        outcomes[i] = problem
                    continue
                window = windows.get(s.regency)
                if window is not None:
                    refusal = admits(replace(window, used=window.used + admitted[s.regency]), day)
                    if refusal is not None:
                        outcomes[i] = window_problem(refusal)
                        continue
                    admitted[s.regency] += 1
                accepted.append(i)
            if accepted:
                events = [NewEvent.of(submissions[i].event) for i in accepted]
                envelopes = await runtime.store.append_many(
                    conn,
                    [
                        StreamAppend(
                            "proposal",
                            submissions[i].event.proposal_id,
                            0,
                            [event],
                            causation=submissions[i].causation(),
                        )
                        for i, event in zip(accepted, events, strict=True)
                    ],
                    causation=submissions[accepted[0]].causation(),
                )
                bodies = [
                    submitted_body(submissions[i], e.occurred_at)
                    for i, e in zip(accepted, envelopes, strict=True)
                ]
                answers = [
                    repo.AnswerToKeep(key, submissions[i].fingerprint, 201, body)
                    for i, body in zip(accepted, bodies, strict=True)
                    if (key := submissions[i].key) is not None
                ]
                recorded = await repo.record_submissions(
                    conn,
                    [new_proposal(submissions[i], e) for i, e in zip(accepted, events, strict=True)],
                    [own_event_entry(e) for e in envelopes],
                    dict(admitted),
                    answers,
                )
                if not recorded:
                    raise _GroupLostARace
                for i, body in zip(accepted, bodies, strict=True):
                    outcomes[i] = Answer(201, body)
        assert all(o is not None for o in outcomes)
        return [o for o in outcomes if o is not None]
