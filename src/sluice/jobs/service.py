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

A job's path after compiling (``_start``): a cached result answers it when the request's cache
policy allows (``sluice.cache``); otherwise it attaches to a *flight* (``sluice.jobs.flights``),
an execution shared by every identical query running at the same time, and is called back when
the flight lands. The leader's worker thread runs the flight, lands it, then stores the result
in the cache.

The fast path: a query compiled before whose SQL does not depend on the clock (no relative
dates) is remembered with its compiled form (``_compiled``); when such a query's result is in
the cache and small enough to be held in memory, ``submit`` answers it on the event loop at
once, with no thread hand-off, no compile and no file read.

Until the writer reports a finished job written, its line is pinned in ``_unsaved`` (never
evicted), so a job that finished is always deliverable, from memory or from disk. A document job
(``resultType``) renders no NDJSON line unless asked: its line is rendered from the job store if
its id ever leaves the server (a 408) and someone waits for it.

Per connection, at most ``max_concurrency`` statements run at once (``sluice.jobs.queues``): a
flight's execution (or a background refresh) takes a slot of its connection's queue, and waits
in FIFO order when none is free; ``status`` reports a waiting job's place in the queue. Compiling
and answering from the cache take no slot, so a cached hit never waits behind a slow statement.

Replicas (a shared store with ``JobEvents``): a wait for a job this process does not hold reads
the shared store; a job still running elsewhere gets a *remote* future, registered before the
read so no completion can slip between, and resolved when the job's completion event arrives
(``_finished_elsewhere``). A completion event for a job this process is still running means
another replica failed it (this replica's lease had expired): the local run is killed with the
stored message, so every replica answers the same.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

import pyarrow as pa

from sluice.cache import CachedData, CachePolicy, Lookup, ResultCache, cache_key
from sluice.compiler.types import CompiledQuery
from sluice.config import UserConfig
from sluice.engines.base import CancelToken
from sluice.errors import Cancelled, InternalError, SluiceError, UserError, job_error_type
from sluice.jobs.flights import Executed, Flight, FlightOutcome, Flights
from sluice.jobs.history import HistoryQuery
from sluice.jobs.lines import dumps, job_line, unknown_job_line
from sluice.jobs.queues import ConnectionQueues, Ticket
from sluice.jobs.record import JobRecord
from sluice.jobs.state import TERMINAL, JobEvent, JobStatus
from sluice.jobs.store import EventHandlers, JobEvents, JobStore, StoredResult
from sluice.jobs.writer import JobWriter
from sluice.observability.metrics import Gauges, Metrics
from sluice.project import QueryResult, on_branch
from sluice.query.spec import is_uuid
from sluice.results.arrow import b64encode, ipc_size, ipc_stream

log = logging.getLogger("sluice.jobs")

T = TypeVar("T")

# Compiled again this much later, a query whose SQL is unchanged does not read the clock.
_CLOCK_PROBE = timedelta(days=400, hours=1, minutes=1, seconds=1)
SHUTDOWN_MESSAGE = "The server shut down before this job finished; run the query again."
CANCELLED_MESSAGE = "The query was cancelled by a request to cancel job {job_id}."
DEFAULT_CONNECTION = "default"
REMOTE_CANCEL_WAIT_S = 5.0  # a cancel sent to another replica: how long to wait for its line


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
class CacheScope:
    """Where a compiled query's results live in the cache: its connection and its TTL."""

    connection_id: str
    ttl_s: float  # 0: never stored (the topic's cache_policy is "none")


ScopeOf = Callable[[str, CompiledQuery], CacheScope]  # (model id, compiled) -> scope


class ResultTooLarge(UserError):
    """The result is above ``server.max_result_mb``."""


@dataclass(frozen=True, slots=True)
class JobRequest:
    organization_id: str
    user: UserConfig | None
    model_id: str
    query: Mapping[str, Any]
    plan_only: bool = False
    timezone: str | None = None
    cache: CachePolicy = CachePolicy.SKIP_REQUERY
    document: bool = False  # resultType: answered with a document, the NDJSON line on demand
    branch_id: str | None = None  # run on this branch of the model (top-level ``branchId``)

    @property
    def target(self) -> str:
        """The id the backend resolves: the model's, or its branch's (``on_branch``)."""
        return on_branch(self.model_id, self.branch_id)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished job as the loop receives it."""

    record: JobRecord
    line: bytes | None  # the NDJSON line (None: a document job; rendered from the store if asked)
    result: pa.Buffer | pa.NativeFile | None = None  # the IPC stream, for a document


@dataclass(frozen=True, slots=True)
class WaitResult:
    lines: list[bytes]  # terminal job lines, in the order the ids were asked for
    remaining: list[str]  # ids still running when the window closed


@dataclass(frozen=True, slots=True)
class _Plan:
    key: str | None  # None: no cache and no sharing
    ttl_s: float
    policy: CachePolicy


class _Live:
    """A job that has not finished. ``record`` is replaced by the worker as the job advances
    (never with a terminal record: the terminal one is published)."""

    __slots__ = (
        "cancel", "cancel_reason", "connection", "deadline", "done", "exposed", "flight",
        "orphan_timer", "record", "request", "watchers",
    )  # fmt: skip

    def __init__(
        self,
        record: JobRecord,
        request: JobRequest,
        done: asyncio.Future[Outcome],
        connection: str,
    ) -> None:
        self.record = record
        self.request = request
        self.done = done
        self.connection = connection
        self.cancel = CancelToken()
        self.cancel_reason: str | None = None
        self.deadline: asyncio.TimerHandle | None = None
        self.flight: Flight | None = None
        self.exposed = False  # its id left the server as still running
        self.watchers = 0  # open /query/run and /query/wait requests naming it
        self.orphan_timer: asyncio.TimerHandle | None = None  # armed while nobody watches


@dataclass(frozen=True, slots=True)
class _Finished:
    organization_id: str
    finished_at: float
    line: bytes | None  # None: a document job, whose line is rendered from the store


@dataclass(frozen=True, slots=True)
class _Running:
    """A job the shared store holds as running (on another replica)."""

    organization_id: str
    record: JobRecord


_Stored = _Finished | _Running


class _RemoteWait:
    """Waiters on a job of another replica share one future, resolved by its completion event
    with what the store then holds (None: nothing, the job is unknown or expired)."""

    __slots__ = ("future", "refs")

    def __init__(self, future: asyncio.Future[_Stored | None]) -> None:
        self.future = future
        self.refs = 0


_Memo = tuple[CompiledQuery, _Plan] | None  # None: the query's SQL depends on the clock


class _CompiledMemo:
    """Compiled queries by request, least recently used out. Thread-safe."""

    def __init__(self, capacity: int = 4096) -> None:
        self._capacity = capacity
        self._items: OrderedDict[str, _Memo] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[CompiledQuery, _Plan] | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def known(self, key: str) -> bool:
        with self._lock:
            return key in self._items

    def put(self, key: str, memo: _Memo) -> None:
        with self._lock:
            self._items[key] = memo
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


def _memo_key(request: JobRequest) -> str:
    """Everything a compile reads besides the clock: model, query, user, time zone."""
    query = json.dumps(request.query, sort_keys=True, separators=(",", ":"), default=str)
    return f"{request.target}\x00{request.timezone}\x00{request.user!r}\x00{query}"


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
        if finished.line is None or len(finished.line) > self.capacity:
            return
        self._lines[job_id] = finished
        self.size += len(finished.line or b"")
        while self.size > self.capacity:
            _, evicted = self._lines.popitem(last=False)
            self.size -= len(evicted.line or b"")

    def pop(self, job_id: str) -> None:
        found = self._lines.pop(job_id, None)
        if found is not None:
            self.size -= len(found.line or b"")

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
        """``model_version``: the version a model serves now (a compiled query remembered for
        another version is compiled again). ``limits``: statements at once per connection name
        (more wait in FIFO order); ``connection_of``: a model id's connection name. Without them
        every job shares one queue of ``workers`` slots. ``events``: completion events of
        replicas sharing ``store``."""
        self._backend = backend
        self._store = store
        self._retention_s = retention_s
        self._history_retention_s = history_retention_s
        self._query_timeout_s = query_timeout_s
        # A running job nobody waits on for this long is cancelled (0: never). Embedded store
        # only: with replicas a job may be waited on through another replica.
        self._orphan_timeout_s = orphan_timeout_s if events is None else 0.0
        self._max_result_bytes = max_result_bytes
        self._result_cache = cache
        self._scope = scope
        self._clock = clock
        self._queues = ConnectionQueues(limits or {}, default_limit=workers)
        self._connection_of = connection_of or _default_connection
        # A thread for every statement slot, and ``workers`` more to compile and answer hits.
        threads = max(1, workers) + self._queues.capacity
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="sluice-job")
        self._store_thread = ThreadPoolExecutor(1, thread_name_prefix="sluice-store")
        self._writer = JobWriter(store, on_written=self._on_written)
        self._flights = Flights()
        self._compiled = _CompiledMemo()
        self._model_version = model_version
        self._ids = _UuidSource()
        self._live: dict[str, _Live] = {}
        self._unsaved: dict[str, _Finished] = {}
        self._cache = LineCache(result_memory_bytes)
        self._events = events
        self._remote: dict[str, _RemoteWait] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.metrics = metrics if metrics is not None else Metrics()
        self._finished_count = {s: self.metrics.jobs.labels(s.value) for s in TERMINAL}
        self.metrics.add_source(self._gauges)
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
            handlers = EventHandlers(
                finished=functools.partial(self._call_on_loop, self._finished_elsewhere),
                cancel=functools.partial(self._call_on_loop, self._cancel_requested),
                resync=functools.partial(self._call_on_loop, self._resync),
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
        for task in list(self._tasks):
            task.cancel()
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

    # -- submit, wait and cancel (event loop) --------------------------------------------------

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
        live = _Live(record, request, loop.create_future(), connection)
        self._live[record.id] = live
        if self._answer_on_loop(live):
            return record
        if self._query_timeout_s > 0:
            live.deadline = loop.call_later(self._query_timeout_s, self._expire, live)
        self._arm_orphan(live)
        self._pool.submit(self._work, live)
        return record

    def _answer_on_loop(self, live: _Live) -> bool:
        """The fast path: answer from a small cached result of a query compiled before."""
        request, cache = live.request, self._result_cache
        if cache is None or not cache.local:  # a shared cache is a network call: not on the loop
            return False
        if request.plan_only or request.document or not request.cache.reads:
            return False
        memo = self._compiled.get(self._memo_key(request))
        if memo is None:
            return False
        compiled, plan = memo[0], _with_policy(memo[1], request.cache)
        found = cache.lookup(plan.key) if plan.key is not None else None
        if found is None or not (found.fresh or plan.policy.serves_stale) or plan.ttl_s <= 0:
            return False
        b64 = cache.hot(found.entry)
        if b64 is None:
            return False
        self.metrics.cache_lookup(found.fresh)
        live.record = live.record.advance(JobEvent.START, started_at=self._clock()).advance(
            JobEvent.EXECUTE,
            summary=plan_summary(compiled),
            query=executed_query(request, compiled),
        )
        outcome, stored = self._hot_hit(live, found, b64)
        if not found.fresh:
            self._refresh(plan, request.target, compiled)
        self._publish(live, outcome, stored)
        return True

    def _hot_hit(self, live: _Live, found: Lookup, b64: bytes) -> tuple[Outcome, StoredResult]:
        """A hit answered from the base64 text the cache holds in memory."""
        entry = found.entry
        record = self._from_cache(live, found, stream_ms=0.0)
        stored = self._result_cache.stored(entry.key, b64) if self._result_cache else None
        return Outcome(record, job_line(record, b64)), stored

    async def run_document(self, request: JobRequest, timeout: float) -> tuple[str, Outcome | None]:
        """Submit a document job and wait up to ``timeout`` s: its id and outcome, or None when
        it is still running (its id then leaves the server, so it is persisted first)."""
        record = self.submit(request)
        live = self._live[record.id]
        if timeout > 0:
            self._watched([live])
            try:
                await asyncio.wait([live.done], timeout=timeout)
            finally:
                self._unwatched([live])
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
            finished = self._unsaved.get(job_id) or self._cache.get(job_id)
            if finished is None and not is_uuid(job_id):
                lines[job_id] = unknown_job_line(job_id)
            elif finished is None or finished.line is None:
                misses.append(job_id)
            elif self._visible(finished, organization_id):
                lines[job_id] = finished.line
            else:
                lines[job_id] = unknown_job_line(job_id)
        watches: dict[str, _RemoteWait] = {}
        watched = [live for i in pending if (live := self._live.get(i)) is not None]
        self._watched(watched)
        try:
            if misses:
                if self._events is not None:  # before reading: no completion slips between
                    watches = {job_id: self._watch(job_id) for job_id in dict.fromkeys(misses)}
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
                    lines[job_id] = self._remote_line(job_id, future.result(), organization_id)
                elif (line := future.result().line) is not None:
                    lines[job_id] = line
                else:
                    document_ids.append(job_id)
            if document_ids:
                found, _ = await self._load_lines(organization_id, document_ids)
                lines.update(found)
        finally:
            self._unwatched(watched)
            for job_id, watch in watches.items():
                self._unwatch(job_id, watch)
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
            stored = (await self._in_store(self._load, [job_id])).get(job_id)
            if isinstance(stored, _Running) and stored.organization_id == organization_id:
                await asyncio.to_thread(self._events.request_cancel, job_id)
                waited = await self.wait(organization_id, [job_id], REMOTE_CANCEL_WAIT_S)
                if waited.remaining:
                    return dumps(_progress(stored.record, None)) + b"\n"
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
            body = _progress(live.record, position, local=True)
            if flight is not None and body["status"] == "RUNNING":
                fraction = flight.cancel.progress()
                body["progress"] = None if fraction is None else round(fraction, 4)
            return body
        waited = await self.wait(organization_id, [job_id], 0)
        if waited.lines:
            line = waited.lines[0]
            return None if line == unknown_job_line(job_id) else line
        if waited.remaining:  # running on another replica
            stored = (await self._in_store(self._load, [job_id])).get(job_id)
            if isinstance(stored, _Running):
                return _progress(stored.record, None)
            if isinstance(stored, _Finished) and stored.line is not None:
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
        if any(job_id in self._unsaved for job_id in job_ids):
            await asyncio.wrap_future(self._writer.flush_future())
        loaded = await self._in_store(self._load, job_ids)
        lines: dict[str, bytes] = {}
        running: list[str] = []
        for job_id in job_ids:
            found = loaded.get(job_id)
            if isinstance(found, _Running):
                if self._events is not None and found.organization_id == organization_id:
                    running.append(job_id)
                else:
                    lines[job_id] = unknown_job_line(job_id)
                continue
            if found is not None and job_id not in self._unsaved:
                self._cache.put(job_id, found)
            if found is not None and found.line and self._visible(found, organization_id):
                lines[job_id] = found.line
            else:
                lines[job_id] = unknown_job_line(job_id)
        return lines, running

    def _remote_line(self, job_id: str, stored: _Stored | None, organization_id: str) -> bytes:
        if isinstance(stored, _Finished) and stored.line and self._visible(stored, organization_id):
            return stored.line
        return unknown_job_line(job_id)

    # -- replicas (event loop) -----------------------------------------------------------------

    def _watch(self, job_id: str) -> _RemoteWait:
        watch = self._remote.get(job_id)
        if watch is None or watch.future.done():
            watch = self._remote[job_id] = _RemoteWait(self._require_loop().create_future())
        watch.refs += 1
        return watch

    def _unwatch(self, job_id: str, watch: _RemoteWait) -> None:
        watch.refs -= 1
        if watch.refs <= 0 and self._remote.get(job_id) is watch:
            del self._remote[job_id]

    def _finished_elsewhere(self, job_id: str) -> None:
        """A job reached a terminal state in the shared store (its completion event)."""
        live = self._live.get(job_id)
        if live is not None:  # ours, still running: another replica failed it (lease expired)
            self._spawn(self._adopt_end(live))
        watch = self._remote.get(job_id)
        if watch is not None and not watch.future.done():
            self._spawn(self._resolve_remote(job_id, watch))

    async def _resolve_remote(self, job_id: str, watch: _RemoteWait) -> None:
        stored = (await self._in_store(self._load, [job_id])).get(job_id)
        if isinstance(stored, _Running) or watch.future.done():
            return  # not finished after all (a resync): its event is still to come
        if stored is not None and stored.line is not None:
            self._cache.put(job_id, stored)
        watch.future.set_result(stored)

    async def _adopt_end(self, live: _Live) -> None:
        stored = await self._in_store(self._store.get, live.record.id)
        if stored is None or not stored.record.is_terminal or live.done.done():
            return
        log.warning(
            "job %s was ended by another replica (%s)", live.record.id,
            stored.record.error_message, extra={"job_id": live.record.id},
        )  # fmt: skip
        self._kill(live, stored.record.error_message or SHUTDOWN_MESSAGE)

    def _cancel_requested(self, job_id: str) -> None:
        live = self._live.get(job_id)
        if live is not None:
            self._kill(live, CANCELLED_MESSAGE.format(job_id=job_id))

    def _resync(self) -> None:
        """Events may have been missed (the listener reconnected): look at the store again."""
        for job_id, watch in list(self._remote.items()):
            if not watch.future.done():
                self._spawn(self._resolve_remote(job_id, watch))
        for live in list(self._live.values()):
            if live.exposed:
                self._spawn(self._adopt_end(live))

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _gauges(self) -> Gauges:
        states = self._queues.states()
        waiting = {id(ticket) for ticket in self._queues.waiting()}
        lives = list(self._live.values())
        queued = sum(
            1 for live in lives if live.flight is not None and id(live.flight.ticket) in waiting
        )
        by_connection = [(s.connection,) for s in states]
        return [
            ("sluice_queue_depth", "Jobs waiting for a slot on their connection",
             ["connection"], list(zip(by_connection, (s.waiting for s in states), strict=True))),
            ("sluice_connection_running", "Statements running on the connection (jobs, refreshes)",
             ["connection"], list(zip(by_connection, (s.running for s in states), strict=True))),
            ("sluice_connection_max_concurrency", "Statements the connection may run at once",
             ["connection"], list(zip(by_connection, (s.limit for s in states), strict=True))),
            ("sluice_jobs_in_progress", "Jobs not finished: queued (waiting for a slot) or "
             "running (compiling, executing)", ["state"],
             [(("queued",), queued), (("running",), len(lives) - queued)]),
        ]  # fmt: skip

    # -- the worker (pool threads) -------------------------------------------------------------

    def _work(self, live: _Live) -> None:
        try:
            self._start(live)
        except Exception:
            log.exception(
                "job %s failed with an internal error", live.record.id,
                extra={"job_id": live.record.id},
            )  # fmt: skip
            self._finish(live, self._failed(live, InternalError("internal")))

    def _start(self, live: _Live) -> None:
        if live.cancel.cancelled:
            return  # killed while queued: its line is out already
        request = live.request
        record = live.record = live.record.advance(JobEvent.START, started_at=self._clock())
        if live.exposed:  # other replicas report it RUNNING now, no longer QUEUED
            self._writer.put(record)
        memo = self._compiled.get(self._memo_key(request))  # compiled before, clock-independent
        plan: _Plan | None = None
        if memo is not None:
            compiled, plan = memo[0], _with_policy(memo[1], request.cache)
        else:
            try:
                compiled = self._backend.compile(
                    request.target,
                    request.query,
                    now=datetime.now(UTC),
                    user=request.user,
                    timezone=request.timezone,
                )
            except SluiceError as err:
                self._finish(live, self._failed(live, err))
                return
        summary = plan_summary(compiled)
        query = executed_query(request, compiled)
        if request.plan_only:
            planned = record.advance(
                JobEvent.PLANNED, finished_at=self._clock(), summary=summary, query=query
            )
            self._finish(live, Outcome(planned, job_line(planned)))
            return
        live.record = record.advance(JobEvent.EXECUTE, summary=summary, query=query)
        if plan is None:
            plan = self._plan(request, compiled)
            self._remember(request, compiled, plan)
        if self._answer_from_cache(live, plan, compiled):
            return
        callback = functools.partial(self._on_landed, live)
        flight, leader, landed = self._flights.join(
            plan.key, live.record.id, callback, share=plan.policy.joins_running
        )
        live.flight = flight
        if not leader:
            self.metrics.flight_joins.inc()
        if landed is not None:
            callback(landed)
        elif live.cancel.cancelled:  # killed while joining: don't keep the flight for it
            self._flights.leave(flight, live.record.id)
        if leader:
            self._launch(flight, request.target, compiled, plan, live.record.id)

    def _launch(
        self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: _Plan, job_id: str
    ) -> None:
        """Run a new flight when its connection has a free slot: now, in this thread, or later
        in a pool thread when a slot frees up (the flight's jobs are QUEUED meanwhile)."""
        connection = self._connection_of(model_id)
        start = functools.partial(
            self._dispatch_flight, flight, model_id, compiled, plan, connection
        )
        flight.ticket = Ticket(connection, start, job_id)
        if self._queues.enter(flight.ticket, inline=True) == 0:
            self._run_flight(flight, model_id, compiled, plan, connection)

    def _dispatch_flight(
        self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: _Plan, connection: str
    ) -> None:
        try:
            self._pool.submit(self._run_flight, flight, model_id, compiled, plan, connection)
        except RuntimeError:  # shutting down: its jobs are killed by ``close``
            self._flights.retire(flight)
            self._queues.leave(connection)

    def _run_flight(
        self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: _Plan, connection: str
    ) -> None:
        try:
            if flight.cancel.cancelled:  # every job left it while it waited for a slot
                self._flights.land(flight, Cancelled("the query was cancelled"))
                self._flights.retire(flight)
            else:
                self._execute(flight, model_id, compiled, plan)
        finally:
            self._queues.leave(connection)  # the next waiting statement starts

    def _memo_key(self, request: JobRequest) -> str:
        """``_memo_key`` and the version the model serves now."""
        version = self._model_version(request.target) if self._model_version else ""
        return f"{_memo_key(request)}\x00{version}"

    def _remember(self, request: JobRequest, compiled: CompiledQuery, plan: _Plan) -> None:
        """Remember a compiled query for the fast path, unless its SQL reads the clock."""
        if self._result_cache is None or plan.key is None or not request.cache.reads:
            return
        key = self._memo_key(request)
        if self._compiled.known(key):
            return
        try:
            later = self._backend.compile(
                request.target,
                request.query,
                now=datetime.now(UTC) + _CLOCK_PROBE,
                user=request.user,
                timezone=request.timezone,
            )
        except SluiceError:
            return
        timeless = later.sql == compiled.sql and repr(later.post) == repr(compiled.post)
        self._compiled.put(key, (compiled, plan) if timeless else None)

    def _plan(self, request: JobRequest, compiled: CompiledQuery) -> _Plan:
        if self._scope is None:
            return _Plan(None, 0.0, request.cache)
        scope = self._scope(request.target, compiled)
        key = cache_key(
            compiled,
            model_id=request.model_id,
            connection_id=scope.connection_id,
            timezone=request.timezone,
        )
        ttl = scope.ttl_s if self._result_cache is not None else 0.0
        return _Plan(key, ttl, request.cache)

    def _answer_from_cache(self, live: _Live, plan: _Plan, compiled: CompiledQuery) -> bool:
        cache = self._result_cache
        if cache is None or plan.key is None or plan.ttl_s <= 0 or not plan.policy.reads:
            return False
        found = cache.lookup(plan.key)
        if found is None or not (found.fresh or plan.policy.serves_stale):
            self.metrics.cache_lookup(None)
            return False
        if not live.request.document and (hot := cache.hot(found.entry)) is not None:
            self.metrics.cache_lookup(found.fresh)
            outcome, stored = self._hot_hit(live, found, hot)
            if not found.fresh:
                self._refresh(plan, live.request.target, compiled)
            self._finish(live, outcome, stored)
            return True
        data = cache.open(plan.key)
        if data is None:
            self.metrics.cache_lookup(None)
            return False
        self.metrics.cache_lookup(found.fresh)
        try:
            outcome, stored = self._hit(live, found, data)
        except BaseException:
            data.file.close()
            raise
        if not found.fresh:
            self._refresh(plan, live.request.target, compiled)
        self._finish(live, outcome, stored)
        return True

    def _hit(self, live: _Live, found: Lookup, data: CachedData) -> tuple[Outcome, StoredResult]:
        """A job answered by a cache entry: the bytes are read (or streamed), never re-encoded."""
        began = time.perf_counter()
        entry = found.entry
        large = data.path is not None and entry.num_bytes > self._store.inline_max
        stored: StoredResult
        if live.request.document and large:
            source: pa.Buffer | pa.NativeFile = data.file  # streamed into the document
            b64 = None
        else:
            with data.file:
                source = data.file.read_buffer()
            b64 = None if live.request.document else b64encode(source)
            if b64 is not None and self._result_cache is not None:
                self._result_cache.remember(entry, source, b64)
        stored = data.path if large and data.path is not None else source
        record = self._from_cache(live, found, stream_ms=(time.perf_counter() - began) * 1000)
        line = job_line(record, b64) if b64 is not None else None
        return Outcome(record, line, source if live.request.document else None), stored

    def _from_cache(self, live: _Live, found: Lookup, *, stream_ms: float) -> JobRecord:
        """The job's COMPLETE record, answered by the cache entry ``found``."""
        entry = found.entry
        return self._complete(
            live.record,
            meta=entry.meta,
            num_rows=entry.num_rows,
            num_bytes=entry.num_bytes,
            computed_at=entry.computed_at,
            ttl_s=entry.ttl_s,
            cache_type="EXACT" if found.fresh else "EXACT_STALE",
            stream_ms=stream_ms,
        )

    def _refresh(self, plan: _Plan, model_id: str, compiled: CompiledQuery) -> None:
        """Standard served a stale result: recompute it in the background (once per key)."""
        if plan.key is None:
            return
        flight = self._flights.refresh(plan.key)
        if flight is None:
            return
        connection = self._connection_of(model_id)
        start = functools.partial(
            self._dispatch_refresh, flight, model_id, compiled, plan, connection
        )
        self._queues.enter(Ticket(connection, start))  # a refresh waits its turn like a job

    def _dispatch_refresh(
        self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: _Plan, connection: str
    ) -> None:
        try:
            self._pool.submit(self._run_refresh, flight, model_id, compiled, plan, connection)
        except RuntimeError:  # shutting down
            self._flights.retire(flight)
            self._queues.leave(connection)

    def _run_refresh(
        self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: _Plan, connection: str
    ) -> None:
        try:
            self._execute(flight, model_id, compiled, plan)
        finally:
            self._queues.leave(connection)

    def _execute(self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: _Plan) -> None:
        """Run a flight on the warehouse, land it, then keep its result in the cache."""
        try:
            outcome = self._produce(flight, model_id, compiled, plan)
        except Exception:
            log.exception("an execution failed with an internal error")
            outcome = InternalError("internal")
        self._flights.land(flight, outcome)
        cache = self._result_cache
        try:
            if isinstance(outcome, Executed) and cache and plan.key and plan.ttl_s > 0:
                cache.put(
                    plan.key,
                    outcome.ipc,
                    model_id=model_id,
                    model_version=compiled.model_version,
                    computed_at=outcome.computed_at,
                    ttl_s=plan.ttl_s,
                    num_rows=outcome.num_rows,
                    meta=outcome.meta,
                    b64=outcome.b64_if_done,
                )
        except Exception:
            log.exception("storing a result in the cache failed")
        finally:
            self._flights.retire(flight)

    def _produce(
        self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: _Plan
    ) -> FlightOutcome:
        started = time.perf_counter()
        try:
            try:
                result = self._backend.run(model_id, compiled, flight.cancel)
            finally:
                executed = time.perf_counter()
                self.metrics.execution_seconds.labels(self._connection_of(model_id)).observe(
                    executed - started
                )
            self._check_size(ipc_size(result.table))
            ipc = ipc_stream(result.table)
        except SluiceError as err:
            return err
        encoded = time.perf_counter()
        meta = {
            "fields": result.fields,
            "invalid_calculations": result.invalid_calculations,
            "columns": result.table.column_names,
            "execution_time_ms": round((executed - started) * 1000, 3),
        }
        return Executed(
            ipc,
            num_rows=result.table.num_rows,
            meta=meta,
            computed_at=self._clock(),
            ttl_s=plan.ttl_s,
            encode_ms=(encoded - executed) * 1000,
        )

    def _check_size(self, num_bytes: int) -> None:
        limit = self._max_result_bytes
        if limit > 0 and num_bytes > limit:
            raise ResultTooLarge(
                f"The result is {_mb(num_bytes)} MB, above this server's limit of {_mb(limit)} MB "
                "(server.max_result_mb); add filters or lower the limit."
            )

    def _on_landed(self, live: _Live, outcome: FlightOutcome) -> None:
        """A flight this job waits on landed (called in the thread that landed it)."""
        if isinstance(outcome, SluiceError):
            self._finish(live, self._failed(live, outcome))
            return
        try:
            record = self._complete(
                live.record,
                meta=outcome.meta,
                num_rows=outcome.num_rows,
                num_bytes=outcome.num_bytes,
                computed_at=outcome.computed_at,
                ttl_s=outcome.ttl_s,
                cache_type="MISS",
                stream_ms=outcome.encode_ms,
            )
            document = live.request.document
            line = None if document else job_line(record, outcome.b64())
        except Exception:
            log.exception("job %s: could not render its result", live.record.id)
            self._finish(live, self._failed(live, InternalError("internal")))
            return
        self._finish(live, Outcome(record, line, outcome.ipc if document else None), outcome.ipc)

    def _complete(
        self,
        record: JobRecord,
        *,
        meta: Mapping[str, Any],
        num_rows: int,
        num_bytes: int,
        computed_at: float,
        ttl_s: float,
        cache_type: str,
        stream_ms: float,
    ) -> JobRecord:
        # The result's columns, once it has run: SQL mode names its own, pivots and calculations
        # add theirs.
        query = dict(record.query or {})
        query["model_job"] = {**query.get("model_job", {}), "fields": list(meta["columns"])}
        summary = {
            **(record.summary or {}),
            "fields": meta["fields"],
            "invalid_calculations": meta["invalid_calculations"],
            "cache_type": cache_type,
            "total_rows": num_rows,
            "execution_time_ms": meta["execution_time_ms"],
        }
        cache_metadata = {
            "num_rows": num_rows,
            "result_size_bytes": num_bytes,
            "computed_at": iso(computed_at),
            "ttl_seconds": ttl_s,
            "expires_at": iso(computed_at + ttl_s),
            "served_from_cache": cache_type != "MISS",
        }
        return record.advance(
            JobEvent.SUCCEED,
            finished_at=self._clock(),
            summary=summary,
            query=query,
            cache_metadata=cache_metadata,
            stream_ms=stream_ms,
            result_rows=num_rows,
            result_bytes=num_bytes,
        )

    def _failed(self, live: _Live, err: SluiceError) -> Outcome:
        if isinstance(err, Cancelled) and live.cancel_reason:
            message = live.cancel_reason
        elif isinstance(err, InternalError):
            message = _internal_message(live.record.id)
        else:
            message = err.message
        record = live.record.advance(
            JobEvent.FAIL,
            finished_at=self._clock(),
            error_type=job_error_type(err),
            error_message=message,
        )
        return Outcome(record, job_line(record))

    def _finish(self, live: _Live, outcome: Outcome, stored: StoredResult = None) -> None:
        self._call_on_loop(self._publish, live, outcome, stored)

    # -- loop callbacks ------------------------------------------------------------------------

    def _publish(self, live: _Live, outcome: Outcome, stored: StoredResult) -> None:
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
        self._unsaved[record.id] = _Finished(
            record.organization_id, record.finished_at or 0.0, outcome.line
        )
        live.done.set_result(outcome)
        if live.request.document and not live.exposed:
            stored = None  # its id never left the server: nobody can ask for the result again
        self._writer.put(record, stored)

    def _kill(self, live: _Live, reason: str) -> None:
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

    def _on_written(self, job_ids: list[str]) -> None:
        """Writer thread: these finished jobs are on disk."""
        self._call_on_loop(self._written, job_ids)

    def _written(self, job_ids: list[str]) -> None:
        for job_id in job_ids:
            finished = self._unsaved.pop(job_id, None)
            if finished is not None and finished.line is not None:
                self._cache.put(job_id, finished)

    # -- orphans: running jobs nobody waits on ---------------------------------------------------

    def _watched(self, lives: Sequence[_Live]) -> None:
        for live in lives:
            live.watchers += 1
            if live.orphan_timer is not None:
                live.orphan_timer.cancel()
                live.orphan_timer = None

    def _unwatched(self, lives: Sequence[_Live]) -> None:
        for live in lives:
            live.watchers -= 1
            if live.watchers == 0:
                self._arm_orphan(live)

    def _arm_orphan(self, live: _Live) -> None:
        if self._orphan_timeout_s > 0 and not live.done.done() and live.orphan_timer is None:
            loop = self._require_loop()
            live.orphan_timer = loop.call_later(self._orphan_timeout_s, self._orphaned, live)

    def _orphaned(self, live: _Live) -> None:
        live.orphan_timer = None
        if live.watchers > 0 or live.done.done():
            return
        self.metrics.orphaned.inc()
        self._kill(
            live,
            f"Nobody waited for this job for {self._orphan_timeout_s:g} s (no open /query/run "
            "or /query/wait named it), so it was cancelled (server.orphan_timeout_s); run the "
            "query again",
        )

    def _expire(self, live: _Live) -> None:
        self._kill(
            live,
            f"The query ran longer than the server's limit of {self._query_timeout_s:g} s "
            "(server.query_timeout_s) and was cancelled.",
        )

    # -- persistence (worker threads and the store thread) -------------------------------------

    def _load(self, job_ids: Sequence[str]) -> dict[str, _Stored]:
        """Render the lines of stored jobs (after a restart, once evicted from memory, or run by
        another replica); a job the store holds as running is ``_Running``."""
        found: dict[str, _Stored] = {}
        horizon = self._clock() - self._retention_s
        for job_id in job_ids:
            stored = self._store.get(job_id)
            if stored is None:
                continue
            record = stored.record
            if not record.is_terminal:
                found[job_id] = _Running(record.organization_id, record)
                continue
            if (record.finished_at or 0.0) < horizon:
                continue
            if record.has_result and stored.result is None:
                log.warning("job %s: its result is no longer stored", job_id)
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


def _with_policy(plan: _Plan, policy: CachePolicy) -> _Plan:
    return plan if plan.policy is policy else _Plan(plan.key, plan.ttl_s, policy)


def _default_connection(model_id: str) -> str:
    return DEFAULT_CONNECTION


def _progress(record: JobRecord, position: int | None, *, local: bool = False) -> dict[str, Any]:
    """The status of a job that has not finished (``GET /query/jobs/{id}``)."""
    queued = position is not None if local else record.status is JobStatus.ADDED
    body: dict[str, Any] = {"job_id": record.id, "status": "QUEUED" if queued else "RUNNING"}
    if queued and position is not None:
        body["queue_position"] = position
    body["connection"] = record.connection
    return body


def plan_summary(compiled: CompiledQuery) -> dict[str, Any]:
    return {
        "fields": compiled.summary_fields(),
        "display_sql": compiled.sql,
        "sql": compiled.sql,
        "missing_fields": list(compiled.missing_fields),
        "warnings": list(compiled.warnings),
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


def _mb(num_bytes: int) -> str:
    mb = num_bytes / (1 << 20)
    return f"{mb:,.1f}" if mb >= 1 else f"{mb:.3g}"


def _internal_message(job_id: str) -> str:
    return f"Internal error while running job {job_id}; the server log has the details."
