"""A token bucket per client, so nobody can enumerate the register through the citizens' check.

In-process and in memory: each registry process limits on its own, so N processes behind a load
balancer admit up to N times the rate. That is enough to make enumeration of millions of NIKs
impractical; a shared limiter (e.g. at the gateway) would be the next step if the check is abused.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    def __init__(self, *, rate_per_second: float, burst: int, max_clients: int = 100_000) -> None:
        self.rate = rate_per_second
        self.burst = burst
        self.max_clients = max_clients  # bounded memory: the least recently seen clients are forgotten
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def take(self, client: str, now: float) -> float:
        """Take one token for ``client`` at time ``now`` (seconds). Returns 0 if admitted, else the
        seconds to wait before the next token."""
        bucket = self._buckets.pop(client, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[client] = bucket
        if len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate
