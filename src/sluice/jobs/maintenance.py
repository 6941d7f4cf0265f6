"""The job service's housekeeping (event loop, the store work in the store thread): recover and
purge at start, then purge expired jobs, history and cache entries periodically."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sluice.cache import ResultCache
from sluice.jobs.finished import FinishedJobs
from sluice.jobs.store import JobStore

log = logging.getLogger("sluice.jobs")

InStore = Callable[..., Awaitable[Any]]  # runs a blocking call in the store thread


class Maintenance:
    def __init__(
        self,
        store: JobStore,
        finished: FinishedJobs,
        cache: ResultCache | None,
        *,
        retention_s: float,
        history_retention_s: float,
        clock: Callable[[], float],
        in_store: InStore,
    ) -> None:
        self._store = store
        self._finished = finished
        self._cache = cache
        self._retention_s = retention_s
        self._history_retention_s = history_retention_s
        self._clock = clock
        self._in_store = in_store

    async def at_start(self) -> None:
        recovered = await self._in_store(self._store.recover, self._clock())
        if recovered:
            log.warning(
                "%d job(s) were running when the server last stopped: marked ERROR", recovered
            )
        await self._in_store(self._store.purge, self._clock() - self._retention_s)
        await self._in_store(self._store.purge_history, self._clock() - self._history_retention_s)

    async def forever(self) -> None:
        interval = min(60.0, max(1.0, self._retention_s / 10))
        while True:
            await asyncio.sleep(interval)
            horizon = self._clock() - self._retention_s
            self._finished.expire(horizon)
            try:
                purged = await self._in_store(self._store.purge, horizon)
                await self._in_store(
                    self._store.purge_history, self._clock() - self._history_retention_s
                )
                if self._cache is not None:
                    await self._in_store(self._cache.purge)
            except Exception:
                log.exception("purging expired jobs failed")
                continue
            if purged:
                log.info("purged %d expired job(s)", purged)
