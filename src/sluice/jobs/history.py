"""Query history: the listing behind ``GET /api/v1/query/jobs``.

Both job stores keep every job's record for ``server.history_retention_days`` (longer than its
result): SQLite in a ``job_history`` table, Redis in a sorted set per organization. A listing is
newest first, ordered by ``(created_at, id)`` descending, and pages with an opaque cursor that
names the last row of the previous page, so a job that arrives between two pages never shifts
or repeats a row.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sluice.errors import BadRequest
from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobStatus

DEFAULT_LIMIT = 25
MAX_LIMIT = 100


@dataclass(frozen=True, slots=True)
class HistoryCursor:
    """The last row of the previous page: the next page starts strictly after it."""

    created_at: float
    job_id: str

    def encode(self) -> str:
        raw = json.dumps([self.created_at, self.job_id], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> HistoryCursor:
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            created_at, job_id = json.loads(raw)
            if isinstance(created_at, bool) or not isinstance(created_at, int | float):
                raise ValueError(created_at)
            if not isinstance(job_id, str):
                raise ValueError(job_id)
        except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
            raise BadRequest(f"cursor {text!r} is not valid for this listing") from None
        return cls(float(created_at), job_id)

    def after(self, record: JobRecord) -> bool:
        """Whether ``record`` comes after this cursor in newest-first order."""
        return (record.created_at, record.id) < (self.created_at, self.job_id)


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    """One page of an organization's jobs, optionally only one user's or one status."""

    organization_id: str
    limit: int = DEFAULT_LIMIT
    cursor: HistoryCursor | None = None
    user_id: str | None = None
    status: JobStatus | None = None
    created_after: float = 0.0  # older jobs are past history retention

    def matches(self, record: JobRecord) -> bool:
        return (
            record.organization_id == self.organization_id
            and record.created_at >= self.created_after
            and (self.user_id is None or record.user_id == self.user_id)
            and (self.status is None or record.status is self.status)
            and (self.cursor is None or self.cursor.after(record))
        )


def parse_status(text: str) -> JobStatus:
    try:
        return JobStatus(text.upper())
    except ValueError:
        names = ", ".join(s.value for s in JobStatus)
        raise BadRequest(f"status must be one of {names}; got {text!r}") from None


def parse_limit(text: str | None) -> int:
    if text is None or text == "":
        return DEFAULT_LIMIT
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}; got {text!r}")
    return int(text)


def history_record(record: JobRecord) -> JobRecord:
    """What history keeps of a job: what a listing shows, without the result's field metadata
    and cache details (a few hundred bytes a job, kept for days)."""
    summary: Mapping[str, Any] = record.summary or {}
    model_job: Mapping[str, Any] = (record.query or {}).get("model_job") or {}
    kept_job = {k: model_job[k] for k in ("fields", "join_paths_from_topic_name") if k in model_job}
    return record.but(
        summary={k: summary[k] for k in ("sql", "cache_type") if k in summary} or None,
        cache_metadata=None,
        query={"model_job": kept_job} if kept_job else None,
    )


def history_entry(record: JobRecord) -> dict[str, Any]:
    """One row of the listing (camelCase, as the rest of the REST API)."""
    summary: Mapping[str, Any] = record.summary or {}
    executed: Mapping[str, Any] = (record.query or {}).get("model_job") or {}
    asked = record.request_query
    fields = executed.get("fields") or asked.get("fields") or []
    topic = executed.get("join_paths_from_topic_name") or asked.get("join_paths_from_topic_name")
    duration_ms = None
    if record.finished_at is not None:
        duration_ms = round((record.finished_at - record.created_at) * 1000, 1)
    error = None
    if record.error_type or record.error_message:
        error = {"type": record.error_type, "message": record.error_message}
    return {
        "jobId": record.id,
        "status": record.status.value,
        "modelId": record.model_id,
        "topic": topic,
        "fields": list(fields),
        "userId": record.user_id,
        "createdAt": _iso(record.created_at),
        "finishedAt": _iso(record.finished_at) if record.finished_at is not None else None,
        "durationMs": duration_ms,
        "rows": record.result_rows,
        "bytes": record.result_bytes,
        "cacheType": summary.get("cache_type"),
        "sql": summary.get("sql"),
        "error": error,
        "query": dict(asked),
    }


def _iso(epoch: float) -> str:
    stamp = datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
    return stamp.replace("+00:00", "Z")
