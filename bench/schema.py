"""Schema-layer benchmark: a warehouse of many tables, introspected and loaded as a model.

Path: model loading only (no server, no query, no cache). A DuckDB file with ``--tables`` tables
of ``--columns`` columns each (a third of them timestamps, so timeframes multiply) is created in a
temporary folder. Printed, each with its baseline measured in the same run:

(a) introspection (``sluice.engines.introspect``: columns, types, declared keys) against DuckDB
    answering the bare ``information_schema.columns`` query it starts from;
(b) building the schema layer and loading a model that extends it (one view file, one topic)
    against loading the same model written out by hand (a view file per table declaring every
    column), per view;
(c) reading the stored snapshot back from JSON (what a restart does instead of (a)).

Target: (a) + (b) under 5 s for 1,000 tables x 30 columns on this machine. Nothing is asserted.

    .venv/bin/python bench/schema.py [--tables 1000] [--columns 30] [--runs 3] [--smoke]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import duckdb

from sluice.engines.duckdb import DuckDBEngine
from sluice.engines.introspect import introspect
from sluice.model import load_model
from sluice.model.schema import SchemaSource, Snapshot
from sluice.project import schema_lookup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", type=int, default=1000)
    parser.add_argument("--columns", type=int, default=30)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--smoke", action="store_true", help="tiny and once: checks it runs")
    args = parser.parse_args()
    if args.smoke:
        print("smoke mode: 20 tables, one run; the figures mean nothing")
        args.tables, args.runs = 20, 1
    print(f"sluice schema-layer benchmark: {args.tables} tables x {args.columns} columns")
    print("path: model loading only (no server, no query, no cache)\n")
    with tempfile.TemporaryDirectory(prefix="sluice-bench-schema-") as tmp:
        run(Path(tmp), args)


def run(folder: Path, args: argparse.Namespace) -> None:
    database = folder / "wide.duckdb"
    make_warehouse(database, args.tables, args.columns)
    model = folder / "model"
    model.mkdir()
    (model / "t0.view.yaml").write_text("measures:\n  total: {sql: '${c1}', aggregate_type: sum}\n")
    (model / "t0.topic.yaml").write_text("base_view: t0\n")
    engine = DuckDBEngine(database)
    try:
        raw = best(lambda: engine.execute("SELECT * FROM information_schema.columns"), args.runs)
        read = best(lambda: introspect(engine), args.runs)
        print(f"(a) introspection {ms(read)}; bare information_schema.columns {ms(raw)} "
              f"({read / raw:.1f}x)")  # fmt: skip
        snapshot = introspect(engine)
        source = SchemaSource(snapshot)
        declared = declared_model(folder / "declared", args.tables, args.columns)
        files_only = best(
            lambda: load_model(declared, column_types=schema_lookup(engine)), args.runs
        )
        loaded = best(lambda: load_model(model, schema=source), args.runs)
        views = len(load_model(model, schema=source).views)
        each = loaded / views * 1e6
        print(f"(b) schema layer + model load {ms(loaded)} for {views} views ({each:.0f} us a "
              f"view); the same model written by hand {ms(files_only)} "
              f"({loaded / files_only:.2f}x)")  # fmt: skip
        text = json.dumps(snapshot.to_json())
        restored = best(lambda: Snapshot.from_json(json.loads(text)), args.runs)
        print(f"(c) snapshot from JSON ({len(text) / 1e6:.1f} MB) {ms(restored)}")
        total = read + loaded
        print(f"    introspection + load: {total:.2f} s (target < 5 s: "
              f"{'ok' if total < 5 else 'MISSED'})")  # fmt: skip
    finally:
        engine.close()


def make_warehouse(path: Path, tables: int, columns: int) -> None:
    con = duckdb.connect(str(path))
    try:
        for t in range(tables):
            cols = ", ".join(
                f"c{c} {('TIMESTAMP', 'DOUBLE', 'VARCHAR')[c % 3]}" for c in range(columns)
            )
            con.execute(f"CREATE TABLE t{t} (id INTEGER PRIMARY KEY, {cols})")
    finally:
        con.close()


def declared_model(folder: Path, tables: int, columns: int) -> Path:
    """The model the schema layer generates, written out as view files."""
    folder.mkdir()
    for t in range(tables):
        dims = "".join(
            f"  c{c}: {{timeframes: [raw, date, week, month, quarter, year]}}\n"
            if c % 3 == 0
            else f"  c{c}: {{}}\n"
            for c in range(columns)
        )
        measures = "measures:\n  count: {aggregate_type: count}\n"
        if t == 0:
            measures += "  total: {sql: '${c1}', aggregate_type: sum}\n"
        (folder / f"t{t}.view.yaml").write_text(
            f"dimensions:\n  id: {{primary_key: true}}\n{dims}{measures}"
        )
    (folder / "t0.topic.yaml").write_text("base_view: t0\n")
    return folder


def best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


if __name__ == "__main__":
    main()
