"""resultType (contract §7): CSV, JSON and XLSX documents against the demo, read back and
compared with the Arrow result of the same query; formatResults; the 408; errors as JSON."""

from __future__ import annotations

import datetime as dt
import io
import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx
import openpyxl
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from sluice.results.arrow import decode_table
from tests.api.support import ApiClient, ApiFactory, Keys, job_lines, ndjson

# Types of every kind, and two fields that share a label ("User ID").
FIELDS = [
    "users.state",
    "order_items.created_at[date]",
    "order_items.user_id",
    "orders.user_id",
    "order_items.is_returned",
    "order_items.total_sale_price",
    "order_items.count",
]
LABELS = [
    "State", "Created At Date", "User ID", "User ID 2", "Is Returned", "Total Sale Price",
    "Order Item Count",
]  # fmt: skip
QUERY: dict[str, Any] = {
    "join_paths_from_topic_name": "order_items",
    "fields": FIELDS,
    "sorts": [{"column_name": "order_items.total_sale_price", "sort_descending": True}],
    "limit": 300,
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def document(api: ApiClient, key: str, result_type: str, **body: Any) -> httpx.Response:
    query = {"modelId": api.model_id(), **QUERY, **body.pop("query", {})}
    payload = {"query": query, "resultType": result_type, **body}
    return api.post("/api/v1/query/run", key=key, json=payload)


def arrow_result(api: ApiClient, key: str) -> pa.Table:
    (job,) = job_lines(api.run({"modelId": api.model_id(), **QUERY}, key=key))
    assert job["status"] == "COMPLETE", job
    return decode_table(job["result"])


def test_csv_reads_back_as_the_arrow_result(api: ApiClient, keys: Keys) -> None:
    response = document(api, keys.org, "csv")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv"
    assert response.headers["content-disposition"] == 'attachment; filename="result.csv"'
    table = pacsv.read_csv(io.BytesIO(response.content))
    assert table.column_names == LABELS
    expected = arrow_result(api, keys.org)
    assert table.num_rows == expected.num_rows == 300
    for label, name in zip(LABELS, FIELDS, strict=True):
        got, want = table.column(label).to_pylist(), expected.column(name).to_pylist()
        assert got == want, name


def test_json_is_rows_keyed_by_unique_labels(api: ApiClient, keys: Keys) -> None:
    response = document(api, keys.org, "json")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    rows = response.json()
    expected = arrow_result(api, keys.org).to_pylist()
    assert len(rows) == len(expected) == 300
    assert list(rows[0]) == LABELS
    for row, want in zip(rows, expected, strict=True):
        assert row["User ID"] == want["order_items.user_id"]
        assert row["User ID 2"] == want["orders.user_id"]
        assert row["Created At Date"] == want["order_items.created_at[date]"].isoformat()
        assert row["Total Sale Price"] == pytest.approx(want["order_items.total_sale_price"])
        assert row["Order Item Count"] == want["order_items.count"]
        assert row["Is Returned"] is want["order_items.is_returned"]


def test_xlsx_is_a_typed_workbook(api: ApiClient, keys: Keys) -> None:
    response = document(api, keys.org, "xlsx")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == XLSX
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == LABELS
    assert sheet["A1"].font.b  # a bold header
    expected = arrow_result(api, keys.org).to_pylist()
    assert len(rows) - 1 == len(expected)
    for row, want in zip(rows[1:], expected, strict=True):
        state, created, user, user2, returned, revenue, count = row
        assert state == want["users.state"]
        assert created == dt.datetime.combine(want["order_items.created_at[date]"], dt.time())
        assert (user, user2) == (want["order_items.user_id"], want["orders.user_id"])
        assert returned is want["order_items.is_returned"]
        assert revenue == pytest.approx(want["order_items.total_sale_price"])
        assert count == want["order_items.count"]
    assert sheet["B2"].is_date and sheet["B2"].number_format == "yyyy-mm-dd"
    assert isinstance(sheet["F2"].value, float) and sheet["F2"].number_format == "General"
    widths = {col: sheet.column_dimensions[col].width for col in "AB"}
    assert all(w >= len(LABELS[0]) for w in widths.values())  # sized to the text


def usd(value: float) -> str:
    cents = Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"${cents:,}"


def test_format_results_on_csv_and_json(api: ApiClient, keys: Keys) -> None:
    expected = arrow_result(api, keys.org).to_pylist()
    csv = document(api, keys.org, "csv", formatResults=True)
    assert csv.status_code == 200, csv.text
    table = pacsv.read_csv(
        io.BytesIO(csv.content),
        convert_options=pacsv.ConvertOptions(column_types=dict.fromkeys(LABELS, pa.string())),
    )
    rows = json.loads(document(api, keys.org, "json", formatResults=True).content)
    for got_csv, got_json, want in zip(table.to_pylist(), rows, expected, strict=True):
        for got in (got_csv, got_json):
            assert got["Total Sale Price"] == usd(
                want["order_items.total_sale_price"]
            )  # usdcurrency_2
            assert got["Order Item Count"] == f"{want['order_items.count']:,}"  # number_0
            assert got["User ID"] == str(want["order_items.user_id"])  # id: no separators
            assert got["State"] == want["users.state"]  # no format: as it is
    by_state = {
        "modelId": api.model_id(), "join_paths_from_topic_name": "order_items", "limit": 3,
        "fields": ["users.state", "order_items.total_sale_price"],
        "sorts": [{"column_name": "order_items.total_sale_price", "sort_descending": True}],
    }  # fmt: skip
    totals = api.post(
        "/api/v1/query/run", key=keys.org,
        json={"query": by_state, "resultType": "json", "formatResults": True},
    ).json()  # fmt: skip
    assert all(
        r["Total Sale Price"].startswith("$") and "," in r["Total Sale Price"] for r in totals
    )


def test_format_results_on_xlsx_keeps_numbers_and_sets_excel_formats(
    api: ApiClient, keys: Keys
) -> None:
    response = document(api, keys.org, "xlsx", formatResults=True)
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    expected = arrow_result(api, keys.org).to_pylist()
    revenue, count, user = sheet["F2"], sheet["G2"], sheet["C2"]
    assert revenue.value == pytest.approx(expected[0]["order_items.total_sale_price"])
    assert revenue.number_format == '"$"#,##0.00'
    assert count.value == expected[0]["order_items.count"] and count.number_format == "#,##0"
    assert user.number_format == "0"


def test_an_unknown_format_leaves_values_as_they_are(api: ApiClient, keys: Keys) -> None:
    # The lab model's numbers have no format; a SQL-mode column has none either.
    lab = {"modelId": api.model_id("lab"), "table": "numbers", "fields": ["numbers.total"]}
    response = api.post(
        "/api/v1/query/run",
        key=keys.org,
        json={"query": lab, "resultType": "json", "formatResults": True},
    )
    assert response.json() == [{"Total": 45}]


@pytest.mark.parametrize("result_type", ["csv", "arrow"])
def test_a_query_that_outlives_the_run_window_is_a_408(
    api_factory: ApiFactory, result_type: str
) -> None:
    app = api_factory(run_window_s=0)
    heavy = {"modelId": app.model_id("lab"), "table": "heavy", "fields": ["heavy.checksum"]}
    response = app.post(
        "/api/v1/query/run", key=app.keys.org, json={"query": heavy, "resultType": result_type}
    )
    assert response.status_code == 408
    body = response.json()
    (job_id,) = body["remaining_job_ids"]
    assert body == {"detail": "Query timed out", "remaining_job_ids": [job_id], "timed_out": True}
    # The job goes on; /query/wait delivers it as NDJSON with its Arrow result.
    waited = ndjson(app.get("/api/v1/query/wait", key=app.keys.org, params={"jobIds": job_id}))
    (line,) = job_lines(waited)
    assert line["status"] == "COMPLETE" and decode_table(line["result"]).num_rows == 1


def test_a_plan_error_is_a_400_json_body(api: ApiClient, keys: Keys) -> None:
    filters = {"users.nope": {"type": "string", "kind": "EQUALS", "values": ["x"]}}
    response = document(api, keys.org, "csv", query={"filters": filters})
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"detail", "status"} and body["status"] == 400
    assert 'No such field "users.nope"' in body["detail"]


def test_an_engine_error_is_a_500_with_the_engines_message(api: ApiClient, keys: Keys) -> None:
    broken = {"modelId": api.model_id("lab"), "table": "broken", "fields": ["broken.as_number"]}
    for result_type in ("csv", "json", "xlsx"):
        response = api.post(
            "/api/v1/query/run", key=keys.org, json={"query": broken, "resultType": result_type}
        )
        assert response.status_code == 500
        body = response.json()
        assert body["status"] == 500 and "Conversion Error" in body["detail"]
        assert "Traceback" not in response.text


def test_an_empty_result_is_a_document_with_only_the_header(api: ApiClient, keys: Keys) -> None:
    never = {"users.state": {"type": "string", "kind": "EQUALS", "values": ["Atlantis"]}}
    csv = document(api, keys.org, "csv", query={"filters": never})
    assert csv.status_code == 200 and csv.text.splitlines() == [",".join(f'"{x}"' for x in LABELS)]
    assert document(api, keys.org, "json", query={"filters": never}).json() == []
    sheet = openpyxl.load_workbook(
        io.BytesIO(document(api, keys.org, "xlsx", query={"filters": never}).content)
    ).active
    assert [list(r) for r in sheet.iter_rows(values_only=True)] == [LABELS]


def test_unlimited_pivots_need_result_type_and_the_high_limit(api_factory: ApiFactory) -> None:
    pivoted = {
        "join_paths_from_topic_name": "order_items",
        "fields": ["users.gender", "order_items.created_at[year]", "order_items.count"],
        "pivots": ["users.gender"],
        "limit": None,
    }
    app = api_factory()
    query = {"modelId": app.model_id(), **pivoted}
    response = app.post("/api/v1/query/run", key=app.keys.org, json={"query": query})
    assert response.status_code == 400  # contract §3: not without resultType
    assert "Unlimited limit (null)" in response.json()["detail"]
    refused = app.post(
        "/api/v1/query/run", key=app.keys.org, json={"query": query, "resultType": "csv"}
    )
    assert refused.status_code == 400  # the server's row cap: high-limit mode is off
    assert "maximum of 50000 rows" in refused.json()["detail"]
    high = api_factory(high_limit=True)
    allowed = high.post(
        "/api/v1/query/run", key=high.keys.org, json={"query": query, "resultType": "csv"}
    )
    assert allowed.status_code == 200, allowed.text
    header = allowed.text.splitlines()[0]
    assert "Created At Year" in header
