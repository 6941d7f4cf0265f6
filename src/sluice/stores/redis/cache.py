"""The result cache in Redis, shared by every replica: bounded in bytes, least recently used out.

Keys (under the prefix): ``cache:entry:<key>`` (the entry's metadata, JSON) and
``cache:data:<key>`` (the Arrow IPC stream), both expiring when the entry is too stale to serve
even to ``Standard`` (``ttl_s + cache_max_stale_s``); ``cache:lru`` (a sorted set: key -> last
use), ``cache:sizes`` and ``cache:bytes`` account for the bound. The bound is sluice's own
bookkeeping, independent of Redis's ``maxmemory``: a put (one Lua script) adds the entry and
drops the least recently used ones while the total is over ``cache_max_mb``. A lookup refreshes
the entry's last use in the same round trip, so the order is least recently *used* across all
replicas (approximate only in that two replicas' uses in the same millisecond tie).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable

import pyarrow as pa
import redis

from sluice.cache.store import CachedData, CacheEntry
from sluice.stores.redis.keys import Keys

_PUT = """
-- KEYS: entry key, data key, cache:lru, cache:sizes, cache:bytes
-- ARGV: cache key, entry JSON, data, ttl ms, now, capacity, entry prefix, data prefix
local lru, sizes, total = KEYS[3], KEYS[4], KEYS[5]
local function drop(key)
  local bytes = tonumber(redis.call('HGET', sizes, key) or '0')
  redis.call('DEL', ARGV[7] .. key, ARGV[8] .. key)
  redis.call('HDEL', sizes, key)
  redis.call('ZREM', lru, key)
  if bytes > 0 then redis.call('DECRBY', total, bytes) end
end
drop(ARGV[1])
local size = string.len(ARGV[3])
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[4])
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('HSET', sizes, ARGV[1], size)
redis.call('ZADD', lru, tonumber(ARGV[5]), ARGV[1])
local now_total = redis.call('INCRBY', total, size)
local cap = tonumber(ARGV[6])
while now_total > cap do
  local oldest = redis.call('ZRANGE', lru, 0, 0)
  if #oldest == 0 or oldest[1] == ARGV[1] then break end
  drop(oldest[1])
  now_total = tonumber(redis.call('GET', total) or '0')
end
return now_total
"""

_DROP = """
-- KEYS: cache:lru, cache:sizes, cache:bytes; ARGV: entry prefix, data prefix, keys...
local dropped = 0
for i = 3, #ARGV do
  local key = ARGV[i]
  local bytes = tonumber(redis.call('HGET', KEYS[2], key) or '0')
  redis.call('DEL', ARGV[1] .. key, ARGV[2] .. key)
  redis.call('HDEL', KEYS[2], key)
  dropped = dropped + redis.call('ZREM', KEYS[1], key)
  if bytes > 0 then redis.call('DECRBY', KEYS[3], bytes) end
end
return dropped
"""

_BATCH = 500


class RedisCacheStore:
    """The ``CacheStore`` of replicas. Blocking and thread-safe."""

    shared = True

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        capacity_bytes: int,
        max_stale_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.capacity_bytes = capacity_bytes
        self._client = client
        self._keys = keys
        self._max_stale_s = max(0.0, max_stale_s)
        self._clock = clock
        self._put = client.register_script(_PUT)
        self._drop = client.register_script(_DROP)

    @property
    def size_bytes(self) -> int:
        return int(self._client.get(self._keys.cache_total) or 0)

    def get(self, key: str) -> CacheEntry | None:
        pipe = self._client.pipeline(transaction=False)
        pipe.get(self._keys.cache_entry(key))
        pipe.zadd(self._keys.cache_lru, {key: self._clock()}, xx=True)
        text, _ = pipe.execute()
        return _entry(text) if text is not None else None

    def open(self, key: str) -> CachedData | None:
        data = self._client.get(self._keys.cache_data(key))
        if data is None:
            return None
        return CachedData(pa.BufferReader(pa.py_buffer(data)))

    def put(self, entry: CacheEntry, data: pa.Buffer | bytes) -> bool:
        raw = bytes(memoryview(data))
        if len(raw) > self.capacity_bytes:
            return False
        now = self._clock()
        ttl_ms = round((entry.expires_at + self._max_stale_s - now) * 1000)
        if ttl_ms <= 0:
            return False
        entry = CacheEntry(
            entry.key, entry.model_id, entry.model_version, entry.computed_at, entry.ttl_s,
            entry.num_rows, len(raw), entry.meta,
        )  # fmt: skip
        k = self._keys
        self._put(
            keys=[k.cache_entry(entry.key), k.cache_data(entry.key), k.cache_lru, k.cache_sizes,
                  k.cache_total],
            args=[entry.key, _json(entry), raw, ttl_ms, now, self.capacity_bytes,
                  k.cache_entry_prefix, k.cache_data_prefix],
        )  # fmt: skip
        return True

    def discard(self, key: str) -> None:
        self._drop_keys([key])

    def discard_model(self, model_id: str, *, keep_version: str) -> int:
        stale = [
            key
            for key, entry in self._scan()
            if entry is not None and entry.model_id == model_id
            and entry.model_version != keep_version
        ]  # fmt: skip
        return self._drop_keys(stale)

    def purge(self, expired_before: float) -> int:
        """Drop entries that expired before ``expired_before``, and forget the bookkeeping of
        those Redis expired by itself."""
        old = [
            key for key, entry in self._scan() if entry is None or entry.expires_at < expired_before
        ]
        return self._drop_keys(old)

    def entries(self) -> list[CacheEntry]:
        return [entry for _, entry in self._scan() if entry is not None]

    def close(self) -> None:
        """The client belongs to ``sluice.stores.select.Stores``, which closes it."""

    def _scan(self) -> Iterable[tuple[str, CacheEntry | None]]:
        """Every key in the LRU order (least recently used first) with its entry (None: gone)."""
        keys = [_text(k) for k in self._client.zrange(self._keys.cache_lru, 0, -1)]
        for start in range(0, len(keys), _BATCH):
            chunk = keys[start : start + _BATCH]
            texts = self._client.mget([self._keys.cache_entry(k) for k in chunk])
            for key, text in zip(chunk, texts, strict=True):
                yield key, _entry(text) if text is not None else None

    def _drop_keys(self, keys: list[str]) -> int:
        dropped = 0
        k = self._keys
        for start in range(0, len(keys), _BATCH):
            chunk = keys[start : start + _BATCH]
            dropped += int(
                self._drop(
                    keys=[k.cache_lru, k.cache_sizes, k.cache_total],
                    args=[k.cache_entry_prefix, k.cache_data_prefix, *chunk],
                )
            )
        return dropped


def _json(entry: CacheEntry) -> str:
    return json.dumps(
        {
            "key": entry.key,
            "model_id": entry.model_id,
            "model_version": entry.model_version,
            "computed_at": entry.computed_at,
            "ttl_s": entry.ttl_s,
            "num_rows": entry.num_rows,
            "num_bytes": entry.num_bytes,
            "meta": entry.meta,
        },
        separators=(",", ":"),
    )


def _entry(text: bytes | str) -> CacheEntry:
    data = json.loads(text)
    return CacheEntry(**data)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
