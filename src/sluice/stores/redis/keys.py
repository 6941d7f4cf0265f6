"""The Redis client sluice uses, and the name of every key, under one prefix.

All keys start with ``<prefix>:`` (``server.redis_prefix``, default ``sluice``), so several
deployments (or test runs) can share one Redis. The Lua scripts touch only keys under the same
prefix, which they build from it: use a single Redis server (or a primary with replicas), not a
Redis Cluster.
"""

from __future__ import annotations

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from sluice.config import ServerConfig
from sluice.errors import ConfigError


def connect(url: str) -> redis.Redis:
    """A client for ``url`` with short timeouts; blocking calls retry a few times on a dropped
    connection. Thread-safe (a connection pool)."""
    return redis.Redis.from_url(
        url,
        socket_connect_timeout=2.0,
        socket_timeout=5.0,
        health_check_interval=15,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.02), 3),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError],
    )


def open_redis(server: ServerConfig) -> redis.Redis:
    """A client for ``server.redis_url``, checked with a PING (a clear error when unreachable)."""
    url = server.redis_url or ""
    client = connect(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        where = url.rpartition("@")[2]
        raise ConfigError(f"cannot reach Redis at {where}: {exc}") from None
    return client


class Keys:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix.rstrip(":")
        p = self.prefix
        # jobs
        self.job_prefix = f"{p}:job:"
        self.result_prefix = f"{p}:result:"
        self.running = f"{p}:jobs:running"  # hash: job id -> replica id running it
        self.results = f"{p}:results:stored"  # zset: job id -> when its result was stored
        self.result_sizes = f"{p}:results:sizes"  # hash: job id -> bytes
        self.result_total = f"{p}:results:bytes"
        self.lease_prefix = f"{p}:lease:"
        self.done_channel = f"{p}:events:done"
        self.cancel_channel = f"{p}:events:cancel"
        self.history_prefix = f"{p}:history:job:"  # a job's record, kept for history retention
        self.history_org_prefix = f"{p}:history:org:"  # zset per organization: job id -> created
        # the result cache
        self.cache_entry_prefix = f"{p}:cache:entry:"
        self.cache_data_prefix = f"{p}:cache:data:"
        self.cache_lru = f"{p}:cache:lru"  # zset: cache key -> last used
        self.cache_sizes = f"{p}:cache:sizes"  # hash: cache key -> bytes
        self.cache_total = f"{p}:cache:bytes"
        # API tokens and rate limits
        self.tokens = f"{p}:tokens"  # hash: secret hash -> token JSON
        self.token_ids = f"{p}:tokens:ids"  # hash: public id -> secret hash
        self.rate_prefix = f"{p}:rate:"

    def job(self, job_id: str) -> str:
        return self.job_prefix + job_id

    def result(self, job_id: str) -> str:
        return self.result_prefix + job_id

    def history(self, job_id: str) -> str:
        return self.history_prefix + job_id

    def history_org(self, organization_id: str) -> str:
        return self.history_org_prefix + organization_id

    def lease(self, replica_id: str) -> str:
        return self.lease_prefix + replica_id

    def cache_entry(self, key: str) -> str:
        return self.cache_entry_prefix + key

    def cache_data(self, key: str) -> str:
        return self.cache_data_prefix + key

    def rate(self, token_id: str, window: int) -> str:
        return f"{self.rate_prefix}{token_id}:{window}"
