"""Two apps sharing one Redis act as one server: jobs, waits, cancels, the cache and API keys.

Each app has its own state dir (nothing is shared on disk) and the same Redis URL and key prefix;
the apps run in this process (the real app, httpx in process). Replicas as separate processes,
one of them killed mid-job, are in tests/e2e/test_replicas.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobStatus
from sluice.stores.redis.jobs import LEASE_EXPIRED_MESSAGE, RedisJobStore
from sluice.stores.redis.keys import Keys as RedisKeys
from sluice.stores.redis.keys import connect
from sluice.stores.redis.tokens import RedisTokenStore
from tests.api.support import ORG, ApiClient, Keys, create_keys_in, job_lines, ndjson, open_api

Pair = tuple[ApiClient, ApiClient]


@pytest.fixture()
def replicas(
    tmp_path: Path, demo_db: Path, redis_url: str, redis_prefix: str
) -> Iterator[Callable[..., Pair]]:
    opened: list[ApiClient] = []

    def start(**server: Any) -> Pair:
        client = connect(redis_url)
        try:
            keys = create_keys_in(RedisTokenStore(client, RedisKeys(redis_prefix)))
        finally:
            client.close()
        settings = {"redis_url": redis_url, "redis_prefix": redis_prefix, "lease_s": 1.5, **server}
        for name in ("one", "two"):
            opened.append(open_api(tmp_path / name, demo_db, keys=keys, **settings))
        return opened[-2], opened[-1]

    yield start
    for app in reversed(opened):
        app.close()


def lab(app: ApiClient, table: str, field: str) -> dict[str, Any]:
    return {"modelId": app.model_id("lab"), "table": table, "fields": [f"{table}.{field}"]}


def submit(app: ApiClient, query: dict[str, Any]) -> str:
    lines = app.run(query, key=app.keys.org)
    (job_id,) = lines[-1]["remaining_job_ids"]
    return str(job_id)


def wait(app: ApiClient, job_id: str, key: str | None = None) -> list[dict[str, Any]]:
    response = app.get("/api/v1/query/wait", key=key or app.keys.org, params={"jobIds": job_id})
    return ndjson(response)


def until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def test_a_job_run_on_one_replica_is_answered_by_a_wait_on_another(
    replicas: Callable[..., Pair],
) -> None:
    one, two = replicas(run_window_s=0)
    job_id = submit(one, lab(one, "heavy", "checksum"))
    lines = wait(two, job_id)
    assert lines[-1] == {"remaining_job_ids": [], "timed_out": "false"}
    (job,) = job_lines(lines)
    assert job["job_id"] == job_id and job["status"] == "COMPLETE" and job["result"]
    assert job_lines(wait(one, job_id)) == [job]  # and the same line on the replica that ran it
    assert job_lines(wait(two, job_id)) == [job]  # again: finished jobs are re-delivered
    # Another organization sees nothing, on either replica.
    for app in (one, two):
        (unknown,) = job_lines(wait(app, job_id, key=app.keys.other_org))
        assert unknown["status"] == "FAILED"


def test_the_result_cache_is_shared(replicas: Callable[..., Pair]) -> None:
    one, two = replicas()
    query = lab(one, "numbers", "total")
    (first,) = job_lines(one.run(query, key=one.keys.org))
    until(lambda: bool(two.services.jobs._result_cache.store.entries()))  # stored just after
    (second,) = job_lines(two.run(query, key=two.keys.org))
    assert first["summary"]["cache_type"] == "MISS"
    assert second["summary"]["cache_type"] == "EXACT"
    assert second["cache_metadata"]["served_from_cache"] is True
    assert second["result"] == first["result"]
    assert two.services.jobs.executions == 0  # replica two never ran it


def test_cancel_and_status_reach_the_replica_running_the_job(
    replicas: Callable[..., Pair],
) -> None:
    one, two = replicas(run_window_s=0)
    job_id = submit(one, lab(one, "cross", "checksum"))  # minutes of work
    until(lambda: one.services.jobs.executing == 1)
    status = two.get(f"/api/v1/query/jobs/{job_id}", key=two.keys.org)
    assert status.status_code == 200
    assert status.json() == {"job_id": job_id, "status": "RUNNING", "connection": "lab"}
    hidden = two.get(f"/api/v1/query/jobs/{job_id}", key=two.keys.other_org)
    assert hidden.status_code == 404
    response = two.request("DELETE", f"/api/v1/query/jobs/{job_id}", key=two.keys.org)
    assert response.status_code == 200
    line = response.json()
    assert line["status"] == "ERROR" and line["error_type"] == "KILL"
    assert job_id in line["error_message"]
    until(lambda: one.services.jobs.executing == 0)  # the statement was interrupted
    assert job_lines(wait(one, job_id)) == [line]


def test_a_job_whose_replica_stopped_fails_and_wakes_its_waiters(
    replicas: Callable[..., Pair], redis_url: str, redis_prefix: str
) -> None:
    """A replica that vanished without a trace: its running job has no lease behind it."""
    one, two = replicas(wait_window_s=20)
    client = connect(redis_url)
    try:
        ghost = RedisJobStore(
            client, RedisKeys(redis_prefix), replica_id="ghost", retention_s=60,
            max_result_bytes=1 << 20,
        )  # fmt: skip
        job = JobRecord(
            id="3f2b0c1e-8d4a-4c7e-9b1a-2d3e4f5a6b7c", client_result_id="c", organization_id=ORG,
            user_id=None, model_id=one.model_id("lab"), status=JobStatus.EXECUTING,
            created_at=time.time(), connection="lab",
        )  # fmt: skip
        ghost.write_batch([(job, None)])
        began = time.monotonic()
        lines = wait(one, job.id)  # parked until the sweep fails the job
        elapsed = time.monotonic() - began
    finally:
        client.close()
    (line,) = job_lines(lines)
    assert line["status"] == "ERROR" and line["error_type"] == "KILL"
    assert line["error_message"] == LEASE_EXPIRED_MESSAGE
    assert elapsed < 10
    assert _orphaned(one) + _orphaned(two) == 1  # one replica failed it, not both


def _orphaned(app: ApiClient) -> float:
    registry = app.services.jobs.metrics.registry
    return float(registry.get_sample_value("sluice_jobs_orphaned_total") or 0)


def test_keys_and_revocations_apply_to_every_replica(replicas: Callable[..., Pair]) -> None:
    one, two = replicas()
    keys: Keys = one.keys
    for app in (one, two):
        assert app.get("/api/v1/whoami", key=keys.org).status_code == 200
        assert app.get("/api/v1/whoami", key=keys.revoked).status_code == 403
    one.services.auth._tokens.revoke(_token_id(one, keys.org))
    for app in (one, two):  # the cached lookup is re-read within a second
        until(lambda app=app: app.get("/api/v1/whoami", key=keys.org).status_code == 403, 5)


def _token_id(app: ApiClient, secret: str) -> str:
    token = app.services.auth._tokens.lookup(secret)
    assert token is not None
    return str(token.id)


def test_query_history_is_shared_by_the_replicas(replicas: Callable[..., Pair]) -> None:
    one, two = replicas()
    first = job_lines(one.run(lab(one, "numbers", "total"), key=one.keys.org))[0]["job_id"]
    second = job_lines(two.run(lab(two, "numbers", "count"), key=two.keys.alice))[0]["job_id"]
    theirs = job_lines(one.run(lab(one, "numbers", "bucket"), key=one.keys.other_org))[0]
    for app in (one, two):
        listed = app.get("/api/v1/query/jobs", key=app.keys.org).json()["records"]
        assert [r["jobId"] for r in listed] == [second, first]
        mine = app.get("/api/v1/query/jobs", key=app.keys.alice).json()["records"]
        assert [r["jobId"] for r in mine] == [second]
        other = app.get("/api/v1/query/jobs", key=app.keys.other_org).json()["records"]
        assert [r["jobId"] for r in other] == [theirs["job_id"]]
