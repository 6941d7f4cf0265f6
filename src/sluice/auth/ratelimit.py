"""Rate limits per API token (contract §2): ``per_minute`` requests a minute, else a 429.

``RateLimit`` is the protocol the authenticator calls. ``RateLimiter`` is the embedded one, a
token bucket per token in this process (bursts up to ``per_minute``);
``sluice.stores.redis.ratelimit.RedisRateLimiter`` counts per token per minute in Redis, so the
limit holds across every replica.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from sluice.errors import RateLimited


class TooManyRequests(RateLimited):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(
            f"Rate limit exceeded: try again in {retry_after_s} s (server.rate_limit_per_minute)"
        )
        self.retry_after_s = retry_after_s


class RateLimit(Protocol):
    per_minute: int  # 0: off

    async def acquire(self, key: str, now: float) -> None:
        """Count one request of ``key`` (``now``: monotonic seconds); raises TooManyRequests."""
        ...


@dataclass(slots=True)
class _Bucket:
    tokens: float
    at: float


class RateLimiter:
    """Not thread-safe: used from the event loop only."""

    def __init__(self, per_minute: int, *, max_keys: int = 100_000) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}
        self._max_keys = max_keys

    @property
    def enabled(self) -> bool:
        return self.per_minute > 0

    async def acquire(self, key: str, now: float) -> None:
        self.check(key, now)

    def check(self, key: str, now: float) -> None:
        """Take one request from ``key``'s bucket; raises TooManyRequests when it is empty."""
        if not self.enabled:
            return
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= self._max_keys:
                self._buckets.clear()
            bucket = self._buckets[key] = _Bucket(float(self.per_minute), now)
        bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.at) * self._rate)
        bucket.at = now
        if bucket.tokens < 1.0:
            raise TooManyRequests(max(1, math.ceil((1.0 - bucket.tokens) / self._rate)))
        bucket.tokens -= 1.0
