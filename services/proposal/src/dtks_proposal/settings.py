"""The proposal service's settings, from the environment only (DTKS_ prefix)."""

from __future__ import annotations

from pydantic import Field

from dtks_runtime.settings import RuntimeSettings

# Most items one POST /proposals/batch may carry. The request model is bounded by it (not only the
# route), so validation stops at the first item past it instead of copying millions of them.
BATCH_MAX_ITEMS = 1000


class ProposalSettings(RuntimeSettings):
    # Households per import transaction: bigger is faster, smaller redoes less after a crash.
    import_chunk_households: int = 500
    # Chunks of imports worked at once (each in its own transaction, on its own households).
    import_concurrency: int = 2
    # Off only in tests that drive the import worker step by step.
    import_worker_enabled: bool = True
    # Concurrent POST /proposals written in shared transactions, each answered after its commit.
    group_commit: bool = True
    import_max_bytes: int = 256 * 1024 * 1024
    batch_max_items: int = Field(default=BATCH_MAX_ITEMS, ge=1, le=BATCH_MAX_ITEMS)
    # Body of POST /proposals/batch (the runtime's default, 1 MiB, holds one proposal with room):
    # a thousand items of the synthetic population's largest households (about 4 kB) fit twice.
    batch_max_bytes: int = 8 * 1024 * 1024
    # Failed attempts at one import's chunk (a data error, not an outage) before it is parked as
    # failed with its reason; the pause after the n-th failure is n times this, up to a minute.
    import_max_attempts: int = 5
    import_retry_seconds: float = 2.0
    # /healthz is degraded when imports wait unfinished and none made progress for this long.
    import_stall_seconds: float = 300.0
    # A submission with neither Idempotency-Key nor proposal_id: the same content from the same
    # operator within this many seconds is answered with the first proposal (handlers.submission_key).
    keyless_retry_window_seconds: float = 3600.0
