"""Per-connection concurrency: ``max_concurrency`` statements at once, the rest queued in FIFO
order, the queue position in ``GET /api/v1/query/jobs/{id}``, and a cancel that leaves the queue.

The long job is real: the lab model's cross join (minutes on DuckDB), cancelled at the end.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sluice.jobs.queues import ConnectionQueues, Ticket
from tests.api.support import ApiClient, ApiFactory, job_lines, ndjson


def lab(app: ApiClient, table: str, field: str) -> dict[str, Any]:
    return {"modelId": app.model_id("lab"), "table": table, "fields": [f"{table}.{field}"]}


def submit(app: ApiClient, query: dict[str, Any]) -> str:
    (job_id,) = app.run(query, key=app.keys.org, cache="SkipCache")[-1]["remaining_job_ids"]
    return str(job_id)


def status(app: ApiClient, job_id: str) -> dict[str, Any]:
    response = app.get(f"/api/v1/query/jobs/{job_id}", key=app.keys.org)
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


def wait(app: ApiClient, job_id: str) -> dict[str, Any]:
    lines = ndjson(app.get("/api/v1/query/wait", key=app.keys.org, params={"jobIds": job_id}))
    (line,) = job_lines(lines)
    return line


def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_jobs_beyond_max_concurrency_queue_in_order(api_factory: ApiFactory) -> None:
    app = api_factory(run_window_s=0, connections={"lab": {"max_concurrency": 1}})
    long = submit(app, lab(app, "cross", "checksum"))
    until(lambda: app.services.jobs.executing == 1)
    running = status(app, long)
    fraction = running.pop("progress")  # DuckDB's estimate: None until it can tell
    assert fraction is None or 0.0 <= fraction <= 1.0
    assert running == {"job_id": long, "status": "RUNNING", "connection": "lab"}
    second = submit(app, lab(app, "numbers", "count"))
    until(lambda: status(app, second)["status"] == "QUEUED")  # compiled: waits for its slot
    third = submit(app, lab(app, "numbers", "total"))
    until(lambda: status(app, third)["status"] == "QUEUED")
    fourth = submit(app, lab(app, "numbers", "count"))
    until(lambda: status(app, fourth)["status"] == "QUEUED")
    assert status(app, second) == {
        "job_id": second, "status": "QUEUED", "queue_position": 1, "connection": "lab",
    }  # fmt: skip
    assert status(app, third)["queue_position"] == 2
    assert status(app, fourth)["queue_position"] == 3
    metrics = app.get("/metrics").text
    assert 'sluice_queue_depth{connection="lab"} 3.0' in metrics
    assert 'sluice_connection_running{connection="lab"} 1.0' in metrics
    assert 'sluice_jobs_in_progress{state="queued"} 3.0' in metrics
    assert 'sluice_jobs_in_progress{state="running"} 1.0' in metrics

    # Another connection is not held up by this one's queue.
    other = {"modelId": app.model_id(), "table": "users", "fields": ["users.count"]}
    assert wait(app, submit(app, other))["status"] == "COMPLETE"

    # A queued job cancelled leaves the queue: the ones behind it move up.
    response = app.request("DELETE", f"/api/v1/query/jobs/{second}", key=app.keys.org)
    assert response.status_code == 200
    cancelled = response.json()
    assert cancelled["status"] == "ERROR" and cancelled["error_type"] == "KILL"
    assert status(app, second) == cancelled  # a finished job's status is its line
    assert status(app, third)["queue_position"] == 1
    assert status(app, fourth)["queue_position"] == 2

    # The running job ends: the queue runs in order, one at a time.
    app.request("DELETE", f"/api/v1/query/jobs/{long}", key=app.keys.org)
    done = [wait(app, job_id) for job_id in (third, fourth)]
    assert [line["status"] for line in done] == ["COMPLETE", "COMPLETE"]
    computed = [line["cache_metadata"]["computed_at"] for line in done]
    assert computed == sorted(computed)

    def lab_queue() -> tuple[int, int]:
        (found,) = [q for q in app.services.jobs.queues.states() if q.connection == "lab"]
        return found.running, found.waiting

    until(lambda: lab_queue() == (0, 0))  # the worker gives the slot back just after the line


def test_status_of_unknown_and_foreign_jobs_is_a_404(api: ApiClient) -> None:
    (job,) = job_lines(api.run(lab(api, "numbers", "count"), key=api.keys.org))
    assert status(api, job["job_id"]) == job
    for job_id, key in (
        ("7f1d6c2e-3c1a-4d55-9a0e-1b2c3d4e5f60", api.keys.org),
        (job["job_id"], api.keys.other_org),
        ("not-a-uuid", api.keys.org),
    ):
        response = api.get(f"/api/v1/query/jobs/{job_id}", key=key)
        assert response.status_code == 404
        assert response.json() == {"detail": f"Job {job_id} not found", "status": 404}


def test_the_queue_is_first_in_first_out_and_hands_slots_on() -> None:
    started: list[str] = []
    queues = ConnectionQueues({"a": 2})
    tickets = [Ticket("a", lambda n=n: started.append(n), job_id=n) for n in "wxyz"]
    assert [queues.enter(t) for t in tickets] == [0, 0, 1, 2]
    assert started == ["w", "x"]
    assert queues.enter(Ticket("b", lambda: started.append("inline")), inline=True) == 0
    assert started == ["w", "x"]  # admitted, but the caller runs it itself
    queues.leave("b")
    assert queues.position(tickets[3]) == 2
    assert queues.withdraw(tickets[2]) and not queues.withdraw(tickets[2])
    assert queues.position(tickets[3]) == 1 and queues.position(tickets[0]) is None
    queues.leave("a")
    assert started == ["w", "x", "z"]
    queues.leave("a")
    queues.leave("a")
    state = queues.states()[0]
    assert (state.connection, state.running, state.waiting, state.limit) == ("a", 0, 0, 2)
    assert queues.enter(Ticket("elsewhere", lambda: started.append("e"))) == 0  # default limit
