"""The worker side of the job service (pool threads): compile, answer from the cache, or run on
the warehouse.

A job that the cache cannot answer attaches to a *flight* (``sluice.jobs.flights``), an
execution shared by every identical query running at the same time, and is called back when
the flight lands. A flight, like a background refresh of a stale cache entry, runs on a slot of
its connection's queue (``sluice.jobs.queues``): ``_on_slot`` is the one path for both. The
leader's worker thread runs the flight, lands it, then stores the result in the cache.

Per connection, at most ``max_concurrency`` statements run at once: a flight's execution (or a
background refresh) takes a slot of its connection's queue, and waits in FIFO order when none is
free. Compiling and answering from the cache take no slot, so a cached hit never waits behind a
slow statement.

Every query is compiled once per model version (and per clock bucket when its SQL reads the
clock: ``jobs.memory.CompiledMemo``); a repeat, cache bypassed or not, goes straight to the cache
or the warehouse. The fast path (``answer_on_loop``): when a query compiled before has its result
in the cache, small enough to be held in memory, ``submit`` answers it on the event loop at once,
with no thread hand-off, no compile and no file read.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from sluice.cache import ResultCache, cache_key
from sluice.compiler.types import CompiledQuery
from sluice.errors import Cancelled, InternalError, SluiceError, job_error_type
from sluice.jobs.flights import Executed, Flight, FlightOutcome, Flights
from sluice.jobs.hits import Answer, CacheHits
from sluice.jobs.lines import completed, executed_query, internal_message, job_line, plan_summary
from sluice.jobs.memory import CompiledMemo, memo_key
from sluice.jobs.queues import ConnectionQueues, Ticket
from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobEvent
from sluice.jobs.store import StoredResult
from sluice.jobs.types import (
    JobRequest,
    LiveJob,
    Outcome,
    Plan,
    QueryBackend,
    ResultTooLarge,
    ScopeOf,
    StreamingBackend,
)
from sluice.jobs.writer import JobWriter
from sluice.observability.metrics import Metrics
from sluice.results.arrow import BATCH_ROWS
from sluice.results.stream import WrittenResult, write_ipc

log = logging.getLogger("sluice.jobs")

Finish = Callable[[LiveJob, Outcome, StoredResult], None]  # hands a finished job to the loop


class Worker:
    def __init__(
        self,
        backend: QueryBackend,
        *,
        pool: ThreadPoolExecutor,
        queues: ConnectionQueues,
        flights: Flights,
        writer: JobWriter,
        cache: ResultCache | None,
        scope: ScopeOf | None,
        inline_max: int,
        max_result_bytes: int,
        connection_of: Callable[[str], str],
        clock: Callable[[], float],
        metrics: Metrics,
        finish: Finish,
        model_version: Callable[[str], str] | None = None,
    ) -> None:
        self._backend = backend
        self._model_version = model_version  # the version a model (or branch) serves now
        self._pool = pool
        self._queues = queues
        self._flights = flights
        self._writer = writer
        self._cache = cache
        self._scope = scope
        self._max_result_bytes = max_result_bytes
        self._inline_max = inline_max
        self._connection_of = connection_of
        self._clock = clock
        self._metrics = metrics
        self._finish = finish
        self.compiled = CompiledMemo()
        self.hits = CacheHits(
            cache, inline_max=inline_max, metrics=metrics, clock=clock, refresh=self.refresh
        )

    def answer_on_loop(self, live: LiveJob) -> Answer | None:
        """The fast path (event loop): a small cached result, held in memory, of a query
        compiled before whose SQL does not read the clock; no thread hand-off, compile or read."""
        request, cache = live.request, self._cache
        if cache is None or not cache.local:  # a shared cache is a network call: not on the loop
            return None
        if request.plan_only or request.document or not request.cache.reads:
            return None
        memo_key = self._memo_key(request)
        memo = self.compiled.get(memo_key, _utc_now, request.timezone)
        if memo is None:
            return None
        compiled = memo[0]

        def running(detailed: bool) -> JobRecord:
            # The plan's summary and query: only to work out a completion not seen before;
            # otherwise the hit's record goes from ADDED to COMPLETE in one step (``complete``).
            if detailed:
                live.record = live.record.advance(
                    JobEvent.START,
                    JobEvent.EXECUTE,
                    started_at=self._clock(),
                    summary=plan_summary(compiled),
                    query=executed_query(request, compiled),
                )
            return live.record

        return self.hits.answer(
            running,
            plan=memo[1].with_policy(request.cache),
            model_id=request.target,
            compiled=compiled,
            document=False,
            hot_only=True,
            memo_key=memo_key,
        )

    def work(self, live: LiveJob) -> None:
        try:
            self._start(live)
        except Exception:
            log.exception(
                "job %s failed with an internal error", live.record.id,
                extra={"job_id": live.record.id},
            )  # fmt: skip
            self._finish(live, self.failed(live, InternalError("internal")), None)

    def _start(self, live: LiveJob) -> None:
        if live.cancel.cancelled:
            return  # killed while queued: its line is out already
        request = live.request
        record = live.record = live.record.advance(JobEvent.START, started_at=self._clock())
        if live.exposed:  # other replicas report it RUNNING now, no longer QUEUED
            self._writer.put(record)
        memo_key = self._memo_key(request)
        now = _utc_now()
        memo = self.compiled.get(memo_key, lambda: now, request.timezone)
        plan: Plan | None = None
        if memo is not None:  # compiled before (in this clock bucket, if it reads the clock)
            compiled, plan = memo[0], memo[1].with_policy(request.cache)
        else:
            try:
                compiled = self._backend.compile(
                    request.target,
                    request.compilable,
                    now=now,
                    user=request.user,
                    timezone=request.timezone,
                )
            except SluiceError as err:
                self._finish(live, self.failed(live, err), None)
                return
        summary = plan_summary(compiled)
        query = executed_query(request, compiled)
        if request.plan_only:
            planned = record.advance(
                JobEvent.PLANNED, finished_at=self._clock(), summary=summary, query=query
            )
            self._finish(live, Outcome(planned, job_line(planned)), None)
            return
        live.record = record.advance(JobEvent.EXECUTE, summary=summary, query=query)
        if plan is None:
            plan = self._plan(request, compiled)
            self.compiled.put(memo_key, compiled, plan, now, request.timezone)
        answer = self.hits.answer(
            lambda detailed: live.record,
            plan=plan,
            model_id=request.target,
            compiled=compiled,
            document=request.document,
            hot_only=False,
            memo_key=memo_key,
        )
        if answer is not None:
            self._finish(live, *answer)
            return
        callback = functools.partial(self._on_landed, live)
        flight, leader, landed = self._flights.join(
            plan.key, live.record.id, callback, share=plan.policy.joins_running
        )
        live.flight = flight
        if not leader:
            self._metrics.flight_joins.inc()
        if landed is not None:
            callback(landed)
        elif live.cancel.cancelled:  # killed while joining: don't keep the flight for it
            self._flights.leave(flight, live.record.id)
        if leader:
            self._take_slot(flight, request.target, compiled, plan, live.record.id)

    def _memo_key(self, request: JobRequest) -> str:
        version = self._model_version(request.target) if self._model_version else ""
        return memo_key(request, version)

    def _plan(self, request: JobRequest, compiled: CompiledQuery) -> Plan:
        if self._scope is None:
            return Plan(None, 0.0, request.cache)
        scope = self._scope(request.target, compiled)
        key = cache_key(
            compiled,
            model_id=request.target,
            connection_id=scope.connection_id,
            timezone=request.timezone,
        )
        ttl = scope.ttl_s if self._cache is not None else 0.0
        return Plan(key, ttl, request.cache)

    # -- statements on a connection's slots ------------------------------------------------------

    def refresh(self, plan: Plan, model_id: str, compiled: CompiledQuery) -> None:
        """Standard served a stale result: recompute it in the background (once per key)."""
        if plan.key is None:
            return
        flight = self._flights.refresh(plan.key)
        if flight is not None:
            self._take_slot(flight, model_id, compiled, plan, None)  # waits its turn like a job

    def _take_slot(
        self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: Plan, job_id: str | None
    ) -> None:
        """Run a flight when its connection has a free slot. A job's flight that gets one at once
        runs in this thread; otherwise (and for a refresh) a pool thread runs it when a slot frees
        up (the flight's jobs are QUEUED meanwhile)."""
        connection = self._connection_of(model_id)
        start = functools.partial(self._dispatch, flight, model_id, compiled, plan, connection)
        if job_id is None:
            self._queues.enter(Ticket(connection, start))
            return
        flight.ticket = Ticket(connection, start, job_id)
        if self._queues.enter(flight.ticket, inline=True) == 0:
            self._on_slot(flight, model_id, compiled, plan, connection)

    def _dispatch(
        self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: Plan, connection: str
    ) -> None:
        try:
            self._pool.submit(self._on_slot, flight, model_id, compiled, plan, connection)
        except RuntimeError:  # shutting down: its jobs are killed by ``close``
            self._flights.retire(flight)
            self._queues.leave(connection)

    def _on_slot(
        self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: Plan, connection: str
    ) -> None:
        try:
            if flight.cancel.cancelled:  # every job left it (or shutdown) while it waited
                self._flights.land(flight, Cancelled("the query was cancelled"))
                self._flights.retire(flight)
            else:
                self._execute(flight, model_id, compiled, plan)
        finally:
            self._queues.leave(connection)  # the next waiting statement starts

    def _execute(self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: Plan) -> None:
        """Run a flight on the warehouse, land it, then keep its result in the cache."""
        try:
            outcome = self._produce(flight, model_id, compiled, plan)
        except Exception:
            log.exception("an execution failed with an internal error")
            outcome = InternalError("internal")
        self._flights.land(flight, outcome)
        cache = self._cache
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
        self, flight: Flight, model_id: str, compiled: CompiledQuery, plan: Plan
    ) -> FlightOutcome:
        """Run the statement and encode its result. A query with no post-query step streams:
        batches go from the engine into the IPC stream as they come, in memory while small and
        into a file once over the job store's inline limit (in the cache's directory, so that
        the cache and the job store link that one file); the size limit is checked as it grows.
        A query with a post-query step is run whole, finished, then written the same way."""
        started = time.perf_counter()
        backend = self._backend
        spill_dir = self._cache.spill_dir if self._cache is not None else None
        invalid: dict[str, str] = {}
        written: WrittenResult | None = None
        try:
            try:
                if isinstance(backend, StreamingBackend) and backend.streams(compiled):
                    with backend.stream(model_id, compiled, flight.cancel) as streamed:
                        written = write_ipc(
                            streamed.reader,
                            inline_max=self._inline_max,
                            spill_dir=spill_dir,
                            check=self._check_size,
                        )
                    fields = streamed.fields
                else:
                    result = backend.run(model_id, compiled, flight.cancel)
                    written = write_ipc(  # the size is checked as it is written, as above
                        result.table.to_reader(max_chunksize=BATCH_ROWS),
                        inline_max=self._inline_max,
                        spill_dir=spill_dir,
                        check=self._check_size,
                    )
                    fields, invalid = result.fields, result.invalid_calculations
            finally:  # the warehouse's time: all of it but the encoding's share
                writing = written.write_s if written is not None else 0.0
                execution_s = max(0.0, time.perf_counter() - started - writing)
                self._metrics.execution_seconds.labels(self._connection_of(model_id)).observe(
                    execution_s
                )
        except SluiceError as err:
            return err
        meta = {
            "fields": fields,
            "invalid_calculations": invalid,
            "columns": written.schema.names,
            "execution_time_ms": round(execution_s * 1000, 3),
        }
        return Executed(
            written.data,
            num_rows=written.num_rows,
            meta=meta,
            computed_at=self._clock(),
            ttl_s=plan.ttl_s,
            encode_ms=written.write_s * 1000,
        )

    def _check_size(self, num_bytes: int) -> None:
        limit = self._max_result_bytes
        if limit > 0 and num_bytes > limit:
            raise ResultTooLarge(
                f"The result is {_mb(num_bytes)} MB, above this server's limit of {_mb(limit)} MB "
                "(server.max_result_mb); add filters or lower the limit."
            )

    # -- landing ---------------------------------------------------------------------------------

    def _on_landed(self, live: LiveJob, outcome: FlightOutcome) -> None:
        """A flight this job waits on landed (called in the thread that landed it)."""
        if isinstance(outcome, SluiceError):
            self._finish(live, self.failed(live, outcome), None)
            return
        try:
            record = completed(
                live.record,
                finished_at=self._clock(),
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
            self._finish(live, self.failed(live, InternalError("internal")), None)
            return
        self._finish(
            live, Outcome(record, line, outcome.source() if document else None), outcome.ipc
        )

    def failed(self, live: LiveJob, err: SluiceError) -> Outcome:
        if isinstance(err, Cancelled) and live.cancel_reason:
            message = live.cancel_reason
        elif isinstance(err, InternalError):
            message = internal_message(live.record.id)
        else:
            message = err.message
        record = live.record.advance(
            JobEvent.FAIL,
            finished_at=self._clock(),
            error_type=job_error_type(err),
            error_message=message,
        )
        return Outcome(record, job_line(record))


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _mb(num_bytes: int) -> str:
    mb = num_bytes / (1 << 20)
    return f"{mb:,.1f}" if mb >= 1 else f"{mb:.3g}"
