"""The lines of finished jobs: held in memory, rendered from the job store when not.

Until the writer reports a finished job written, its line is pinned in ``unsaved`` (never
evicted), so a job that finished is always deliverable, from memory or from disk. A document job
(``resultType``) renders no NDJSON line unless asked: its line is rendered from the job store if
its id ever leaves the server (a 408) and someone waits for it.

``load`` runs in the store thread; everything else on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from sluice.jobs.lines import job_line, unknown_job_line
from sluice.jobs.memory import LineCache
from sluice.jobs.store import JobStore
from sluice.jobs.types import Finished, Running, Stored
from sluice.results.arrow import b64encode

log = logging.getLogger("sluice.jobs")


class FinishedJobs:
    def __init__(
        self,
        store: JobStore,
        *,
        retention_s: float,
        memory_bytes: int,
        clock: Callable[[], float],
        shared: bool,
    ) -> None:
        """``shared``: the store is shared by replicas (a job it holds as running may run
        elsewhere)."""
        self._store = store
        self._retention_s = retention_s
        self._clock = clock
        self._shared = shared
        self.unsaved: dict[str, Finished] = {}
        self.cache = LineCache(memory_bytes)

    def in_memory(self, job_id: str) -> Finished | None:
        return self.unsaved.get(job_id) or self.cache.get(job_id)

    def published(self, job_id: str, finished: Finished) -> None:
        self.unsaved[job_id] = finished

    def written(self, job_ids: list[str]) -> None:
        """These finished jobs are on disk: their lines may now be evicted."""
        for job_id in job_ids:
            finished = self.unsaved.pop(job_id, None)
            if finished is not None and finished.line is not None:
                self.cache.put(job_id, finished)

    def expire(self, horizon: float) -> None:
        self.cache.expire(horizon)
        for job_id in [j for j, f in self.unsaved.items() if f.finished_at < horizon]:
            del self.unsaved[job_id]  # the writer failed on these; they are past retention

    def visible(self, finished: Finished, organization_id: str) -> bool:
        return (
            finished.organization_id == organization_id
            and finished.finished_at >= self._clock() - self._retention_s
        )

    def lines_of(
        self, organization_id: str, job_ids: list[str], loaded: dict[str, Stored]
    ) -> tuple[dict[str, bytes], list[str]]:
        """Lines of jobs ``load`` rendered from the store, and the ids the shared store holds
        as running elsewhere (replicas only)."""
        lines: dict[str, bytes] = {}
        running: list[str] = []
        for job_id in job_ids:
            found = loaded.get(job_id)
            if isinstance(found, Running):
                if self._shared and found.organization_id == organization_id:
                    running.append(job_id)
                else:
                    lines[job_id] = unknown_job_line(job_id)
                continue
            if found is not None and job_id not in self.unsaved:
                self.cache.put(job_id, found)
            if found is not None and found.line and self.visible(found, organization_id):
                lines[job_id] = found.line
            else:
                lines[job_id] = unknown_job_line(job_id)
        return lines, running

    def remote_line(self, job_id: str, stored: Stored | None, organization_id: str) -> bytes:
        if isinstance(stored, Finished) and stored.line and self.visible(stored, organization_id):
            return stored.line
        return unknown_job_line(job_id)

    def load(self, job_ids: Sequence[str]) -> dict[str, Stored]:
        """Render the lines of stored jobs (after a restart, once evicted from memory, or run by
        another replica); a job the store holds as running is ``Running``. Store thread."""
        found: dict[str, Stored] = {}
        horizon = self._clock() - self._retention_s
        for job_id in job_ids:
            stored = self._store.get(job_id)
            if stored is None:
                continue
            record = stored.record
            if not record.is_terminal:
                found[job_id] = Running(record.organization_id, record)
                continue
            if (record.finished_at or 0.0) < horizon:
                continue
            if record.has_result and stored.result is None:
                log.warning("job %s: its result is no longer stored", job_id)
                continue
            b64 = b64encode(stored.result) if stored.result is not None else None
            found[job_id] = Finished(
                record.organization_id, record.finished_at or 0.0, job_line(record, b64)
            )
        return found
