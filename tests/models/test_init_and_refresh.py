"""``sluice init`` on a user's own warehouse (the demo DuckDB file; a PostgreSQL schema), then
``sluice validate`` and a query whose numbers equal hand-written SQL; ``sluice refresh`` sees a
new column."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.config import load_config
from sluice.project import Project

MODEL_QUERY = {
    "join_paths_from_topic_name": "order_items",
    "fields": ["products.category", "order_items.count", "users.count"],
    "sorts": [{"column_name": "products.category"}],
}
HAND_SQL = """
SELECT p.category, count(*) AS items, count(DISTINCT u.id) AS users
FROM order_items oi
LEFT JOIN products p ON p.id = oi.product_id
LEFT JOIN users u ON u.id = oi.user_id
GROUP BY 1 ORDER BY 1
"""


def cli(*args: str) -> Any:
    result = CliRunner().invoke(app, list(args))
    return result


def answer(config_path: Path, query: dict[str, Any]) -> list[tuple[Any, ...]]:
    config = load_config(config_path)
    with Project.open(config) as project:
        (model_id,) = [m.id for m in config.models.values()]
        compiled = project.compile(model_id, {"modelId": model_id, **query}, now=datetime.now(UTC))
        table = project.run(model_id, compiled).table
    return [tuple(row.values()) for row in table.to_pylist()]


@pytest.fixture()
def own_duckdb(demo_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "shop.duckdb"
    shutil.copy(demo_db, path)
    return path


def test_init_on_a_duckdb_file_validates_and_answers(own_duckdb: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    done = cli("init", "--duckdb", str(own_duckdb), "--dir", str(project))
    assert done.exit_code == 0, done.output
    assert "topics: events, order_items" in done.output
    folder = project / "models" / "warehouse"
    relationships = (folder / "relationships.yaml").read_text()
    assert relationships.startswith("# Joins inferred")  # marked as inferred
    assert "${order_items.user_id} = ${users.id}" in relationships
    assert "${order_items.order_id} = ${orders.order_id}" in relationships
    assert sorted(p.name for p in folder.glob("*.topic.yaml")) == [
        "events.topic.yaml", "order_items.topic.yaml",
    ]  # fmt: skip
    checked = cli("validate", str(project / "sluice.yaml"))
    assert checked.exit_code == 0, checked.output
    assert "ok" in checked.output
    got = answer(project / "sluice.yaml", MODEL_QUERY)
    con = duckdb.connect(str(own_duckdb), read_only=True)
    try:
        want = [tuple(r) for r in con.execute(HAND_SQL).fetchall()]
    finally:
        con.close()
    assert got == want and len(got) > 5


def test_init_refuses_to_overwrite_and_never_writes_a_password(
    own_duckdb: Path, tmp_path: Path
) -> None:
    project = tmp_path / "project"
    assert cli("init", "--duckdb", str(own_duckdb), "--dir", str(project)).exit_code == 0
    again = cli("init", "--duckdb", str(own_duckdb), "--dir", str(project))
    assert again.exit_code == 2 and "exists" in again.output
    secret = cli(
        "init", "--url", "postgresql://u:hunter2@127.0.0.1/db", "--dir", str(tmp_path / "x")
    )
    assert secret.exit_code == 2 and "SLUICE_CONNECTION_WAREHOUSE_PASSWORD" in secret.output
    assert not (tmp_path / "x").exists()
    neither = cli("init", "--dir", str(tmp_path / "y"))
    assert neither.exit_code == 2 and "--duckdb" in neither.output


def test_refresh_sees_a_new_column(own_duckdb: Path, tmp_path: Path) -> None:
    project = tmp_path / "project"
    assert cli("init", "--duckdb", str(own_duckdb), "--dir", str(project)).exit_code == 0
    config = project / "sluice.yaml"
    before = answer(config, {"table": "users", "fields": ["users.count"]})
    con = duckdb.connect(str(own_duckdb))
    con.execute("ALTER TABLE users ADD COLUMN loyalty_tier VARCHAR")
    con.execute("UPDATE users SET loyalty_tier = CASE WHEN id % 3 = 0 THEN 'gold' ELSE 'basic' END")
    want = con.execute("SELECT loyalty_tier, count(*) FROM users GROUP BY 1 ORDER BY 1").fetchall()
    con.close()
    query = {
        "table": "users",
        "fields": ["users.loyalty_tier", "users.count"],
        "sorts": [{"column_name": "users.loyalty_tier"}],
    }
    # The stored snapshot predates the column: the field is left out until a refresh.
    config_obj = load_config(config)
    with Project.open(config_obj) as opened:
        model_id = next(iter(config_obj.models.values())).id
        unsorted = {k: v for k, v in query.items() if k != "sorts"}
        stale = opened.compile(model_id, {"modelId": model_id, **unsorted}, now=datetime.now(UTC))
    assert stale.missing_fields == ("users.loyalty_tier",)
    done = cli("refresh", "-c", str(config))
    assert done.exit_code == 0, done.output
    assert "new columns: main.users.loyalty_tier" in done.output
    assert answer(config, query) == [tuple(r) for r in want]
    assert answer(config, {"table": "users", "fields": ["users.count"]}) == before
    unchanged = cli("refresh", "-c", str(config), "--model", "warehouse")
    assert "unchanged" in unchanged.output
    unknown = cli("refresh", "-c", str(config), "--model", "nope")
    assert unknown.exit_code == 2 and "warehouse" in unknown.output


@pytest.fixture()
def pg_shop(postgres_url: str) -> Iterator[tuple[str, str, Any]]:
    """A schema of its own in the `test` database: accounts and their orders, keys declared."""
    from sluice.engines.postgres import PostgresEngine, quote_ident
    from tests.engines.services import PG_SCHEMA

    schema = f"{PG_SCHEMA}_init"
    admin = PostgresEngine(postgres_url, pool_size=1, read_only=False)
    q = quote_ident(schema)
    try:
        admin.execute(f"DROP SCHEMA IF EXISTS {q} CASCADE")
        admin.execute(f"CREATE SCHEMA {q}")
        admin.execute(f"CREATE TABLE {q}.accounts (id integer PRIMARY KEY, region text)")
        admin.execute(
            f"CREATE TABLE {q}.orders (id integer PRIMARY KEY, account_id integer REFERENCES "
            f"{q}.accounts (id), amount numeric(10, 2), placed_at timestamp)"
        )
        admin.execute(f"INSERT INTO {q}.accounts VALUES (1, 'EMEA'), (2, 'APAC'), (3, 'EMEA')")
        admin.execute(
            f"INSERT INTO {q}.orders VALUES (10, 1, 5.50, '2025-01-02'), (11, 1, 4.50, "
            "'2025-02-03'), (12, 2, 1.00, '2025-02-04'), (13, 3, 7.25, '2025-03-05')"
        )
        yield postgres_url, schema, admin
    finally:
        admin.execute(f"DROP SCHEMA IF EXISTS {q} CASCADE")
        admin.close()


def test_init_on_postgres(pg_shop: tuple[str, str, Any], tmp_path: Path) -> None:
    url, schema, admin = pg_shop
    project = tmp_path / "project"
    done = cli("init", "--url", url, "--schema", schema, "--dir", str(project))
    assert done.exit_code == 0, done.output
    assert "1 relationships (0 inferred" in done.output  # from the declared foreign key
    assert (project / "models" / "warehouse" / "relationships.yaml").exists() is False
    checked = cli("validate", str(project / "sluice.yaml"))
    assert checked.exit_code == 0, checked.output
    orders = f"{schema}__orders"
    accounts = f"{schema}__accounts"
    got = answer(
        project / "sluice.yaml",
        {
            "join_paths_from_topic_name": orders,
            "fields": [f"{accounts}.region", f"{orders}.count"],
            "sorts": [{"column_name": f"{accounts}.region"}],
        },
    )
    q = f'"{schema}"'
    want = admin.execute(
        f"SELECT a.region, count(*) FROM {q}.orders o LEFT JOIN {q}.accounts a "
        "ON a.id = o.account_id GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    assert got == [tuple(r.values()) for r in want] == [("APAC", 1), ("EMEA", 3)]
