"""The registry's settings, from the environment only (DTKS_* as in the runtime, plus DTKS_REGISTRY_*)."""

from __future__ import annotations

from dtks_runtime.settings import RuntimeSettings


class RegistrySettings(RuntimeSettings):
    # Citizens' check: each client address may ask this many times per minute, in bursts of up to
    # `burst`. Enough for a family checking its members; far too few to enumerate NIKs.
    registry_public_check_per_minute: float = 10.0
    registry_public_check_burst: int = 5
    # Behind a trusted reverse proxy, limit by the first X-Forwarded-For address instead of the peer's.
    registry_trust_forwarded_for: bool = False
    # Processes an audit replay reads the partitions with (parsing and validating events is most of
    # its cost, so a second process on a second core nearly halves it).
    registry_replay_workers: int = 2
