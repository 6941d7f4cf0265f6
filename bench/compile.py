"""Compile-time benchmark: a typical three-join semantic query -> DuckDB SQL.

Prints the median compile time (parse the query object + plan + render SQL), and, as a ratio,
the same against a baseline measured in this run: sqlglot parsing and re-rendering the
compiled SQL text (the least any sqlglot-based compiler does). Target: median under 2 ms.

    .venv/bin/python bench/compile.py [--runs 2000]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import sqlglot

from sluice.compiler import compile_query
from sluice.demo.data import generate_demo_data
from sluice.engines.duckdb import DuckDBEngine
from sluice.model import load_model
from sluice.project import schema_lookup
from sluice.query import parse_query

MODEL = Path(__file__).resolve().parents[1] / "src" / "sluice" / "demo" / "model"
QUERY = {
    "modelId": "6e0ab1f6-0c0e-4b8e-9b55-0f4c0a3a1d11",
    "join_paths_from_topic_name": "order_items",
    "fields": [
        "order_items.created_at[month]",
        "users.state",
        "products.category",
        "order_items.total_sale_price",
        "order_items.count",
        "order_items.gross_margin_percent",
    ],
    "filters": {
        "users.country": {"type": "string", "kind": "EQUALS", "values": ["United States"]},
        "order_items.created_at": {
            "type": "date",
            "kind": "TIME_FOR_INTERVAL_DURATION",
            "left_side": "12 months ago",
            "right_side": "12 months",
        },
        "order_items.status": {"type": "string", "values": ["Cancelled"], "is_negative": True},
    },
    "sorts": [{"column_name": "order_items.total_sale_price", "sort_descending": True}],
    "limit": 500,
}


def timings(fn: Callable[[], object], runs: int) -> list[float]:
    for _ in range(min(200, runs)):  # warm caches (parsed field SQL, sqlglot internals)
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--smoke", action="store_true", help="a few runs: checks it runs")
    args = parser.parse_args()
    if args.smoke:
        print("smoke mode: a few runs; the figures mean nothing")
        args.runs = 20
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.duckdb"
        generate_demo_data(db, 0.001)
        engine = DuckDBEngine(db)
        model = load_model(MODEL, column_types=schema_lookup(engine))
        engine.close()
    now = datetime(2025, 6, 15, tzinfo=UTC)
    sql = compile_query(model, parse_query(QUERY), now=now).sql
    print("path: compile only, in process (no server, no warehouse, no cache)")

    compile_times = timings(lambda: compile_query(model, parse_query(QUERY), now=now), args.runs)
    baseline = timings(lambda: sqlglot.parse_one(sql, dialect="duckdb").sql("duckdb"), args.runs)
    median = statistics.median(compile_times) * 1000
    p95 = statistics.quantiles(compile_times, n=20)[-1] * 1000
    base = statistics.median(baseline) * 1000
    print(f"compile (3 joins, 6 fields, 3 filters): median {median:.3f} ms, p95 {p95:.3f} ms")
    print(f"baseline sqlglot parse+render of the same SQL: median {base:.3f} ms")
    print(f"ratio compile / baseline: {median / base:.2f}x")
    print(f"target median < 2 ms: {'met' if median < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
