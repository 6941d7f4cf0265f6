"""Introspection: what a warehouse holds (tables, columns and types, declared keys), read through
an engine's own ``execute`` and returned as a ``sluice.model.schema.Snapshot``.

Each dialect is a ``Catalog`` of data: the statements that list columns and key constraints and
name the default schema, and the table that maps its type names (``engines.types``). The
statements read only catalog views (``information_schema``, ``pg_catalog``,
``duckdb_constraints()``), never user data, so they run under every sandbox setting.

``schemas`` narrows what is read (the model's ``included_schemas``); the filter is applied in
Python after one catalog read, because catalog reads are cheap next to one statement per schema
and the names come from the warehouse, not from a request.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sluice.engines.base import Engine
from sluice.engines.types import TypeNames
from sluice.errors import QueryError
from sluice.model.schema import Column, ForeignKey, SchemaOptions, Snapshot, Table

_INFO_COLUMNS = """
SELECT c.table_catalog, c.table_schema, c.table_name, c.column_name, c.data_type,
       t.table_type
FROM information_schema.columns AS c
JOIN information_schema.tables AS t
  ON t.table_catalog = c.table_catalog AND t.table_schema = c.table_schema
 AND t.table_name = c.table_name
ORDER BY c.table_catalog, c.table_schema, c.table_name, c.ordinal_position
"""

_DUCKDB_KEYS = """
SELECT database_name, schema_name, table_name, constraint_type, constraint_column_names,
       referenced_table, referenced_column_names
FROM duckdb_constraints()
WHERE constraint_type IN ('PRIMARY KEY', 'FOREIGN KEY')
"""

_POSTGRES_KEYS = """
SELECT current_database() AS database_name, n.nspname AS schema_name, c.relname AS table_name,
       CASE con.contype WHEN 'p' THEN 'PRIMARY KEY' ELSE 'FOREIGN KEY' END AS constraint_type,
       ARRAY(SELECT a.attname::text FROM unnest(con.conkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute AS a ON a.attrelid = con.conrelid AND a.attnum = k.num
             ORDER BY k.ord) AS constraint_column_names,
       fc.relname::text AS referenced_table, fn.nspname::text AS referenced_schema,
       ARRAY(SELECT a.attname::text FROM unnest(con.confkey) WITH ORDINALITY AS k(num, ord)
             JOIN pg_attribute AS a ON a.attrelid = con.confrelid AND a.attnum = k.num
             ORDER BY k.ord) AS referenced_column_names
FROM pg_constraint AS con
JOIN pg_class AS c ON c.oid = con.conrelid
JOIN pg_namespace AS n ON n.oid = c.relnamespace
LEFT JOIN pg_class AS fc ON fc.oid = con.confrelid
LEFT JOIN pg_namespace AS fn ON fn.oid = fc.relnamespace
WHERE con.contype IN ('p', 'f')
"""


@dataclass(frozen=True, slots=True)
class Catalog:
    """How one dialect answers "what do you hold?"."""

    columns: str  # rows: catalog, schema, table, column, type name, table type
    defaults: str  # one row: default catalog, default schema
    keys: str | None = None  # rows as _DUCKDB_KEYS / _POSTGRES_KEYS; None: no declared keys


CATALOGS: Mapping[str, Catalog] = {
    "duckdb": Catalog(
        columns=_INFO_COLUMNS,
        defaults="SELECT current_database(), current_schema()",
        keys=_DUCKDB_KEYS,
    ),
    "postgres": Catalog(
        columns=_INFO_COLUMNS,
        defaults="SELECT current_database(), current_schema()",
        keys=_POSTGRES_KEYS,
    ),
    "trino": Catalog(
        columns=_INFO_COLUMNS.replace("ORDER BY c.table_catalog, ", "ORDER BY "),
        defaults="SELECT current_catalog, current_schema",
    ),
}


def type_names(dialect: str) -> TypeNames:
    """The type-name table of the engine for ``dialect`` (imported only when asked for)."""
    if dialect == "duckdb":
        from sluice.engines.duckdb import TYPE_NAMES
    elif dialect == "postgres":
        from sluice.engines.postgres import TYPE_NAMES
    elif dialect == "spark":
        from sluice.engines.spark import TYPE_NAMES
    elif dialect == "trino":
        from sluice.engines.trino import TYPE_NAMES
    else:
        raise QueryError(f"sluice cannot introspect a {dialect} warehouse yet")
    return TYPE_NAMES


def introspect(
    engine: Engine,
    options: SchemaOptions | None = None,
    clock: Callable[[], float] = time.time,
) -> Snapshot:
    """Read what ``engine``'s warehouse holds. Raises ``QueryError`` when it cannot answer."""
    options = options or SchemaOptions()
    names = type_names(engine.dialect)
    if engine.dialect == "spark":
        return _introspect_spark(engine, names, options, clock)
    catalog = CATALOGS.get(engine.dialect)
    if catalog is None:
        raise QueryError(f"sluice cannot introspect a {engine.dialect} warehouse yet")
    default_catalog, default_schema = _one_row(engine.execute(catalog.defaults))
    keys = _keys(engine.execute(catalog.keys)) if catalog.keys else {}
    columns: dict[tuple[str, str, str], list[Column]] = defaultdict(list)
    kinds: dict[tuple[str, str, str], str] = {}
    for cat, schema, table, column, type_name, table_type in _rows(engine.execute(catalog.columns)):
        if str(cat) != str(default_catalog) or not options.reads_schema(str(schema)):
            continue  # other catalogs (DuckDB's system and temp ones, attached files) stay out
        key = (str(cat), str(schema), str(table))
        columns[key].append(Column(str(column), names.data_type(str(type_name))))
        kinds[key] = "view" if "VIEW" in str(table_type).upper() else "table"
    tables = []
    for (cat, schema, table), cols in columns.items():
        primary, foreign = keys.get((schema, table), ((), ()))
        tables.append(
            Table(
                schema=schema,
                name=table,
                columns=tuple(cols),
                kind=kinds[(cat, schema, table)],
                catalog=cat,
                primary_key=primary,
                foreign_keys=foreign,
            )
        )
    return Snapshot(
        tables=tuple(tables),
        default_schema=str(default_schema),
        default_catalog=str(default_catalog) if default_catalog is not None else None,
        taken_at=clock(),
    )


def _keys(
    table: pa.Table,
) -> dict[tuple[str, str], tuple[tuple[str, ...], tuple[ForeignKey, ...]]]:
    """(schema, table) -> (primary key columns, foreign keys)."""
    primary: dict[tuple[str, str], tuple[str, ...]] = {}
    foreign: dict[tuple[str, str], list[ForeignKey]] = defaultdict(list)
    has_ref_schema = "referenced_schema" in table.column_names
    for row in table.to_pylist():
        where = (str(row["schema_name"]), str(row["table_name"]))
        cols = tuple(str(c) for c in row["constraint_column_names"] or ())
        if row["constraint_type"] == "PRIMARY KEY":
            primary[where] = cols
        elif row["referenced_table"]:
            ref_schema = row["referenced_schema"] if has_ref_schema else where[0]
            refs = tuple(str(c) for c in row["referenced_column_names"] or ())
            foreign[where].append(
                ForeignKey(cols, str(ref_schema), str(row["referenced_table"]), refs)
            )
    return {
        key: (primary.get(key, ()), tuple(foreign.get(key, ()))) for key in {*primary, *foreign}
    }


def _introspect_spark(
    engine: Engine, type_names: TypeNames, options: SchemaOptions, clock: Callable[[], float]
) -> Snapshot:
    """Spark has no information_schema in every build: list databases, tables, then columns."""
    from sluice.engines.spark import quote_ident

    (default_schema,) = _one_row(engine.execute("SELECT current_database()"))
    schemas = [str(r[0]) for r in _rows(engine.execute("SHOW DATABASES"))]
    tables = []
    for schema in schemas:
        if not options.reads_schema(schema):
            continue
        listed = engine.execute(f"SHOW TABLES IN {quote_ident(schema)}").to_pylist()
        for row in listed:
            if row.get("isTemporary"):
                continue
            name = str(row["tableName"])
            described = engine.execute(
                f"DESCRIBE TABLE {quote_ident(schema)}.{quote_ident(name)}"
            ).to_pylist()
            cols = []
            for col in described:
                col_name = str(col["col_name"])
                if not col_name or col_name.startswith("#"):
                    break  # partition and detail sections follow the columns
                cols.append(Column(col_name, type_names.data_type(str(col["data_type"]))))
            tables.append(Table(schema=schema, name=name, columns=tuple(cols)))
    return Snapshot(tables=tuple(tables), default_schema=str(default_schema), taken_at=clock())


def _rows(table: pa.Table) -> Iterable[tuple[Any, ...]]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return zip(*columns, strict=True)


def _one_row(table: pa.Table) -> tuple[Any, ...]:
    rows = list(_rows(table))
    if len(rows) != 1:
        raise QueryError(f"expected one row from the warehouse's catalog, got {len(rows)}")
    return rows[0]
