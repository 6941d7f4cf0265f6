"""Three ``sluice serve`` processes sharing one Redis act as one server.

Each replica has its own port and its own state dir (nothing shared on disk); they read the same
small demo warehouse and the lab model, whose ``heavy`` view (40M rows hashed, a fraction of a
second) and ``cross`` view (a cross join, minutes) are slow on purpose with no sleep anywhere.
Every run request uses a run window of zero, so each job id leaves as running and is answered
by a wait. One test, in order, because it ends by killing replica 1.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from sluice.config import model_uuid
from sluice.stores.redis.jobs import LEASE_EXPIRED_MESSAGE
from tests.api.support import write_project
from tests.e2e.conftest import Server

pytestmark = pytest.mark.slow

LEASE_S = 2.0
HEAVY = {"modelId": model_uuid("lab"), "table": "heavy", "fields": ["heavy.checksum"]}
CROSS = {"modelId": model_uuid("lab"), "table": "cross", "fields": ["cross.checksum"]}
SMALL = {"modelId": model_uuid("lab"), "table": "numbers", "fields": ["numbers.total"]}


@pytest.fixture()
def cluster(
    tmp_path: Path, demo_db: Path, redis_url: str, redis_prefix: str
) -> Iterator[tuple[Path, dict[str, str], list[Server]]]:
    config = write_project(tmp_path / "project", demo_db)
    env = {
        "SLUICE_REDIS_URL": redis_url,
        "SLUICE_SERVER_REDIS_PREFIX": redis_prefix,
        "SLUICE_SERVER_RUN_WINDOW_S": "0",
        "SLUICE_SERVER_LEASE_S": str(LEASE_S),
    }
    servers = [
        Server(
            config, tmp_path / f"replica{i}.log",
            {**env, "SLUICE_SERVER_STATE_DIR": str(tmp_path / f"state{i}")},
            log_level="info", wait=False,
        )
        for i in (1, 2, 3)
    ]  # fmt: skip
    try:
        for server in servers:  # started together, then each waited for
            server.wait_ready()
        yield config, env, servers
    finally:
        for server in servers:
            server.kill()


def keys(config: Path, env: dict[str, str], *args: str) -> str:
    """``sluice keys ...`` against the Redis-configured project; its stdout."""
    done = subprocess.run(
        [sys.executable, "-m", "sluice.cli", "keys", *args, "-c", str(config)],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return done.stdout.strip()


def run(server: Server, key: str, query: dict[str, Any]) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/query/run", json={"query": query},
        headers={"Authorization": f"Bearer {key}"}, timeout=30,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    header, footer = (json.loads(line) for line in response.text.splitlines())
    (job_id,) = header["jobs_submitted"]
    assert footer["remaining_job_ids"] == [job_id]
    return str(job_id)


def wait(server: Server, key: str, job_id: str, request_id: str = "") -> dict[str, Any]:
    response = httpx.get(
        f"{server.url}/api/v1/query/wait", params={"jobIds": job_id},
        headers={"Authorization": f"Bearer {key}", "X-Request-Id": request_id or job_id},
        timeout=60,
    )  # fmt: skip
    assert response.status_code == 200, response.text
    line, footer = (json.loads(text) for text in response.text.splitlines())
    assert footer == {"remaining_job_ids": [], "timed_out": "false"}
    return dict(line)


def cached(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + 10
        while not list(client.scan_iter(match=f"{prefix}:cache:entry:*")):
            assert time.monotonic() < deadline, "the result never reached the shared cache"
            time.sleep(0.02)
    finally:
        client.close()


def whoami(server: Server, key: str) -> int:
    return httpx.get(
        f"{server.url}/api/v1/whoami", headers={"Authorization": f"Bearer {key}"}, timeout=10
    ).status_code


def test_three_replicas_share_jobs_cache_and_keys_and_fail_a_dead_ones_job(
    cluster: tuple[Path, dict[str, str], list[Server]], redis_url: str, redis_prefix: str
) -> None:
    config, env, (one, two, three) = cluster

    # An API key created once (with the CLI, into Redis) works on every replica.
    key = keys(config, env, "create", "--name", "e2e")
    assert all(whoami(server, key) == 200 for server in (one, two, three))

    # A job run on replica 1 is answered by a wait on replica 2, woken by its completion event.
    job_id = run(one, key, HEAVY)
    job = wait(two, key, job_id, request_id="e2e-wait-1")
    assert job["job_id"] == job_id and job["status"] == "COMPLETE" and job["result"]

    # The result cache is shared: a miss on replica 2 is a hit on replica 3.
    first = wait(two, key, run(two, key, SMALL))
    cached(redis_url, redis_prefix)  # the result is stored just after the job's line
    second = wait(three, key, run(three, key, SMALL))
    assert first["summary"]["cache_type"] == "MISS"
    assert second["summary"]["cache_type"] == "EXACT"
    assert second["cache_metadata"]["served_from_cache"] is True
    assert second["result"] == first["result"]

    # A revoke (by the key's displayed prefix) applies to every replica within a second or so.
    keys(config, env, "revoke", key[: len("sluice_org_") + 4])
    deadline = time.monotonic() + 5
    while any(whoami(s, key) != 403 for s in (one, two, three)):
        assert time.monotonic() < deadline, "a replica still accepts the revoked key"
        time.sleep(0.1)
    key = keys(config, env, "create", "--name", "e2e-2")

    # Replica 1 dies (SIGKILL) mid-job: its lease expires and a wait on replica 3 sees ERROR.
    job_id = run(one, key, CROSS)
    time.sleep(0.3)  # inside the statement by now
    one.kill()
    killed = time.monotonic()
    job = wait(three, key, job_id)
    elapsed = time.monotonic() - killed
    assert job["status"] == "ERROR" and job["error_type"] == "KILL"
    assert job["error_message"] == LEASE_EXPIRED_MESSAGE
    assert "result" not in job
    assert elapsed < LEASE_S + 3, f"the job failed {elapsed:.1f} s after its replica died"
    assert wait(two, key, job_id) == job  # every replica reports the same line

    # Each replica logs one JSON object per line, with the request id it was given.
    lines = [json.loads(text) for text in two.log.read_text().splitlines() if text.strip()]
    (access,) = [line for line in lines if line.get("request_id") == "e2e-wait-1"]
    assert access["route"] == "/api/v1/query/wait" and access["status"] == 200
    assert access["job_id"] and access["duration_ms"] >= 0 and access["level"] == "info"
