"""The verification service's settings, from the environment only (prefix DTKS_)."""

from __future__ import annotations

from pydantic import Field

from dtks_runtime.settings import RuntimeSettings


class VerificationSettings(RuntimeSettings):
    # DTKS_CIVIL_REGISTRY_URL: the civil-registry (Dukcapil) service, or the simulator under deploy/.
    civil_registry_url: str = "http://127.0.0.1:8005"
    civil_registry_timeout_seconds: float = Field(default=3.0, gt=0)
    civil_registry_retries: int = Field(default=2, ge=0, description="Retries after the first attempt")
    civil_registry_backoff_seconds: float = Field(default=0.1, ge=0)
    civil_registry_max_connections: int = Field(default=32, ge=1)
    # Consecutive failed look-ups that open the circuit, and how long it stays open before a probe.
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_open_seconds: float = Field(default=5.0, gt=0)
    # The pending-checks worker: how many proposals it checks at once, how often it looks for work.
    check_batch_size: int = Field(default=200, ge=1)
    check_poll_seconds: float = Field(default=0.2, gt=0)
    # Queue statistics count items waiting longer than this as stuck ("past the age limit").
    queue_age_limit_hours: float = Field(default=72.0, gt=0)
    # The overdue scan (deadlines and escalation): off for tests that drive it step by step.
    overdue_scan_enabled: bool = True
    overdue_scan_seconds: float = Field(default=60.0, gt=0)
    overdue_scan_batch: int = Field(default=500, ge=1)
