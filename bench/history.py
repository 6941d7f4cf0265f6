"""Query history and job progress: what they cost, each against a baseline in the same run.

(a) DuckDB with progress tracking on (``enable_progress_bar``, no printing: what the engine sets
    so ``GET /query/jobs/{id}`` can report ``progress``) against the same queries with it off,
    on the demo warehouse (target: within 1.05x);
(b) writing finished jobs to the SQLite job store, which now also upserts each into
    ``job_history``, against writing them to a store without that table (target: within 1.5x);
(c) a history page (25 rows) deep in a large history, found through its cursor, against the
    first page (target: about 1x: the cursor seeks, it does not skip rows);
(d) the same deep page for one user of many, against the first page for that user.

Nothing is asserted: numbers are printed.

    .venv/bin/python bench/history.py [--scale 0.2] [--jobs 100000] [--runs 7] [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import duckdb

from sluice.demo.data import generate_demo_data
from sluice.jobs.history import HistoryCursor, HistoryQuery
from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobStatus
from sluice.stores.embedded.jobs import SqliteJobStore

QUERIES = [
    "SELECT date_trunc('month', created_at) AS m, sum(sale_price) FROM order_items GROUP BY 1",
    "SELECT p.category, count(*), sum(oi.sale_price) FROM order_items oi "
    "JOIN inventory_items ii ON ii.id = oi.inventory_item_id "
    "JOIN products p ON p.id = ii.product_id GROUP BY 1",
    "SELECT user_id, count(DISTINCT order_id) FROM order_items GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
]


def best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def progress_overhead(db: Path, runs: int) -> None:
    conn = duckdb.connect(str(db), read_only=True)
    plain = conn.cursor()
    tracked = conn.cursor()
    tracked.execute("SET enable_progress_bar = true")
    tracked.execute("SET enable_progress_bar_print = false")
    for sql in QUERIES:
        off, on = [], []
        for _ in range(runs):  # interleaved, so drift in machine load hits both alike
            off.append(best(lambda q=sql: plain.sql(q).fetchall(), 1))  # type: ignore[misc]
            on.append(best(lambda q=sql: tracked.sql(q).fetchall(), 1))  # type: ignore[misc]
        a, b = statistics.median(off), statistics.median(on)
        print(f"  {sql[:60]:<60} off {a * 1000:7.1f} ms  on {b * 1000:7.1f} ms  {b / a:.2f}x")
    conn.close()


def record(i: int, user: str) -> JobRecord:
    return JobRecord(
        id=str(uuid.UUID(int=i)), client_result_id=str(uuid.uuid4()), organization_id="org",
        user_id=user, model_id="m", status=JobStatus.COMPLETE, created_at=1_000_000.0 + i,
        finished_at=1_000_001.0 + i, request_query={"fields": ["a.b", "a.c"], "limit": 100},
        summary={"sql": "SELECT 1", "cache_type": "MISS"}, result_rows=10, result_bytes=900,
    )  # fmt: skip


class NoHistoryStore(SqliteJobStore):
    """The baseline: the job rows only, as before query history."""

    def write_batch(self, items):  # type: ignore[no-untyped-def]
        from sluice.stores.embedded.jobs import _UPSERT

        rows = [self._row_with_result(record, result) for record, result in items]
        with self._lock:
            self._conn.execute("BEGIN")
            for row in rows:
                self._conn.execute(_UPSERT, row)
            self._conn.execute("COMMIT")


def write_cost(folder: Path, jobs: int) -> None:
    records = [record(i, f"u{i % 50}") for i in range(jobs)]
    timings = {}
    for name, cls in (("without history", NoHistoryStore), ("with history", SqliteJobStore)):
        store = cls(folder / name.replace(" ", "-"))
        began = time.perf_counter()
        for start in range(0, jobs, 64):  # the writer's group commits
            store.write_batch([(r, b"x" * 200) for r in records[start : start + 64]])
        timings[name] = time.perf_counter() - began
        store.close()
    a, b = timings["without history"], timings["with history"]
    print(f"  {jobs:,} jobs in batches of 64: without {a:.2f} s, with {b:.2f} s  {b / a:.2f}x")


def paging(folder: Path, jobs: int, runs: int) -> None:
    store = SqliteJobStore(folder / "paging")
    for start in range(0, jobs, 1000):
        store.write_batch([(record(i, f"u{i % 50}"), None) for i in range(start, start + 1000)])
    for label, user in (("organization", None), ("one user of 50", "u7")):
        first = HistoryQuery("org", limit=25, user_id=user)
        newest = store.history(first)
        oldest_half = jobs // 2
        deep = HistoryQuery(
            "org", limit=25, user_id=user, cursor=HistoryCursor(1_000_000.0 + oldest_half, "~")
        )
        assert len(store.history(deep)) == 25 and newest
        a = best(lambda q=first: store.history(q), runs)  # type: ignore[misc]
        b = best(lambda q=deep: store.history(q), runs)  # type: ignore[misc]
        print(
            f"  {label:<16} first page {a * 1000:6.2f} ms, page {oldest_half:,} rows deep "
            f"{b * 1000:6.2f} ms  {b / a:.2f}x"
        )
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--smoke", action="store_true", help="tiny and once: checks it runs")
    args = parser.parse_args()
    if args.smoke:
        print("smoke mode: a tiny warehouse and history, one run; the figures mean nothing")
        args.scale, args.jobs, args.runs = 0.005, 3000, 1
    print("path: (a) DuckDB statements in process; (b), (c), (d) the job store only (no server)")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        db = folder / "shop.duckdb"
        generate_demo_data(db, args.scale)
        print(f"(a) DuckDB progress tracking, demo scale {args.scale} (median of {args.runs}):")
        progress_overhead(db, args.runs)
        print("(b) writing finished jobs to SQLite:")
        write_cost(folder, min(args.jobs, 20_000))
        print(f"(c, d) history pages in {args.jobs:,} jobs (best of {args.runs}):")
        paging(folder, args.jobs, args.runs)


if __name__ == "__main__":
    main()
