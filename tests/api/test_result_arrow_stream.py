"""``resultType: "arrow"``: the finished result as an Arrow IPC stream body, the very bytes the
NDJSON line carries in base64, read back with pyarrow and polars and checked against DuckDB."""

from __future__ import annotations

import io
import time
from decimal import Decimal
from typing import Any

import duckdb
import httpx
import polars as pl
import pyarrow as pa
import pybase64

from sluice.results.arrow import decode_table
from tests.api.support import BOB, ApiClient, ApiFactory, Keys, job_lines, ndjson

ARROW = "application/vnd.apache.arrow.stream"
BY_STATUS: dict[str, Any] = {
    "table": "order_items",
    "fields": ["order_items.status", "order_items.count", "order_items.total_sale_price"],
    "sorts": [{"column_name": "order_items.status"}],
}
ORACLE_BY_STATUS = """
    SELECT status, COUNT(*) AS n, SUM(sale_price) AS revenue
    FROM order_items GROUP BY status ORDER BY status
"""
# More rows than one record batch (65,536) and more bytes than a job row holds inline (256 KB):
# the cached copy is a file, and the body is several batches. Verbatim SQL (BOB may run it).
MANY = 150_000
MANY_SQL = (
    f"SELECT range AS n, range * 0.5 AS half, 'row ' || range::VARCHAR AS label "
    f"FROM range({MANY}) ORDER BY n"
)


def post(api: ApiClient, key: str, query: dict[str, Any], **body: Any) -> httpx.Response:
    params = body.pop("params", None)
    payload = {"query": {"modelId": api.model_id(), **query}, **body}
    return api.post("/api/v1/query/run", key=key, json=payload, params=params)


def read_stream(response: httpx.Response) -> pa.Table:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == ARROW
    assert response.headers["content-disposition"] == 'attachment; filename="result.arrows"'
    assert int(response.headers["content-length"]) == len(response.content)
    with pa.ipc.open_stream(response.content) as reader:
        return reader.read_all()


def ndjson_result(api: ApiClient, key: str, query: dict[str, Any], **body: Any) -> bytes:
    response = post(api, key, query, **body)
    assert response.status_code == 200, response.text
    (job,) = job_lines(ndjson(response))
    assert job["status"] == "COMPLETE", job
    return pybase64.b64decode(job["result"], validate=True)


def stored(app: ApiClient) -> None:
    """Wait until every execution's result is in the cache (it is written just after the
    answer leaves)."""
    deadline = time.monotonic() + 20
    while app.services.jobs.executing:
        assert time.monotonic() < deadline, "the result never reached the cache"
        time.sleep(0.01)


def test_the_body_is_the_ndjson_result_and_matches_duckdb(
    api: ApiClient, keys: Keys, oracle: duckdb.DuckDBPyConnection
) -> None:
    response = post(api, keys.org, BY_STATUS, resultType="arrow", cache="SkipCache")
    assert response.headers["x-sluice-cache-type"] == "MISS"
    table = read_stream(response)
    expected = pa.ipc.open_stream(ndjson_result(api, keys.org, BY_STATUS, cache="SkipCache"))
    assert table.schema == expected.schema
    assert table.equals(expected.read_all())
    assert table.column_names == BY_STATUS["fields"]
    rows = oracle.execute(ORACLE_BY_STATUS).fetchall()
    assert len(rows) == table.num_rows >= 3
    got = table.to_pylist()
    for row, (status, n, revenue) in zip(got, rows, strict=True):
        assert row["order_items.status"] == status
        assert row["order_items.count"] == n
        assert Decimal(str(row["order_items.total_sale_price"])) == Decimal(str(revenue))
    # polars reads the same body (the README's example).
    frame = pl.read_ipc_stream(io.BytesIO(response.content))
    assert frame.columns == BY_STATUS["fields"] and frame.height == len(rows)
    assert frame["order_items.count"].to_list() == [n for _, n, _ in rows]


def test_a_cache_hit_sends_the_cached_bytes_as_they_are(api_factory: ApiFactory) -> None:
    app = api_factory()
    query = {**BY_STATUS, "limit": 7}
    fresh = post(app, app.keys.org, query, resultType="arrow", cache="SkipCache")
    assert fresh.headers["x-sluice-cache-type"] == "MISS"
    stored(app)
    hit = post(app, app.keys.org, query, resultType="arrow")
    assert hit.headers["x-sluice-cache-type"] == "EXACT"
    assert hit.headers["x-sluice-job-id"] != fresh.headers["x-sluice-job-id"]
    assert read_stream(hit).equals(read_stream(fresh))
    line = ndjson_result(app, app.keys.org, query)  # the same entry, as the NDJSON carries it
    assert hit.content == line


def test_a_multi_batch_result_stored_as_a_file_streams_whole(api_factory: ApiFactory) -> None:
    app = api_factory(high_limit=True)
    sql = {"userEditedSQL": MANY_SQL, "rewriteSql": False, "limit": None}
    params = {"userId": BOB}
    expected = duckdb.sql(MANY_SQL).to_arrow_table()
    answers = []
    for cache, source in (("SkipCache", "MISS"), ("SkipRequery", "EXACT")):
        response = post(app, app.keys.org, sql, resultType="arrow", cache=cache, params=params)
        assert response.headers["x-sluice-cache-type"] == source, response.text
        assert len(response.content) > 256 * 1024
        with pa.ipc.open_stream(response.content) as reader:
            batches = list(reader)
        assert len(batches) >= 2  # as stored: several record batches, one after another
        table = pa.Table.from_batches(batches)
        assert table.num_rows == MANY
        assert table.column("n").to_pylist() == expected.column("n").to_pylist()
        assert table.column("half").to_pylist() == expected.column("half").to_pylist()
        assert table.column("label")[MANY - 1].as_py() == f"row {MANY - 1}"
        answers.append(response.content)
        stored(app)
    assert answers[0] == answers[1]  # the file the hit streamed holds the bytes the miss sent


def test_format_results_with_arrow_is_a_400_naming_the_conflict(api: ApiClient, keys: Keys) -> None:
    response = post(api, keys.org, BY_STATUS, resultType="arrow", formatResults=True)
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400 and "formatResults" in body["detail"]
    assert '"arrow"' in body["detail"] and '"csv"' in body["detail"]
    unformatted = post(api, keys.org, BY_STATUS, resultType="arrow", formatResults=False)
    assert read_stream(unformatted).num_rows >= 3


def test_failures_answer_as_for_csv(api: ApiClient, keys: Keys) -> None:
    broken = {"modelId": api.model_id("lab"), "table": "broken", "fields": ["broken.as_number"]}
    filters = {"users.nope": {"type": "string", "kind": "EQUALS", "values": ["x"]}}
    unplannable = {"modelId": api.model_id(), **BY_STATUS, "filters": filters}
    for query, status, message in (
        (broken, 500, "Conversion Error"),
        (unplannable, 400, 'No such field "users.nope"'),
    ):
        csv, arrow = (
            api.post("/api/v1/query/run", key=keys.org, json={"query": query, "resultType": kind})
            for kind in ("csv", "arrow")
        )
        assert csv.status_code == arrow.status_code == status
        assert arrow.json() == csv.json()
        assert message in arrow.json()["detail"] and "Traceback" not in arrow.text


def test_post_query_work_is_in_the_stream(api: ApiClient, keys: Keys) -> None:
    pivoted = {
        "table": "order_items",
        "fields": ["order_items.status", "order_items.created_at[year]", "order_items.count"],
        "pivots": ["order_items.status"],
        "sorts": [{"column_name": "order_items.created_at[year]"}],
    }
    table = read_stream(post(api, keys.org, pivoted, resultType="arrow", cache="SkipCache"))
    expected = decode_table(pybase64.b64encode(ndjson_result(api, keys.org, pivoted)))
    assert table.equals(expected)
    assert table.num_columns > 3  # one count column per status
