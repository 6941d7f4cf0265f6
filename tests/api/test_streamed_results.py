"""Results that stream from the engine into one file: the rows are the warehouse's, the job store
and the cache share that one file (each keeps its own name), the size limit stops a stream
without leaving a file behind, and documents of a large result are read from the file."""

from __future__ import annotations

import gc
import io
import os
import time
from pathlib import Path
from typing import Any

import duckdb
import openpyxl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from sluice.results.arrow import decode_table, read_ipc_stream
from sluice.stores.embedded.jobs import INLINE_MAX, SqliteJobStore
from tests.api.support import BOB, ApiClient, ApiFactory, job_lines, ndjson
from tests.api.test_cache import wait_for

# Every order item with numbers to add up: about 1 MB of IPC at the test scale, so well above
# the job store's inline limit (256 KB): the streamed path that spills to a file.
ITEMS = {
    "table": "order_items",
    "fields": [
        "order_items.id",
        "order_items.order_id",
        "order_items.user_id",
        "order_items.status",
        "order_items.sale_price",
    ],
    "sorts": [{"column_name": "order_items.id", "descending": False}],
    "limit": 50_000,
}
ORACLE = (
    "SELECT COUNT(*), SUM(id), SUM(order_id), SUM(user_id), SUM(sale_price),"
    " COUNT(*) FILTER (WHERE status = 'Complete') FROM order_items"
)


def run(app: ApiClient, **body: Any) -> dict[str, Any]:
    (job,) = job_lines(app.run({"modelId": app.model_id(), **ITEMS}, key=app.keys.org, **body))
    assert job["status"] == "COMPLETE", job
    wait_for(lambda: app.services.jobs.executing == 0)  # its execution is in the cache
    return job


def aggregates(table: pa.Table) -> tuple[Any, ...]:
    def total(name: str) -> Any:
        return pc.sum(table.column(name)).as_py()

    complete = pc.sum(pc.equal(table.column("order_items.status"), "Complete")).as_py()
    return (
        table.num_rows,
        total("order_items.id"),
        total("order_items.order_id"),
        total("order_items.user_id"),
        round(total("order_items.sale_price"), 4),
        complete,
    )


def expected(oracle: duckdb.DuckDBPyConnection) -> tuple[Any, ...]:
    row = oracle.sql(ORACLE).fetchall()[0]
    return (*row[:4], round(float(row[4]), 4), row[5])


def state(app: ApiClient) -> Path:
    return app.config.server.state_dir


def spilled(directory: Path) -> list[Path]:
    return sorted(p for p in directory.iterdir() if p.name.endswith(".tmp"))


def one_name_each(app: ApiClient, job_file: Path, cache_file: Path) -> None:
    """The job's file and the cache entry are one file on disk, with no third (spool) name."""

    def settled() -> bool:
        gc.collect()  # the landed flight goes with its last reference; its spool name with it
        return job_file.stat().st_nlink == 2 and not spilled(state(app) / "cache")

    wait_for(settled)
    assert job_file.stat().st_ino == cache_file.stat().st_ino


def test_a_streamed_large_result_is_the_warehouses_rows_in_one_shared_file(
    api_factory: ApiFactory, oracle: duckdb.DuckDBPyConnection
) -> None:
    app = api_factory()
    job = run(app, cache="SkipCache")
    assert job["summary"]["cache_type"] == "MISS"
    assert job["cache_metadata"]["result_size_bytes"] > INLINE_MAX  # the spilled path
    first = decode_table(job["result"])
    assert aggregates(first) == expected(oracle)
    ids = first.column("order_items.id").to_pylist()
    assert ids == sorted(ids)  # streamed in the warehouse's order

    job_file = state(app) / "results" / f"{job['job_id']}.arrows"
    (cache_file,) = (state(app) / "cache").glob("*.arrows")
    wait_for(job_file.exists)  # the job writer links it just after the answer
    one_name_each(app, job_file, cache_file)
    assert read_ipc_stream(pa.py_buffer(job_file.read_bytes())).equals(first)

    # The job's result expires: the cache still serves the bytes.
    store = SqliteJobStore(state(app))
    try:
        assert store.purge(finished_before=time.time() + 3600) >= 1
        assert not job_file.exists()
        hit = run(app)
        assert hit["summary"]["cache_type"] == "EXACT"
        assert hit["result"] == job["result"]

        # A new execution: its cache entry is evicted, the job's result stays readable.
        again = run(app, cache="SkipCache")
        again_file = state(app) / "results" / f"{again['job_id']}.arrows"
        wait_for(again_file.exists)
        (cache_file,) = (state(app) / "cache").glob("*.arrows")
        one_name_each(app, again_file, cache_file)
        cache = app.services.jobs._result_cache
        cache.store.discard(cache.store.entries()[0].key)
        assert not cache_file.exists() and again_file.stat().st_nlink == 1
        kept = store.get(again["job_id"])
        assert kept is not None and kept.result is not None
        assert aggregates(read_ipc_stream(kept.result)) == expected(oracle)
    finally:
        store.close()


def test_a_small_result_stays_inline_and_writes_no_file(api_factory: ApiFactory) -> None:
    app = api_factory()
    (small,) = job_lines(
        app.run({"modelId": app.model_id(), **ITEMS, "limit": 10}, key=app.keys.org)
    )
    assert small["status"] == "COMPLETE"
    assert decode_table(small["result"]).num_rows == 10
    wait_for(lambda: app.services.jobs.executing == 0)
    assert not (state(app) / "results" / f"{small['job_id']}.arrows").exists()
    assert not spilled(state(app) / "cache")


def test_a_stream_over_the_size_limit_stops_and_leaves_no_file(api_factory: ApiFactory) -> None:
    app = api_factory(max_result_mb=0.5)  # below the 1 MB result, above the inline limit
    (job,) = job_lines(
        app.run({"modelId": app.model_id(), **ITEMS}, key=app.keys.org, cache="SkipCache")
    )
    assert job["status"] == "ERROR" and "result" not in job
    assert "above this server's limit of 0.5 MB" in job["error_message"]
    wait_for(lambda: app.services.jobs.executing == 0)
    gc.collect()
    assert not spilled(state(app) / "cache")
    assert not list((state(app) / "cache").glob("*.arrows"))
    assert not list((state(app) / "results").iterdir())
    # The engine's cursor was given back: the next query runs.
    (small,) = job_lines(
        app.run({"modelId": app.model_id(), **ITEMS, "limit": 10}, key=app.keys.org)
    )
    assert small["status"] == "COMPLETE"


def test_documents_of_a_large_result_are_read_from_its_file(
    api_factory: ApiFactory, oracle: duckdb.DuckDBPyConnection
) -> None:
    app = api_factory()
    want = expected(oracle)
    for cache in ("SkipCache", "SkipRequery"):  # run (streamed to a file), then from the cache
        response = app.post(
            "/api/v1/query/run",
            key=app.keys.org,
            json={
                "query": {"modelId": app.model_id(), **ITEMS},
                "resultType": "csv",
                "cache": cache,
            },
        )
        assert response.status_code == 200, response.text
        table = pacsv.read_csv(io.BytesIO(response.content))
        assert table.num_rows == want[0]
        assert pc.sum(table.column("Order Item ID")).as_py() == want[1]
        assert round(pc.sum(table.column("Sale Price")).as_py(), 4) == want[4]
        wait_for(lambda: app.services.jobs.executing == 0)

    response = app.post(
        "/api/v1/query/run",
        key=app.keys.org,
        json={
            "query": {"modelId": app.model_id(), **ITEMS},
            "resultType": "xlsx",
            "cache": "SkipCache",
        },
    )
    assert response.status_code == 200, response.text
    sheet = openpyxl.load_workbook(io.BytesIO(response.content), read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert len(body) == want[0]
    ids = header.index("Order Item ID")
    prices = header.index("Sale Price")
    assert sum(int(r[ids]) for r in body) == want[1]
    assert round(sum(float(r[prices]) for r in body), 4) == want[4]
    gc.collect()
    assert not spilled(state(app) / "cache")
    assert os.path.isdir(state(app) / "results")


def test_cancelling_a_job_mid_stream_stops_it_and_removes_its_file(
    api_factory: ApiFactory,
) -> None:
    # 10^12 rows of verbatim SQL, unsorted: batches stream at once, and it would never end.
    app = api_factory(run_window_s=0, high_limit=True, max_result_mb=4096)
    query = {
        "modelId": app.model_id(),
        "userEditedSQL": "SELECT a.range AS a, b.range AS b FROM range(1000000) a, range(1000000) b",
        "rewriteSql": False,
        "limit": None,
    }
    response = app.post(
        "/api/v1/query/run", key=app.keys.org, params={"userId": BOB}, json={"query": query}
    )
    (job_id,) = ndjson(response)[-1]["remaining_job_ids"]
    wait_for(lambda: bool(spilled(state(app) / "cache")))  # streaming into its file by now
    response = app.request("DELETE", f"/api/v1/query/jobs/{job_id}", key=app.keys.org)
    assert response.status_code == 200
    assert response.json()["status"] == "ERROR" and response.json()["error_type"] == "KILL"
    wait_for(lambda: app.services.jobs.executing == 0, timeout=10)

    def cleaned() -> bool:
        gc.collect()
        return not spilled(state(app) / "cache")

    wait_for(cleaned)
    assert not list((state(app) / "results").iterdir())
    lines = app.run({"modelId": app.model_id(), **ITEMS, "limit": 10}, key=app.keys.org)
    (quick_id,) = lines[-1]["remaining_job_ids"]
    done = ndjson(app.get("/api/v1/query/wait", key=app.keys.org, params={"jobIds": quick_id}))
    assert job_lines(done)[0]["status"] == "COMPLETE"  # the worker and its cursor are free
