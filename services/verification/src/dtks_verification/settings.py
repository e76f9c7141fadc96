"""The verification service's settings, from the environment only (prefix DTKS_)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

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
    # Waiting items per statement and transaction of the scan (whole queues: a queue larger than this
    # is a batch of its own). After each batch the scan rests `pause` times as long as the batch
    # took, leaving the cores to the officers' decisions between its transactions (0: never rests).
    # In make bench's governance at 1,000,000 items with 10 verifiers deciding (5 December, README):
    # what raises the decisions' p99 is each batch's burst on a core more than the scan's share, so
    # smaller batches with the same rest keep it lower (2,000 and 1.75: +9%, against +20-38% with
    # 5,000 and 1.75) but pay a fixed cost per batch (2,000 and 1.75: 32.1 s). 2,000 and 1.5:
    # 28.3-30.2 s over eight runs on 5 December, 34.4-36.9 s over four on 6 December (the same code:
    # the machine's speed varies from day to day), p99 -6% to +32%. 2,000 and 1.0 (the default): on
    # 6 December 27.8-29.2 s over four runs, p99 +10, +19, +16 and +16%: the rise in p99 follows the
    # noise more than the rest, while the scan's time follows the rest.
    overdue_scan_batch: int = Field(default=2000, ge=1)
    overdue_scan_pause: float = Field(default=1.0, ge=0)
    # Field evidence (photos of visits). The store: "filesystem" under DTKS_EVIDENCE_DIR (default
    # $DTKS_STATE_DIR/verification/evidence) or "s3" (DTKS_EVIDENCE_S3_BUCKET, _ENDPOINT_URL for a
    # non-AWS server, credentials the standard AWS way).
    evidence_store: Literal["filesystem", "s3"] = "filesystem"
    evidence_dir: str = ""
    evidence_s3_bucket: str = "dtks-evidence"
    evidence_s3_endpoint_url: str = ""
    evidence_s3_region: str = "us-east-1"
    evidence_max_photo_bytes: int = Field(default=10 * 1024 * 1024, ge=1)
    # A photo taken farther than this from the visit's position, or this long before it, is flagged.
    evidence_max_distance_km: float = Field(default=1.0, gt=0)
    evidence_max_age_days: int = Field(default=30, ge=0)

    def evidence_path(self) -> Path:
        if self.evidence_dir:
            return Path(self.evidence_dir)
        return Path(os.environ.get("DTKS_STATE_DIR", ".dtks")) / "verification" / "evidence"
