"""What the verification service's handlers need from outside, built once in main.py.

A handler takes this object (never the runtime, a pool or a global): commands write through
``unit_of_work()`` (one transaction, the event store bound to it), reads that need no transaction
take a ``connection()``, the civil registry is the one outside client, and ``clock`` is what "now"
means (the integrity standard's today, an acceptance's time).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field

import asyncpg

from dtks_contracts.timestamps import utc_now
from dtks_runtime.event_store import EventStore
from dtks_runtime.unit_of_work import UnitOfWork
from dtks_verification.adapters.civil_registry import CivilRegistryClient
from dtks_verification.adapters.photo_store import PhotoStore
from dtks_verification.domain.photo_evidence import EvidencePolicy


@dataclass(frozen=True)
class VerificationDeps:
    unit_of_work: Callable[[], AbstractAsyncContextManager[UnitOfWork]]
    connection: Callable[[], AbstractAsyncContextManager[asyncpg.Connection]]
    store: EventStore
    civil_registry: CivilRegistryClient
    photo_store: PhotoStore
    clock: Callable[[], dt.datetime] = utc_now
    evidence_policy: EvidencePolicy = field(default_factory=EvidencePolicy)

    def within(self, conn: asyncpg.Connection) -> UnitOfWork:
        """A transaction someone else opened (the consumer's, which holds the events' inbox rows)
        as a unit of work: what a handler writes there commits or rolls back with it."""
        return UnitOfWork(conn, self.store)
