"""Replicas: the Redis implementations of the stores, so several ``sluice serve`` processes (on
one host or many, behind any load balancer) act as one server.

With ``SLUICE_REDIS_URL`` (or ``server.redis_url``) set, every replica keeps in Redis:

* jobs (``jobs.RedisJobStore``): records and results, bounded in bytes and kept for
  ``result_retention_s``; completion events on a pub/sub channel wake ``/query/wait`` on any
  replica; a lease per replica (``jobs.RedisJobEvents``) fails the jobs of a replica that dies;
* the result cache (``cache.RedisCacheStore``), bounded in bytes, least recently used out;
* API keys (``tokens.RedisTokenStore``) and rate limits (``ratelimit.RedisRateLimiter``);
* model changes made through the API and each model's version (``models.RedisModelSync``),
  which every replica applies to its own copy of the model folder.

Without it, the embedded stores (SQLite and local disk) are used. ``state.open_stores`` picks.
"""
