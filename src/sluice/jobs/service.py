"""The job service: submit a query as a job, run it off the loop, and wake waiters at once.

This module is the facade (submit, wait, cancel, status, history, lifecycle). Behind it, each
concern has its module: ``worker`` (pool threads: compile, the fast path, flights, the one "run
on a slot" path), ``hits`` (the one cache-hit decision), ``live`` (live jobs, published or
killed), ``finished`` (finished jobs' lines), ``waits``, ``remote`` (replica waits), ``orphans``,
``maintenance`` and ``lines`` (Omni's job-line format).

Ownership and threads: the event loop owns the live-job table, the finished-line cache and every
waiter future; a bounded pool of ``workers`` threads compiles, executes and encodes and hands
the rendered line to the loop (``call_soon_threadsafe``), which resolves the job's future, so
every request waiting on it wakes in the same loop iteration; the job writer thread persists
job state with group commits (``sluice.jobs.writer``): a job is written when it ends, and also
when its id leaves a run response as still running; one store thread serves the loop's store
reads and maintenance.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Any, TypeVar

from sluice.cache import ResultCache
from sluice.jobs.finished import FinishedJobs
from sluice.jobs.flights import Flights
from sluice.jobs.gauges import job_gauges
from sluice.jobs.history import HistoryQuery
from sluice.jobs.lines import (
    dumps,
    progress,
    unknown_job_line,
)
from sluice.jobs.live import LiveJobs
from sluice.jobs.maintenance import Maintenance
from sluice.jobs.memory import UuidSource
from sluice.jobs.orphans import Orphans
from sluice.jobs.queues import ConnectionQueues
from sluice.jobs.record import JobRecord
from sluice.jobs.remote import RemoteJobs
from sluice.jobs.state import JobStatus
from sluice.jobs.store import EventHandlers, JobEvents, JobStore
from sluice.jobs.types import (
    CANCELLED_MESSAGE,
    SHUTDOWN_MESSAGE,
    Finished,
    JobRequest,
    LiveJob,
    Outcome,
    QueryBackend,
    Running,
    ScopeOf,
    WaitResult,
    default_connection,
)
from sluice.jobs.waits import Waits
from sluice.jobs.worker import Worker
from sluice.jobs.writer import JobWriter
from sluice.observability.metrics import Metrics
from sluice.query.spec import is_uuid

log = logging.getLogger("sluice.jobs")

T = TypeVar("T")

REMOTE_CANCEL_WAIT_S = 5.0  # a cancel sent to another replica: how long to wait for its line


class JobService:
    def __init__(
        self,
        backend: QueryBackend,
        store: JobStore,
        *,
        workers: int,
        retention_s: float,
        history_retention_s: float = 30 * 86400.0,
        query_timeout_s: float = 0.0,
        orphan_timeout_s: float = 0.0,
        result_memory_bytes: int = 256 << 20,
        max_result_bytes: int = 0,
        cache: ResultCache | None = None,
        scope: ScopeOf | None = None,
        clock: Callable[[], float] = time.time,
        events: JobEvents | None = None,
        limits: Mapping[str, int] | None = None,
        connection_of: Callable[[str], str] | None = None,
        metrics: Metrics | None = None,
        model_version: Callable[[str], str] | None = None,
    ) -> None:
        """``limits``: statements at once per connection name (more wait in FIFO order);
        ``connection_of``: a model id's connection name. Without them every job shares one
        queue of ``workers`` slots. ``events``: completion events of replicas sharing ``store``."""
        self._store = store
        self._history_retention_s = history_retention_s
        self._query_timeout_s = query_timeout_s
        self._result_cache = cache
        self._clock = clock
        self._queues = ConnectionQueues(limits or {}, default_limit=workers)
        self._connection_of = connection_of or default_connection
        # A thread for every statement slot, and ``workers`` more to compile and answer hits.
        threads = max(1, workers) + self._queues.capacity
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="sluice-job")
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="sluice-store")
        self._writer = JobWriter(store, on_written=self._on_written)
        self._flights = Flights()
        self._ids = UuidSource()
        self._events = events
        self.metrics = metrics if metrics is not None else Metrics()
        self._finished = FinishedJobs(
            store,
            retention_s=retention_s,
            memory_bytes=result_memory_bytes,
            clock=clock,
            shared=events is not None,
        )
        self._live = LiveJobs(
            self._finished,
            writer=self._writer,
            flights=self._flights,
            queues=self._queues,
            clock=clock,
            metrics=self.metrics,
            call_on_loop=self._call_on_loop,
        )
        self._worker = Worker(
            backend,
            pool=self._pool,
            queues=self._queues,
            flights=self._flights,
            writer=self._writer,
            cache=cache,
            scope=scope,
            inline_max=store.inline_max,
            max_result_bytes=max_result_bytes,
            connection_of=self._connection_of,
            clock=clock,
            metrics=self.metrics,
            finish=self._live.finish,
            model_version=model_version,
        )
        self._remote = RemoteJobs(
            self._live.jobs,
            self._finished,
            load=functools.partial(self._in_store, self._finished.load),
            get=functools.partial(self._in_store, store.get),
            kill=self._live.kill,
            loop=self._require_loop,
        )
        # A running job nobody waits on for this long is cancelled (0: never). Embedded store
        # only: with replicas a job may be waited on through another replica.
        self._maintenance = Maintenance(
            store,
            self._finished,
            cache,
            retention_s=retention_s,
            history_retention_s=history_retention_s,
            clock=clock,
            in_store=self._in_store,
        )
        self._orphans = Orphans(
            orphan_timeout_s if events is None else 0.0,
            kill=self._live.kill,
            loop=self._require_loop,
            metrics=self.metrics,
        )
        self._waits = Waits(
            self._live,
            self._finished,
            self._remote,
            self._orphans,
            writer=self._writer,
            load=functools.partial(self._in_store, self._finished.load),
            shared=events is not None,
        )
        self.metrics.add_source(lambda: job_gauges(self._queues, self._live.values()))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._purger: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        await self._maintenance.at_start()
        if self._events is not None:
            remote = self._remote
            handlers = EventHandlers(
                finished=functools.partial(self._call_on_loop, remote.finished_elsewhere),
                cancel=functools.partial(self._call_on_loop, remote.cancel_requested),
                resync=functools.partial(self._call_on_loop, remote.resync),
                orphaned=self.metrics.orphaned.inc,
            )
            await asyncio.to_thread(self._events.start, handlers)
        self._purger = asyncio.create_task(self._maintenance.forever(), name="sluice-job-purge")

    async def close(self, grace_s: float = 10.0) -> None:
        """Let running jobs finish for up to ``grace_s``, cancel the rest, flush the store."""
        self._closed = True
        if self._purger is not None:
            self._purger.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._purger
        running = [live.done for live in self._live.values()]
        if running:
            await asyncio.wait(running, timeout=grace_s)
        for live in list(self._live.values()):
            self._live.kill(live, SHUTDOWN_MESSAGE)
        self._flights.cancel_all()  # background refreshes and statements nobody waits for
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=False)
        await asyncio.to_thread(self._writer.close)
        if self._events is not None:  # after the writer: this replica's jobs are all stored
            await asyncio.to_thread(self._events.close)
        self._remote.close()
        await asyncio.to_thread(self._store_thread.shutdown, wait=True)

    @property
    def running(self) -> int:
        return len(self._live)

    @property
    def executing(self) -> int:
        """Warehouse executions in flight (shared by identical queries)."""
        return len(self._flights)

    @property
    def executions(self) -> int:
        """Warehouse executions started since the service started."""
        return self._flights.started

    @property
    def queues(self) -> ConnectionQueues:
        return self._queues

    @property
    def replica_id(self) -> str | None:
        return self._events.replica_id if self._events is not None else None

    def check(self) -> None:
        """Raise when the job store cannot be used (blocking: readiness runs it in a thread)."""
        self._store.check()

    # -- submit (event loop) -------------------------------------------------------------------

    def submit(self, request: JobRequest) -> JobRecord:
        """Create a job and queue it on the worker pool. Returns at once."""
        loop = self._require_loop()
        if self._closed:
            raise RuntimeError("the job service is shut down")
        connection = self._connection_of(request.target)
        record = JobRecord(
            id=self._ids.next(),
            client_result_id=self._ids.next(),
            organization_id=request.organization_id,
            user_id=request.user.id if request.user else None,
            model_id=request.model_id,
            status=JobStatus.ADDED,
            created_at=self._clock(),
            plan_only=request.plan_only,
            request_query=dict(request.query),
            connection=connection,
        )
        live = LiveJob(record, request, loop.create_future(), connection)
        self._live[record.id] = live
        answer = self._worker.answer_on_loop(live)
        if answer is not None:
            self._live.publish(live, *answer)
            return record
        if self._query_timeout_s > 0:
            timeout = self._query_timeout_s
            live.deadline = loop.call_later(timeout, self._live.expire, live, timeout)
        self._orphans.arm(live)
        self._pool.submit(self._worker.work, live)
        return record

    async def run_document(self, request: JobRequest, timeout: float) -> tuple[str, Outcome | None]:
        """Submit a document job and wait up to ``timeout`` s: its id and outcome, or None when
        it is still running (its id then leaves the server, so it is persisted first)."""
        record = self.submit(request)
        live = self._live[record.id]
        if timeout > 0:
            self._orphans.watched([live])
            try:
                await asyncio.wait([live.done], timeout=timeout)
            finally:
                self._orphans.unwatched([live])
        if live.done.done():
            return record.id, live.done.result()
        await self.persist(record.id)
        return record.id, None

    def submit_watched(self, request: JobRequest) -> tuple[JobRecord, asyncio.Future[Outcome]]:
        """``submit`` a document job, also handing back the future its outcome resolves (for
        callers that hold the result themselves: the Flight SQL endpoint). Event loop only."""
        if not request.document:
            raise ValueError("submit_watched takes document jobs only")
        record = self.submit(request)  # a document job is never answered inside submit
        return record, self._live[record.id].done

    async def persist(self, job_id: str) -> None:
        """Put a running job on disk, and wait until it is there.

        Called before a job id leaves the server as still running, so that a restart reports
        it (as failed) instead of not knowing it. A job that finishes inside the run window is
        only ever written once, finished.
        """
        live = self._live.get(job_id)
        if live is not None:
            live.exposed = True
            self._writer.put(live.record)
        await asyncio.wrap_future(self._writer.flush_future())

    # -- wait, cancel, status, history (event loop) --------------------------------------------

    async def wait(
        self, organization_id: str, job_ids: Sequence[str], timeout: float
    ) -> WaitResult:
        """Terminal lines for ``job_ids``, holding up to ``timeout`` s until every one is done.

        A job of another organization, an expired one and an id that never existed all get the
        same "Unable to find job" line. With replicas, a job running on another replica is
        waited for through its completion event.
        """
        return await self._waits.wait(organization_id, job_ids, timeout)

    async def cancel(self, organization_id: str, job_id: str) -> bytes | None:
        """Cancel a running job (it ends ``ERROR``/``KILL``); a finished one is left as it is.
        A queued job leaves its queue. A job running on another replica is asked to stop there.

        Returns the job's terminal line, or None for a job this organization cannot see.
        """
        live = self._live.get(job_id)
        if live is not None:
            if live.record.organization_id != organization_id:
                return None
            self._live.kill(live, CANCELLED_MESSAGE.format(job_id=job_id))
            if live.done.done() and (line := live.done.result().line) is not None:
                return line
        elif self._events is not None and is_uuid(job_id):
            stored = await self._waits.load_one(job_id)
            if isinstance(stored, Running) and stored.organization_id == organization_id:
                await asyncio.to_thread(self._events.request_cancel, job_id)
                waited = await self.wait(organization_id, [job_id], REMOTE_CANCEL_WAIT_S)
                if waited.remaining:
                    return dumps(progress(stored.record, None)) + b"\n"
                return waited.lines[0] if waited.lines else None
        waited = await self.wait(organization_id, [job_id], 0)
        found = waited.lines[0] if waited.lines else None
        return None if found is None or found == unknown_job_line(job_id) else found

    async def status(self, organization_id: str, job_id: str) -> bytes | dict[str, Any] | None:
        """A finished job's line; ``{"job_id", "status": "QUEUED"|"RUNNING", "queue_position"
        (queued only), "connection"}`` for one still going; None for one this organization
        cannot see. (The queue position is known to the replica holding the job.)"""
        live = self._live.get(job_id)
        if live is not None:
            if live.record.organization_id != organization_id:
                return None
            flight = live.flight
            ticket = flight.ticket if flight is not None else None
            position = self._queues.position(ticket) if ticket is not None else None
            body = progress(live.record, position, local=True)
            if flight is not None and body["status"] == "RUNNING":
                fraction = flight.cancel.progress()
                body["progress"] = None if fraction is None else round(fraction, 4)
            return body
        waited = await self.wait(organization_id, [job_id], 0)
        if waited.lines:
            line = waited.lines[0]
            return None if line == unknown_job_line(job_id) else line
        if waited.remaining:  # running on another replica
            stored = await self._waits.load_one(job_id)
            if isinstance(stored, Running):
                return progress(stored.record, None)
            if isinstance(stored, Finished) and stored.line is not None:
                return stored.line
        return None

    async def history(self, query: HistoryQuery) -> list[JobRecord]:
        """A page of the organization's query history, newest first: the stored jobs (what
        finished a moment ago included) and the ones running here."""
        created_after = max(query.created_after, self._clock() - self._history_retention_s)
        query = replace(query, created_after=created_after)
        await asyncio.wrap_future(self._writer.flush_future())
        stored = await self._in_store(self._store.history, query)
        merged = {record.id: record for record in stored}
        for live in self._live.values():
            if query.matches(live.record):
                merged[live.record.id] = live.record
        ordered = sorted(merged.values(), key=lambda r: (r.created_at, r.id), reverse=True)
        return ordered[: query.limit]

    def _on_written(self, job_ids: list[str]) -> None:
        """Writer thread: these finished jobs are on disk."""
        self._call_on_loop(self._finished.written, job_ids)

    # -- helpers -------------------------------------------------------------------------------

    async def _in_store(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.wrap_future(self._store_thread.submit(fn, *args))

    def _call_on_loop(self, fn: Callable[..., None], *args: Any) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed under us: shutdown
            loop.call_soon_threadsafe(fn, *args)

    def _require_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            raise RuntimeError("JobService.start() has not been awaited")
        return self._loop
