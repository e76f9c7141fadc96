"""What the complaints service's handlers work with, built once in main.py (as the proposal's)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import asyncpg

from dtks_complaints.settings import ComplaintsSettings
from dtks_contracts.timestamps import utc_now
from dtks_runtime.client_limit import ClientLimit
from dtks_runtime.service import StartedRuntime
from dtks_runtime.unit_of_work import UnitOfWork

LIMIT_TABLE = "complaint_form_buckets"


@dataclass(frozen=True)
class PublicLimits:
    """The public form's allowances: per client address, per NIK, and for tracking checks."""

    client: ClientLimit
    nik: ClientLimit
    tracking: ClientLimit

    def all(self) -> tuple[ClientLimit, ...]:
        return (self.client, self.nik, self.tracking)

    @classmethod
    def of(cls, s: ComplaintsSettings) -> PublicLimits:
        return cls(
            client=ClientLimit(
                LIMIT_TABLE,
                rate_per_second=s.complaint_public_per_minute / 60,
                burst=s.complaint_public_burst,
            ),
            nik=ClientLimit(
                LIMIT_TABLE, rate_per_second=s.complaint_nik_per_day / 86400, burst=s.complaint_nik_burst
            ),
            tracking=ClientLimit(
                LIMIT_TABLE,
                rate_per_second=s.complaint_tracking_per_minute / 60,
                burst=s.complaint_tracking_burst,
            ),
        )


@dataclass(frozen=True)
class ComplaintsDeps:
    runtime: StartedRuntime
    settings: ComplaintsSettings
    limits: PublicLimits
    # The clock deadlines, ages and escalations read; a test passes its own.
    now: Callable[[], dt.datetime] = utc_now

    @property
    def pool(self) -> asyncpg.Pool:
        """For reads outside a transaction; writes go through :meth:`unit_of_work`."""
        return self.runtime.pool

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self.runtime.unit_of_work()

    @property
    def deadline(self) -> dt.timedelta:
        return dt.timedelta(days=self.settings.complaint_deadline_days)


def bootstrap(
    runtime: StartedRuntime, settings: ComplaintsSettings, now: Callable[[], dt.datetime] = utc_now
) -> ComplaintsDeps:
    return ComplaintsDeps(runtime=runtime, settings=settings, limits=PublicLimits.of(settings), now=now)
