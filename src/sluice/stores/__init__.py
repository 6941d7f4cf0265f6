"""Stores: where a server keeps its state, chosen in one place (``select.open_stores``).

* ``embedded/``: SQLite and local disk, for one process (the default);
* ``redis/``: Redis, so several replicas act as one server (with ``server.redis_url``); its
  modules, and the ``redis`` package, are imported only when a Redis URL is configured.

The protocols they implement stay with the code that uses them: ``sluice.jobs.store``
(``JobStore``, ``JobEvents``), ``sluice.cache.store`` (``CacheStore``), ``sluice.auth.tokens``
(``TokenStore``) and ``sluice.auth.ratelimit`` (``RateLimit``).
"""
