"""The job store protocol: where job records and results live.

``JobStore`` is the protocol the job service writes through; ``JobEvents`` is what replicas
sharing a store tell each other (completion, cancel requests). The implementations live in
``sluice.stores``: ``embedded.jobs.SqliteJobStore`` (the default, one process) and
``redis.jobs.RedisJobStore`` with ``RedisJobEvents`` (several replicas).

Both keep one rule: a terminal record is final. A later write of the same job (a terminal one
from a replica that lost its lease, a stale running one) never replaces it. Every method blocks
and is thread-safe; the service calls them from worker threads or its store thread, never from
the event loop.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, TypeAlias

import pyarrow as pa

from sluice.jobs.history import HistoryQuery
from sluice.jobs.record import JobRecord
from sluice.results.stream import ResultFile

RESTARTED_MESSAGE = (
    "The server stopped while this job was running, so it has no result; run the query again."
)

# A COMPLETE job's result: the IPC stream bytes, or a file holding them (a cache entry's path,
# or a large result streamed to disk): a store that keeps files links it, never copies it.
StoredResult: TypeAlias = "pa.Buffer | bytes | Path | ResultFile | None"


@dataclass(frozen=True, slots=True)
class StoredJob:
    record: JobRecord
    result: bytes | None  # the IPC stream of a COMPLETE job (None if its file went missing)


class JobStore(Protocol):
    """Job records and results. Every method blocks and is thread-safe: the service calls them
    from its writer, worker and store threads, never from the event loop."""

    inline_max: int  # results up to this size are read whole; larger ones may be streamed
    shared: bool  # other processes read and write this store (replicas)

    def write_batch(self, items: Sequence[tuple[JobRecord, StoredResult]]) -> None:
        """Write several jobs: a terminal record (and its result) replaces a running one; a
        running record replaces a running one; nothing replaces a terminal record."""
        ...

    def get(self, job_id: str) -> StoredJob | None:
        """The job's record, and its result when it is COMPLETE (None if the result is gone)."""
        ...

    def recover(self, now: float) -> int:
        """Fail the jobs an earlier run of this process left running; returns how many."""
        ...

    def purge(self, finished_before: float) -> int:
        """Delete what finished before ``finished_before``; returns how many jobs."""
        ...

    def history(self, query: HistoryQuery) -> list[JobRecord]:
        """Up to ``query.limit`` records matching ``query``, newest first (query history)."""
        ...

    def purge_history(self, created_before: float) -> int:
        """Forget the history of jobs created before ``created_before``; returns how many."""
        ...

    def check(self) -> None:
        """Raise when the store cannot be used (readiness)."""
        ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class EventHandlers:
    """What a job service does when replicas report something. Called on the events thread."""

    finished: Callable[[str], None]  # a job reached a terminal state (on any replica)
    cancel: Callable[[str], None]  # someone asked to cancel a job (it may be running here)
    resync: Callable[[], None]  # events may have been missed (a reconnect): check again
    orphaned: Callable[[int], None]  # this replica failed jobs whose replica stopped


class JobEvents(Protocol):
    """Completion events and cancel requests between replicas sharing a store, plus the lease
    that marks this replica alive (its running jobs fail when it expires)."""

    replica_id: str

    def start(self, handlers: EventHandlers) -> None: ...

    def request_cancel(self, job_id: str) -> None:
        """Ask whichever replica runs ``job_id`` to cancel it (blocking)."""
        ...

    def close(self) -> None: ...
