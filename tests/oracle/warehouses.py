"""Every oracle case on another warehouse: compiled for its dialect, run on it, and checked
against the case's hand-written SQL run on DuckDB over the same rows."""

from __future__ import annotations

from typing import Any

from tests.conftest import DEMO_MODEL, Runner
from tests.oracle.test_oracle import CASES, Case, _rows, compare
from tests.oracle.test_oracle_features import FCASES

from sluice.model import load_model
from sluice.project import schema_lookup

ALL: list[tuple[Case, dict[str, Any], tuple[str, ...] | None]] = [(c, {}, None) for c in CASES] + [
    (f.case, f.kwargs, f.columns) for f in FCASES
]


def warehouse_runner(engine: Any) -> Runner:
    model = load_model(DEMO_MODEL, name="ecommerce", column_types=schema_lookup(engine))
    return Runner(model, engine)


def check(duck: Runner, other: Runner, case: Case, kwargs: dict[str, Any], columns: Any) -> None:
    want = _rows(duck.sql(case.sql))  # the hand-written answer, on DuckDB, over the same data
    compiled = other.compile(case.query, **kwargs)
    table = other.run(case.query, **kwargs)
    assert table.column_names == list(columns or case.query["fields"])
    problem = compare(_rows(table), want, case.order)
    assert problem is None, f"{problem}\n-- compiled {other.engine.dialect}:\n{compiled.sql}"
