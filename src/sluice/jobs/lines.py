"""Omni's job-line format: the lines of the NDJSON run/wait responses (contract §6, §9), rendered
once as bytes, and the parts of a job record they show (summary, query, cache metadata, status).

A line is compact JSON followed by exactly one ``\\n``. A ``COMPLETE`` line carries the result as
base64 text, which can be megabytes: it is spliced in as bytes rather than passed through the
JSON encoder, so it is neither scanned for escapes nor copied twice.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sluice.compiler.types import CompiledQuery
from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobEvent, JobStatus
from sluice.jobs.types import JobRequest

UNKNOWN_JOB_MESSAGE = "Unable to find job"


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def dumps(value: Any) -> bytes:
    """Compact JSON (no spaces, no NaN), UTF-8. One encoder for every line: ``json.dumps`` with
    options builds a new one each call."""
    return _ENCODER.encode(value).encode()


_PLAIN = re.compile(r"[0-9A-Za-z_.:-]*")  # text JSON spells as it is, between quotes


def json_text(value: str) -> bytes:
    """``dumps(value)`` for a string, without the encoder for the usual ids (nothing to escape)."""
    return f'"{value}"'.encode() if _PLAIN.fullmatch(value) else dumps(value)


BAD_TEXT_MESSAGE = (
    "This job's stored record holds text that is not valid Unicode (written by an older "
    "version of sluice); run the query again"
)


def job_line(record: JobRecord, result_b64: bytes | None = None) -> bytes:
    """The terminal line of ``record``; ``result_b64`` is required for a ``COMPLETE`` job.

    A record holding text UTF-8 cannot encode (a lone surrogate stored by an older version,
    before text was checked at the edge) is reported as a failed job, never an error."""
    try:
        return _job_line(record, result_b64)
    except UnicodeEncodeError:
        line = {
            "job_id": record.id.encode("utf-8", "replace").decode(),
            "status": "ERROR",
            "error_type": "INTERNAL",
            "error_message": BAD_TEXT_MESSAGE,
        }
        return dumps(line) + b"\n"


def _job_line(record: JobRecord, result_b64: bytes | None) -> bytes:
    head: dict[str, Any] = {
        "job_id": record.id,
        "status": record.status.value,
        "client_result_id": record.client_result_id,
    }
    if record.status is JobStatus.ERROR:
        head["error_type"] = record.error_type or "INTERNAL"
        head["error_message"] = record.error_message or "The job failed"
    if record.summary is not None:
        head["summary"] = record.summary
    if record.status is JobStatus.COMPLETE:
        head["cache_metadata"] = record.cache_metadata or {}
    if record.query is not None:
        head["query"] = record.query
    if record.status is not JobStatus.COMPLETE:
        return dumps(head) + b"\n"
    if result_b64 is None:
        raise ValueError(f"job {record.id} is COMPLETE but no result was given")
    return b"".join((dumps(head)[:-1], *_result_and_stats(record, result_b64)))


def _result_and_stats(record: JobRecord, result_b64: bytes) -> tuple[bytes, ...]:
    """The tail of a ``COMPLETE`` line, in parts (the result is joined into the line once): the
    result and the stream stats, closing the object."""
    server_stream = round(record.stream_ms or 0.0, 3)
    # A finite float is its repr in JSON, as the encoder writes it.
    stats = (
        f'{{"server_stream":{server_stream!r}}}'.encode()
        if isinstance(server_stream, float) and math.isfinite(server_stream)
        else dumps({"server_stream": server_stream})
    )
    return (b',"result":"', result_b64, b'","stream_stats":', stats, b"}\n")


def unknown_job_line(job_id: str) -> bytes:
    return (
        dumps({"job_id": job_id, "status": "FAILED", "error_message": UNKNOWN_JOB_MESSAGE}) + b"\n"
    )


def progress(record: JobRecord, position: int | None, *, local: bool = False) -> dict[str, Any]:
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


@dataclass(frozen=True, slots=True)
class Completion:
    """What the ``COMPLETE`` record of one query and one result shows, worked out once: its
    summary, query and cache metadata, and those three as they appear in its line (``part``).
    Every cache hit of the same query on the same entry shares it; only the ids, the times and
    the result differ from one hit to the next."""

    summary: Mapping[str, Any]
    query: Mapping[str, Any]
    cache_metadata: Mapping[str, Any]
    num_rows: int
    num_bytes: int
    part: bytes | None  # ``,"summary":...,"cache_metadata":...,"query":...``; None: unencodable


def completion(
    record: JobRecord,
    *,
    meta: Mapping[str, Any],
    num_rows: int,
    num_bytes: int,
    computed_at: float,
    ttl_s: float,
    cache_type: str,
) -> Completion:
    """The completion of ``record`` (running, with its plan's summary and query)."""
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
    try:
        whole = dumps({"summary": summary, "cache_metadata": cache_metadata, "query": query})
        part: bytes | None = b"," + whole[1:-1]
    except UnicodeEncodeError:  # job_line reports it
        part = None
    return Completion(summary, query, cache_metadata, num_rows, num_bytes, part)


def complete(
    record: JobRecord, done: Completion, *, finished_at: float, stream_ms: float
) -> JobRecord:
    """``record`` advanced to ``COMPLETE`` as ``done`` describes: from ``EXECUTING``, or straight
    from ``ADDED`` (a cache hit answered at once: started and finished in the same moment)."""
    events: tuple[JobEvent, ...] = (JobEvent.SUCCEED,)
    started_at = record.started_at
    if record.status is JobStatus.ADDED:
        events = (JobEvent.START, JobEvent.EXECUTE, JobEvent.SUCCEED)
        started_at = finished_at
    return record.advance(
        *events,
        started_at=started_at,
        finished_at=finished_at,
        summary=done.summary,
        query=done.query,
        cache_metadata=done.cache_metadata,
        stream_ms=stream_ms,
        result_rows=done.num_rows,
        result_bytes=done.num_bytes,
    )


def complete_line(record: JobRecord, done: Completion, result_b64: bytes) -> bytes:
    """``job_line(record, result_b64)`` for a record ``complete`` made from ``done``, spliced
    from its parts instead of encoded again."""
    if done.part is None:
        return job_line(record, result_b64)
    try:
        job_id, client_result_id = json_text(record.id), json_text(record.client_result_id)
    except UnicodeEncodeError:
        return job_line(record, result_b64)
    return b"".join(
        (b'{"job_id":', job_id, b',"status":"COMPLETE","client_result_id":', client_result_id,
         done.part, *_result_and_stats(record, result_b64))
    )  # fmt: skip


def completed(
    record: JobRecord,
    *,
    finished_at: float,
    meta: Mapping[str, Any],
    num_rows: int,
    num_bytes: int,
    computed_at: float,
    ttl_s: float,
    cache_type: str,
    stream_ms: float,
) -> JobRecord:
    """``record`` advanced to ``COMPLETE``, with the summary and cache metadata its line shows."""
    done = completion(
        record, meta=meta, num_rows=num_rows, num_bytes=num_bytes, computed_at=computed_at,
        ttl_s=ttl_s, cache_type=cache_type,
    )  # fmt: skip
    return complete(record, done, finished_at=finished_at, stream_ms=stream_ms)


def iso(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    )


def internal_message(job_id: str) -> str:
    return f"Internal error while running job {job_id}; the server log has the details."
