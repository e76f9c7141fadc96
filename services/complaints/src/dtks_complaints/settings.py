"""The complaints service's settings, from the environment only (DTKS_ prefix)."""

from __future__ import annotations

from pydantic import Field

from dtks_runtime.settings import RuntimeSettings


class ComplaintsSettings(RuntimeSettings):
    # Days the village has to act on a complaint (turn it into a proposal or close it) before it is
    # escalated to the district.
    complaint_deadline_days: float = Field(default=14.0, gt=0)
    # The public form, per client address: this many a minute, this many at once.
    complaint_public_per_minute: float = Field(default=10.0, gt=0)
    complaint_public_burst: int = Field(default=5, ge=1)
    # Complaints one NIK may file through the public form: this many a day, this many at once.
    complaint_nik_per_day: float = Field(default=3.0, gt=0)
    complaint_nik_burst: int = Field(default=3, ge=1)
    # Tracking checks per client address a minute (a tracking code is not to be guessed by trying).
    complaint_tracking_per_minute: float = Field(default=30.0, gt=0)
    complaint_tracking_burst: int = Field(default=10, ge=1)
    # The public form faces every citizen at once: a connection for each of 50 concurrent filings,
    # so none waits for another's commit to get one (see RuntimeSettings.db_pool_max_size).
    db_pool_max_size: int = Field(default=50, ge=2, le=200)
    # The escalation worker: how often it looks for complaints past their deadline. Off only in tests
    # that drive it with their own clock.
    escalation_worker_enabled: bool = True
    escalation_every_seconds: float = Field(default=60.0, gt=0)
