"""The Flight SQL catalog: models as catalogs, topics and views as tables. Pure: no I/O.

Each model is a catalog (its name), each topic a table in schema ``topics`` and each view a
table in schema ``views``. A table's columns are the fields it exposes (hidden fields left out),
each with its Arrow type and metadata: ``sluice.kind`` (``dimension``/``measure``),
``sluice.label``, ``sluice.description``, ``sluice.format``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from sluice.compiler import field_meta
from sluice.compiler.types import FieldMeta
from sluice.model.types import SemanticModel

SCHEMAS = ("topics", "views")
TABLE_TYPE = "TABLE"

ARROW_TYPES: dict[str, pa.DataType] = {
    "STRING": pa.string(),
    "NUMBER": pa.float64(),
    "TIMESTAMP": pa.timestamp("us"),
    "DATE": pa.date32(),
    "BOOLEAN": pa.bool_(),
}

CATALOGS_SCHEMA = pa.schema([pa.field("catalog_name", pa.string(), nullable=False)])
DB_SCHEMAS_SCHEMA = pa.schema(
    [pa.field("catalog_name", pa.string()), pa.field("db_schema_name", pa.string(), False)]
)
TABLES_SCHEMA = pa.schema(
    [
        pa.field("catalog_name", pa.string()),
        pa.field("db_schema_name", pa.string()),
        pa.field("table_name", pa.string(), False),
        pa.field("table_type", pa.string(), False),
    ]
)
TABLES_WITH_SCHEMA = TABLES_SCHEMA.append(pa.field("table_schema", pa.binary(), False))
TABLE_TYPES_SCHEMA = pa.schema([pa.field("table_type", pa.string(), False)])
KEYS_SCHEMA = pa.schema(
    [
        pa.field("catalog_name", pa.string()),
        pa.field("db_schema_name", pa.string()),
        pa.field("table_name", pa.string(), False),
        pa.field("column_name", pa.string(), False),
        pa.field("key_sequence", pa.int32(), False),
        pa.field("key_name", pa.string()),
    ]
)


@dataclass(frozen=True, slots=True)
class Table:
    catalog: str
    schema: str
    name: str
    fields: tuple[FieldMeta, ...]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema([arrow_field(f) for f in self.fields])


def arrow_field(meta: FieldMeta, name: str | None = None) -> pa.Field:
    metadata = {
        "sluice.kind": "dimension" if meta.is_dimension else "measure",
        "sluice.label": meta.label or "",
        "sluice.description": meta.description or "",
        "sluice.format": meta.format or "",
    }
    data_type = ARROW_TYPES.get(meta.data_type.upper(), pa.string())
    return pa.field(name or meta.field_name, data_type, metadata=metadata)


def table_fields(
    model: SemanticModel, *, topic: str | None = None, view: str | None = None
) -> list[FieldMeta]:
    """The fields a topic (or a view) exposes, in model order, hidden ones left out."""
    found_topic = model.topics.get(topic) if topic else None
    views = found_topic.join_views() if found_topic else [view] if view else []
    out: list[FieldMeta] = []
    for view_name in views:
        found = model.views.get(view_name or "")
        if found is None:
            continue
        for name in [*found.dimensions, *found.measures]:
            if found_topic is not None and not found_topic.admits(view_name, name):
                continue
            meta = field_meta(model, f"{view_name}.{name}")
            if not meta.hidden:
                out.append(meta)
    return out


def tables(models: Mapping[str, SemanticModel]) -> list[Table]:
    """Every table, catalog by catalog: topics first, then views."""
    out: list[Table] = []
    for catalog, model in sorted(models.items()):
        for name, topic in model.topics.items():
            if not topic.hidden:
                out.append(Table(catalog, "topics", name, tuple(table_fields(model, topic=name))))
        for name in model.views:
            out.append(Table(catalog, "views", name, tuple(table_fields(model, view=name))))
    return out


def like(pattern: str | None, value: str) -> bool:
    """SQL LIKE (``%``, ``_``), as Flight SQL's filter patterns are; None matches everything."""
    if pattern is None or pattern == "":
        return True
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def catalogs_table(models: Mapping[str, SemanticModel]) -> pa.Table:
    return pa.table({"catalog_name": sorted(models)}, schema=CATALOGS_SCHEMA)


def db_schemas_table(
    models: Mapping[str, SemanticModel], catalog: str | None, pattern: str | None
) -> pa.Table:
    rows = [
        (c, s)
        for c in sorted(models)
        for s in SCHEMAS
        if (catalog is None or catalog == c) and like(pattern, s)
    ]
    return pa.table(
        {"catalog_name": [r[0] for r in rows], "db_schema_name": [r[1] for r in rows]},
        schema=DB_SCHEMAS_SCHEMA,
    )


def tables_table(
    models: Mapping[str, SemanticModel],
    *,
    catalog: str | None,
    schema_pattern: str | None,
    table_pattern: str | None,
    table_types: Sequence[str],
    include_schema: bool,
) -> pa.Table:
    if table_types and TABLE_TYPE not in [t.upper() for t in table_types]:
        found: list[Table] = []
    else:
        found = [
            t
            for t in tables(models)
            if (catalog is None or catalog == t.catalog)
            and like(schema_pattern, t.schema)
            and like(table_pattern, t.name)
        ]
    columns: dict[str, list[object]] = {
        "catalog_name": [t.catalog for t in found],
        "db_schema_name": [t.schema for t in found],
        "table_name": [t.name for t in found],
        "table_type": [TABLE_TYPE for _ in found],
    }
    if include_schema:
        columns["table_schema"] = [t.arrow_schema().serialize().to_pybytes() for t in found]
        return pa.table(columns, schema=TABLES_WITH_SCHEMA)
    return pa.table(columns, schema=TABLES_SCHEMA)


def table_types_table() -> pa.Table:
    return pa.table({"table_type": [TABLE_TYPE]}, schema=TABLE_TYPES_SCHEMA)


def empty_keys_table() -> pa.Table:
    return KEYS_SCHEMA.empty_table()
