"""``DELETE /api/v1/query/jobs/{jobId}``: cancel a job (a sluice extension).

The long query is a real one: a 200,000 x 200,000 cross join summed on DuckDB (minutes of work),
interrupted from another request; no sleep stands in for the warehouse.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.api.support import ApiClient, ApiFactory, Keys, job_lines, ndjson


def submit(app: ApiClient, query: dict[str, Any]) -> str:
    lines = app.run(query, key=app.keys.org)
    (job_id,) = lines[-1]["remaining_job_ids"]
    return str(job_id)


def wait_until(condition: Any, timeout: float = 20.0) -> float:
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < timeout, "timed out"
        time.sleep(0.01)
    return time.monotonic() - began


def test_cancelling_a_long_query_interrupts_the_warehouse(api_factory: ApiFactory) -> None:
    app = api_factory(run_window_s=0)
    cross = {"modelId": app.model_id("lab"), "table": "cross", "fields": ["cross.checksum"]}
    job_id = submit(app, cross)
    wait_until(lambda: app.services.jobs.executing == 1)
    time.sleep(0.3)  # well inside the statement by now
    response = app.request("DELETE", f"/api/v1/query/jobs/{job_id}", key=app.keys.org)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    line = response.json()
    assert line["job_id"] == job_id and line["status"] == "ERROR"
    assert line["error_type"] == "KILL" and job_id in line["error_message"]
    assert "result" not in line
    # The statement stops: the execution leaves within seconds, not the minutes it needs.
    assert wait_until(lambda: app.services.jobs.executing == 0, timeout=10) < 10
    waited = ndjson(app.get("/api/v1/query/wait", key=app.keys.org, params={"jobIds": job_id}))
    assert job_lines(waited) == [line]
    again = app.request("DELETE", f"/api/v1/query/jobs/{job_id}", key=app.keys.org)
    assert again.status_code == 200 and again.json() == line  # idempotent
    # The worker is free again: another query runs at once.
    quick = {"modelId": app.model_id("lab"), "table": "numbers", "fields": ["numbers.total"]}
    quick_id = submit(app, quick)
    done = ndjson(app.get("/api/v1/query/wait", key=app.keys.org, params={"jobIds": quick_id}))
    assert job_lines(done)[0]["status"] == "COMPLETE"


def test_cancelling_a_finished_job_leaves_it_complete(api: ApiClient, keys: Keys) -> None:
    query = {"modelId": api.model_id("lab"), "table": "numbers", "fields": ["numbers.count"]}
    (job,) = job_lines(api.run(query, key=keys.org))
    response = api.request("DELETE", f"/api/v1/query/jobs/{job['job_id']}", key=keys.org)
    assert response.status_code == 200 and response.json() == job
    waited = ndjson(api.get("/api/v1/query/wait", key=keys.org, params={"jobIds": job["job_id"]}))
    assert job_lines(waited) == [job]


@pytest.mark.parametrize("who", ["unknown", "other organization", "not a uuid"])
def test_cancelling_a_job_one_cannot_see_is_a_404(api: ApiClient, keys: Keys, who: str) -> None:
    query = {"modelId": api.model_id("lab"), "table": "numbers", "fields": ["numbers.count"]}
    (job,) = job_lines(api.run(query, key=keys.org))
    job_id, key = {
        "unknown": ("7f1d6c2e-3c1a-4d55-9a0e-1b2c3d4e5f60", keys.org),
        "other organization": (job["job_id"], keys.other_org),
        "not a uuid": ("nope", keys.org),
    }[who]
    response = api.request("DELETE", f"/api/v1/query/jobs/{job_id}", key=key)
    assert response.status_code == 404
    assert response.json() == {"detail": f"Job {job_id} not found", "status": 404}


def test_cancel_needs_a_valid_token(api: ApiClient, keys: Keys) -> None:
    url = "/api/v1/query/jobs/7f1d6c2e-3c1a-4d55-9a0e-1b2c3d4e5f60"
    assert api.request("DELETE", url).status_code == 400
    assert api.request("DELETE", url, key=keys.revoked).status_code == 403


def test_a_cancelled_document_job_is_reported_as_killed(api_factory: ApiFactory) -> None:
    app = api_factory(run_window_s=0)
    cross = {"modelId": app.model_id("lab"), "table": "cross", "fields": ["cross.checksum"]}
    response = app.post(
        "/api/v1/query/run", key=app.keys.org, json={"query": cross, "resultType": "csv"}
    )
    assert response.status_code == 408
    (job_id,) = response.json()["remaining_job_ids"]
    killed = app.request("DELETE", f"/api/unstable/query/jobs/{job_id}", key=app.keys.org)
    assert killed.status_code == 200 and killed.json()["error_type"] == "KILL"
    wait_until(lambda: app.services.jobs.executing == 0, timeout=10)
    waited = app.get("/api/v1/query/wait", key=app.keys.org, params={"jobIds": job_id})
    assert json.loads(waited.text.splitlines()[0])["error_type"] == "KILL"
