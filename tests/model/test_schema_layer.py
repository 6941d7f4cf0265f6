"""The schema layer: a model whose files declare no dimension at all answers like the fully
declared demo model, because the warehouse supplies every column.

The extension-only model is the demo model with every dimension that only names a column
removed (labels, formats, timeframes and primary keys too): what is left are the dimensions
with SQL of their own, the measures, the relationships and the topics. Primary keys come from
the warehouse's declared keys (added to a copy of the demo data). Every oracle case runs on it
and is checked against its hand-written SQL, on DuckDB and on PostgreSQL; on PostgreSQL the
relationships come from declared foreign keys too.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from ruamel.yaml import YAML

from sluice.engines.duckdb import DuckDBEngine
from sluice.engines.introspect import introspect
from sluice.errors import ModelError
from sluice.model import load_model
from sluice.model.schema import SchemaSource
from sluice.project import schema_lookup
from tests.conftest import DEMO_MODEL, Runner
from tests.oracle.warehouses import ALL, check

# The demo's primary keys and foreign keys, as a warehouse would declare them.
PRIMARY_KEYS = {
    "users": "id",
    "orders": "order_id",
    "order_items": "id",
    "products": "id",
    "inventory_items": "id",
    "distribution_centers": "id",
    "events": "id",
}
FOREIGN_KEYS = [  # (table, column, referenced table, referenced column)
    ("order_items", "user_id", "users", "id"),
    ("order_items", "order_id", "orders", "order_id"),
    ("order_items", "inventory_item_id", "inventory_items", "id"),
    ("order_items", "product_id", "products", "id"),
    ("inventory_items", "product_id", "products", "id"),
    ("products", "distribution_center_id", "distribution_centers", "id"),
    ("events", "user_id", "users", "id"),
    ("orders", "user_id", "users", "id"),
]


def extension_only(target: Path, *, relationships: bool = True) -> Path:
    """The demo model with no plain-column dimension declared anywhere."""
    yaml = YAML(typ="rt")
    shutil.copytree(DEMO_MODEL, target)
    for path in target.glob("*.view.yaml"):
        data = yaml.load(path.read_text())
        for section in ("dimensions", "filters"):
            fields = data.get(section) or {}
            for name in [n for n, spec in fields.items() if not (spec or {}).get("sql")]:
                del fields[name]
            if section in data and not fields:
                del data[section]
        with path.open("w") as out:
            yaml.dump(data, out)
    if not relationships:
        (target / "relationships.yaml").unlink()
    return target


def declared_dimensions(folder: Path) -> list[str]:
    yaml = YAML(typ="safe")
    out = []
    for path in folder.glob("*.view.yaml"):
        for name, spec in (yaml.load(path.read_text()).get("dimensions") or {}).items():
            if not (spec or {}).get("sql"):
                out.append(f"{path.name}: {name}")
    return out


@pytest.fixture(scope="module")
def keyed_duckdb(demo_db: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBEngine]:
    """A copy of the demo warehouse whose tables declare their primary keys."""
    path = tmp_path_factory.mktemp("keyed") / "ecommerce.duckdb"
    shutil.copy(demo_db, path)
    con = duckdb.connect(str(path))
    for table, column in PRIMARY_KEYS.items():
        con.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({column})")
    con.close()
    engine = DuckDBEngine(path)
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def duck_extension_runner(
    keyed_duckdb: DuckDBEngine, tmp_path_factory: pytest.TempPathFactory
) -> Runner:
    folder = extension_only(tmp_path_factory.mktemp("ext") / "ecommerce")
    assert declared_dimensions(folder) == []
    model = load_model(
        folder,
        name="ecommerce",
        column_types=schema_lookup(keyed_duckdb),
        schema=SchemaSource(introspect(keyed_duckdb)),
    )
    return Runner(model, keyed_duckdb)


@pytest.mark.parametrize(("case", "kwargs", "columns"), [pytest.param(*a, id=a[0].id) for a in ALL])
def test_extension_only_model_on_duckdb(
    runner: Runner, duck_extension_runner: Runner, case: Any, kwargs: Any, columns: Any
) -> None:
    check(runner, duck_extension_runner, case, kwargs, columns)


@pytest.fixture(scope="module")
def keyed_postgres(postgres_url: str, demo_db: Path) -> Iterator[Any]:
    """The demo in a PostgreSQL schema of its own, with declared primary and foreign keys."""
    from sluice.demo.load import load_demo_postgres
    from sluice.engines.postgres import PostgresEngine, quote_ident
    from tests.engines.services import PG_SCHEMA

    schema = f"{PG_SCHEMA}_keyed"
    load_demo_postgres(demo_db, postgres_url, schema)
    admin = PostgresEngine(postgres_url, schema=schema, pool_size=1, read_only=False)
    engine = PostgresEngine(postgres_url, schema=schema, pool_size=2)  # read-only, as served
    try:
        for table, column in PRIMARY_KEYS.items():
            admin.execute(f"ALTER TABLE {table} ADD PRIMARY KEY ({column})")
        for table, column, ref, ref_column in FOREIGN_KEYS:
            admin.execute(
                f"ALTER TABLE {table} ADD FOREIGN KEY ({column}) REFERENCES {ref} ({ref_column})"
                " NOT VALID"
            )
        yield engine
    finally:
        engine.close()
        admin.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
        admin.close()


@pytest.fixture(scope="module")
def pg_extension_runner(keyed_postgres: Any, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    folder = extension_only(tmp_path_factory.mktemp("pgext") / "ecommerce", relationships=False)
    snapshot = introspect(keyed_postgres)
    model = load_model(
        folder,
        name="ecommerce",
        dialect=keyed_postgres.dialect,
        column_types=schema_lookup(keyed_postgres),
        schema=SchemaSource(snapshot, schemas=(keyed_postgres.schema,)),
    )
    assert len(model.relationships) == len(FOREIGN_KEYS)  # every one inferred from a key
    return Runner(model, keyed_postgres)


@pytest.mark.parametrize(("case", "kwargs", "columns"), [pytest.param(*a, id=a[0].id) for a in ALL])
def test_extension_only_model_on_postgres(
    runner: Runner, pg_extension_runner: Runner, case: Any, kwargs: Any, columns: Any
) -> None:
    check(runner, pg_extension_runner, case, kwargs, columns)


def test_without_the_schema_layer_the_extension_does_not_load(tmp_path: Path, duck: Any) -> None:
    """The same files alone name columns nobody declared: the layer is what makes them valid."""
    folder = extension_only(tmp_path / "ecommerce")
    with pytest.raises(ModelError, match="names no field"):
        load_model(folder, name="ecommerce", column_types=schema_lookup(duck))
