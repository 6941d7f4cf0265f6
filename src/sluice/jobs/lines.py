"""The job lines of the NDJSON run/wait responses (contract §6, §9), rendered once as bytes.

A line is compact JSON followed by exactly one ``\\n``. A ``COMPLETE`` line carries the result as
base64 text, which can be megabytes: it is spliced in as bytes rather than passed through the
JSON encoder, so it is neither scanned for escapes nor copied twice.
"""

from __future__ import annotations

import json
from typing import Any

from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobStatus

UNKNOWN_JOB_MESSAGE = "Unable to find job"


def dumps(value: Any) -> bytes:
    """Compact JSON (no spaces, no NaN), UTF-8."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


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
    stats = dumps({"server_stream": round(record.stream_ms or 0.0, 3)})
    return b"".join(
        (dumps(head)[:-1], b',"result":"', result_b64, b'","stream_stats":', stats, b"}\n")
    )


def unknown_job_line(job_id: str) -> bytes:
    return (
        dumps({"job_id": job_id, "status": "FAILED", "error_message": UNKNOWN_JOB_MESSAGE}) + b"\n"
    )
