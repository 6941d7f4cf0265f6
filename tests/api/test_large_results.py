"""Large results: the row cap (``max_rows`` / ``high_limit``) and the byte cap (``max_result_mb``)."""

from __future__ import annotations

import io

import pyarrow.csv as pacsv

from tests.api.support import ApiClient, ApiFactory, Keys, job_lines

ITEMS = {"table": "order_items", "fields": ["order_items.id", "order_items.status"], "sorts": []}


def test_a_result_above_the_byte_cap_is_a_clear_job_error(api_factory: ApiFactory) -> None:
    app = api_factory(max_result_mb=0.01)  # about 10 KB
    (job,) = job_lines(
        app.run({"modelId": app.model_id(), **ITEMS, "limit": 5000}, key=app.keys.org)
    )
    assert job["status"] == "ERROR" and "result" not in job
    assert job["error_message"].startswith("The result is ")
    assert "above this server's limit of 0.01 MB" in job["error_message"]
    assert "add filters or lower the limit" in job["error_message"]
    small = job_lines(app.run({"modelId": app.model_id(), **ITEMS, "limit": 10}, key=app.keys.org))
    assert small[0]["status"] == "COMPLETE"
    document = app.post(
        "/api/v1/query/run",
        key=app.keys.org,
        json={"query": {"modelId": app.model_id(), **ITEMS, "limit": 5000}, "resultType": "csv"},
    )
    assert document.status_code == 400 and "server.max_result_mb" in document.json()["detail"]


def test_a_result_with_a_post_query_step_above_the_byte_cap_is_the_same_error(
    api_factory: ApiFactory,
) -> None:
    """Totals need the whole table before it is written: the cap is checked as it is written,
    like a streamed result's."""
    app = api_factory(max_result_mb=0.01)
    totals = {"modelId": app.model_id(), "table": "order_items", "column_totals": True,
              "fields": ["order_items.id", "order_items.count"], "sorts": [], "limit": 5000}  # fmt: skip
    (job,) = job_lines(app.run(totals, key=app.keys.org))
    assert (
        job["status"] == "ERROR" and "above this server's limit of 0.01 MB" in job["error_message"]
    )
    small = job_lines(app.run({**totals, "limit": 10}, key=app.keys.org))
    assert small[0]["status"] == "COMPLETE" and small[0]["summary"]["total_rows"] >= 10


def test_limits_above_max_rows_need_the_high_limit(api: ApiClient, keys: Keys) -> None:
    for limit in (50_001, None):
        query = {"modelId": api.model_id(), **ITEMS, "limit": limit}
        (job,) = job_lines(api.run(query, key=keys.org))
        assert job["status"] == "ERROR" and job["error_type"] == "PLAN"
        assert "above this server's maximum of 50000 rows" in job["error_message"]
        assert "high_limit" in job["error_message"]


def test_high_limit_mode_serves_an_unlimited_csv(api_factory: ApiFactory) -> None:
    app = api_factory(high_limit=True)
    query = {"modelId": app.model_id(), **ITEMS, "limit": None}
    response = app.post(
        "/api/v1/query/run", key=app.keys.org, json={"query": query, "resultType": "csv"}
    )
    assert response.status_code == 200
    table = pacsv.read_csv(io.BytesIO(response.content))
    count = app.services.project.engines["warehouse"].execute("SELECT COUNT(*) FROM order_items")
    assert table.num_rows == count.column(0)[0].as_py() > 1000
