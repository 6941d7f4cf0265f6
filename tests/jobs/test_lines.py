"""Omni's job lines: a line spliced from a remembered completion is byte for byte the line
rendered from the record, whatever the record holds."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.api.ndjson import footer_line, header_line
from sluice.jobs.lines import complete, complete_line, completion, dumps, job_line, json_text
from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobEvent, JobStatus

_TEXT = st.text(max_size=6)
_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | _TEXT,
    lambda c: st.lists(c, max_size=3) | st.dictionaries(_TEXT, c, max_size=3),
    max_leaves=12,
)


def running(summary: dict[str, Any], query: dict[str, Any], job_id: str) -> JobRecord:
    added = JobRecord(id=job_id, client_result_id=job_id[::-1], organization_id="o",
                      user_id=None, model_id="m", status=JobStatus.ADDED, created_at=1.0)  # fmt: skip
    started = added.advance(JobEvent.START, started_at=2.0)
    return started.advance(JobEvent.EXECUTE, summary=summary, query=query)


@settings(max_examples=120, deadline=None)
@given(
    st.dictionaries(_TEXT, _VALUES, max_size=4),
    st.dictionaries(_TEXT, _VALUES, max_size=3),
    st.lists(_TEXT, max_size=4),
    st.sampled_from(["EXACT", "EXACT_STALE", "MISS"]),
    st.floats(min_value=0, max_value=1e4, allow_nan=False),
    _TEXT,
)
def test_a_spliced_line_is_the_rendered_line(
    summary: dict[str, Any],
    model_job: dict[str, Any],
    columns: list[str],
    cache_type: str,
    stream_ms: float,
    job_id: str,
) -> None:
    record = running(summary, {"model_job": model_job, "model_version": "v"}, job_id or "j")
    meta = {"columns": columns, "fields": {"a": {"x": 1}}, "invalid_calculations": {},
            "execution_time_ms": 1.5}  # fmt: skip
    how = completion(record, meta=meta, num_rows=3, num_bytes=40, computed_at=1e9, ttl_s=60.0,
                     cache_type=cache_type)  # fmt: skip
    done = complete(record, how, finished_at=3.0, stream_ms=stream_ms)
    assert done.status is JobStatus.COMPLETE and done.result_rows == 3
    assert complete_line(done, how, b"QUJD") == job_line(done, b"QUJD")


@pytest.mark.parametrize(("summary", "job_id"), [({}, "\ud800"), ({"sql": "\udc00"}, "j")])
def test_unencodable_text_is_reported_as_the_rendered_line_reports_it(
    summary: dict[str, Any], job_id: str
) -> None:
    record = running(summary, {"model_job": {}}, job_id)
    meta = {"columns": [], "fields": {}, "invalid_calculations": {}, "execution_time_ms": 0}
    how = completion(record, meta=meta, num_rows=0, num_bytes=0, computed_at=0, ttl_s=1,
                     cache_type="EXACT")  # fmt: skip
    done = complete(record, how, finished_at=1.0, stream_ms=0.0)
    assert complete_line(done, how, b"") == job_line(done, b"")
    assert b'"INTERNAL"' in job_line(done, b"")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=12) | st.uuids().map(str))
def test_json_text_is_the_encoders_text(value: str) -> None:
    try:
        expected = dumps(value)
    except UnicodeEncodeError:
        return
    assert json_text(value) == expected


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.uuids().map(str) | _TEXT, st.uuids().map(str) | _TEXT, max_size=3))
def test_the_header_line_is_the_encoders_line(jobs: dict[str, str]) -> None:
    try:
        expected = dumps({"jobs_submitted": jobs}) + b"\n"
    except UnicodeEncodeError:
        return
    assert header_line(jobs) == expected
    assert footer_line([]) == dumps({"remaining_job_ids": [], "timed_out": "false"}) + b"\n"


@settings(max_examples=100, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, min_value=0, max_value=1e12))
def test_a_lines_stream_stats_are_its_time(stream_ms: float) -> None:
    record = running({}, {"model_job": {}}, "j")
    meta = {"columns": [], "fields": {}, "invalid_calculations": {}, "execution_time_ms": 0}
    how = completion(record, meta=meta, num_rows=0, num_bytes=0, computed_at=0, ttl_s=1,
                     cache_type="MISS")  # fmt: skip
    done = complete(record, how, finished_at=1.0, stream_ms=stream_ms)
    line = json.loads(job_line(done, b"QQ=="))
    assert line["stream_stats"] == {"server_stream": round(stream_ms, 3)}
    assert line["result"] == "QQ==" and line["status"] == "COMPLETE"


def test_a_hit_completes_straight_from_added() -> None:
    """A cache hit answered at once goes ADDED -> COMPLETE in one record, started when it
    finished; a running job keeps the start it had."""
    record = running({}, {"model_job": {}}, "j")
    meta = {"columns": [], "fields": {}, "invalid_calculations": {}, "execution_time_ms": 0}
    how = completion(record, meta=meta, num_rows=0, num_bytes=0, computed_at=0, ttl_s=1,
                     cache_type="EXACT")  # fmt: skip
    added = JobRecord(id="k", client_result_id="c", organization_id="o", user_id=None,
                      model_id="m", status=JobStatus.ADDED, created_at=1.0)  # fmt: skip
    hit = complete(added, how, finished_at=7.0, stream_ms=0.0)
    assert hit.status is JobStatus.COMPLETE and hit.started_at == hit.finished_at == 7.0
    ran = complete(record, how, finished_at=9.0, stream_ms=1.0)
    assert ran.status is JobStatus.COMPLETE and (ran.started_at, ran.finished_at) == (2.0, 9.0)
    assert complete_line(hit, how, b"") == job_line(hit, b"")
