"""``GET /api/v1/query/jobs`` (query history) and the ``progress`` of a running job.

History: paging with an opaque cursor, organization isolation, a personal token's scope (its
own jobs unless its user is an admin), retention, and what a row says (checked against the job
line of the same job). Progress: a real 200,000 x 200,000 cross join on DuckDB reports
``query_progress()`` while it runs.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from sluice.auth.tokens import PERSONAL
from sluice.stores.embedded.tokens import SqliteTokenStore
from tests.api.support import ALICE, BOB, ORG, ApiClient, ApiFactory, FakeClock, job_lines, ndjson

HISTORY = "/api/v1/query/jobs"


def numbers(app: ApiClient, n: int) -> dict[str, Any]:
    """A distinct quick query per ``n`` (so none is a cache hit of another)."""
    return {
        "modelId": app.model_id("lab"),
        "table": "numbers",
        "fields": ["numbers.bucket", "numbers.total"],
        "filters": {"numbers.n": {"kind": "GREATER_THAN", "type": "number", "values": [n]}},
    }


def run(app: ApiClient, query: dict[str, Any], key: str, **params: str) -> dict[str, Any]:
    response = app.post("/api/v1/query/run", key=key, json={"query": query}, params=params)
    assert response.status_code == 200, response.text
    (line,) = job_lines(ndjson(response))
    assert line["status"] == "COMPLETE", line
    return line


def listing(app: ApiClient, key: str, **params: Any) -> dict[str, Any]:
    response = app.get(HISTORY, key=key, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def all_ids(app: ApiClient, key: str, **params: Any) -> list[str]:
    """Every job id of the listing, following the cursor page by page."""
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        page = listing(app, key, **params, **({"cursor": cursor} if cursor else {}))
        ids += [row["jobId"] for row in page["records"]]
        if not page["pageInfo"]["hasNextPage"]:
            assert page["pageInfo"]["nextCursor"] is None
            return ids
        cursor = page["pageInfo"]["nextCursor"]
    raise AssertionError("the cursor never ended")


def test_pages_list_every_job_once_newest_first(api_factory: ApiFactory) -> None:
    app = api_factory()
    ran = [run(app, numbers(app, n), app.keys.org)["job_id"] for n in range(5)]
    first = listing(app, app.keys.org, limit=2)
    assert [r["jobId"] for r in first["records"]] == ran[::-1][:2]
    assert first["pageInfo"]["hasNextPage"] is True and first["pageInfo"]["pageSize"] == 2
    assert all_ids(app, app.keys.org, limit=2) == ran[::-1]
    # A job that arrives between two pages does not shift the next page.
    cursor = first["pageInfo"]["nextCursor"]
    newer = run(app, numbers(app, 5), app.keys.org)["job_id"]
    second = listing(app, app.keys.org, limit=2, cursor=cursor)
    assert [r["jobId"] for r in second["records"]] == ran[::-1][2:4]
    assert listing(app, app.keys.org, limit=1)["records"][0]["jobId"] == newer
    # Only the ones asked for: by status.
    assert all_ids(app, app.keys.org, status="complete") == [newer, *ran[::-1]]
    assert listing(app, app.keys.org, status="ERROR")["records"] == []


def test_a_row_describes_its_job(api_factory: ApiFactory) -> None:
    app = api_factory()
    line = run(app, numbers(app, 3), app.keys.org, userId=ALICE)
    (row,) = listing(app, app.keys.org)["records"]
    assert row["jobId"] == line["job_id"] and row["status"] == "COMPLETE"
    assert row["modelId"] == app.model_id("lab") and row["userId"] == ALICE
    assert row["fields"] == ["numbers.bucket", "numbers.total"]
    assert row["sql"] == line["summary"]["sql"] and "numbers" in row["sql"]
    assert row["rows"] == 3  # n in 4..9: buckets 0, 1, 2
    assert row["bytes"] > 0 and row["cacheType"] == line["summary"]["cache_type"]
    assert row["durationMs"] >= 0 and row["finishedAt"] >= row["createdAt"]
    assert row["error"] is None
    assert row["query"]["filters"] == numbers(app, 3)["filters"]  # reopens as the same query


def test_a_failed_job_lists_its_error(api_factory: ApiFactory) -> None:
    app = api_factory()
    broken = {"modelId": app.model_id("lab"), "table": "broken", "fields": ["broken.as_number"]}
    response = app.post("/api/v1/query/run", key=app.keys.org, json={"query": broken})
    assert response.status_code == 200
    (row,) = listing(app, app.keys.org, status="ERROR")["records"]
    assert row["error"]["type"] == "QUERY" and "not a number" in row["error"]["message"]


def test_organizations_see_only_their_own_jobs(api_factory: ApiFactory) -> None:
    app = api_factory()
    mine = run(app, numbers(app, 1), app.keys.org)["job_id"]
    theirs = run(app, numbers(app, 2), app.keys.other_org)["job_id"]
    assert all_ids(app, app.keys.org) == [mine]
    assert all_ids(app, app.keys.other_org) == [theirs]
    # Their user filter cannot reach across either.
    assert all_ids(app, app.keys.other_org, userId=ALICE) == []


def test_a_personal_token_sees_its_own_jobs_unless_its_user_is_an_admin(
    api_factory: ApiFactory,
) -> None:
    app = api_factory()
    as_alice = run(app, numbers(app, 1), app.keys.alice)["job_id"]
    as_bob = run(app, numbers(app, 2), app.keys.org, userId=BOB)["job_id"]
    as_org = run(app, numbers(app, 3), app.keys.org)["job_id"]
    assert all_ids(app, app.keys.alice) == [as_alice]
    assert all_ids(app, app.keys.alice, userId=ALICE) == [as_alice]
    refused = app.get(HISTORY, key=app.keys.alice, params={"userId": BOB})
    assert refused.status_code == 403
    assert refused.json()["detail"] == "A personal token lists only its own user's jobs"
    # The organization key sees everyone's, and narrows to one user on request.
    assert all_ids(app, app.keys.org) == [as_org, as_bob, as_alice]
    assert all_ids(app, app.keys.org, userId=BOB) == [as_bob]


def test_an_admin_users_personal_token_sees_the_organization(api_factory: ApiFactory) -> None:
    app = api_factory()
    bob = next(u for u in app.config.users if u.id == BOB)
    app.services.auth.users[BOB] = replace(bob, admin=True)
    store = SqliteTokenStore(app.config.server.state_dir)
    try:
        bob_key, _ = store.create(PERSONAL, ORG, user_id=BOB, name="bob")
    finally:
        store.close()
    as_alice = run(app, numbers(app, 1), app.keys.alice)["job_id"]
    as_bob = run(app, numbers(app, 2), bob_key)["job_id"]
    assert all_ids(app, bob_key) == [as_bob, as_alice]
    assert all_ids(app, bob_key, userId=ALICE) == [as_alice]
    assert all_ids(app, app.keys.alice) == [as_alice]


def test_history_outlives_results_and_ends_with_its_retention(api_factory: ApiFactory) -> None:
    clock = FakeClock()
    app = api_factory(clock=clock, result_retention_s=60, history_retention_days=2)
    job_id = run(app, numbers(app, 1), app.keys.org)["job_id"]
    clock.advance(86400)  # the result is gone, the history row is not
    gone = app.get("/api/v1/query/wait", key=app.keys.org, params={"jobIds": job_id})
    assert ndjson(gone)[0]["status"] == "FAILED"  # "Unable to find job": past result retention
    assert all_ids(app, app.keys.org) == [job_id]
    clock.advance(86401)
    assert all_ids(app, app.keys.org) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"limit": "0"}, "limit must be a whole number from 1 to 100; got '0'"),
        ({"limit": "101"}, "limit must be a whole number from 1 to 100; got '101'"),
        ({"limit": "ten"}, "limit must be a whole number from 1 to 100; got 'ten'"),
        ({"cursor": "not-a-cursor"}, "cursor 'not-a-cursor' is not valid for this listing"),
        (
            {"status": "DONE"},
            "status must be one of ADDED, PLANNING, EXECUTING, PLANNED, COMPLETE, ERROR; got 'DONE'",
        ),
        (
            {"pageSize": "5"},
            "unknown query parameter 'pageSize'; expected one of limit, cursor, status, userId",
        ),
    ],
)
def test_bad_parameters_are_a_400_naming_them(
    api: ApiClient, params: dict[str, str], message: str
) -> None:
    response = api.get(HISTORY, key=api.keys.org, params=params)
    assert response.status_code == 400
    assert response.json() == {"detail": message, "status": 400}


@pytest.mark.parametrize("window", ["-1", "soon", "nan", "inf"])
def test_a_bad_run_window_is_a_400(api: ApiClient, window: str) -> None:
    query = numbers(api, 1)
    response = api.post(
        "/api/v1/query/run", key=api.keys.org, json={"query": query}, params={"runWindowS": window}
    )
    assert response.status_code == 400
    assert response.json()["detail"] == (
        f"runWindowS must be a number of seconds, 0 or more; got {window!r}"
    )


def test_history_needs_a_token(api: ApiClient) -> None:
    assert api.get(HISTORY).status_code == 400
    assert api.get(HISTORY, key=api.keys.revoked).status_code == 403


def test_a_running_job_is_listed_and_reports_its_progress(api_factory: ApiFactory) -> None:
    app = api_factory()  # the default run window (10 s); runWindowS=0 answers at once
    cross = {"modelId": app.model_id("lab"), "table": "cross", "fields": ["cross.checksum"]}
    response = app.post(
        "/api/v1/query/run", key=app.keys.org, json={"query": cross}, params={"runWindowS": "0"}
    )
    (job_id,) = ndjson(response)[-1]["remaining_job_ids"]
    seen: dict[str, Any] = {}
    began = time.monotonic()
    while time.monotonic() - began < 30:
        status = app.get(f"/api/v1/query/jobs/{job_id}", key=app.keys.org).json()
        if status["status"] == "RUNNING" and status.get("progress") is not None:
            seen = status
            break
        time.sleep(0.05)
    assert seen, "no progress was reported"
    assert 0.0 <= seen["progress"] <= 1.0 and seen["connection"] == "lab"
    (row,) = listing(app, app.keys.org)["records"]
    assert row["jobId"] == job_id and row["status"] == "EXECUTING" and row["finishedAt"] is None
    cancelled = app.request("DELETE", f"/api/v1/query/jobs/{job_id}", key=app.keys.org)
    assert cancelled.json()["error_type"] == "KILL"
    (row,) = listing(app, app.keys.org)["records"]
    assert row["status"] == "ERROR" and row["error"]["type"] == "KILL"
