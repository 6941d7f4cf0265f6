"""Replica waits (a shared store with ``JobEvents``), on the event loop.

A wait for a job this process does not hold reads the shared store; a job still running
elsewhere gets a *remote* future, registered before the read so no completion can slip between,
and resolved when the job's completion event arrives (``finished_elsewhere``). A completion
event for a job this process is still running means another replica failed it (this replica's
lease had expired): the local run is killed with the stored message, so every replica answers
the same.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from sluice.jobs.finished import FinishedJobs
from sluice.jobs.store import StoredJob
from sluice.jobs.types import CANCELLED_MESSAGE, SHUTDOWN_MESSAGE, LiveJob, Running, Stored

log = logging.getLogger("sluice.jobs")


class RemoteWait:
    """Waiters on a job of another replica share one future, resolved by its completion event
    with what the store then holds (None: nothing, the job is unknown or expired)."""

    __slots__ = ("future", "refs")

    def __init__(self, future: asyncio.Future[Stored | None]) -> None:
        self.future = future
        self.refs = 0


class RemoteJobs:
    def __init__(
        self,
        live: dict[str, LiveJob],
        finished: FinishedJobs,
        *,
        load: Callable[[Sequence[str]], Awaitable[dict[str, Stored]]],
        get: Callable[[str], Awaitable[StoredJob | None]],
        kill: Callable[[LiveJob, str], None],
        loop: Callable[[], asyncio.AbstractEventLoop],
    ) -> None:
        """``load`` and ``get`` read the store in its thread; ``kill`` ends a live job."""
        self._live = live
        self._finished = finished
        self._load = load
        self._get = get
        self._kill = kill
        self._loop = loop
        self._remote: dict[str, RemoteWait] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def watch(self, job_id: str) -> RemoteWait:
        watch = self._remote.get(job_id)
        if watch is None or watch.future.done():
            watch = self._remote[job_id] = RemoteWait(self._loop().create_future())
        watch.refs += 1
        return watch

    def unwatch(self, job_id: str, watch: RemoteWait) -> None:
        watch.refs -= 1
        if watch.refs <= 0 and self._remote.get(job_id) is watch:
            del self._remote[job_id]

    def finished_elsewhere(self, job_id: str) -> None:
        """A job reached a terminal state in the shared store (its completion event)."""
        live = self._live.get(job_id)
        if live is not None:  # ours, still running: another replica failed it (lease expired)
            self._spawn(self._adopt_end(live))
        watch = self._remote.get(job_id)
        if watch is not None and not watch.future.done():
            self._spawn(self._resolve_remote(job_id, watch))

    def cancel_requested(self, job_id: str) -> None:
        live = self._live.get(job_id)
        if live is not None:
            self._kill(live, CANCELLED_MESSAGE.format(job_id=job_id))

    def resync(self) -> None:
        """Events may have been missed (the listener reconnected): look at the store again."""
        for job_id, watch in list(self._remote.items()):
            if not watch.future.done():
                self._spawn(self._resolve_remote(job_id, watch))
        for live in list(self._live.values()):
            if live.exposed:
                self._spawn(self._adopt_end(live))

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    async def _resolve_remote(self, job_id: str, watch: RemoteWait) -> None:
        stored = (await self._load([job_id])).get(job_id)
        if isinstance(stored, Running) or watch.future.done():
            return  # not finished after all (a resync): its event is still to come
        if stored is not None and stored.line is not None:
            self._finished.cache.put(job_id, stored)
        watch.future.set_result(stored)

    async def _adopt_end(self, live: LiveJob) -> None:
        stored = await self._get(live.record.id)
        if stored is None or not stored.record.is_terminal or live.done.done():
            return
        log.warning(
            "job %s was ended by another replica (%s)", live.record.id,
            stored.record.error_message, extra={"job_id": live.record.id},
        )  # fmt: skip
        self._kill(live, stored.record.error_message or SHUTDOWN_MESSAGE)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
