"""The simulator's settings, from the environment only (prefix DTKS_)."""

from __future__ import annotations

from pydantic import Field

from dtks_civil_registry.domain.people import PEOPLE_BATCH_MAX
from dtks_runtime.settings import RuntimeSettings

DEFAULT_PORT = 8005


class CivilRegistrySettings(RuntimeSettings):
    """DTKS_DATABASE_URL names the server, DTKS_DATABASE_NAME the database (default dtks_civil_registry).

    DTKS_CIVIL_REGISTRY_OUTAGE_SECONDS: start in an outage that lasts this many seconds after start
    (`inf` for one that lasts until `DELETE /admin/outage`); every look-up and load answers 503.
    DTKS_CIVIL_REGISTRY_MAX_BATCH: most records one `POST /people` may carry (at most 20,000, the
    loaders' batch); its body may have 512 bytes per record.
    """

    civil_registry_outage_seconds: float = 0.0
    civil_registry_max_batch: int = Field(default=PEOPLE_BATCH_MAX, ge=1, le=PEOPLE_BATCH_MAX)

    @property
    def database(self) -> str:
        return self.database_for("civil_registry")
