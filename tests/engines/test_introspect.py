"""Introspection on every engine: the demo tables, their columns and types, read from the
warehouse's own catalog (DuckDB and PostgreSQL in tests/model; Spark here on a real Spark Connect
server; Trino against the fake coordinator, with the statements the real one is sent)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sluice.engines.introspect import CATALOGS, introspect
from sluice.model.schema import SchemaOptions, SchemaSource
from tests.engines.fake_trino import Canned, FakeTrino
from tests.engines.services import SPARK_DB
from tests.engines.test_contract import ORDER_ITEMS_TYPES


def test_spark_catalog(spark_engine: Any, duck: Any) -> None:
    snapshot = introspect(spark_engine, SchemaOptions(included_schemas=(SPARK_DB,)))
    assert snapshot.default_schema == SPARK_DB
    tables = {t.name: t for t in snapshot.tables if t.schema == SPARK_DB}
    assert set(tables) >= {"order_items", "users", "products", "events"}
    columns = {c.name: c.type for c in tables["order_items"].columns}
    assert columns == ORDER_ITEMS_TYPES  # what every engine's column_types answers
    # the same columns as DuckDB's own table
    assert list(columns) == list(duck.column_types("order_items"))


@pytest.fixture
def trino() -> Iterator[FakeTrino]:
    server = FakeTrino()
    catalog = CATALOGS["trino"]
    server.statements[" ".join(catalog.defaults.split())] = Canned(
        columns=[("_col0", "varchar"), ("_col1", "varchar")], data=[["memory", "demo"]]
    )
    server.statements[" ".join(catalog.columns.split())] = Canned(
        columns=[
            ("table_catalog", "varchar"), ("table_schema", "varchar"), ("table_name", "varchar"),
            ("column_name", "varchar"), ("data_type", "varchar"), ("table_type", "varchar"),
        ],
        data=[
            ["memory", "demo", "orders", "id", "bigint", "BASE TABLE"],
            ["memory", "demo", "orders", "placed_at", "timestamp(3) with time zone", "BASE TABLE"],
            ["memory", "demo", "orders", "amount", "decimal(10,2)", "BASE TABLE"],
            ["memory", "sales", "regions", "name", "varchar(20)", "VIEW"],
            ["memory", "information_schema", "tables", "table_name", "varchar", "VIEW"],
        ],
    )  # fmt: skip
    with server.running():
        yield server


def test_trino_catalog(trino: FakeTrino) -> None:
    from sluice.engines.trino import TrinoEngine

    engine = TrinoEngine(trino.url, catalog="memory", schema="demo")
    try:
        snapshot = introspect(engine)
    finally:
        engine.close()
    assert (snapshot.default_catalog, snapshot.default_schema) == ("memory", "demo")
    tables = {(t.schema, t.name): t for t in snapshot.tables}
    assert set(tables) == {("demo", "orders"), ("sales", "regions")}  # no system schema
    assert [(c.name, c.type) for c in tables[("demo", "orders")].columns] == [
        ("id", "number"), ("placed_at", "timestamp"), ("amount", "number"),
    ]  # fmt: skip
    assert tables[("sales", "regions")].kind == "view"
    model = load_model_dir(snapshot)
    assert set(model.views) == {"orders", "sales__regions"}
    assert model.views["orders"].dimensions["placed_at"].type == "timestamp"


def load_model_dir(snapshot: Any) -> Any:
    import tempfile
    from pathlib import Path

    from sluice.model import load_model

    with tempfile.TemporaryDirectory() as folder:
        return load_model(Path(folder), dialect="trino", schema=SchemaSource(snapshot))
