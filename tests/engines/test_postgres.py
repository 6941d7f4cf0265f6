"""PostgreSQL specifics: the pool bound, statement timeout, NUMERIC, the demo loader, config."""

from __future__ import annotations

import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pyarrow as pa
import pytest

from sluice.config import config_from_dict
from sluice.demo.data import STEPS
from sluice.demo.load import LoadError, load_demo_postgres
from sluice.engines.duckdb import connect_sandboxed
from sluice.engines.postgres import PostgresEngine, pg_type_to_data_type
from sluice.errors import Cancelled, ConfigError, QueryError
from sluice.project import open_engine
from tests.engines.services import PG_SCHEMA

HEAVY = (
    "SELECT sum(a::bigint * b) FROM generate_series(1, 1000000) a, generate_series(1, 1000000) b"
)


def test_statement_timeout_cancels_on_the_server(postgres_url: str) -> None:
    engine = PostgresEngine(postgres_url, statement_timeout_s=1)
    try:
        started = time.monotonic()
        with pytest.raises(Cancelled, match="statement timeout"):
            engine.execute(HEAVY)
        assert time.monotonic() - started < 5
        assert engine.execute("SELECT 1 AS one").column(0).to_pylist() == [1]
    finally:
        engine.close()


def test_pool_never_opens_more_than_pool_size_connections(postgres_url: str) -> None:
    app = f"sluice_pool_{os.getpid()}"
    engine = PostgresEngine(f"{postgres_url}?application_name={app}", pool_size=2)
    seen: list[int] = []
    lock = threading.Lock()
    count = f"SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = '{app}'"

    def work(_: int) -> None:
        n = engine.execute(f"SELECT n, pg_sleep(0.2) FROM ({count}) c").column(0)[0].as_py()
        with lock:
            seen.append(n)

    try:
        started = time.monotonic()
        with ThreadPoolExecutor(max_workers=6) as pool:
            list(pool.map(work, range(6)))
        elapsed = time.monotonic() - started
    finally:
        engine.close()
    assert max(seen) <= 2, seen
    assert elapsed >= 0.55, "six 0.2s statements on two connections take three rounds"


def test_connections_the_server_dropped_are_replaced(postgres_url: str) -> None:
    app = f"sluice_drop_{os.getpid()}"
    engine = PostgresEngine(f"{postgres_url}?application_name={app}", pool_size=2)
    admin = PostgresEngine(postgres_url, pool_size=1)
    try:
        with ThreadPoolExecutor(max_workers=2) as pool:  # two pooled connections, both idle
            list(pool.map(lambda _: engine.execute("SELECT pg_sleep(0.1)"), range(2)))
        killed = admin.execute(
            "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) AS n"
            f" FROM pg_stat_activity WHERE application_name = '{app}'"
        )
        assert killed.column(0).to_pylist() == [2]
        time.sleep(0.2)
        assert engine.execute("SELECT 7 AS x").column(0).to_pylist() == [7]
        assert engine.execute("SELECT 8 AS x").column(0).to_pylist() == [8]
    finally:
        engine.close()
        admin.close()


def test_numeric_becomes_decimal_or_double_without_driver_metadata(
    postgres_engine: PostgresEngine,
) -> None:
    table = postgres_engine.execute(
        "SELECT 12.50::numeric(10,2) AS price, avg(x) AS mean, sum(x::bigint) AS total,"
        " 'NaN'::numeric AS nan FROM (VALUES (1), (2)) v(x)"
    )
    assert table.schema.types == [pa.decimal128(10, 2), pa.float64(), pa.float64(), pa.float64()]
    assert all(not f.metadata for f in table.schema)
    row = table.to_pylist()[0]
    assert (str(row["price"]), row["mean"], row["total"]) == ("12.50", 1.5, 3.0)


def test_server_errors_keep_detail_and_sqlstate(postgres_engine: PostgresEngine) -> None:
    with pytest.raises(QueryError) as info:
        postgres_engine.execute("SELECT 1 / 0")
    assert str(info.value) == "division by zero (SQLSTATE 22012)"


def test_closed_engine_refuses_work(postgres_url: str) -> None:
    engine = PostgresEngine(postgres_url)
    engine.close()
    with pytest.raises(QueryError, match="closed"):
        engine.execute("SELECT 1")


def test_unreachable_server_fails_fast_naming_host_and_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(QueryError) as info:
        PostgresEngine(f"postgresql://postgres@127.0.0.1:{port}/test", connect_timeout_s=2)
    assert time.monotonic() - started < 5
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "Connection refused" in str(info.value)


@pytest.mark.parametrize(
    ("data_type", "sluice"),
    [
        ("integer", "number"),
        ("bigint", "number"),
        ("double precision", "number"),
        ("numeric", "number"),
        ("text", "string"),
        ("character varying", "string"),
        ("timestamp without time zone", "timestamp"),
        ("timestamp with time zone", "timestamp"),
        ("date", "date"),
        ("boolean", "boolean"),
        ("jsonb", "unknown"),
    ],
)
def test_information_schema_type_mapping(data_type: str, sluice: str) -> None:
    assert pg_type_to_data_type(data_type) == sluice


# -- the demo loader ------------------------------------------------------------------------------


def test_load_demo_keeps_types_and_counts(postgres_engine: PostgresEngine, demo_db: Path) -> None:
    types = postgres_engine.execute(
        "SELECT table_name, column_name, data_type FROM information_schema.columns"
        f" WHERE table_schema = '{PG_SCHEMA}' AND table_name IN ('order_items', 'users')"
    ).to_pylist()
    by_column = {(r["table_name"], r["column_name"]): r["data_type"] for r in types}
    assert by_column[("order_items", "id")] == "integer"
    assert by_column[("order_items", "sale_price")] == "double precision"
    assert by_column[("order_items", "created_at")] == "timestamp without time zone"
    assert by_column[("order_items", "status")] == "text"
    assert by_column[("users", "age")] == "integer"
    source = connect_sandboxed(str(demo_db))
    try:
        for table in STEPS:
            want = source.sql(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            got = postgres_engine.execute(f"SELECT count(*) AS n FROM {table}").column(0)[0]
            assert got.as_py() == want, table
    finally:
        source.close()


def test_load_demo_reports_a_missing_file_and_a_bad_server(tmp_path: Path, demo_db: Path) -> None:
    with pytest.raises(LoadError, match="does not exist"):
        load_demo_postgres(tmp_path / "nope.duckdb", "postgresql://127.0.0.1:5432/test")
    with pytest.raises(LoadError, match="cannot connect"):
        load_demo_postgres(demo_db, "postgresql://postgres@127.0.0.1:1/test")


# -- configuration --------------------------------------------------------------------------------


def test_open_engine_builds_postgres_from_config(
    postgres_url: str, postgres_engine: object
) -> None:
    config = config_from_dict(
        {
            "connections": {
                "pg": {
                    "engine": "postgres",
                    "url": postgres_url,
                    "schema": PG_SCHEMA,
                    "pool_size": 2,
                    "statement_timeout_s": 30,
                }
            }
        },
        base=Path("."),
    )
    engine = open_engine(config.connections["pg"])
    try:
        assert engine.dialect == "postgres"
        assert engine.column_types("distribution_centers")["name"] == "string"
        assert engine.execute("SELECT current_setting('statement_timeout') AS t").column(
            0
        ).to_pylist() == ["30s"]
    finally:
        engine.close()


def test_password_comes_from_the_environment_never_the_file() -> None:
    raw = {"connections": {"pg": {"engine": "postgres", "host": "db", "user": "me"}}}
    conn = config_from_dict(raw, base=Path(".")).connections["pg"]
    assert conn.password({"SLUICE_CONNECTION_PG_PASSWORD": "s3cret"}) == "s3cret"
    named = {"connections": {"pg": {**raw["connections"]["pg"], "password_env": "PG_PW"}}}
    conn = config_from_dict(named, base=Path(".")).connections["pg"]
    assert conn.password({"PG_PW": "other", "SLUICE_CONNECTION_PG_PASSWORD": "no"}) == "other"
    assert conn.password({}) is None
    with pytest.raises(ConfigError, match="password_env"):
        config_from_dict(
            {"connections": {"pg": {"engine": "postgres", "host": "db", "password": "x"}}},
            base=Path("."),
        )


def test_postgres_config_needs_an_address() -> None:
    config = config_from_dict({"connections": {"pg": {"engine": "postgres"}}}, base=Path("."))
    with pytest.raises(ConfigError, match="postgres needs `url` or `host`"):
        open_engine(config.connections["pg"])
