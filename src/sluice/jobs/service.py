"""The job service: submit a query as a job, run it off the loop, and wake waiters at once.

Ownership and threads:

* the event loop owns the live-job table, the finished-line cache and every waiter future;
* a bounded pool of ``workers`` threads compiles, executes and encodes (the blocking part) and
  hands the rendered line to the loop (``call_soon_threadsafe``), which resolves the job's
  future: every request waiting on it wakes in the same loop iteration;
* the job writer thread persists job state with group commits (``sluice.jobs.writer``): a job
  is written when it ends, and also when its id leaves a run response as still running;
* one store thread serves the loop's store reads (re-delivery after a restart or an eviction)
  and maintenance.

Until the writer reports a finished job written, its line is pinned in ``_unsaved`` (never
evicted), so a job that finished is always deliverable, from memory or from disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from sluice.compiler.types import CompiledQuery
from sluice.config import UserConfig
from sluice.engines.base import CancelToken
from sluice.errors import Cancelled, SluiceError, job_error_type
from sluice.jobs.lines import job_line, unknown_job_line
from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobEvent, JobStatus
from sluice.jobs.store import JobStore
from sluice.jobs.writer import JobWriter
from sluice.project import QueryResult
from sluice.results.arrow import EncodedResult, b64encode, encode_table

log = logging.getLogger("sluice.jobs")

T = TypeVar("T")

SHUTDOWN_MESSAGE = "The server shut down before this job finished; run the query again."


class QueryBackend(Protocol):
    """What a job needs from the project (``sluice.project.Project`` is one)."""

    def compile(
        self,
        model_id: str,
        query: Mapping[str, Any],
        *,
        now: datetime,
        user: UserConfig | None = None,
        timezone: str | None = None,
    ) -> CompiledQuery: ...

    def run(
        self, model_id: str, compiled: CompiledQuery, cancel: CancelToken | None = None
    ) -> QueryResult: ...


@dataclass(frozen=True, slots=True)
class JobRequest:
    organization_id: str
    user: UserConfig | None
    model_id: str
    query: Mapping[str, Any]
    plan_only: bool = False
    timezone: str | None = None


@dataclass(frozen=True, slots=True)
class WaitResult:
    lines: list[bytes]  # terminal job lines, in the order the ids were asked for
    remaining: list[str]  # ids still running when the window closed


class _Live:
    """A job that has not finished. ``record`` is replaced by the worker as the job advances."""

    __slots__ = ("cancel", "cancel_reason", "deadline", "done", "record", "request")

    def __init__(self, record: JobRecord, request: JobRequest, done: asyncio.Future[bytes]):
        self.record = record
        self.request = request
        self.done = done
        self.cancel = CancelToken()
        self.cancel_reason: str | None = None
        self.deadline: asyncio.TimerHandle | None = None


@dataclass(frozen=True, slots=True)
class _Finished:
    organization_id: str
    finished_at: float
    line: bytes


class _UuidSource:
    """Random (version 4) UUIDs from the OS's CSPRNG, read in blocks: one ``getrandom`` system
    call per 256 ids instead of one per id. Used from the event loop only."""

    _BLOCK = 256

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> str:
        if self._at >= len(self._pool):
            self._pool, self._at = os.urandom(16 * self._BLOCK), 0
        raw = self._pool[self._at : self._at + 16]
        self._at += 16
        return str(uuid.UUID(bytes=raw, version=4))


class LineCache:
    """Rendered lines of recently finished jobs, least recently used first out, bounded in bytes."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity = capacity_bytes
        self.size = 0
        self._lines: OrderedDict[str, _Finished] = OrderedDict()

    def get(self, job_id: str) -> _Finished | None:
        found = self._lines.get(job_id)
        if found is not None:
            self._lines.move_to_end(job_id)
        return found

    def put(self, job_id: str, finished: _Finished) -> None:
        self.pop(job_id)
        if len(finished.line) > self.capacity:
            return
        self._lines[job_id] = finished
        self.size += len(finished.line)
        while self.size > self.capacity:
            _, evicted = self._lines.popitem(last=False)
            self.size -= len(evicted.line)

    def pop(self, job_id: str) -> None:
        found = self._lines.pop(job_id, None)
        if found is not None:
            self.size -= len(found.line)

    def expire(self, finished_before: float) -> None:
        for job_id in [j for j, f in self._lines.items() if f.finished_at < finished_before]:
            self.pop(job_id)

    def __len__(self) -> int:
        return len(self._lines)


class JobService:
    def __init__(
        self,
        backend: QueryBackend,
        store: JobStore,
        *,
        workers: int,
        retention_s: float,
        query_timeout_s: float = 0.0,
        result_memory_bytes: int = 256 << 20,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._backend = backend
        self._store = store
        self._retention_s = retention_s
        self._query_timeout_s = query_timeout_s
        self._clock = clock
        self._pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="sluice-job")
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="sluice-store")
        self._writer = JobWriter(store, on_written=self._on_written)
        self._ids = _UuidSource()
        self._live: dict[str, _Live] = {}
        self._unsaved: dict[str, _Finished] = {}
        self._cache = LineCache(result_memory_bytes)
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
            live.cancel_reason = SHUTDOWN_MESSAGE
            live.cancel.cancel()
        running = [live.done for live in self._live.values()]
        if running:
            await asyncio.wait(running, timeout=5.0)
        await asyncio.to_thread(self._pool.shutdown, wait=True, cancel_futures=False)
        await asyncio.to_thread(self._writer.close)
        await asyncio.to_thread(self._store_thread.shutdown, wait=True)
        for live in list(self._live.values()):  # a worker the engine would not interrupt
            record = live.record.advance(
                JobEvent.FAIL,
                finished_at=self._clock(),
                error_type="KILL",
                error_message=SHUTDOWN_MESSAGE,
            )
            self._store.save(record)

    @property
    def running(self) -> int:
        return len(self._live)

    # -- submit and wait (event loop) ----------------------------------------------------------

    def submit(self, request: JobRequest) -> JobRecord:
        """Create a job and queue it on the worker pool. Returns at once."""
        loop = self._require_loop()
        if self._closed:
            raise RuntimeError("the job service is shut down")
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
        )
        live = _Live(record, request, loop.create_future())
        self._live[record.id] = live
        if self._query_timeout_s > 0:
            live.deadline = loop.call_later(self._query_timeout_s, self._expire, live)
        self._pool.submit(self._work, live)
        return record

    async def persist(self, job_id: str) -> None:
        """Put a running job on disk, and wait until it is there.

        Called before a job id leaves the server as still running, so that a restart reports
        it (as failed) instead of not knowing it. A job that finishes inside the run window is
        only ever written once, finished.
        """
        live = self._live.get(job_id)
        if live is not None:
            self._writer.put(live.record)
        await asyncio.wrap_future(self._writer.flush_future())

    async def wait(
        self, organization_id: str, job_ids: Sequence[str], timeout: float
    ) -> WaitResult:
        """Terminal lines for ``job_ids``, holding up to ``timeout`` s until every one is done.

        A job of another organization, an expired one and an id that never existed all get the
        same "Unable to find job" line.
        """
        lines: dict[str, bytes] = {}
        pending: dict[str, asyncio.Future[bytes]] = {}
        misses: list[str] = []
        for job_id in job_ids:
            live = self._live.get(job_id)
            if live is not None:
                if live.record.organization_id == organization_id:
                    pending[job_id] = live.done
                else:
                    lines[job_id] = unknown_job_line(job_id)
                continue
            finished = self._unsaved.get(job_id) or self._cache.get(job_id)
            if finished is None and not _is_uuid(job_id):
                lines[job_id] = unknown_job_line(job_id)
            elif finished is None:
                misses.append(job_id)
            elif self._visible(finished, organization_id):
                lines[job_id] = finished.line
            else:
                lines[job_id] = unknown_job_line(job_id)
        if misses:
            loaded = await self._in_store(self._load, misses)
            for job_id in misses:
                found = loaded.get(job_id)
                if found is not None and job_id not in self._unsaved:
                    self._cache.put(job_id, found)
                if found is not None and self._visible(found, organization_id):
                    lines[job_id] = found.line
                else:
                    lines[job_id] = unknown_job_line(job_id)
        if pending and timeout > 0:
            await asyncio.wait(pending.values(), timeout=timeout)
        remaining: list[str] = []
        for job_id, future in pending.items():
            if future.done():
                lines[job_id] = future.result()
            else:
                remaining.append(job_id)
        ordered = [lines[job_id] for job_id in dict.fromkeys(job_ids) if job_id in lines]
        return WaitResult(ordered, remaining)

    # -- the worker (pool threads) -------------------------------------------------------------

    def _work(self, live: _Live) -> None:
        try:
            record, encoded = self._run(live)
        except Exception:
            log.exception("job %s failed with an internal error", live.record.id)
            record, encoded = self._fail(live, "INTERNAL", _internal_message(live.record.id)), None
        try:
            line = job_line(record, encoded.b64 if encoded else None)
        except Exception:
            log.exception("job %s: could not render its result", record.id)
            record = self._fail(live, "INTERNAL", _internal_message(record.id))
            line, encoded = job_line(record), None
        # Publish, then queue the write: the writer's "written" callback then always reaches the
        # loop after the publish.
        self._call_on_loop(self._publish, live, record, line)
        self._writer.put(record, encoded.ipc if encoded else None)

    def _run(self, live: _Live) -> tuple[JobRecord, EncodedResult | None]:
        request = live.request
        record = live.record = live.record.advance(JobEvent.START, started_at=self._clock())
        try:
            if live.cancel.cancelled:
                raise Cancelled("the query was cancelled before it started")
            compiled = self._backend.compile(
                request.model_id,
                request.query,
                now=datetime.now(UTC),
                user=request.user,
                timezone=request.timezone,
            )
            summary = plan_summary(compiled)
            query = executed_query(request, compiled)
            if request.plan_only:
                planned = record.advance(
                    JobEvent.PLANNED, finished_at=self._clock(), summary=summary, query=query
                )
                return planned, None
            record = live.record = record.advance(JobEvent.EXECUTE, summary=summary, query=query)
            started = time.perf_counter()
            result = self._backend.run(request.model_id, compiled, live.cancel)
            table = result.table
            executed = time.perf_counter()
            encoded = encode_table(table)
            streamed = time.perf_counter()
        except SluiceError as err:
            message = (
                live.cancel_reason if isinstance(err, Cancelled) and live.cancel_reason else None
            )
            return self._fail(live, job_error_type(err), message or err.message), None
        finished = self._clock()
        # The result's columns, once it has run: SQL mode names its own, pivots and calculations
        # add theirs.
        query = {**query, "model_job": {**query["model_job"], "fields": table.column_names}}
        summary = {
            **summary,
            "fields": result.fields,
            "invalid_calculations": result.invalid_calculations,
            "cache_type": "MISS",
            "total_rows": encoded.num_rows,
            "execution_time_ms": round((executed - started) * 1000, 3),
        }
        cache_metadata = {
            "num_rows": encoded.num_rows,
            "result_size_bytes": encoded.num_bytes,
            "computed_at": iso(finished),
            "ttl_seconds": self._retention_s,
            "expires_at": iso(finished + self._retention_s),
            "served_from_cache": False,
        }
        complete = record.advance(
            JobEvent.SUCCEED,
            finished_at=finished,
            summary=summary,
            query=query,
            cache_metadata=cache_metadata,
            stream_ms=(streamed - executed) * 1000,
            result_rows=encoded.num_rows,
            result_bytes=encoded.num_bytes,
        )
        return complete, encoded

    def _fail(self, live: _Live, error_type: str, message: str) -> JobRecord:
        return live.record.advance(
            JobEvent.FAIL, finished_at=self._clock(), error_type=error_type, error_message=message
        )

    # -- loop callbacks ------------------------------------------------------------------------

    def _publish(self, live: _Live, record: JobRecord, line: bytes) -> None:
        self._live.pop(record.id, None)
        if live.deadline is not None:
            live.deadline.cancel()
        self._unsaved[record.id] = _Finished(
            record.organization_id, record.finished_at or 0.0, line
        )
        if not live.done.done():
            live.done.set_result(line)

    def _on_written(self, job_ids: list[str]) -> None:
        """Writer thread: these finished jobs are on disk."""
        self._call_on_loop(self._written, job_ids)

    def _written(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            finished = self._unsaved.pop(job_id, None)
            if finished is not None:
                self._cache.put(job_id, finished)

    def _expire(self, live: _Live) -> None:
        live.cancel_reason = (
            f"The query ran longer than the server's limit of {self._query_timeout_s:g} s "
            "(server.query_timeout_s) and was cancelled."
        )
        live.cancel.cancel()

    # -- persistence (worker threads and the store thread) -------------------------------------

    def _load(self, job_ids: Sequence[str]) -> dict[str, _Finished]:
        """Render the lines of stored jobs (after a restart, or once evicted from memory)."""
        found: dict[str, _Finished] = {}
        horizon = self._clock() - self._retention_s
        for job_id in job_ids:
            stored = self._store.get(job_id)
            if stored is None or not stored.record.is_terminal:
                continue
            record = stored.record
            if (record.finished_at or 0.0) < horizon:
                continue
            if record.has_result and stored.result is None:
                log.warning("job %s: its result file is missing", job_id)
                continue
            b64 = b64encode(stored.result) if stored.result is not None else None
            found[job_id] = _Finished(
                record.organization_id, record.finished_at or 0.0, job_line(record, b64)
            )
        return found

    # -- helpers -------------------------------------------------------------------------------

    def _visible(self, finished: _Finished, organization_id: str) -> bool:
        return (
            finished.organization_id == organization_id
            and finished.finished_at >= self._clock() - self._retention_s
        )

    async def _purge_forever(self) -> None:
        interval = min(60.0, max(1.0, self._retention_s / 10))
        while True:
            await asyncio.sleep(interval)
            horizon = self._clock() - self._retention_s
            self._cache.expire(horizon)
            for job_id in [j for j, f in self._unsaved.items() if f.finished_at < horizon]:
                del self._unsaved[job_id]  # the writer failed on these; they are past retention
            try:
                purged = await self._in_store(self._store.purge, horizon)
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


def plan_summary(compiled: CompiledQuery) -> dict[str, Any]:
    return {
        "fields": compiled.summary_fields(),
        "display_sql": compiled.sql,
        "sql": compiled.sql,
        "missing_fields": list(compiled.missing_fields),
        "invalid_calculations": {},
    }


def executed_query(request: JobRequest, compiled: CompiledQuery) -> dict[str, Any]:
    """The ``query`` of a job line: the query as run, ``model_job.fields`` = the result columns."""
    model_job = dict(request.query)
    model_job["modelId"] = request.model_id
    model_job["fields"] = [f.field_name for f in compiled.fields]
    model_job["limit"] = compiled.limit
    model_job["table"] = model_job.get("table") or compiled.base_view
    if compiled.topic:
        model_job["join_paths_from_topic_name"] = compiled.topic
    query: dict[str, Any] = {"model_job": model_job, "model_version": compiled.model_version}
    if request.timezone:
        query["timezone"] = request.timezone
    return query


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    )


def _internal_message(job_id: str) -> str:
    return f"Internal error while running job {job_id}; the server log has the details."


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
