"""The proposal service's settings, from the environment only (DTKS_ prefix)."""

from __future__ import annotations

from dtks_runtime.settings import RuntimeSettings


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
    batch_max_items: int = 1000
