"""The schema layer's rules: view names, bounds, the merge of files onto generated views,
``ignored`` and ``hidden``, snapshots that survive a restart, and PostgreSQL's schemas."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sluice.engines.introspect import introspect
from sluice.errors import ModelError
from sluice.model import load_model
from sluice.model.loader import check_model
from sluice.model.schema import (
    Column,
    ForeignKey,
    SchemaOptions,
    SchemaSource,
    Snapshot,
    Table,
    build_schema_layer,
    merge_view,
)

ACCOUNTS = Table(
    schema="public",
    name="accounts",
    columns=(Column("id", "number"), Column("region", "string"), Column("opened_at", "timestamp")),
    primary_key=("id",),
)
SUBSCRIPTIONS = Table(
    schema="public",
    name="subscriptions",
    columns=(
        Column("id", "number"),
        Column("account_id", "number"),
        Column("seats", "number"),
        Column("Weird Name", "string"),
    ),
    primary_key=("id",),
    foreign_keys=(ForeignKey(("account_id",), "public", "accounts", ("id",)),),
)
LEDGER = Table(schema="finance", name="ledger", columns=(Column("amount", "number"),))
SNAPSHOT = Snapshot(
    tables=(ACCOUNTS, SUBSCRIPTIONS, LEDGER), default_schema="public", taken_at=1_700_000_000.0
)


def layer(**options: Any) -> Any:
    return build_schema_layer(SNAPSHOT, SchemaOptions(**options))


def test_view_names_follow_the_schema() -> None:
    assert sorted(layer().views) == ["accounts", "finance__ledger", "subscriptions"]
    scoped = layer(always_scope_view_names=True)
    assert sorted(scoped.views) == ["finance__ledger", "public__accounts", "public__subscriptions"]


def test_generated_view_shape() -> None:
    view = layer().views["accounts"].data
    assert "schema" not in view  # the default schema: found through the search path
    assert view["table_name"] == "accounts"
    assert view["dimensions"]["id"] == {"primary_key": True}
    assert view["dimensions"]["opened_at"]["timeframes"] == [
        "raw", "date", "week", "month", "quarter", "year",
    ]  # fmt: skip
    assert view["measures"]["count"]["aggregate_type"] == "count"
    assert view["measures"]["count"]["label"] == "Accounts Count"
    assert layer().views["finance__ledger"].data["schema"] == "finance"


def test_columns_that_cannot_be_field_names_are_skipped_and_said() -> None:
    view = layer().views["subscriptions"]
    assert "Weird Name" not in view.data["dimensions"]
    assert view.skipped_columns == ("Weird Name",)


def test_foreign_keys_become_many_to_one_relationships() -> None:
    (rel,) = layer().relationships
    assert rel["join_from_view"] == "subscriptions"
    assert rel["join_to_view"] == "accounts"
    assert rel["on_sql"] == "${subscriptions.account_id} = ${accounts.id}"
    assert rel["relationship_type"] == "many_to_one"


@pytest.mark.parametrize(
    ("options", "views"),
    [
        ({"included_schemas": ("finance",)}, ["finance__ledger"]),
        ({"ignored_schemas": ("finance",)}, ["accounts", "subscriptions"]),
        ({"included_views": ("acc*",)}, ["accounts"]),
        ({"ignored_views": ("subscriptions", "finance__*")}, ["accounts"]),
    ],
)
def test_bounds(options: dict[str, Any], views: list[str]) -> None:
    assert sorted(layer(**options).views) == views


def test_system_schemas_are_never_read() -> None:
    system = Table(schema="information_schema", name="tables", columns=(Column("x", "string"),))
    snapshot = Snapshot(tables=(system, ACCOUNTS), default_schema="public")
    assert list(build_schema_layer(snapshot, SchemaOptions()).views) == ["accounts"]


def test_merge_overrides_adds_and_keeps_generated_properties() -> None:
    generated = layer().views["accounts"].data
    merged = merge_view(
        generated,
        {
            "label": "Customer Accounts",
            "dimensions": {"opened_at": {"label": "Opened"}, "tier": {"sql": "'gold'"}},
            "measures": {"total": {"sql": "${id}", "aggregate_type": "count_distinct"}},
        },
    )
    assert merged["label"] == "Customer Accounts"
    assert merged["dimensions"]["opened_at"]["label"] == "Opened"
    assert merged["dimensions"]["opened_at"]["timeframes"][0] == "raw"  # still generated
    assert set(merged["dimensions"]) == {"id", "region", "opened_at", "tier"}
    assert set(merged["measures"]) == {"count", "total"}


def test_snapshot_round_trips_through_json() -> None:
    again = Snapshot.from_json(json.loads(json.dumps(SNAPSHOT.to_json())))
    assert again == SNAPSHOT
    with pytest.raises(ValueError, match="version"):
        Snapshot.from_json({**SNAPSHOT.to_json(), "version": 99})


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def source() -> SchemaSource:
    return SchemaSource(SNAPSHOT)


def test_an_extension_measure_on_an_undeclared_column_loads(tmp_path: Path) -> None:
    """The issue's Omni export: `sql: ${seats}` on a view that declares no `seats`."""
    folder = write(
        tmp_path / "m",
        {
            "subscriptions.view.yaml": "measures:\n  seat_total: {sql: '${seats}', aggregate_type: sum}\n"
        },
    )
    model = load_model(folder, schema=source())
    assert model.views["subscriptions"].measures["seat_total"].sql == "${seats}"
    assert "seats" in model.views["subscriptions"].dimensions
    assert model.views["subscriptions"].dimensions["seats"].type == "number"


def test_ignored_removes_and_references_to_it_are_errors(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "m",
        {
            "accounts.view.yaml": "dimensions:\n  region: {ignored: true}\n",
            "finance__ledger.view.yaml": "ignored: true\n",
            "subscriptions.view.yaml": ("dimensions:\n  where:\n    sql: ${accounts.region}\n"),
        },
    )
    model, issues = check_model(folder, schema=source())
    assert model is not None
    assert "region" not in model.views["accounts"].dimensions
    assert "finance__ledger" not in model.views
    errors = [i for i in issues if i.severity == "error"]
    assert any("${accounts.region}" in i.message and "names no field" in i.message for i in errors)


def test_hidden_only_hides(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "m", {"accounts.view.yaml": "dimensions:\n  region: {hidden: true}\n"}
    )
    model = load_model(folder, schema=source())
    region = model.views["accounts"].dimensions["region"]
    assert region.hidden and region.type == "string"


def test_a_suggestion_is_never_the_field_being_defined(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "m",
        {
            "subscriptions.view.yaml": "measures:\n  seat_total: {sql: '${seat_totl}', aggregate_type: sum}\n"
        },
    )
    with pytest.raises(ModelError) as info:
        load_model(folder, schema=source())
    (line,) = [m for m in str(info.value).splitlines() if "${seat_totl}" in m]
    assert "did you mean" not in line or "seat_total" not in line.split("did you mean", 1)[1]


def test_schema_folder_files_extend_their_table(tmp_path: Path) -> None:
    """Omni exports views of tables as `<schema>/<table>.view.yaml`."""
    folder = write(tmp_path / "m", {})
    write(folder / "finance", {"ledger.view.yaml": "label: The Ledger\n"})
    model = load_model(folder, schema=source())
    assert model.views["finance__ledger"].label == "The Ledger"


def test_the_snapshot_is_part_of_the_version(tmp_path: Path) -> None:
    folder = write(tmp_path / "m", {})
    first = load_model(folder, schema=source())
    wider = Snapshot(
        tables=(*SNAPSHOT.tables, Table(schema="public", name="extra", columns=())),
        default_schema="public",
        taken_at=SNAPSHOT.taken_at,
    )
    second = load_model(folder, schema=SchemaSource(wider))
    assert first.version != second.version
    assert "extra" in second.views


# -- PostgreSQL: the default schema and another one, introspected from the real server ---------


@pytest.fixture()
def pg_two_schemas(postgres_url: str) -> Any:
    from sluice.engines.postgres import PostgresEngine, quote_ident
    from tests.engines.services import PG_SCHEMA

    main, other = f"{PG_SCHEMA}_main", f"{PG_SCHEMA}_sales"
    admin = PostgresEngine(postgres_url, schema=main, pool_size=1, read_only=False)
    engine = PostgresEngine(postgres_url, schema=main, pool_size=1)  # read-only, as served
    try:
        for schema in (main, other):
            admin.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
            admin.execute(f"CREATE SCHEMA {quote_ident(schema)}")
        admin.execute(
            f"CREATE TABLE {quote_ident(main)}.accounts (id integer PRIMARY KEY, region text, "
            "opened_at timestamp, active boolean, opened_on date)"
        )
        admin.execute(
            f"CREATE TABLE {quote_ident(other)}.orders (id integer PRIMARY KEY, account_id integer"
            f" REFERENCES {quote_ident(main)}.accounts (id), amount numeric(10, 2))"
        )
        admin.execute(
            f"INSERT INTO {quote_ident(main)}.accounts VALUES (1, 'EMEA', now(), true, current_date), (2, 'APAC', now(), false, current_date)"
        )
        admin.execute(
            f"INSERT INTO {quote_ident(other)}.orders VALUES (10, 1, 5.5), (11, 1, 4.5), (12, 2, 1)"
        )
        yield engine, main, other
    finally:
        engine.close()
        for schema in (main, other):
            admin.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
        admin.close()


def test_postgres_schemas_name_views_and_keys_relate_them(
    pg_two_schemas: Any, tmp_path: Path
) -> None:
    from sluice.compiler import compile_query
    from sluice.query import parse_query

    engine, main, other = pg_two_schemas
    snapshot = introspect(engine)
    assert snapshot.default_schema == main
    by_name = {(t.schema, t.name): t for t in snapshot.tables}
    accounts, orders = by_name[(main, "accounts")], by_name[(other, "orders")]
    assert [(c.name, c.type) for c in accounts.columns] == [
        ("id", "number"), ("region", "string"), ("opened_at", "timestamp"),
        ("active", "boolean"), ("opened_on", "date"),
    ]  # fmt: skip
    assert accounts.primary_key == ("id",)
    assert orders.foreign_keys == (ForeignKey(("account_id",), main, "accounts", ("id",)),)
    folder = write(tmp_path / "m", {"model.yaml": f"included_schemas: [{main}, {other}]\n"})
    model = load_model(folder, dialect="postgres", schema=SchemaSource(snapshot))
    sales = f"{other}__orders"
    assert {"accounts", sales} <= set(model.views)
    assert model.views[sales].schema == other
    (rel,) = model.relationships
    assert (rel.join_from_view, rel.join_to_view) == (sales, "accounts")
    spec = parse_query(
        {
            "modelId": "6e0ab1f6-0c0e-4b8e-9b55-0f4c0a3a1d11",
            "table": sales,
            "fields": ["accounts.region", f"{sales}.count"],
            "sorts": [{"column_name": "accounts.region"}],
        }
    )
    compiled = compile_query(model, spec, dialect="postgres")
    rows = engine.execute(compiled.sql).to_pylist()
    assert [tuple(r.values()) for r in rows] == [("APAC", 1), ("EMEA", 2)]


def test_when_the_snapshot_was_taken_is_not_part_of_the_version(tmp_path: Path) -> None:
    """Replicas and restarts read the catalog at different times; same catalog, same version
    (their cached results are shared by version)."""
    folder = write(tmp_path / "m", {})
    later = Snapshot(SNAPSHOT.tables, SNAPSHOT.default_schema, taken_at=SNAPSHOT.taken_at + 60)
    first = load_model(folder, schema=source())
    assert load_model(folder, schema=SchemaSource(later)).version == first.version
