"""Every oracle case again, compiled to Spark SQL and run on a local Spark Connect server over
Parquet copies of the demo tables, each checked against its hand-written SQL on DuckDB."""

from __future__ import annotations

from typing import Any

import pytest
from tests.conftest import Runner
from tests.oracle.warehouses import ALL, check, warehouse_runner

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def spark_runner(spark_engine: Any) -> Runner:
    return warehouse_runner(spark_engine)


@pytest.mark.parametrize(("case", "kwargs", "columns"), [pytest.param(*a, id=a[0].id) for a in ALL])
def test_oracle_on_spark(
    runner: Runner, spark_runner: Runner, case: Any, kwargs: Any, columns: Any
) -> None:
    check(runner, spark_runner, case, kwargs, columns)
