"""Where a server keeps its state: the embedded stores, or Redis when a URL is configured.

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
from typing import TYPE_CHECKING

from sluice.auth.ratelimit import RateLimit, RateLimiter
from sluice.auth.tokens import SqliteTokenStore, TokenStore
from sluice.cache.local import LocalCacheStore
from sluice.cache.store import CacheStore
from sluice.config import ServerConfig
from sluice.errors import ConfigError
from sluice.extras import needs
from sluice.jobs.store import JobEvents, JobStore, SqliteJobStore

if TYPE_CHECKING:
    import redis

log = logging.getLogger("sluice.replicas")


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
    client = open_redis(server)
    from sluice.replicas.cache import RedisCacheStore
    from sluice.replicas.jobs import RedisJobEvents, RedisJobStore
    from sluice.replicas.keys import Keys
    from sluice.replicas.ratelimit import RedisRateLimiter
    from sluice.replicas.tokens import RedisTokenStore

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


def open_redis(server: ServerConfig) -> redis.Redis:
    """A client for ``server.redis_url``, checked with a PING (a clear error when unreachable)."""
    with needs("redis", "a Redis URL (server.redis_url or SLUICE_REDIS_URL)"):
        import redis

        from sluice.replicas.keys import connect
    url = server.redis_url or ""
    client = connect(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        where = url.rpartition("@")[2]
        raise ConfigError(f"cannot reach Redis at {where}: {exc}") from None
    return client


@contextlib.contextmanager
def open_token_store(server: ServerConfig) -> Iterator[TokenStore]:
    """The token store ``sluice keys`` works on: Redis when configured, else SQLite."""
    if server.redis_url:
        client = open_redis(server)
        from sluice.replicas.keys import Keys
        from sluice.replicas.tokens import RedisTokenStore

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
