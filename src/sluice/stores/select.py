"""Where a server keeps its state: the embedded stores, or Redis when a URL is configured.
The one place stores are chosen; the Redis modules are imported only when they are.

One function picks for the whole server (``open_stores``) and one for the ``sluice keys``
commands (``open_token_store``), so a key created against a Redis-configured project goes to
Redis, where every replica finds it.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from sluice.auth.ratelimit import RateLimit, RateLimiter
from sluice.auth.tokens import TokenStore
from sluice.cache.store import CacheStore
from sluice.config import ServerConfig
from sluice.extras import needs
from sluice.jobs.store import JobEvents, JobStore
from sluice.models.branches import BranchStore
from sluice.models.sync import ModelSync
from sluice.stores.embedded.cache import LocalCacheStore
from sluice.stores.embedded.jobs import SqliteJobStore
from sluice.stores.embedded.tokens import SqliteTokenStore

log = logging.getLogger("sluice.replicas")

_REDIS_WHY = "a Redis URL (server.redis_url or SLUICE_REDIS_URL)"


@dataclass
class Stores:
    kind: str  # "embedded" | "redis"
    jobs: JobStore
    tokens: TokenStore
    limiter: RateLimit
    cache: CacheStore | None  # None: server.cache_max_mb is 0
    events: JobEvents | None = None  # replicas only
    replica_id: str = ""
    _closers: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for close in reversed(self._closers):
            try:
                close()
            except Exception:
                log.exception("closing a store failed")
        self._closers.clear()


def open_stores(server: ServerConfig, *, clock: Callable[[], float] = time.time) -> Stores:
    if server.redis_url:
        return _redis_stores(server, clock)
    return _embedded_stores(server, clock)


def _embedded_stores(server: ServerConfig, clock: Callable[[], float]) -> Stores:
    closers: list[Callable[[], None]] = []
    try:
        jobs = SqliteJobStore(server.state_dir)
        closers.append(jobs.close)
        tokens = SqliteTokenStore(server.state_dir)
        closers.append(tokens.close)
        cache = None
        if server.cache_max_mb > 0:
            cache = LocalCacheStore(
                server.state_dir / "cache", capacity_bytes=_bytes(server.cache_max_mb), clock=clock
            )
            closers.append(cache.close)
    except BaseException:
        for close in reversed(closers):
            close()
        raise
    limiter = RateLimiter(server.rate_limit_per_minute)
    return Stores("embedded", jobs, tokens, limiter, cache, _closers=closers)


def _redis_stores(server: ServerConfig, clock: Callable[[], float]) -> Stores:
    with needs("redis", _REDIS_WHY):  # only with a Redis URL: the redis extra
        from sluice.stores.redis.keys import open_redis
    client = open_redis(server)
    from sluice.stores.redis.cache import RedisCacheStore
    from sluice.stores.redis.jobs import RedisJobEvents, RedisJobStore
    from sluice.stores.redis.keys import Keys
    from sluice.stores.redis.ratelimit import RedisRateLimiter
    from sluice.stores.redis.tokens import RedisTokenStore

    keys = Keys(server.redis_prefix)
    replica_id = uuid.uuid4().hex[:12]
    jobs = RedisJobStore(
        client,
        keys,
        replica_id=replica_id,
        retention_s=server.result_retention_s,
        max_result_bytes=_bytes(server.redis_results_max_mb),
        history_retention_s=server.history_retention_days * 86400,
    )
    events = RedisJobEvents(
        client,
        keys,
        replica_id=replica_id,
        lease_s=server.lease_s,
        retention_s=server.result_retention_s,
    )
    cache = None
    if server.cache_max_mb > 0:
        cache = RedisCacheStore(
            client,
            keys,
            capacity_bytes=_bytes(server.cache_max_mb),
            max_stale_s=server.cache_max_stale_s,
            clock=clock,
        )
    limiter = RedisRateLimiter(client, keys, server.rate_limit_per_minute)
    return Stores(
        "redis",
        jobs,
        RedisTokenStore(client, keys),
        limiter,
        cache,
        events,
        replica_id,
        _closers=[client.close],
    )


@contextlib.contextmanager
def open_token_store(server: ServerConfig) -> Iterator[TokenStore]:
    """The token store ``sluice keys`` works on: Redis when configured, else SQLite."""
    if server.redis_url:
        with needs("redis", _REDIS_WHY):
            from sluice.stores.redis.keys import Keys, open_redis
        client = open_redis(server)
        from sluice.stores.redis.tokens import RedisTokenStore

        try:
            yield RedisTokenStore(client, Keys(server.redis_prefix))
        finally:
            client.close()
        return
    store = SqliteTokenStore(server.state_dir)
    try:
        yield store
    finally:
        store.close()


def _bytes(mb: float) -> int:
    return int(mb * (1 << 20))


def open_branches(server: ServerConfig) -> BranchStore:
    """Where branches live: Redis when replicas share one (every replica sees them), else the
    state directory."""
    from sluice.models.branches import FileBranchStore, RedisBranchStore

    if server.redis_url:
        with needs("redis", "branches shared by replicas (server.redis_url)"):
            from sluice.stores.redis.keys import open_redis
        return RedisBranchStore(open_redis(server), server.redis_prefix)
    return FileBranchStore(server.state_dir)


def open_model_sync(server: ServerConfig) -> ModelSync | None:
    """How model changes made through the API reach every replica: Redis when configured
    (``sluice.stores.redis.models``); None on a single server (its folder is the model)."""
    if not server.redis_url:
        return None
    with needs("redis", "model changes shared by replicas (server.redis_url)"):
        from sluice.stores.redis.keys import open_redis
    from sluice.stores.redis.models import RedisModelSync

    return RedisModelSync(open_redis(server), server.redis_prefix)
