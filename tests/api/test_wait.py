"""GET /query/wait (contract §9): id formats, re-delivery, windows, restarts."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from sluice.config import load_config
from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobStatus
from sluice.jobs.store import RESTARTED_MESSAGE
from sluice.results.arrow import decode_table
from sluice.stores.embedded.jobs import SqliteJobStore
from tests.api.support import ORG, ApiClient, ApiFactory, Keys, job_lines, ndjson, with_server

UNKNOWN = "11111111-1111-4111-8111-111111111111"


def users_count(api: ApiClient) -> dict[str, Any]:
    return {"modelId": api.model_id(), "table": "users", "fields": ["users.count"]}


def heavy(api: ApiClient) -> dict[str, Any]:
    return {"modelId": api.model_id("lab"), "table": "heavy", "fields": ["heavy.checksum"]}


def submit(api: ApiClient, query: dict[str, Any]) -> str:
    """Run with a zero run window: the footer names the job, still running. (SkipCache: a
    cached result would answer at once, inside even a zero window.)"""
    header, footer = api.run(query, key=api.keys.org, cache="SkipCache")
    (job_id,) = header["jobs_submitted"]
    assert footer == {"remaining_job_ids": [job_id], "timed_out": "true"}
    return job_id


def wait(api: ApiClient, key: str, **params: str) -> list[dict[str, Any]]:
    response = api.get("/api/v1/query/wait", key=key, params=params)
    assert response.status_code == 200, response.text
    return ndjson(response)


@pytest.fixture()
def slow_api(api_factory: ApiFactory) -> ApiClient:
    return api_factory(run_window_s=0.0)


def test_a_job_past_the_run_window_is_in_the_footer_and_wait_delivers_it(
    slow_api: ApiClient,
) -> None:
    job_id = submit(slow_api, users_count(slow_api))
    lines = wait(slow_api, slow_api.keys.org, job_ids=json.dumps([job_id]))  # the SDK's form
    (job,) = job_lines(lines)
    assert job["job_id"] == job_id and job["status"] == "COMPLETE"
    assert decode_table(job["result"]).column_names == ["users.count"]
    assert lines[-1] == {"remaining_job_ids": [], "timed_out": "false"}
    assert "jobs_submitted" not in json.dumps(lines)


@pytest.mark.parametrize("param", ["job_ids", "jobIds"])
def test_comma_separated_ids_in_either_parameter(slow_api: ApiClient, param: str) -> None:
    first = submit(slow_api, users_count(slow_api))
    second = submit(slow_api, users_count(slow_api))
    lines = wait(slow_api, slow_api.keys.org, **{param: f"{second},{UNKNOWN},{first}"})
    assert [line.get("job_id") for line in lines[:-1]] == [second, UNKNOWN, first]
    assert lines[1] == {
        "job_id": UNKNOWN,
        "status": "FAILED",
        "error_message": "Unable to find job",
    }
    assert [line["status"] for line in lines[:-1]] == ["COMPLETE", "FAILED", "COMPLETE"]


def test_finished_jobs_are_redelivered_on_every_call(slow_api: ApiClient) -> None:
    job_id = submit(slow_api, users_count(slow_api))
    deliveries = [wait(slow_api, slow_api.keys.org, jobIds=job_id) for _ in range(3)]
    assert deliveries[0] == deliveries[1] == deliveries[2]
    assert job_lines(deliveries[0])[0]["status"] == "COMPLETE"


def test_the_legacy_unstable_wait_path(slow_api: ApiClient) -> None:
    job_id = submit(slow_api, users_count(slow_api))
    response = slow_api.get(
        "/api/unstable/query/wait", key=slow_api.keys.org, params={"job_ids": job_id}
    )
    assert '"status":"COMPLETE"' in response.text


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"job_ids": ""},
        {"jobIds": " , "},
        {"job_ids": "[]"},
        {"job_ids": "[1, 2]"},
        {"job_ids": "[x"},
    ],
)
def test_missing_or_malformed_ids_are_400(
    api: ApiClient, keys: Keys, params: dict[str, str]
) -> None:
    response = api.get("/api/v1/query/wait", key=keys.org, params=params)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and "job_ids" in body["detail"]


def test_too_many_ids_is_400(api: ApiClient, keys: Keys) -> None:
    ids = ",".join(f"{i:08d}-0000-4000-8000-000000000000" for i in range(1001))
    response = api.get("/api/v1/query/wait", key=keys.org, params={"jobIds": ids})
    assert response.status_code == 400


def test_wait_wakes_when_the_job_finishes_not_at_the_window(api_factory: ApiFactory) -> None:
    app = api_factory(run_window_s=0.0, wait_window_s=30.0)
    job_id = submit(app, heavy(app))
    started = time.perf_counter()
    lines = wait(app, app.keys.org, jobIds=job_id)
    assert time.perf_counter() - started < 10.0  # the heavy query takes a fraction of a second
    assert job_lines(lines)[0]["status"] == "COMPLETE"


def test_a_wait_window_that_closes_first_reports_the_job_as_remaining(
    api_factory: ApiFactory,
) -> None:
    app = api_factory(run_window_s=0.0, wait_window_s=0.001)
    job_id = submit(app, heavy(app))
    first = wait(app, app.keys.org, jobIds=job_id)
    assert first == [{"remaining_job_ids": [job_id], "timed_out": "true"}]
    for _ in range(2000):  # each call holds ~1 ms; the job takes a fraction of a second
        lines = wait(app, app.keys.org, jobIds=job_id)
        if lines[-1]["timed_out"] == "false":
            break
    assert job_lines(lines)[0]["status"] == "COMPLETE"


def test_a_restart_between_run_and_wait_still_delivers_the_result(
    tmp_path: Path, demo_db: Path
) -> None:
    from tests.api.support import ApiClient, open_api

    first = open_api(tmp_path, demo_db, run_window_s=0.0)
    try:
        job_id = submit(first, heavy(first))
    finally:
        first.close()  # graceful: the running job gets shutdown_grace_s to finish
    second = ApiClient(load_config(tmp_path / "sluice.yaml"))
    try:
        lines = wait(second, first.keys.org, jobIds=job_id)
    finally:
        second.close()
    (job,) = job_lines(lines)
    assert job["status"] == "COMPLETE"
    assert decode_table(job["result"]).column_names == ["heavy.checksum"]


def test_jobs_running_when_the_process_died_are_errors_after_restart(
    tmp_path: Path, demo_db: Path
) -> None:
    from tests.api.support import open_api

    app = open_api(tmp_path, demo_db)
    app.close()
    store = SqliteJobStore(app.config.server.state_dir)
    orphan = JobRecord(
        id="22222222-2222-4222-8222-222222222222",
        client_result_id="33333333-3333-4333-8333-333333333333",
        organization_id=ORG,
        user_id=None,
        model_id=app.model_id(),
        status=JobStatus.EXECUTING,
        created_at=time.time(),
    )
    store.insert(orphan)
    store.close()
    restarted = ApiClient(with_server(load_config(tmp_path / "sluice.yaml")))
    try:
        (job,) = job_lines(wait(restarted, app.keys.org, jobIds=orphan.id))
    finally:
        restarted.close()
    assert job["status"] == "ERROR" and job["error_type"] == "KILL"
    assert job["error_message"] == RESTARTED_MESSAGE
    assert "result" not in job
