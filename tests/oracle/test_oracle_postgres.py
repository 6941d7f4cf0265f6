"""Every oracle case again, compiled for PostgreSQL and run on the real server.

The demo warehouse is copied into PostgreSQL; each case's hand-written SQL runs on DuckDB
over the same data, so the compiled PostgreSQL result is checked against an independent
answer, not against sluice's DuckDB output.
"""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import DEMO_MODEL, Runner
from tests.oracle.test_oracle import CASES, Case, _rows, compare
from tests.oracle.test_oracle_features import FCASES

from sluice.model import SemanticModel, load_model
from sluice.project import schema_lookup

ALL: list[tuple[Case, dict[str, Any], tuple[str, ...] | None]] = [(c, {}, None) for c in CASES] + [
    (f.case, f.kwargs, f.columns) for f in FCASES
]


@pytest.fixture(scope="module")
def pg_runner(postgres_engine: Any) -> Runner:
    model: SemanticModel = load_model(
        DEMO_MODEL, name="ecommerce", column_types=schema_lookup(postgres_engine)
    )
    return Runner(model, postgres_engine)


def test_every_case_is_here() -> None:
    assert len(ALL) >= 150


@pytest.mark.parametrize(("case", "kwargs", "columns"), [pytest.param(*a, id=a[0].id) for a in ALL])
def test_oracle_on_postgres(
    runner: Runner, pg_runner: Runner, case: Case, kwargs: dict[str, Any], columns: Any
) -> None:
    want = _rows(runner.sql(case.sql))  # the hand-written answer, on DuckDB, over the same data
    compiled = pg_runner.compile(case.query, **kwargs)
    table = pg_runner.run(case.query, **kwargs)
    assert table.column_names == list(columns or case.query["fields"])
    problem = compare(_rows(table), want, case.order)
    assert problem is None, f"{problem}\n-- compiled PostgreSQL:\n{compiled.sql}"
