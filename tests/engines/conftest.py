"""Engines over the session's demo warehouse: DuckDB (the file), PostgreSQL and Spark copies.

* PostgreSQL: ``SLUICE_TEST_POSTGRES_URL`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
  The demo tables are loaded with ``load_demo_postgres`` into a schema of this run's own
  (``sluice_test_<pid>``, so concurrent runs do not collide), dropped at the end.
* Spark: a local Spark Connect server started for the session (see ``services.py``), or
  ``SLUICE_TEST_SPARK_URL`` to use a running one. The demo tables are written to Parquet by
  DuckDB and registered as Spark tables over those files, in a database of this run's own.

A warehouse that cannot be reached skips its tests locally and fails them when ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from sluice.demo.data import STEPS
from sluice.engines.spark import SparkEngine
from sluice.engines.spark import quote_ident as quote_spark
from sluice.errors import QueryError
from tests.engines.services import SPARK_DB, SparkConnectServer, unavailable

# postgres_url and postgres_engine (the demo warehouse copied into PostgreSQL) live in
# tests/conftest.py: the oracle suite uses them too.


@pytest.fixture(scope="session")
def spark_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("SLUICE_TEST_SPARK_URL")
    if url:
        yield url
        return
    timeout = float(os.environ.get("SLUICE_TEST_SPARK_START_TIMEOUT", "120"))
    server = SparkConnectServer(tmp_path_factory.mktemp("spark"), timeout_s=timeout)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def demo_parquet(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("parquet")
    files = {}
    con = duckdb.connect(str(demo_db), read_only=True)
    try:
        for table in STEPS:
            files[table] = folder / f"{table}.parquet"
            con.execute(f"COPY {table} TO '{files[table]}' (FORMAT parquet)")
    finally:
        con.close()
    return files


@pytest.fixture(scope="session")
def spark_engine(spark_url: str, demo_parquet: dict[str, Path]) -> Iterator[SparkEngine]:
    """An engine whose current database holds the demo tables (Parquet-backed catalog tables)."""
    try:
        setup = SparkEngine(spark_url)
    except QueryError as exc:
        unavailable(f"Spark Connect is not reachable: {exc}")
    db = quote_spark(SPARK_DB)
    try:
        setup.execute(f"CREATE DATABASE IF NOT EXISTS {db}")
        for table, path in demo_parquet.items():
            name = f"{db}.{quote_spark(table)}"
            setup.execute(f"DROP TABLE IF EXISTS {name}")
            setup.execute(f"CREATE TABLE {name} USING parquet LOCATION '{path}'")
        engine = SparkEngine(spark_url, schema=SPARK_DB, max_concurrency=4)
        try:
            yield engine
        finally:
            engine.close()
    finally:
        setup.execute(f"DROP DATABASE IF EXISTS {db} CASCADE")
        setup.close()
