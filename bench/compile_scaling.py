"""Compile cost grows linearly with the input: doubling a filter's values at most about doubles
the compile time (parse the query object + plan + render SQL).

For a plain-string filter (``a,b,c,...``), a typed ``EQUALS`` filter and a typed ``CONTAINS``
filter, it compiles the query with N, 2N, 4N and 8N values and prints each time and the ratio
to the previous size, measured in this run. Linear is a ratio near 2; quadratic, near 4.

    .venv/bin/python bench/compile_scaling.py [--start 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sluice.compiler import compile_query
from sluice.demo.data import generate_demo_data
from sluice.engines.duckdb import DuckDBEngine
from sluice.model import SemanticModel, load_model
from sluice.project import schema_lookup
from sluice.query import parse_query

MODEL = Path(__file__).resolve().parents[1] / "src" / "sluice" / "demo" / "model"


def query(filter_spec: Any) -> dict[str, Any]:
    return {
        "modelId": "6e0ab1f6-0c0e-4b8e-9b55-0f4c0a3a1d11",
        "join_paths_from_topic_name": "order_items",
        "fields": ["users.state", "order_items.count"],
        "filters": {"users.state": filter_spec},
    }


SHAPES: dict[str, Callable[[list[str]], Any]] = {
    "plain string a,b,c": lambda values: ",".join(values),
    "typed EQUALS": lambda values: {"type": "string", "kind": "EQUALS", "values": values},
    "typed CONTAINS": lambda values: {"type": "string", "kind": "CONTAINS", "values": values},
}


def best_of(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        gc.collect()  # each run starts from the same heap; collections during the run count
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def measure(model: SemanticModel, shape: Callable[[list[str]], Any], n: int, runs: int) -> float:
    values = [f"state {i}" for i in range(n)]
    now = datetime(2025, 6, 15, tzinfo=UTC)
    body = query(shape(values))
    return best_of(lambda: compile_query(model, parse_query(body), now=now), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--start", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny and once: checks it runs")
    args = parser.parse_args()
    if args.smoke:
        print("smoke mode: small inputs, one run; the figures mean nothing")
        args.start, args.runs = 10, 1
    print("path: compile_query (in process, no warehouse): parse + compile of one query")
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "demo.duckdb"
        generate_demo_data(db, 0.001)
        engine = DuckDBEngine(db)
        model = load_model(MODEL, column_types=schema_lookup(engine))
        engine.close()
    sizes = [args.start * 2**i for i in range(4)]
    worst = 0.0
    for name, shape in SHAPES.items():
        measure(model, shape, args.start, 1)  # warm up
        previous = None
        for n in sizes:
            seconds = measure(model, shape, n, args.runs)
            ratio = seconds / previous if previous else None
            if ratio is not None:
                worst = max(worst, ratio)
            shown = f"  x{ratio:.2f} vs half" if ratio is not None else ""
            print(f"{name:20} {n:>7} values: {seconds * 1000:9.1f} ms{shown}")
            previous = seconds
    print(f"largest ratio for doubling the values: {worst:.2f} (linear ~2, quadratic ~4)")
    print(f"target at most about 2.5: {'met' if worst <= 2.5 else 'NOT met'}")


if __name__ == "__main__":
    main()
