"""What the notification service's routes work with, built once in main.py (see runtime/README.md,
"How a service is shaped").

The started runtime (its pool for reads, ``unit_of_work()`` for writes), the service's settings, and
the name lookup a webhook's callback host is resolved through (at subscription and at every
connection; a test passes its own to play a name server).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import asyncpg

from dtks_notification.adapters.guarded_resolver import Lookup
from dtks_notification.settings import NotificationSettings
from dtks_runtime.service import StartedRuntime
from dtks_runtime.unit_of_work import UnitOfWork


@dataclass(frozen=True)
class NotificationDeps:
    runtime: StartedRuntime
    settings: NotificationSettings
    lookup: Lookup

    @property
    def pool(self) -> asyncpg.Pool:
        """For reads outside a transaction; writes go through :meth:`unit_of_work`."""
        return self.runtime.pool

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self.runtime.unit_of_work()
