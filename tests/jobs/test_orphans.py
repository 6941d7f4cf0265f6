"""Orphan cancel: a running job nobody waits on (no open /query/run or /query/wait naming it)
for ``server.orphan_timeout_s`` is cancelled on the warehouse and ends ERROR/KILL saying why.

The long query is the lab model's real 200,000 x 200,000 cross join; no sleep stands in for the
warehouse."""

from __future__ import annotations

import json
import time
from typing import Any

from tests.api.support import ApiClient, ApiFactory


def submit(app: ApiClient) -> str:
    cross = {"modelId": app.model_id("lab"), "table": "cross", "fields": ["cross.checksum"]}
    lines = app.run(cross, key=app.keys.org)
    (job_id,) = lines[-1]["remaining_job_ids"]
    return str(job_id)


def status(app: ApiClient, job_id: str) -> dict[str, Any]:
    response = app.get(f"/api/v1/query/jobs/{job_id}", key=app.keys.org)
    assert response.status_code == 200, response.text
    return dict(json.loads(response.text))


def wait_for(app: ApiClient, job_id: str, window: float) -> list[str]:
    response = app.get(
        "/api/v1/query/wait", key=app.keys.org, params={"job_ids": job_id}, timeout=window + 10
    )
    assert response.status_code == 200
    return response.text.splitlines()


def test_a_job_nobody_waits_on_is_cancelled(api_factory: ApiFactory) -> None:
    app = api_factory(run_window_s=0, orphan_timeout_s=0.5)
    job_id = submit(app)
    began = time.monotonic()
    while status(app, job_id)["status"] in ("QUEUED", "RUNNING"):
        assert time.monotonic() - began < 20, "the orphan was never cancelled"
        time.sleep(0.05)
    line = status(app, job_id)
    assert line["status"] == "ERROR" and line["error_type"] == "KILL", line
    assert "Nobody waited" in line["error_message"] and "orphan_timeout_s" in line["error_message"]
    began = time.monotonic()
    while app.services.jobs.executing:  # the warehouse statement is interrupted, not left running
        assert time.monotonic() - began < 20, "the statement kept running"
        time.sleep(0.05)


def test_a_job_someone_waits_on_keeps_running(api_factory: ApiFactory) -> None:
    app = api_factory(run_window_s=0, orphan_timeout_s=0.5, wait_window_s=1.5)
    job_id = submit(app)
    lines = wait_for(app, job_id, 1.5)  # one wait three times as long as the orphan timeout
    assert json.loads(lines[-1])["remaining_job_ids"] == [job_id]
    assert status(app, job_id)["status"] == "RUNNING"
    app.request("DELETE", f"/api/v1/query/jobs/{job_id}", key=app.keys.org)


def test_zero_turns_orphan_cancel_off(api_factory: ApiFactory) -> None:
    app = api_factory(run_window_s=0, orphan_timeout_s=0)
    job_id = submit(app)
    time.sleep(1.0)
    assert status(app, job_id)["status"] == "RUNNING"
    app.request("DELETE", f"/api/v1/query/jobs/{job_id}", key=app.keys.org)
