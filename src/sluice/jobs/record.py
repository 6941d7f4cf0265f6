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

    def advance(self, event: JobEvent, *then: JobEvent, **changes: Any) -> JobRecord:
        """The record after ``event`` and then each of ``then`` (raises InvalidTransition when
        one is not allowed), with ``changes``: one new record however many events."""
        status = transition(self.status, event)
        for later in then:
            status = transition(status, later)
        return self.but(status=status, **changes)

    def but(self, **changes: Any) -> JobRecord:
        """This record with ``changes`` (no event: a view of it, such as history's). What
        ``dataclasses.replace`` does, without its per-call look at the fields: a cache hit's
        whole life is a few microseconds."""
        values = {name: getattr(self, name) for name in _FIELDS}
        unknown = changes.keys() - values.keys()
        if unknown:
            raise TypeError(f"JobRecord has no field {sorted(unknown)[0]!r}")
        values.update(changes)
        return JobRecord(**values)

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
        return _ENCODER.encode(data)

    @classmethod
    def from_json(cls, text: str) -> JobRecord:
        data = json.loads(text)
        data["status"] = JobStatus(data["status"])
        return cls(**data)


_FIELDS = tuple(f.name for f in dataclasses.fields(JobRecord))
_ENCODER = json.JSONEncoder(separators=(",", ":"))  # one encoder, not one per record
