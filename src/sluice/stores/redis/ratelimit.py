"""Rate limits in Redis: one counter per token per minute, shared by every replica.

``rate:<token id>:<minute>`` is incremented by each request and expires after two minutes; a
request that takes it above ``per_minute`` is refused with a 429 whose ``Retry-After`` is the
time left in the minute. (A fixed window: at a minute's edge a token may send up to twice its
limit within a few seconds, never more than its limit in any one clock minute.)
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import redis

from sluice.auth.ratelimit import TooManyRequests
from sluice.stores.redis.keys import Keys

WINDOW_S = 60


class RedisRateLimiter:
    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.per_minute = per_minute
        self._client = client
        self._keys = keys
        self._clock = clock

    async def acquire(self, key: str, now: float) -> None:
        await asyncio.to_thread(self.check, key)

    def check(self, key: str) -> None:
        now = self._clock()
        window = int(now // WINDOW_S)
        name = self._keys.rate(key, window)
        pipe = self._client.pipeline(transaction=True)
        pipe.incr(name)
        pipe.expire(name, 2 * WINDOW_S)
        count, _ = pipe.execute()
        if int(count) > self.per_minute:
            raise TooManyRequests(max(1, math.ceil((window + 1) * WINDOW_S - now)))
