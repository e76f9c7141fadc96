"""What the DCI adapter's routes and workers work with, built once in main.py (see runtime/README.md,
"How a service is shaped").

The started runtime (its pool for reads, ``unit_of_work()`` for writes), the settings, the registry
client the records are read through, the HTTP client callbacks and notifications go out through, the
key our envelopes are signed with, the partners' keys their envelopes are verified against, and the
table of error codes to HTTP statuses the standard's error answers use, the guard a partner's
callback address is checked with (public addresses only; see dtks_runtime.callback_guard), and the
writers of the rows every request records (adapters/grouped_writes.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import asyncpg
import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from dtks_dci.adapters.grouped_writes import RequestWrites
from dtks_dci.adapters.registry import RegistryClient
from dtks_dci.domain.signing import SigningKey
from dtks_dci.settings import DciSettings
from dtks_runtime.callback_guard import CallbackGuard
from dtks_runtime.service import StartedRuntime
from dtks_runtime.unit_of_work import UnitOfWork

# sender id -> key id -> the partner's public key
SenderKeys = Mapping[str, Mapping[str, Ed25519PublicKey]]


@dataclass(frozen=True)
class DciDeps:
    runtime: StartedRuntime
    settings: DciSettings
    registry: RegistryClient
    callback_http: httpx.AsyncClient  # partners' callbacks only: connects to guarded addresses
    signing_key: SigningKey
    sender_keys: SenderKeys
    error_statuses: Mapping[str, int]
    guard: CallbackGuard  # what a partner's sender_uri is checked against, given and before each call
    writes: RequestWrites  # each request's message id and exchange-log entry, grouped across requests

    @property
    def pool(self) -> asyncpg.Pool:
        """For reads outside a transaction; writes go through :meth:`unit_of_work`."""
        return self.runtime.pool

    def unit_of_work(self) -> AbstractAsyncContextManager[UnitOfWork]:
        return self.runtime.unit_of_work()
