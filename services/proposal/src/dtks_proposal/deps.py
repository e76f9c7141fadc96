"""What the proposal service's handlers work with, built once in main.py (cosmicpython's bootstrap).

Every handler takes a :class:`ProposalDeps` as its first argument instead of the whole runtime: the
started runtime (its pool for reads, ``unit_of_work()`` for every write), the service's settings, and
the clock the window rules read. A service with outside clients (the civil registry, a mailer) adds
them here, built in ``main.py`` and closed through ``runtime.on_stop``; a test builds one with its
own clock or client. Nothing here is created per request.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import asyncpg

from dtks_contracts.timestamps import WIB, utc_now
from dtks_proposal.settings import ProposalSettings
from dtks_runtime.service import StartedRuntime
from dtks_runtime.unit_of_work import UnitOfWork

# Indonesia's western time (WIB): the day a window opens or closes, as the Ministry states it.


def today_in_wib() -> dt.date:
    return dt.datetime.now(WIB).date()


@dataclass(frozen=True)
class ProposalDeps:
    runtime: StartedRuntime
    settings: ProposalSettings
    today: Callable[[], dt.date] = today_in_wib
    clock: Callable[[], dt.datetime] = utc_now  # the moment a freeze period is judged at

    @property
    def pool(self) -> asyncpg.Pool:
        """For reads outside a transaction; writes go through :meth:`unit_of_work`."""
        return self.runtime.pool

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self.runtime.unit_of_work()


def bootstrap(runtime: StartedRuntime, settings: ProposalSettings) -> ProposalDeps:
    return ProposalDeps(runtime=runtime, settings=settings)
