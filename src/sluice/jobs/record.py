"""The job record: one frozen value per state, persisted as JSON in the job store."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sluice.jobs.state import JobEvent, JobStatus, transition


@dataclass(frozen=True, slots=True)
class JobRecord:
    """Everything known about a job. Passes return new records; nothing is mutated."""

    id: str
    client_result_id: str
    organization_id: str
    user_id: str | None
    model_id: str
    status: JobStatus
    created_at: float  # epoch seconds
    plan_only: bool = False
    request_query: Mapping[str, Any] = field(default_factory=dict)  # the query as received
    started_at: float | None = None
    finished_at: float | None = None
    summary: Mapping[str, Any] | None = None
    cache_metadata: Mapping[str, Any] | None = None
    query: Mapping[str, Any] | None = None  # the executed query, as the job line carries it
    error_type: str | None = None
    error_message: str | None = None
    stream_ms: float | None = None
    result_rows: int | None = None
    result_bytes: int | None = None
    connection: str | None = None  # the connection (sluice.yaml name) the job runs on

    def advance(self, event: JobEvent, **changes: Any) -> JobRecord:
        """The record after ``event`` (raises InvalidTransition when not allowed)."""
        return dataclasses.replace(self, status=transition(self.status, event), **changes)

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    @property
    def has_result(self) -> bool:
        return self.status is JobStatus.COMPLETE

    def to_json(self) -> str:
        # Not dataclasses.asdict: it deep-copies the (JSON-ready) summary and query first.
        data = {name: getattr(self, name) for name in _FIELDS}
        data["status"] = self.status.value
        return json.dumps(data, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> JobRecord:
        data = json.loads(text)
        data["status"] = JobStatus(data["status"])
        return cls(**data)


_FIELDS = tuple(f.name for f in dataclasses.fields(JobRecord))
