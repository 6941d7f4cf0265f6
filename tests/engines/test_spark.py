"""Spark specifics: URL parsing, type names, statement timeout, session setup, unreachable server."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pyarrow as pa
import pytest

from sluice.config import config_from_dict
from sluice.engines.spark import SparkEngine, parse_remote, spark_type_to_data_type
from sluice.errors import Cancelled, ConfigError, QueryError
from sluice.project import open_engine
from tests.engines.services import SPARK_DB

HEAVY = "SELECT sum((a.id * b.id) % 7) FROM range(1000000) a CROSS JOIN range(1000000) b"


@pytest.mark.parametrize(
    ("url", "host", "port"),
    [
        ("sc://127.0.0.1:15002", "127.0.0.1", 15002),
        ("sc://localhost", "localhost", 15002),
        ("sc://spark.internal:443/;use_ssl=true;token=abc", "spark.internal", 443),
        ("sc://[::1]:9000", "::1", 9000),
    ],
)
def test_parse_remote(url: str, host: str, port: int) -> None:
    assert parse_remote(url) == (host, port)


def test_parse_remote_rejects_other_schemes() -> None:
    with pytest.raises(ConfigError, match="sc://host:15002"):
        parse_remote("http://127.0.0.1:15002")


@pytest.mark.parametrize(
    ("type_name", "sluice"),
    [
        ("int", "number"),
        ("bigint", "number"),
        ("smallint", "number"),
        ("tinyint", "number"),
        ("double", "number"),
        ("float", "number"),
        ("decimal(10,2)", "number"),
        ("string", "string"),
        ("varchar(20)", "string"),
        ("timestamp", "timestamp"),
        ("timestamp_ntz", "timestamp"),
        ("date", "date"),
        ("boolean", "boolean"),
        ("array<int>", "unknown"),
        ("binary", "unknown"),
    ],
)
def test_spark_type_mapping(type_name: str, sluice: str) -> None:
    assert spark_type_to_data_type(type_name) == sluice


def test_unreachable_server_fails_fast_naming_host_and_port() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(QueryError) as info:
        SparkEngine(f"sc://127.0.0.1:{port}", connect_timeout_s=2)
    assert time.monotonic() - started < 3
    assert f"127.0.0.1:{port}" in str(info.value)


def test_spark_config_needs_an_address() -> None:
    config = config_from_dict({"connections": {"s": {"engine": "spark"}}}, base=Path("."))
    with pytest.raises(ConfigError, match="spark needs `url` or `host`"):
        open_engine(config.connections["s"])


@pytest.mark.slow
def test_statement_timeout_interrupts_the_statement(spark_url: str) -> None:
    # (Whether the engine works after an interrupt is the contract suite's cancel test; here a
    # follow-up statement would itself race the timeout while Spark drains the killed tasks.)
    engine = SparkEngine(spark_url, statement_timeout_s=2)
    try:
        started = time.monotonic()
        with pytest.raises(Cancelled, match="statement timeout"):
            engine.execute(HEAVY)
        assert 2 <= time.monotonic() - started < 12
    finally:
        engine.close()


@pytest.mark.slow
def test_session_timestamps_are_wall_clock(spark_engine: SparkEngine) -> None:
    table = spark_engine.execute(
        "SELECT TIMESTAMP '2024-03-31 01:30:00' AS literal, current_timezone() AS tz,"
        " (SELECT min(created_at) FROM order_items) AS column_value"
    )
    assert table.schema.field("literal").type == pa.timestamp("us")
    assert table.schema.field("column_value").type == pa.timestamp("us")
    assert table.column("tz").to_pylist() == ["UTC"]


@pytest.mark.slow
def test_open_engine_builds_spark_from_config(spark_url: str, spark_engine: SparkEngine) -> None:
    host, port = parse_remote(spark_url)
    config = config_from_dict(
        {"connections": {"s": {"engine": "spark", "host": host, "port": port, "schema": SPARK_DB}}},
        base=Path("."),
    )
    engine = open_engine(config.connections["s"])
    try:
        assert engine.dialect == "spark"
        assert engine.column_types("products")["retail_price"] == "number"
    finally:
        engine.close()


@pytest.mark.slow
def test_unknown_schema_is_a_query_error(spark_url: str) -> None:
    with pytest.raises(QueryError, match="no_such_db"):
        SparkEngine(spark_url, schema="no_such_db")
