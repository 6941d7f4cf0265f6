"""Waiting for jobs (event loop): the terminal lines of a list of job ids, from live jobs, the
lines in memory, the job store, or (replicas) another replica's completion event."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from sluice.jobs.finished import FinishedJobs
from sluice.jobs.lines import unknown_job_line
from sluice.jobs.live import LiveJobs
from sluice.jobs.orphans import Orphans
from sluice.jobs.remote import RemoteJobs, RemoteWait
from sluice.jobs.types import Stored, WaitResult
from sluice.jobs.writer import JobWriter
from sluice.query.spec import is_uuid

Load = Callable[[Sequence[str]], Awaitable[dict[str, Stored]]]  # FinishedJobs.load, off the loop


class Waits:
    def __init__(
        self,
        live: LiveJobs,
        finished: FinishedJobs,
        remote: RemoteJobs,
        orphans: Orphans,
        *,
        writer: JobWriter,
        load: Load,
        shared: bool,
    ) -> None:
        """``shared``: the store is shared by replicas (with completion events)."""
        self._live = live
        self._finished = finished
        self._remote = remote
        self._orphans = orphans
        self._writer = writer
        self._load = load
        self._shared = shared

    async def wait(
        self, organization_id: str, job_ids: Sequence[str], timeout: float
    ) -> WaitResult:
        """Terminal lines for ``job_ids``, holding up to ``timeout`` s until every one is done.

        A job of another organization, an expired one and an id that never existed all get the
        same "Unable to find job" line. With replicas, a job running on another replica is
        waited for through its completion event.
        """
        lines: dict[str, bytes] = {}
        pending: dict[str, asyncio.Future[Any]] = {}
        misses: list[str] = []
        for job_id in job_ids:
            live = self._live.get(job_id)
            if live is not None:
                if live.record.organization_id == organization_id:
                    pending[job_id] = live.done
                else:
                    lines[job_id] = unknown_job_line(job_id)
                continue
            finished = self._finished.in_memory(job_id)
            if finished is None and not is_uuid(job_id):
                lines[job_id] = unknown_job_line(job_id)
            elif finished is None or finished.line is None:
                misses.append(job_id)
            elif self._finished.visible(finished, organization_id):
                lines[job_id] = finished.line
            else:
                lines[job_id] = unknown_job_line(job_id)
        watches: dict[str, RemoteWait] = {}
        watched = [live for i in pending if (live := self._live.get(i)) is not None]
        self._orphans.watched(watched)
        try:
            if misses:
                if self._shared:  # before reading: no completion slips between
                    watches = {
                        job_id: self._remote.watch(job_id) for job_id in dict.fromkeys(misses)
                    }
                found, running = await self.load_lines(organization_id, misses)
                lines.update(found)
                for job_id in running:
                    pending[job_id] = watches[job_id].future
            if pending and timeout > 0:
                await asyncio.wait(pending.values(), timeout=timeout)
            remaining: list[str] = []
            document_ids: list[str] = []
            for job_id, future in pending.items():
                if not future.done():
                    remaining.append(job_id)
                elif job_id in watches:
                    lines[job_id] = self._finished.remote_line(
                        job_id, future.result(), organization_id
                    )
                elif (line := future.result().line) is not None:
                    lines[job_id] = line
                else:
                    document_ids.append(job_id)
            if document_ids:
                found, _ = await self.load_lines(organization_id, document_ids)
                lines.update(found)
        finally:
            self._orphans.unwatched(watched)
            for job_id, watch in watches.items():
                self._remote.unwatch(job_id, watch)
        ordered = [lines[job_id] for job_id in dict.fromkeys(job_ids) if job_id in lines]
        return WaitResult(ordered, remaining)

    async def load_lines(
        self, organization_id: str, job_ids: list[str]
    ) -> tuple[dict[str, bytes], list[str]]:
        """Lines of jobs that are not in memory (or document jobs), rendered from the store, and
        the ids the shared store holds as running elsewhere (replicas only)."""
        if any(job_id in self._finished.unsaved for job_id in job_ids):
            await asyncio.wrap_future(self._writer.flush_future())
        loaded = await self._load(job_ids)
        return self._finished.lines_of(organization_id, job_ids, loaded)

    async def load_one(self, job_id: str) -> Stored | None:
        return (await self._load([job_id])).get(job_id)
