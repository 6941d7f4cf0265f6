"""Every oracle case again, compiled for PostgreSQL and run on the real server over a copy of
the demo data, each checked against its hand-written SQL on DuckDB over the same rows."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import Runner
from tests.oracle.warehouses import ALL, check, warehouse_runner


@pytest.fixture(scope="module")
def pg_runner(postgres_engine: Any) -> Runner:
    return warehouse_runner(postgres_engine)


def test_every_case_is_here() -> None:
    assert len(ALL) >= 150


@pytest.mark.parametrize(("case", "kwargs", "columns"), [pytest.param(*a, id=a[0].id) for a in ALL])
def test_oracle_on_postgres(
    runner: Runner, pg_runner: Runner, case: Any, kwargs: Any, columns: Any
) -> None:
    check(runner, pg_runner, case, kwargs, columns)
