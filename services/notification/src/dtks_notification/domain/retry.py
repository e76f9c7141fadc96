"""When to try a failed delivery again: exponential backoff with jitter, up to a limit."""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    base_seconds: float = 2.0
    cap_seconds: float = 3600.0

    def delay_after(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1-based).

        Equal jitter: half the exponential step is fixed, half random, so a receiver that was down
        is not hit by every waiting delivery in the same instant when it comes back.
        """
        step = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return step / 2 + (rng or random).uniform(0, step / 2)

    def exhausted(self, attempt: int, limit: int) -> bool:
        """True once ``attempt`` used the last try a delivery had: it goes to the dead letters."""
        return attempt >= limit
