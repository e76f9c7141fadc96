"""The simulator's settings, from the environment only (prefix DTKS_)."""

from __future__ import annotations

from dtks_runtime.settings import RuntimeSettings

DEFAULT_PORT = 8005


class CivilRegistrySettings(RuntimeSettings):
    """DTKS_DATABASE_URL names the server, DTKS_DATABASE_NAME the database (default dtks_civil_registry).

    DTKS_CIVIL_REGISTRY_OUTAGE_SECONDS: start in an outage that lasts this many seconds after start
    (`inf` for one that lasts until `DELETE /admin/outage`); every look-up and load answers 503.
    DTKS_CIVIL_REGISTRY_MAX_BATCH: most records one `POST /people` may carry.
    """

    civil_registry_outage_seconds: float = 0.0
    civil_registry_max_batch: int = 100_000

    @property
    def database(self) -> str:
        return self.database_for("civil_registry")
