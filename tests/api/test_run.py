"""POST /query/run: the NDJSON response, job lines of every kind, numbers against DuckDB."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from sluice.results.arrow import decode_table
from tests.api.support import ALICE, BOB, ApiClient, Keys, job_lines, ndjson

REVENUE_BY_STATE = {
    "join_paths_from_topic_name": "order_items",
    "fields": ["users.state", "order_items.total_sale_price", "order_items.count"],
    "sorts": [{"column_name": "order_items.total_sale_price", "sort_descending": True}],
    "limit": 10,
}
ORACLE_BY_STATE = """
    SELECT u.state, SUM(oi.sale_price) AS revenue, COUNT(*) AS n
    FROM order_items oi LEFT JOIN users u ON oi.user_id = u.id
    GROUP BY 1 ORDER BY 2 DESC LIMIT 10
"""


def run(api: ApiClient, key: str, **query: Any) -> list[dict[str, Any]]:
    return api.run({"modelId": api.model_id(), **query}, key=key)


def test_complete_line_carries_everything_the_clients_read(
    api: ApiClient, keys: Keys, oracle: duckdb.DuckDBPyConnection
) -> None:
    lines = run(api, keys.org, **REVENUE_BY_STATE)
    header, job, footer = lines
    assert list(header) == ["jobs_submitted"]
    assert header["jobs_submitted"] == {job["job_id"]: job["client_result_id"]}
    assert footer == {"remaining_job_ids": [], "timed_out": "false"}

    assert job["status"] == "COMPLETE"
    assert list(job) == [
        "job_id", "status", "client_result_id", "summary", "cache_metadata", "query", "result",
        "stream_stats",
    ]  # fmt: skip
    summary = job["summary"]
    assert list(summary["fields"]) == REVENUE_BY_STATE["fields"]
    revenue = summary["fields"]["order_items.total_sale_price"]
    assert revenue["data_type"] == "NUMBER" and revenue["is_dimension"] is False
    assert revenue["aggregate_type"] == "sum"
    assert revenue["format"] == {"value": "usdcurrency_2"}
    assert summary["fields"]["users.state"]["data_type"] == "STRING"
    assert summary["display_sql"] == summary["sql"] and "SELECT" in summary["sql"]
    assert summary["missing_fields"] == [] and summary["invalid_calculations"] == {}
    assert summary["cache_type"] == "MISS"
    assert summary["total_rows"] == 10 and summary["execution_time_ms"] >= 0
    meta = job["cache_metadata"]
    assert meta["num_rows"] == 10 and meta["served_from_cache"] is False
    assert meta["result_size_bytes"] > 0 and meta["expires_at"] > meta["computed_at"]
    assert job["query"]["model_job"]["fields"] == REVENUE_BY_STATE["fields"]
    assert job["stream_stats"]["server_stream"] >= 0

    table = decode_table(job["result"])
    assert table.column_names == REVENUE_BY_STATE["fields"]
    expected = oracle.sql(ORACLE_BY_STATE).fetchall()
    got = list(zip(*(table.column(i).to_pylist() for i in range(3)), strict=True))
    assert [r[0] for r in got] == [r[0] for r in expected]
    assert [r[2] for r in got] == [r[2] for r in expected]
    assert [r[1] for r in got] == pytest.approx([float(r[1]) for r in expected])


def test_time_grain_fields_are_named_as_requested(api: ApiClient, keys: Keys) -> None:
    fields = ["order_items.created_at[month]", "order_items.count"]
    (job,) = job_lines(run(api, keys.org, join_paths_from_topic_name="order_items", fields=fields))
    assert list(job["summary"]["fields"]) == fields
    assert decode_table(job["result"]).column_names == fields


def test_unknown_field_is_dropped_and_named_in_missing_fields(api: ApiClient, keys: Keys) -> None:
    fields = ["users.state", "users.nope", "order_items.count"]
    (job,) = job_lines(run(api, keys.org, join_paths_from_topic_name="order_items", fields=fields))
    assert job["status"] == "COMPLETE"
    assert job["summary"]["missing_fields"] == ["users.nope"]
    assert job["summary"]["warnings"] == ['left out "users.nope": view `users` has no field `nope`']
    assert decode_table(job["result"]).column_names == ["users.state", "order_items.count"]
    assert job["query"]["model_job"]["fields"] == ["users.state", "order_items.count"]


def test_a_misspelled_grain_warns_with_a_suggestion(api: ApiClient, keys: Keys) -> None:
    fields = ["order_items.created_at[mnth]", "order_items.count"]
    (job,) = job_lines(run(api, keys.org, join_paths_from_topic_name="order_items", fields=fields))
    assert job["status"] == "COMPLETE"
    assert job["summary"]["missing_fields"] == ["order_items.created_at[mnth]"]
    assert job["summary"]["warnings"] == [
        'left out "order_items.created_at[mnth]": unknown grain `mnth`; did you mean `month`?'
    ]


def test_a_filter_on_an_unknown_field_is_an_error_line(api: ApiClient, keys: Keys) -> None:
    filters = {"users.nope": {"type": "string", "kind": "EQUALS", "values": ["x"]}}
    lines = run(
        api, keys.org, join_paths_from_topic_name="order_items", fields=["users.state"],
        filters=filters,
    )  # fmt: skip
    (job,) = job_lines(lines)
    assert job["status"] == "ERROR" and job["error_type"] == "PLAN"
    assert 'No such field "users.nope"' in job["error_message"]
    assert "result" not in job and "cache_metadata" not in job
    assert lines[-1] == {"remaining_job_ids": [], "timed_out": "false"}


def test_a_warehouse_failure_is_a_query_error_line(api: ApiClient, keys: Keys) -> None:
    lines = api.run(
        {"modelId": api.model_id("lab"), "table": "broken", "fields": ["broken.as_number"]},
        key=keys.org,
    )
    (job,) = job_lines(lines)
    assert job["status"] == "ERROR" and job["error_type"] == "QUERY"
    assert "Conversion Error" in job["error_message"]
    assert "result" not in job
    assert "CAST" in job["summary"]["sql"]  # the plan is there, for debugging


def test_plan_only_returns_fields_and_sql_without_running(api: ApiClient, keys: Keys) -> None:
    lines = api.run({"modelId": api.model_id(), **REVENUE_BY_STATE}, key=keys.org, planOnly=True)
    (job,) = job_lines(lines)
    assert job["status"] == "PLANNED"
    assert list(job["summary"]["fields"]) == REVENUE_BY_STATE["fields"]
    assert "SELECT" in job["summary"]["display_sql"]
    assert job["query"]["model_job"]["fields"] == REVENUE_BY_STATE["fields"]
    assert "result" not in job and "cache_metadata" not in job
    assert lines[-1]["timed_out"] == "false"


def test_unknown_keys_inside_query_are_ignored(api: ApiClient, keys: Keys) -> None:
    (job,) = job_lines(
        run(api, keys.org, table="users", fields=["users.count"], someFutureKey={"x": 1})
    )
    assert job["status"] == "COMPLETE"


def test_the_legacy_unstable_path_runs_queries(api: ApiClient, keys: Keys) -> None:
    body = {"query": {"modelId": api.model_id(), "table": "users", "fields": ["users.count"]}}
    response = api.post("/api/unstable/query/run", key=keys.org, json=body)
    assert response.status_code == 200
    assert '"status":"COMPLETE"' in response.text


def test_user_id_impersonation_runs_as_that_user(api: ApiClient, keys: Keys) -> None:
    query = {"modelId": api.model_id(), "table": "users", "fields": ["users.count"]}
    by_param = api.post(
        "/api/v1/query/run", key=keys.org, params={"userId": ALICE}, json={"query": query}
    )
    by_body = api.post("/api/v1/query/run", key=keys.org, json={"query": query, "userId": ALICE})
    own = api.post("/api/v1/query/run", key=keys.alice, json={"query": query, "userId": ALICE})
    for response in (by_param, by_body, own):
        assert response.status_code == 200 and '"status":"COMPLETE"' in response.text


def test_numbers_model_sums(api: ApiClient, keys: Keys) -> None:
    lines = api.run(
        {
            "modelId": api.model_id("lab"),
            "join_paths_from_topic_name": "numbers",
            "fields": ["numbers.bucket", "numbers.total"],
            "sorts": [{"column_name": "numbers.bucket", "sort_descending": False}],
        },
        key=keys.org,
    )
    table = decode_table(job_lines(lines)[0]["result"])
    assert table.column("numbers.bucket").to_pylist() == [0, 1, 2]
    assert [int(v) for v in table.column("numbers.total").to_pylist()] == [18, 12, 15]


RAW_SQL = {
    "userEditedSQL": "SELECT state, COUNT(*) AS n FROM users GROUP BY 1",
    "rewriteSql": False,
}


def test_verbatim_sql_runs_for_a_user_allowed_raw_sql(api: ApiClient, keys: Keys) -> None:
    query = {"modelId": api.model_id(), **RAW_SQL, "limit": 5}
    response = api.post(
        "/api/v1/query/run", key=keys.org, params={"userId": BOB}, json={"query": query}
    )
    (job,) = job_lines(ndjson(response))
    assert job["status"] == "COMPLETE", job
    table = decode_table(job["result"])
    assert table.column_names == ["state", "n"] and table.num_rows == 5
    assert list(job["summary"]["fields"]) == ["state", "n"]
    assert job["summary"]["fields"]["n"]["data_type"] == "NUMBER"
    assert job["query"]["model_job"]["fields"] == ["state", "n"]


def test_verbatim_sql_is_forbidden_without_the_permission(api: ApiClient, keys: Keys) -> None:
    query = {"modelId": api.model_id(), **RAW_SQL}
    for key in (keys.org, keys.alice):
        (job,) = job_lines(api.run(query, key=key))
        assert job["status"] == "ERROR" and job["error_type"] == "FORBIDDEN"
        assert "raw SQL" in job["error_message"] and "result" not in job
