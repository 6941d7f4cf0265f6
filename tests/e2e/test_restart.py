"""A finished job survives a restart; a job the process died under is reported, not lost."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import duckdb
import httpx
import pytest

from sluice.config import model_uuid
from sluice.jobs.store import RESTARTED_MESSAGE
from sluice.results.arrow import decode_table
from tests.api.support import Keys
from tests.e2e.conftest import Server

pytestmark = pytest.mark.slow

HEAVY = {"query": {"modelId": model_uuid("lab"), "table": "heavy", "fields": ["heavy.checksum"]}}

StartServer = Callable[..., tuple[Server, Keys]]


def submit(server: Server, keys: Keys) -> str:
    response = httpx.post(
        f"{server.url}/api/v1/query/run",
        json=HEAVY,
        headers={"Authorization": f"Bearer {keys.org}"},
        timeout=30,
    )
    header, footer = (json.loads(line) for line in response.text.splitlines())
    (job_id,) = header["jobs_submitted"]
    assert footer["remaining_job_ids"] == [job_id]  # still running: the run window is zero
    return job_id


def wait(server: Server, keys: Keys, job_id: str) -> dict[str, Any]:
    response = httpx.get(
        f"{server.url}/api/v1/query/wait",
        params={"jobIds": job_id},
        headers={"Authorization": f"Bearer {keys.org}"},
        timeout=60,
    )
    line, footer = (json.loads(text) for text in response.text.splitlines())
    assert footer == {"remaining_job_ids": [], "timed_out": "false"}
    return dict(line)


def test_a_restart_between_run_and_wait_returns_the_finished_job(start_server: StartServer) -> None:
    first, keys = start_server(SLUICE_SERVER_RUN_WINDOW_S="0")
    job_id = submit(first, keys)
    first.stop()  # graceful: the job finishes inside the shutdown grace period and is stored
    second, _ = start_server()
    job = wait(second, keys, job_id)
    assert job["status"] == "COMPLETE"
    expected = duckdb.sql("SELECT SUM(hash(range) % 1000) FROM range(40000000)").fetchall()[0][0]
    assert int(decode_table(job["result"]).column("heavy.checksum")[0].as_py()) == int(expected)


def test_a_job_running_when_the_process_was_killed_is_an_error(start_server: StartServer) -> None:
    first, keys = start_server(SLUICE_SERVER_RUN_WINDOW_S="0")
    job_id = submit(first, keys)
    first.kill()  # SIGKILL while the heavy query runs: no shutdown code at all
    second, _ = start_server()
    job = wait(second, keys, job_id)
    assert job["status"] == "ERROR" and job["error_type"] == "KILL"
    assert job["error_message"] == RESTARTED_MESSAGE
    assert "result" not in job
