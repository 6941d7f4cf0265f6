"""Trino: type mapping, rows -> Arrow, errors, cancel, and an unreachable coordinator.

No Trino server runs here: the client protocol is driven against ``FakeTrino`` (loopback).
"""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sluice.config import config_from_dict
from sluice.engines.base import CancelToken
from sluice.engines.trino import (
    TrinoEngine,
    rows_to_arrow,
    trino_type_to_arrow,
    trino_type_to_data_type,
)
from sluice.errors import Cancelled, ConfigError, QueryError
from sluice.project import open_engine
from tests.engines.fake_trino import Canned, FakeTrino


@pytest.mark.parametrize(
    ("type_name", "arrow", "sluice"),
    [
        ("boolean", pa.bool_(), "boolean"),
        ("tinyint", pa.int8(), "number"),
        ("smallint", pa.int16(), "number"),
        ("integer", pa.int32(), "number"),
        ("bigint", pa.int64(), "number"),
        ("real", pa.float32(), "number"),
        ("double", pa.float64(), "number"),
        ("decimal(12,2)", pa.decimal128(12, 2), "number"),
        ("decimal(38, 10)", pa.decimal128(38, 10), "number"),
        ("varchar", pa.string(), "string"),
        ("varchar(255)", pa.string(), "string"),
        ("char(3)", pa.string(), "string"),
        ("date", pa.date32(), "date"),
        ("timestamp(3)", pa.timestamp("us"), "timestamp"),
        ("timestamp(6)", pa.timestamp("us"), "timestamp"),
        ("timestamp(3) with time zone", pa.timestamp("us", tz="UTC"), "timestamp"),
        ("TIMESTAMP(9) WITH TIME ZONE", pa.timestamp("us", tz="UTC"), "timestamp"),
        ("time(3)", pa.time64("us"), "unknown"),
        ("time(3) with time zone", pa.string(), "unknown"),
        ("varbinary", pa.binary(), "unknown"),
        ("array(integer)", pa.list_(pa.int32()), "unknown"),
        ("array(varchar)", pa.string(), "unknown"),
        ("map(varchar, integer)", pa.string(), "unknown"),
        ("row(a integer, b varchar)", pa.string(), "unknown"),
        ("json", pa.string(), "unknown"),
        ("uuid", pa.string(), "string"),
        ("interval day to second", pa.string(), "unknown"),
        ("unknown", pa.null(), "unknown"),
    ],
)
def test_trino_type_mapping(type_name: str, arrow: pa.DataType, sluice: str) -> None:
    assert trino_type_to_arrow(type_name) == arrow
    assert trino_type_to_data_type(type_name) == sluice


def test_rows_to_arrow_takes_its_schema_from_the_column_types() -> None:
    utc = dt.UTC
    columns = [
        ("i", "integer"),
        ("price", "decimal(10,2)"),
        ("s", "varchar"),
        ("ts", "timestamp(3)"),
        ("tstz", "timestamp(3) with time zone"),
        ("d", "date"),
        ("b", "boolean"),
        ("tags", "array(integer)"),
        ("attrs", "map(varchar, integer)"),
        ("nothing", "unknown"),
    ]
    rows = [
        [
            1,
            Decimal("9.99"),
            "it's ✓",
            dt.datetime(2024, 2, 29, 13, 45, 6, 123000),
            dt.datetime(2024, 2, 29, 14, 45, tzinfo=dt.timezone(dt.timedelta(hours=1))),
            dt.date(2024, 2, 29),
            True,
            [1, 2],
            {"a": 1},
            None,
        ],
        [None] * 10,
    ]
    table = rows_to_arrow(rows, columns)
    assert table.schema.types[:4] == [
        pa.int32(),
        pa.decimal128(10, 2),
        pa.string(),
        pa.timestamp("us"),
    ]
    first, second = table.to_pylist()
    assert first["price"] == Decimal("9.99") and first["s"] == "it's ✓"
    assert first["tstz"] == dt.datetime(2024, 2, 29, 13, 45, tzinfo=utc)
    assert first["tags"] == [1, 2] and first["attrs"] == '{"a": 1}'
    assert all(v is None for v in second.values())
    empty = rows_to_arrow([], columns)
    assert empty.num_rows == 0 and empty.schema == table.schema


# -- against the fake coordinator -----------------------------------------------------------------


@pytest.fixture
def fake() -> Iterator[FakeTrino]:
    server = FakeTrino()
    server.statements["SELECT 1 AS one, 'x' AS s"] = Canned(
        columns=[("one", "integer"), ("s", "varchar(1)")], data=[[1, "x"]]
    )
    server.statements["SELECT typed"] = Canned(
        columns=[
            ("price", "decimal(10,2)"),
            ("at", "timestamp(3)"),
            ("on_day", "date"),
            ("ok", "boolean"),
            ("ratio", "double"),
        ],
        data=[["12.50", "2024-02-29 13:45:06.123", "2024-02-29", True, 0.25], [None] * 5],
    )
    server.statements["SELECT nope"] = Canned(
        error={
            "message": "line 1:8: Column 'nope' cannot be resolved",
            "errorCode": 47,
            "errorName": "COLUMN_NOT_FOUND",
            "errorType": "USER_ERROR",
            "failureInfo": {"type": "io.trino.spi.TrinoException", "stack": ["at x.y(z)"]},
        }
    )
    server.statements["SELECT heavy"] = Canned(runs_until_cancelled=True)
    with server.running():
        yield server


def engine_for(fake: FakeTrino, **options: Any) -> TrinoEngine:
    return TrinoEngine(fake.url, catalog="memory", schema="demo", **options)


def test_execute_returns_typed_arrow(fake: FakeTrino) -> None:
    engine = engine_for(fake)
    try:
        assert engine.execute("SELECT 1 AS one, 'x' AS s").to_pylist() == [{"one": 1, "s": "x"}]
        table = engine.execute("SELECT typed")
    finally:
        engine.close()
    assert table.schema.types == [
        pa.decimal128(10, 2),
        pa.timestamp("us"),
        pa.date32(),
        pa.bool_(),
        pa.float64(),
    ]
    assert table.to_pylist()[0] == {
        "price": Decimal("12.50"),
        "at": dt.datetime(2024, 2, 29, 13, 45, 6, 123000),
        "on_day": dt.date(2024, 2, 29),
        "ok": True,
        "ratio": 0.25,
    }
    assert all(v is None for v in table.to_pylist()[1].values())


def test_engine_error_carries_trino_message_without_a_stack(fake: FakeTrino) -> None:
    engine = engine_for(fake)
    try:
        with pytest.raises(QueryError) as info:
            engine.execute("SELECT nope")
    finally:
        engine.close()
    assert str(info.value) == "line 1:8: Column 'nope' cannot be resolved (COLUMN_NOT_FOUND)"


def test_cancel_from_another_thread(fake: FakeTrino) -> None:
    engine = engine_for(fake)
    token = CancelToken()
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            engine.execute("SELECT heavy", token)
        except BaseException as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    time.sleep(0.5)
    assert thread.is_alive()
    started = time.monotonic()
    token.cancel()
    thread.join(timeout=10)
    engine.close()
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), Cancelled), outcome
    assert time.monotonic() - started < 3
    assert fake.cancelled, "the engine never sent DELETE for the running query"


def test_statement_timeout_becomes_a_session_property(fake: FakeTrino) -> None:
    engine = engine_for(fake, statement_timeout_s=30)
    try:
        engine.execute("SELECT 1 AS one, 'x' AS s")
    finally:
        engine.close()
    assert "query_max_run_time=30s" in fake.sessions[-1]


def test_a_coordinator_that_went_away_is_a_query_error_naming_it(fake: FakeTrino) -> None:
    engine = engine_for(fake, request_timeout_s=2)
    fake_port = fake.port
    fake._server.shutdown()
    fake._server.server_close()
    started = time.monotonic()
    try:
        with pytest.raises(QueryError) as info:
            engine.execute("SELECT 1 AS one, 'x' AS s")
    finally:
        engine.close()
    assert f"127.0.0.1:{fake_port}" in str(info.value)
    assert time.monotonic() - started < 15
    assert "Traceback" not in str(info.value)


# -- construction ---------------------------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # nothing listens once the socket is closed


def test_unreachable_coordinator_fails_fast_naming_host_and_port() -> None:
    port = closed_port()
    started = time.monotonic()
    with pytest.raises(QueryError) as info:
        TrinoEngine(f"http://127.0.0.1:{port}", connect_timeout_s=2)
    assert time.monotonic() - started < 3
    assert f"127.0.0.1:{port}" in str(info.value)
    assert "trino" in str(info.value)


def test_open_engine_builds_trino_from_config(fake: FakeTrino) -> None:
    config = config_from_dict(
        {
            "connections": {
                "lake": {
                    "engine": "trino",
                    "host": "127.0.0.1",
                    "port": fake.port,
                    "catalog": "memory",
                    "schema": "demo",
                    "max_concurrency": 2,
                }
            }
        },
        base=Path("."),
    )
    engine = open_engine(config.connections["lake"])
    try:
        assert engine.dialect == "trino"
        assert engine.execute("SELECT 1 AS one, 'x' AS s").num_rows == 1
    finally:
        engine.close()


def test_trino_config_needs_an_address() -> None:
    config = config_from_dict({"connections": {"lake": {"engine": "trino"}}}, base=Path("."))
    with pytest.raises(ConfigError, match="trino needs `url` or `host`"):
        open_engine(config.connections["lake"])


def test_a_password_needs_https() -> None:
    with pytest.raises(ConfigError, match="https"):
        TrinoEngine("http://127.0.0.1:8080", password="secret")
