"""Shared fixtures: one small demo warehouse per test session, and the demo model typed by it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from sluice.compiler import CompiledQuery, compile_query
from sluice.engines.base import Engine
from sluice.engines.duckdb import DuckDBEngine, connect_sandboxed
from sluice.model import SemanticModel, load_model
from sluice.project import schema_lookup
from sluice.query import parse_query
from tests.api.support import ApiClient, ApiFactory, Keys, open_api

DEMO_MODEL = Path(__file__).resolve().parents[1] / "src" / "sluice" / "demo" / "model"
DEMO_SCALE = float(os.environ.get("SLUICE_TEST_SCALE", "0.02"))
# The clock every compiled test query sees: relative dates ("last month") resolve against it.
NOW = datetime(2025, 6, 15, 10, 30, tzinfo=UTC)
# The last day of the generated demo history (the CLI's default is today): pinned, so the oracle
# and soundness cases see the same data whatever day the suite runs.
DEMO_AS_OF = date(2025, 12, 31)
MODEL_ID = "6e0ab1f6-0c0e-4b8e-9b55-0f4c0a3a1d11"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--update-golden",
        action="store_true",
        help="rewrite tests/compiler/golden/*.sql from the compiler",
    )


@pytest.fixture(scope="session")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from sluice.demo.data import generate_demo_data

    path = tmp_path_factory.mktemp("demo") / "ecommerce.duckdb"
    generate_demo_data(path, DEMO_SCALE, as_of=DEMO_AS_OF)
    return path


@pytest.fixture(scope="session")
def duck(demo_db: Path) -> Iterator[DuckDBEngine]:
    engine = DuckDBEngine(demo_db)
    yield engine
    engine.close()


@pytest.fixture(scope="session")
def demo_model(duck: DuckDBEngine) -> SemanticModel:
    return load_model(DEMO_MODEL, name="ecommerce", column_types=schema_lookup(duck))


class Runner:
    """Compile a query object against the demo model and run it on the demo warehouse."""

    def __init__(self, model: SemanticModel, engine: Engine) -> None:
        self.model = model
        self.engine = engine

    def compile(self, query: dict[str, Any], **kwargs: Any) -> CompiledQuery:
        body = {"modelId": MODEL_ID, **query}
        kwargs.setdefault("now", NOW)
        kwargs.setdefault("dialect", self.engine.dialect)
        return compile_query(self.model, parse_query(body), **kwargs)

    def run(self, query: dict[str, Any], **kwargs: Any) -> pa.Table:
        compiled = self.compile(query, **kwargs)
        return compiled.name_columns(self.engine.execute(compiled.sql))

    def sql(self, sql: str) -> pa.Table:
        return self.engine.execute(sql)


@pytest.fixture(scope="session")
def runner(demo_model: SemanticModel, duck: DuckDBEngine) -> Runner:
    return Runner(demo_model, duck)


@pytest.fixture(scope="session")
def demo_project(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A whole project (config, model, DuckDB engine) over the session's demo warehouse."""
    from sluice.config import load_config
    from sluice.project import Project

    folder = tmp_path_factory.mktemp("project")
    (folder / "sluice.yaml").write_text(
        f"connections:\n  warehouse: {{engine: duckdb, database: '{demo_db}'}}\n"
        f"models:\n  ecommerce: {{connection: warehouse, path: '{DEMO_MODEL}', id: {MODEL_ID}}}\n"
        "users:\n  - {id: ana, email: ana@example.com, attributes: {region: [California, Texas]}}\n"
        "  - {id: raw, email: raw@example.com, allow_raw_sql: true}\n"
    )
    with Project.open(load_config(folder / "sluice.yaml", env={})) as project:
        yield project


POSTGRES_URL = os.environ.get(
    "SLUICE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(scope="session")
def postgres_url() -> str:
    """PostgreSQL for the tests: skipped locally when unreachable, a failure when CI=true."""
    from sluice.engines.postgres import PostgresEngine
    from sluice.errors import QueryError
    from tests.engines.services import unavailable

    try:
        PostgresEngine(POSTGRES_URL, connect_timeout_s=5).close()
    except QueryError as exc:
        unavailable(f"PostgreSQL is not reachable: {exc}")
    return POSTGRES_URL


@pytest.fixture(scope="session")
def postgres_engine(postgres_url: str, demo_db: Path) -> Iterator[Any]:
    """The session's demo warehouse, copied into a PostgreSQL schema of this run's own."""
    from sluice.demo.load import load_demo_postgres
    from sluice.engines.postgres import PostgresEngine, quote_ident
    from tests.engines.services import PG_SCHEMA

    load_demo_postgres(demo_db, postgres_url, PG_SCHEMA)
    engine = PostgresEngine(postgres_url, schema=PG_SCHEMA, pool_size=4)
    try:
        yield engine
    finally:
        engine.close()
        admin = PostgresEngine(postgres_url, pool_size=1, read_only=False)
        admin.execute(f"DROP SCHEMA IF EXISTS {quote_ident(PG_SCHEMA)} CASCADE")
        admin.close()


# -- Spark: a local Spark Connect server started for the session (tests/engines/services.py), or
# SLUICE_TEST_SPARK_URL for a running one. The demo tables are written to Parquet by DuckDB and
# registered as Spark tables over those files, in a database of this run's own.


@pytest.fixture(scope="session")
def spark_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = os.environ.get("SLUICE_TEST_SPARK_URL")
    if url:
        yield url
        return
    from tests.engines.services import SparkConnectServer

    timeout = float(os.environ.get("SLUICE_TEST_SPARK_START_TIMEOUT", "120"))
    server = SparkConnectServer(tmp_path_factory.mktemp("spark"), timeout_s=timeout)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def demo_parquet(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import pyarrow.parquet as pq

    from sluice.demo.data import STEPS
    from sluice.engines.duckdb import connect_sandboxed

    folder = tmp_path_factory.mktemp("parquet")
    files = {}
    con = connect_sandboxed(demo_db)  # the engines' sandbox: no COPY; Arrow out, then Parquet
    try:
        for table in STEPS:
            files[table] = folder / f"{table}.parquet"
            pq.write_table(con.sql(f"SELECT * FROM {table}").to_arrow_table(), files[table])
    finally:
        con.close()
    return files


@pytest.fixture(scope="session")
def spark_engine(spark_url: str, demo_parquet: dict[str, Path]) -> Iterator[Any]:
    """An engine whose current database holds the demo tables (Parquet-backed catalog tables)."""
    from sluice.engines.spark import SparkEngine
    from sluice.engines.spark import quote_ident as quote_spark
    from sluice.errors import QueryError
    from tests.engines.services import SPARK_DB, unavailable

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


# -- Redis: the replica tests need a real one (127.0.0.1:6379, or SLUICE_TEST_REDIS_URL); each
# test gets a key prefix of its own, and every key under it is deleted afterwards.

REDIS_URL = os.environ.get("SLUICE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """Redis for the tests: skipped locally when unreachable, a failure when CI=true."""
    import redis

    from tests.engines.services import unavailable

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis is not reachable at {REDIS_URL}: {exc}")
    finally:
        client.close()
    return REDIS_URL


@pytest.fixture()
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix unique to this test (and process); its keys are removed afterwards."""
    import uuid

    import redis

    prefix = f"sluice-test-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    yield prefix
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


# -- the in-process API (the real app, core and DuckDB; no HTTP server) --------------------------
@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Iterator[ApiClient]:
    """The app on a project with the demo model (tests/conftest.py warehouse) and the lab model."""
    client = open_api(tmp_path_factory.mktemp("project"), demo_db)
    yield client
    client.close()


@pytest.fixture(scope="session")
def keys(api: ApiClient) -> Keys:
    return api.keys


@pytest.fixture()
def api_factory(tmp_path: Path, demo_db: Path) -> Iterator[ApiFactory]:
    """Start more apps, each with its own state dir and keys: ``api_factory(run_window_s=0)``."""
    opened: list[ApiClient] = []

    def make(**server: object) -> ApiClient:
        client = open_api(tmp_path / f"project{len(opened)}", demo_db, **server)
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.close()


@pytest.fixture(scope="session")
def oracle(demo_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Hand-written SQL runs here, on the same demo file the server reads."""
    conn = connect_sandboxed(str(demo_db))
    yield conn
    conn.close()
