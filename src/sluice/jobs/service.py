"""The job service: submit a query as a job, run it off the loop, and wake waiters at once.

This module is the facade (submit, wait, cancel, status, history, lifecycle); each concern
behind it has its own module:

* ``sluice.jobs.worker``: the worker side (pool threads): compile, the cache, flights, and the
  one "run on a slot" path for flights and background refreshes;
* ``sluice.jobs.hits``: the one cache-hit decision, on the loop and in the worker;
* ``sluice.jobs.finished``: the lines of finished jobs, in memory or rendered from the store;
* ``sluice.jobs.remote``: waits for jobs of other replicas;
* ``sluice.jobs.orphans``: running jobs nobody waits on;
* ``sluice.jobs.lines``: Omni's job-line format.

Ownership and threads:

* the event loop owns the live-job table, the finished-line cache and every waiter future;
* a bounded pool of ``workers`` threads compiles, executes and encodes (the blocking part) and
  hands the rendered line to the loop (``call_soon_threadsafe``), which resolves the job's
  future: every request waiting on it wakes in the same loop iteration;
* the job writer thread persists job state with group commits (``sluice.jobs.writer``): a job
  is written when it ends, and also when its id leaves a run response as still running;
* one store thread serves the loop's store reads (re-delivery after a restart or an eviction)
  and maintenance.

The fast path: a query compiled before whose SQL does not depend on the clock (no relative
dates) is remembered with its compiled form; when such a query's result is in the cache and
small enough to be held in memory, ``submit`` answers it on the event loop at once, with no
thread hand-off, no compile and no file read.

Per connection, at most ``max_concurrency`` statements run at once (``sluice.jobs.queues``): a
flight's execution (or a background refresh) takes a slot of its connection's queue, and waits
in FIFO order when none is free; ``status`` reports a waiting job's place in the queue. Compiling
and answering from the cache take no slot, so a cached hit never waits behind a slow statement.
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

import pyarrow as pa

from sluice.cache import ResultCache
from sluice.jobs.finished import FinishedJobs
from sluice.jobs.flights import Flights
from sluice.jobs.gauges import job_gauges
from sluice.jobs.history import HistoryQuery
from sluice.jobs.lines import (
    dumps,
    executed_query,
    job_line,
    plan_summary,
    progress,
    unknown_job_line,
)
from sluice.jobs.memory import UuidSource, memo_key
from sluice.jobs.orphans import Orphans
from sluice.jobs.queues import ConnectionQueues
from sluice.jobs.record import JobRecord
from sluice.jobs.remote import RemoteJobs, RemoteWait
from sluice.jobs.state import TERMINAL, JobEvent, JobStatus
from sluice.jobs.store import EventHandlers, JobEvents, JobStore, StoredResult
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
    Stored,
    WaitResult,
    default_connection,
)
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
    ) -> None:
        """``limits``: statements at once per connection name (more wait in FIFO order);
        ``connection_of``: a model id's connection name. Without them every job shares one
        queue of ``workers`` slots. ``events``: completion events of replicas sharing ``store``."""
        self._store = store
        self._retention_s = retention_s
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
        self._live: dict[str, LiveJob] = {}
        self._events = events
        self.metrics = metrics if metrics is not None else Metrics()
        self._finished = FinishedJobs(
            store,
            retention_s=retention_s,
            memory_bytes=result_memory_bytes,
            clock=clock,
            shared=events is not None,
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
            finish=self._finish,
        )
        self._remote = RemoteJobs(
            self._live,
            self._finished,
            load=functools.partial(self._in_store, self._finished.load),
            get=functools.partial(self._in_store, store.get),
            kill=self._kill,
            loop=self._require_loop,
        )
        # A running job nobody waits on for this long is cancelled (0: never). Embedded store
        # only: with replicas a job may be waited on through another replica.
        self._orphans = Orphans(
            orphan_timeout_s if events is None else 0.0,
            kill=self._kill,
            loop=self._require_loop,
            metrics=self.metrics,
        )
        self._finished_count = {s: self.metrics.jobs.labels(s.value) for s in TERMINAL}
        self.metrics.add_source(lambda: job_gauges(self._queues, list(self._live.values())))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._purger: asyncio.Task[None] | None = None
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        recovered = await self._in_store(self._store.recover, self._clock())
        if recovered:
            log.warning(
                "%d job(s) were running when the server last stopped: marked ERROR", recovered
            )
        await self._in_store(self._store.purge, self._clock() - self._retention_s)
        await self._in_store(self._store.purge_history, self._clock() - self._history_retention_s)
        if self._events is not None:
            remote = self._remote
            handlers = EventHandlers(
                finished=functools.partial(self._call_on_loop, remote.finished_elsewhere),
                cancel=functools.partial(self._call_on_loop, remote.cancel_requested),
                resync=functools.partial(self._call_on_loop, remote.resync),
                orphaned=self.metrics.orphaned.inc,
            )
            await asyncio.to_thread(self._events.start, handlers)
        self._purger = asyncio.create_task(self._purge_forever(), name="sluice-job-purge")

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
            self._kill(live, SHUTDOWN_MESSAGE)
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
        connection = self._connection_of(request.model_id)
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
        if self._answer_on_loop(live):
            return record
        if self._query_timeout_s > 0:
            live.deadline = loop.call_later(self._query_timeout_s, self._expire, live)
        self._orphans.arm(live)
        self._pool.submit(self._worker.work, live)
        return record

    def _answer_on_loop(self, live: LiveJob) -> bool:
        """The fast path: answer from a small cached result of a query compiled before."""
        request, cache = live.request, self._result_cache
        if cache is None or not cache.local:  # a shared cache is a network call: not on the loop
            return False
        if request.plan_only or request.document or not request.cache.reads:
            return False
        memo = self._worker.compiled.get(memo_key(request))
        if memo is None:
            return False
        compiled = memo[0]

        def running() -> JobRecord:
            live.record = live.record.advance(JobEvent.START, started_at=self._clock()).advance(
                JobEvent.EXECUTE,
                summary=plan_summary(compiled),
                query=executed_query(request, compiled),
            )
            return live.record

        answer = self._worker.hits.answer(
            running,
            plan=memo[1].with_policy(request.cache),
            model_id=request.model_id,
            compiled=compiled,
            document=False,
            hot_only=True,
        )
        if answer is None:
            return False
        self._publish(live, *answer)
        return True

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
                if self._events is not None:  # before reading: no completion slips between
                    watches = {
                        job_id: self._remote.watch(job_id) for job_id in dict.fromkeys(misses)
                    }
                found, running = await self._load_lines(organization_id, misses)
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
                found, _ = await self._load_lines(organization_id, document_ids)
                lines.update(found)
        finally:
            self._orphans.unwatched(watched)
            for job_id, watch in watches.items():
                self._remote.unwatch(job_id, watch)
        ordered = [lines[job_id] for job_id in dict.fromkeys(job_ids) if job_id in lines]
        return WaitResult(ordered, remaining)

    async def cancel(self, organization_id: str, job_id: str) -> bytes | None:
        """Cancel a running job (it ends ``ERROR``/``KILL``); a finished one is left as it is.
        A queued job leaves its queue. A job running on another replica is asked to stop there.

        Returns the job's terminal line, or None for a job this organization cannot see.
        """
        live = self._live.get(job_id)
        if live is not None:
            if live.record.organization_id != organization_id:
                return None
            self._kill(live, CANCELLED_MESSAGE.format(job_id=job_id))
            if live.done.done() and (line := live.done.result().line) is not None:
                return line
        elif self._events is not None and is_uuid(job_id):
            stored = await self._load_one(job_id)
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
            stored = await self._load_one(job_id)
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

    async def _load_lines(
        self, organization_id: str, job_ids: list[str]
    ) -> tuple[dict[str, bytes], list[str]]:
        """Lines of jobs that are not in memory (or document jobs), rendered from the store, and
        the ids the shared store holds as running elsewhere (replicas only)."""
        if any(job_id in self._finished.unsaved for job_id in job_ids):
            await asyncio.wrap_future(self._writer.flush_future())
        loaded = await self._in_store(self._finished.load, job_ids)
        return self._finished.lines_of(organization_id, job_ids, loaded)

    async def _load_one(self, job_id: str) -> Stored | None:
        return (await self._in_store(self._finished.load, [job_id])).get(job_id)

    # -- finishing (event loop, or handed to it) -----------------------------------------------

    def _finish(self, live: LiveJob, outcome: Outcome, stored: StoredResult = None) -> None:
        self._call_on_loop(self._publish, live, outcome, stored)

    def _publish(self, live: LiveJob, outcome: Outcome, stored: StoredResult) -> None:
        if live.done.done():  # killed first: this late result is dropped
            if isinstance(outcome.result, pa.NativeFile):
                outcome.result.close()
            return
        record = outcome.record
        self._live.pop(record.id, None)
        if live.deadline is not None:
            live.deadline.cancel()
        if live.orphan_timer is not None:
            live.orphan_timer.cancel()
        self._finished_count[record.status].inc()
        self._finished.published(
            record.id, Finished(record.organization_id, record.finished_at or 0.0, outcome.line)
        )
        live.done.set_result(outcome)
        if live.request.document and not live.exposed:
            stored = None  # its id never left the server: nobody can ask for the result again
        self._writer.put(record, stored)

    def _kill(self, live: LiveJob, reason: str) -> None:
        """End a running job now as ``ERROR``/``KILL``; its statement is interrupted unless
        another job shares it."""
        if live.done.done():
            return
        live.cancel_reason = reason
        live.cancel.cancel()
        flight = live.flight
        if flight is not None:
            self._flights.leave(flight, live.record.id)
            ticket = flight.ticket
            if flight.cancel.cancelled and ticket is not None and self._queues.withdraw(ticket):
                self._flights.retire(flight)  # it waited for a slot: it leaves the queue unrun
        record = live.record.advance(
            JobEvent.FAIL, finished_at=self._clock(), error_type="KILL", error_message=reason
        )
        self._publish(live, Outcome(record, job_line(record)), None)

    def _expire(self, live: LiveJob) -> None:
        self._kill(
            live,
            f"The query ran longer than the server's limit of {self._query_timeout_s:g} s "
            "(server.query_timeout_s) and was cancelled.",
        )

    def _on_written(self, job_ids: list[str]) -> None:
        """Writer thread: these finished jobs are on disk."""
        self._call_on_loop(self._finished.written, job_ids)

    # -- helpers -------------------------------------------------------------------------------

    async def _purge_forever(self) -> None:
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
                if self._result_cache is not None:
                    await self._in_store(self._result_cache.purge)
            except Exception:
                log.exception("purging expired jobs failed")
                continue
            if purged:
                log.info("purged %d expired job(s)", purged)

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
