"""The fault switch: while an outage lasts, the registry answers 503 to every look-up and load.

Tests of the verification service use it to prove that checks wait and resume when the civil
registry is down. Kept apart from the clock so it can be tested without waiting.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable


class Outage:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._until = 0.0

    def start(self, seconds: float) -> None:
        """Be down for `seconds` from now (`inf`: until ended); zero or less ends an outage."""
        self._until = self._clock() + seconds if seconds > 0 else 0.0

    def end(self) -> None:
        self._until = 0.0

    def remaining(self) -> float:
        return max(0.0, self._until - self._clock())

    @property
    def active(self) -> bool:
        return self.remaining() > 0

    def retry_after(self) -> int:
        """Whole seconds a client should wait (capped: an open-ended outage says one minute)."""
        left = self.remaining()
        return 60 if math.isinf(left) else max(1, math.ceil(min(left, 3600)))
