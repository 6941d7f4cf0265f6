"""The job machinery on its own: state machine, record, lines, cache, store, service timing.

The service tests use a gated stand-in backend so they can control exactly when a job finishes;
every test that goes through HTTP uses the real compiler and DuckDB.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import threading
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sluice.compiler.types import CompiledQuery
from sluice.config import UserConfig
from sluice.engines.base import CancelToken
from sluice.errors import Cancelled
from sluice.jobs.lines import job_line, unknown_job_line
from sluice.jobs.memory import LineCache
from sluice.jobs.record import JobRecord
from sluice.jobs.service import JobService
from sluice.jobs.state import TERMINAL, InvalidTransition, JobEvent, JobStatus, transition
from sluice.jobs.store import RESTARTED_MESSAGE
from sluice.jobs.types import SHUTDOWN_MESSAGE, Finished, JobRequest
from sluice.jobs.writer import JobWriter
from sluice.project import QueryResult
from sluice.results.arrow import decode_table, read_ipc_stream
from sluice.stores.embedded.jobs import SqliteJobStore

ALLOWED = {
    (JobStatus.ADDED, JobEvent.START): JobStatus.PLANNING,
    (JobStatus.PLANNING, JobEvent.PLANNED): JobStatus.PLANNED,
    (JobStatus.PLANNING, JobEvent.EXECUTE): JobStatus.EXECUTING,
    (JobStatus.EXECUTING, JobEvent.SUCCEED): JobStatus.COMPLETE,
    (JobStatus.ADDED, JobEvent.FAIL): JobStatus.ERROR,
    (JobStatus.PLANNING, JobEvent.FAIL): JobStatus.ERROR,
    (JobStatus.EXECUTING, JobEvent.FAIL): JobStatus.ERROR,
}


@pytest.mark.parametrize(("status", "event"), list(itertools.product(JobStatus, JobEvent)))
def test_state_machine_every_pair(status: JobStatus, event: JobEvent) -> None:
    if (status, event) in ALLOWED:
        assert transition(status, event) is ALLOWED[(status, event)]
    else:
        with pytest.raises(InvalidTransition):
            transition(status, event)
    if status in TERMINAL:
        assert (status, event) not in ALLOWED


def record(**changes: Any) -> JobRecord:
    base = JobRecord(
        id="9b2e1f4a-0000-4000-8000-000000000001",
        client_result_id="9b2e1f4a-0000-4000-8000-000000000002",
        organization_id="org",
        user_id=None,
        model_id="m",
        status=JobStatus.ADDED,
        created_at=1.0,
    )
    return dataclasses.replace(base, **changes)


def test_record_json_round_trip() -> None:
    done = (
        record(request_query={"fields": ["a.b"]})
        .advance(JobEvent.START, started_at=2.0)
        .advance(JobEvent.EXECUTE, summary={"fields": {}})
        .advance(JobEvent.SUCCEED, finished_at=3.0, result_rows=1)
    )
    assert JobRecord.from_json(done.to_json()) == done
    assert done.status is JobStatus.COMPLETE and done.has_result


def test_complete_line_splices_the_result_into_valid_compact_json() -> None:
    done = record(status=JobStatus.COMPLETE, summary={"a": 1}, query={"q": "é"}, stream_ms=1.5)
    line = job_line(done, b"QUJD")
    assert line.endswith(b"}\n") and line.count(b"\n") == 1
    parsed = json.loads(line)
    assert parsed["result"] == "QUJD" and parsed["stream_stats"] == {"server_stream": 1.5}
    assert line[:-1].decode() == json.dumps(parsed, separators=(",", ":"), ensure_ascii=False)
    with pytest.raises(ValueError, match="no result"):
        job_line(done)


def test_error_and_unknown_lines() -> None:
    failed = record(status=JobStatus.ERROR, error_type="PLAN", error_message="bad")
    assert json.loads(job_line(failed)) == {
        "job_id": failed.id,
        "status": "ERROR",
        "client_result_id": failed.client_result_id,
        "error_type": "PLAN",
        "error_message": "bad",
    }
    assert json.loads(unknown_job_line("x")) == {
        "job_id": "x", "status": "FAILED", "error_message": "Unable to find job",
    }  # fmt: skip


def test_line_cache_is_bounded_in_bytes_and_least_recently_used() -> None:
    cache = LineCache(capacity_bytes=30)
    for name in "abc":
        cache.put(name, Finished("org", 1.0, b"x" * 10))
    assert cache.get("a") is not None  # a is now the most recent
    cache.put("d", Finished("org", 1.0, b"x" * 10))
    assert cache.get("b") is None and cache.get("a") is not None and len(cache) == 3
    cache.put("huge", Finished("org", 1.0, b"x" * 31))
    assert cache.get("huge") is None and cache.size <= 30
    cache.expire(finished_before=2.0)
    assert len(cache) == 0 and cache.size == 0


def ipc(table: pa.Table) -> pa.Buffer:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def test_store_keeps_records_and_results(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path, inline_max=1000)
    small, large = pa.table({"x": [1, 2, 3]}), pa.table({"x": list(range(1000))})
    done = record(status=JobStatus.COMPLETE, finished_at=10.0)
    big = record(
        id="9b2e1f4a-0000-4000-8000-000000000004", status=JobStatus.COMPLETE, finished_at=10.0
    )
    store.insert(record())
    store.save(done, ipc(small))
    store.save(big, ipc(large))
    store.insert(record())  # a late insert never overwrites the finished record
    stored = store.get(done.id)
    assert stored is not None and stored.record == done and stored.result is not None
    assert read_ipc_stream(stored.result).equals(small)
    assert not store.result_path(done.id).exists()  # small: inline in the row
    assert store.result_path(big.id).exists()  # large: a file beside the database
    stored_big = store.get(big.id)
    assert stored_big is not None and stored_big.result is not None
    assert read_ipc_stream(stored_big.result).equals(large)
    running = record(id="9b2e1f4a-0000-4000-8000-000000000003", status=JobStatus.EXECUTING)
    store.insert(running)
    store.close()

    reopened = SqliteJobStore(tmp_path)
    assert reopened.recover(now=20.0) == 1
    recovered = reopened.get(running.id)
    assert recovered is not None and recovered.record.status is JobStatus.ERROR
    assert recovered.record.error_type == "KILL"
    assert recovered.record.error_message == RESTARTED_MESSAGE
    assert reopened.purge(finished_before=15.0) == 2  # the two jobs that finished at 10
    assert reopened.get(done.id) is None and reopened.get(big.id) is None
    assert not reopened.result_path(big.id).exists()
    assert reopened.get(running.id) is not None
    reopened.close()


class GatedBackend:
    """Compiles to a fixed query; ``execute`` blocks until ``release`` (or a cancel)."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.finished_at: list[float] = []

    def compile(
        self,
        model_id: str,
        query: Mapping[str, Any],
        *,
        now: datetime,
        user: UserConfig | None = None,
        timezone: str | None = None,
    ) -> CompiledQuery:
        return CompiledQuery(
            sql="SELECT 1", dialect="duckdb", fields=(), missing_fields=(), model_version="v",
            base_view="v", topic=None, limit=None,
        )  # fmt: skip

    def run(
        self, model_id: str, compiled: CompiledQuery, cancel: CancelToken | None = None
    ) -> QueryResult:
        if cancel is not None:
            cancel.bind(self.gate.set)
        self.gate.wait(30)
        if cancel is not None:
            cancel.bind(None)
            if cancel.cancelled:
                raise Cancelled("the query was cancelled")
        self.finished_at.append(time.perf_counter())
        return QueryResult(pa.table({"x": [1]}), {}, {})


def request() -> JobRequest:
    return JobRequest(organization_id="org", user=None, model_id="m", query={"fields": []})


def service(tmp_path: Path, backend: GatedBackend, **kw: Any) -> tuple[JobService, SqliteJobStore]:
    store = SqliteJobStore(tmp_path)
    return JobService(backend, store, workers=2, retention_s=3600, **kw), store


def test_a_waiter_wakes_when_its_job_finishes_not_at_its_timeout(tmp_path: Path) -> None:
    """How fast it wakes is ``bench/api.py`` (c)'s business; here, that it wakes on the job's
    completion: its 60 s window is far longer than the 10 s the test gives it."""
    backend = GatedBackend()

    async def scenario() -> None:
        jobs, store = service(tmp_path, backend)
        await jobs.start()
        try:
            job = jobs.submit(request())
            waiter = asyncio.create_task(jobs.wait("org", [job.id], timeout=60))
            await asyncio.sleep(0.05)
            assert not waiter.done()
            backend.gate.set()
            result = await asyncio.wait_for(waiter, timeout=10)
            assert result.remaining == [] and b'"COMPLETE"' in result.lines[0]
            assert decode_table(json.loads(result.lines[0])["result"]).num_rows == 1
        finally:
            await jobs.close()
            store.close()

    asyncio.run(scenario())


def test_the_query_deadline_cancels_a_job(tmp_path: Path) -> None:
    backend = GatedBackend()

    async def scenario() -> dict[str, Any]:
        jobs, store = service(tmp_path, backend, query_timeout_s=0.05)
        await jobs.start()
        try:
            job = jobs.submit(request())
            result = await jobs.wait("org", [job.id], timeout=10)
            return dict(json.loads(result.lines[0]))
        finally:
            await jobs.close()
            store.close()

    line = asyncio.run(scenario())
    assert line["status"] == "ERROR" and line["error_type"] == "KILL"
    assert "query_timeout_s" in line["error_message"]


def test_shutdown_cancels_jobs_that_outlive_the_grace_period(tmp_path: Path) -> None:
    backend = GatedBackend()

    async def scenario() -> str:
        jobs, store = service(tmp_path, backend)
        await jobs.start()
        job = jobs.submit(request())
        await asyncio.sleep(0.02)
        await jobs.close(grace_s=0.05)
        stored = store.get(job.id)
        store.close()
        assert stored is not None and stored.record.status is JobStatus.ERROR
        return stored.record.error_message or ""

    assert asyncio.run(scenario()) == SHUTDOWN_MESSAGE


def test_the_writer_coalesces_a_jobs_states_and_flushes_on_demand(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path)
    batches: list[int] = []
    real = store.write_batch

    def counting(items: Any) -> None:
        batches.append(len(items))
        real(items)

    store.write_batch = counting  # type: ignore[method-assign]
    written: list[list[str]] = []
    writer = JobWriter(store, gather_s=2.0, on_written=written.append)
    try:
        started = record()
        writer.put(started)
        writer.put(started.advance(JobEvent.START).advance(JobEvent.FAIL, finished_at=2.0))
        writer.put(started)  # a late duplicate of the ADDED state must not win
        writer.flush(timeout=5)
        stored = store.get(started.id)
        assert stored is not None and stored.record.status is JobStatus.ERROR
        assert batches == [1] and written == [[started.id]]
        # An idle writer flushes at once: were it to wait out the 2 s gather time first, this
        # flush would time out (the timeout is a hang guard, not a speed claim).
        writer.flush(timeout=1.0)
    finally:
        writer.close()
        store.close()


def test_a_record_takes_several_events_at_once_and_each_must_be_allowed() -> None:
    added = record()
    through = added.advance(JobEvent.START, JobEvent.EXECUTE, started_at=5.0)
    stepwise = added.advance(JobEvent.START, started_at=5.0).advance(JobEvent.EXECUTE)
    assert through == stepwise and through.status is JobStatus.EXECUTING
    assert added.status is JobStatus.ADDED  # a pass returns a new record
    with pytest.raises(InvalidTransition):
        added.advance(JobEvent.START, JobEvent.SUCCEED)  # PLANNING cannot succeed
    with pytest.raises(TypeError, match="no field 'colour'"):
        added.advance(JobEvent.START, colour="red")
