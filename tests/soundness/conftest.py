"""The soundness warehouse: four tiny tables, loaded into DuckDB and into the real PostgreSQL.

Every expected number in this folder is computed by hand from the rows below (the comments in
``test_soundness.py`` show the arithmetic). The tables are built to trip the classic semantic
layer failures: one-to-many joins that repeat rows (fan-out), two one-to-many branches from one
view (a chasm trap), NULL and dangling join keys, equal values in different rows (which a
"SUM(DISTINCT value)" shortcut would merge), and timestamps on week, year and DST boundaries.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from sluice.engines.base import Engine
from sluice.engines.duckdb import DuckDBEngine
from sluice.errors import QueryError
from sluice.model import SemanticModel, load_model
from sluice.project import schema_lookup
from tests.engines.services import unavailable

MODEL = Path(__file__).parent / "model"
POSTGRES_URL = os.environ.get(
    "SLUICE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
PG_SCHEMA = f"sluice_soundness_{os.getpid()}"

TABLES = """
CREATE TABLE customers (id INTEGER, name VARCHAR(20), region VARCHAR(10), signup_at TIMESTAMP);
CREATE TABLE orders (id INTEGER, customer_id INTEGER, amount DOUBLE PRECISION, status VARCHAR(10),
                     created_at TIMESTAMP);
CREATE TABLE order_lines (id INTEGER, order_id INTEGER, qty INTEGER, price DOUBLE PRECISION);
CREATE TABLE tickets (id INTEGER, customer_id INTEGER, severity VARCHAR(10));
INSERT INTO customers VALUES
  (1, 'Ann', 'EU', TIMESTAMP '2024-03-31 00:30:00'),
  (2, 'Bob', 'US', TIMESTAMP '2024-11-03 05:30:00'),
  (3, 'Cid', NULL, TIMESTAMP '2024-12-29 23:30:00'),
  (4, 'Dee', 'EU', TIMESTAMP '2025-01-01 00:00:00');
INSERT INTO orders VALUES
  (10, 1, 100.0, 'complete', TIMESTAMP '2024-03-31 00:30:00'),
  (11, 1, 50.0, 'complete', TIMESTAMP '2024-03-31 02:30:00'),
  (12, 2, 25.5, 'returned', TIMESTAMP '2024-11-03 05:30:00'),
  (13, 2, NULL, 'complete', TIMESTAMP '2024-11-03 07:00:00'),
  (14, NULL, 10.0, 'complete', TIMESTAMP '2024-12-30 00:00:00'),
  (15, 99, 7.0, 'complete', TIMESTAMP '2025-01-05 12:00:00'),
  (16, 3, 50.0, 'complete', TIMESTAMP '2024-12-29 23:30:00'),
  (17, 3, 50.0, 'complete', TIMESTAMP '2024-12-30 00:30:00');
INSERT INTO order_lines VALUES
  (100, 10, 1, 60.0), (101, 10, 2, 20.0), (102, 11, 1, 50.0), (103, 12, 1, 25.5),
  (104, 14, 1, 10.0), (105, 15, 1, 7.0), (106, 15, NULL, NULL), (107, 16, 1, 50.0),
  (108, 17, 2, 25.0);
INSERT INTO tickets VALUES
  (200, 1, 'high'), (201, 1, 'low'), (202, 1, 'low'), (203, 2, 'high'), (204, NULL, 'low');
"""


def statements() -> list[str]:
    return [s.strip() for s in TABLES.split(";") if s.strip()]


@pytest.fixture(scope="session")
def soundness_duckdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    import duckdb

    path = tmp_path_factory.mktemp("soundness") / "tiny.duckdb"
    with duckdb.connect(str(path)) as conn:
        for statement in statements():
            conn.execute(statement)
    engine = DuckDBEngine(path)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def soundness_postgres() -> Iterator[Engine]:
    from sluice.engines.postgres import PostgresEngine

    try:
        admin = PostgresEngine(POSTGRES_URL, connect_timeout_s=5, pool_size=1, read_only=False)
    except QueryError as exc:
        unavailable(f"PostgreSQL is not reachable: {exc}")
    admin.execute(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
    admin.execute(f'CREATE SCHEMA "{PG_SCHEMA}"')
    admin.close()
    engine = PostgresEngine(POSTGRES_URL, schema=PG_SCHEMA, pool_size=2, read_only=False)
    try:
        for statement in statements():
            engine.execute(statement)
        yield engine
    finally:
        engine.execute(f'DROP SCHEMA IF EXISTS "{PG_SCHEMA}" CASCADE')
        engine.close()


@pytest.fixture(scope="session")
def soundness_spark(
    spark_url: str, soundness_duckdb: Engine, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Engine]:
    """The tiny tables on Spark: written to Parquet by DuckDB, registered as Spark tables."""
    import duckdb

    from sluice.engines.spark import SparkEngine
    from sluice.engines.spark import quote_ident as q

    folder = tmp_path_factory.mktemp("soundness_parquet")
    db = f"sluice_soundness_{os.getpid()}"
    with duckdb.connect() as conn:
        for statement in statements():
            conn.execute(statement)
        for table in TABLE_NAMES:
            conn.execute(f"COPY {table} TO '{folder / table}.parquet' (FORMAT parquet)")
    try:
        setup = SparkEngine(spark_url)
    except QueryError as exc:
        unavailable(f"Spark Connect is not reachable: {exc}")
    try:
        setup.execute(f"CREATE DATABASE IF NOT EXISTS {q(db)}")
        for table in TABLE_NAMES:
            setup.execute(
                f"CREATE TABLE {q(db)}.{q(table)} USING parquet LOCATION '{folder / table}.parquet'"
            )
        engine = SparkEngine(spark_url, schema=db)
        try:
            yield engine
        finally:
            engine.close()
    finally:
        setup.execute(f"DROP DATABASE IF EXISTS {q(db)} CASCADE")
        setup.close()


TABLE_NAMES = ("customers", "orders", "order_lines", "tickets")


@pytest.fixture(
    scope="session", params=["duckdb", "postgres", pytest.param("spark", marks=pytest.mark.slow)]
)
def warehouse(request: pytest.FixtureRequest) -> Engine:
    """Each soundness case runs on every warehouse."""
    engine: Engine = request.getfixturevalue(f"soundness_{request.param}")
    return engine


@pytest.fixture(scope="session")
def sunday_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("sunday") / "model"
    shutil.copytree(MODEL, folder)
    (folder / "model.yaml").write_text("week_start_day: sunday\n")
    return folder


def load(folder: Path, engine: Engine) -> SemanticModel:
    return load_model(folder, dialect=engine.dialect, column_types=schema_lookup(engine))
