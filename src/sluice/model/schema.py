"""The schema layer: a model's lowest layer, generated from the warehouse (Omni's model, layer 1).

An introspection ``Snapshot`` (tables, columns and their types, declared keys) becomes one view
per table: one dimension per column, the model's default timeframes on date and timestamp
columns, a ``count`` measure, the declared primary key, and a many-to-one relationship per
declared foreign key. The model's files extend it key by key (``merge_view``): what a file sets
overrides, what it adds is added, ``ignored: true`` removes a view or field, ``hidden: true`` only
hides it.

Everything here is pure: the snapshot is read by the engines (``sluice.engines.introspect``) and
kept as JSON in the state directory by the model service, so a restart need not wait for the
warehouse.

View names follow Omni: ``<table>`` in the connection's default schema, ``<schema>__<table>``
elsewhere, ``<catalog>_<schema>__<table>`` in another catalog, and ``<schema>__<table>`` for every
table when the connection sets ``always_scope_view_names``.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sluice.model.types import DEFAULT_TIMEFRAMES, label_for

SNAPSHOT_VERSION = 1
TIME_TYPES = frozenset({"date", "timestamp"})
# A column sluice can name as a field: ``${column}`` and ``view.column`` must parse.
PLAIN_NAME = re.compile(r"[a-z_][a-z0-9_]*")
# Schemas no one models: the warehouses' own catalogs.
SYSTEM_SCHEMAS = frozenset(
    {"information_schema", "pg_catalog", "pg_toast", "pg_temp", "sys", "system", "main_internal"}
)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: str  # sluice data type: number, string, date, timestamp, boolean, unknown


@dataclass(frozen=True, slots=True)
class ForeignKey:
    columns: tuple[str, ...]
    schema: str
    table: str
    ref_columns: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Table:
    schema: str
    name: str
    columns: tuple[Column, ...]
    kind: str = "table"  # table | view
    catalog: str | None = None
    primary_key: tuple[str, ...] = ()
    foreign_keys: tuple[ForeignKey, ...] = ()


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What one connection's warehouse holds, as read at ``taken_at`` (epoch seconds)."""

    tables: tuple[Table, ...]
    default_schema: str
    default_catalog: str | None = None
    taken_at: float = field(default_factory=time.time)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": SNAPSHOT_VERSION,
            "taken_at": self.taken_at,
            "default_schema": self.default_schema,
            "default_catalog": self.default_catalog,
            "tables": [
                {
                    "catalog": t.catalog,
                    "schema": t.schema,
                    "name": t.name,
                    "kind": t.kind,
                    "columns": [[c.name, c.type] for c in t.columns],
                    "primary_key": list(t.primary_key),
                    "foreign_keys": [
                        [list(fk.columns), fk.schema, fk.table, list(fk.ref_columns)]
                        for fk in t.foreign_keys
                    ],
                }
                for t in self.tables
            ],
        }

    def content_hash(self) -> str:
        """A digest of what the warehouse holds, not of when it was read: replicas (and
        restarts) that read the same catalog build the same model version, so they share
        cached results."""
        content = {k: v for k, v in self.to_json().items() if k != "taken_at"}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Snapshot:
        """The snapshot ``to_json`` wrote; ``ValueError`` for anything else."""
        try:
            if data.get("version") != SNAPSHOT_VERSION:
                raise ValueError(f"snapshot version {data.get('version')!r} is not supported")
            tables = tuple(
                Table(
                    catalog=t.get("catalog"),
                    schema=str(t["schema"]),
                    name=str(t["name"]),
                    kind=str(t.get("kind", "table")),
                    columns=tuple(Column(str(n), str(ty)) for n, ty in t["columns"]),
                    primary_key=tuple(str(c) for c in t.get("primary_key", ())),
                    foreign_keys=tuple(
                        ForeignKey(tuple(cols), str(schema), str(table), tuple(refs))
                        for cols, schema, table, refs in t.get("foreign_keys", ())
                    ),
                )
                for t in data["tables"]
            )
            return cls(
                tables=tables,
                default_schema=str(data["default_schema"]),
                default_catalog=data.get("default_catalog"),
                taken_at=float(data["taken_at"]),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a schema snapshot: {exc}") from None


@dataclass(frozen=True, slots=True)
class SchemaSource:
    """A connection's snapshot and how the connection shapes its schema layer."""

    snapshot: Snapshot
    always_scope_view_names: bool = False
    # The schemas read when the model names no ``included_schemas`` (a connection pinned to
    # one schema reads that one); empty: every schema but the system ones.
    schemas: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SchemaOptions:
    """What bounds and shapes the schema layer: ``model.yaml`` and the connection's settings."""

    included_schemas: tuple[str, ...] = ()  # empty: every schema but the system ones
    ignored_schemas: tuple[str, ...] = ()
    included_views: tuple[str, ...] = ()  # view names or globs; empty: every view
    ignored_views: tuple[str, ...] = ()
    default_timeframes: tuple[str, ...] = DEFAULT_TIMEFRAMES
    always_scope_view_names: bool = False

    @classmethod
    def from_settings(
        cls, settings: Mapping[str, Any], source: SchemaSource | None = None
    ) -> SchemaOptions:
        """The options ``model.yaml`` sets, over the connection's (``source``)."""

        def names(key: str) -> tuple[str, ...]:
            value = settings.get(key) or ()
            return tuple(str(v) for v in (value if isinstance(value, list | tuple) else [value]))

        return cls(
            included_schemas=names("included_schemas") or (source.schemas if source else ()),
            ignored_schemas=names("ignored_schemas"),
            included_views=names("included_views"),
            ignored_views=names("ignored_views"),
            default_timeframes=names("default_timeframes") or DEFAULT_TIMEFRAMES,
            always_scope_view_names=bool(source and source.always_scope_view_names),
        )

    def reads_schema(self, schema: str) -> bool:
        folded = schema.lower()
        if self.included_schemas:
            return any(folded == s.lower() for s in self.included_schemas)
        if folded in SYSTEM_SCHEMAS or folded.startswith("pg_"):
            return False
        return not any(folded == s.lower() for s in self.ignored_schemas)

    def keeps_view(self, name: str) -> bool:
        if self.included_views and not _matches(name, self.included_views):
            return False
        return not _matches(name, self.ignored_views)


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


def view_name(table: Table, snapshot: Snapshot, options: SchemaOptions) -> str:
    """Omni's name for the view of ``table``."""
    other_catalog = snapshot.default_catalog is not None and table.catalog not in (
        None,
        snapshot.default_catalog,
    )
    if other_catalog:
        return f"{table.catalog}_{table.schema}__{table.name}"
    if options.always_scope_view_names or table.schema != snapshot.default_schema:
        return f"{table.schema}__{table.name}"
    return table.name


def file_key(table: Table, snapshot: Snapshot) -> str:
    """The file key of a table's view in the model YAML API: ``<schema>/<table>.view``."""
    return f"{table.schema}/{table.name}.view"


@dataclass(frozen=True, slots=True)
class SchemaView:
    """One generated view: its name, where it comes from, and its YAML-shaped definition."""

    name: str
    table: Table
    data: Mapping[str, Any]  # the same shape as a view file's YAML
    skipped_columns: tuple[str, ...] = ()  # columns whose names cannot be field names


@dataclass(frozen=True, slots=True)
class SchemaLayer:
    views: Mapping[str, SchemaView]
    relationships: tuple[Mapping[str, Any], ...]  # the same shape as relationships.yaml entries
    snapshot: Snapshot

    def file_view_name(self, path: str) -> str | None:
        """The view a ``<schema>/<table>.view.yaml`` file extends (Omni's export layout), or
        None when the path is not in a schema folder of the snapshot."""
        parts = path.replace("\\", "/").split("/")
        if len(parts) != 2:
            return None
        stem = parts[1].split(".", 1)[0]
        for name, view in self.views.items():
            if view.table.schema == parts[0] and view.table.name == stem:
                return name
        return None

    def column_types(self, table: str, schema: str | None) -> dict[str, str] | None:
        """Column name -> type of a table in the snapshot (the loader's ``ColumnTypes``)."""
        wanted_schema = schema or self.snapshot.default_schema
        for t in self.snapshot.tables:
            if t.name == table and t.schema == wanted_schema:
                return {c.name: c.type for c in t.columns}
        return None


def build_schema_layer(snapshot: Snapshot, options: SchemaOptions) -> SchemaLayer:
    """The generated views and relationships of ``snapshot``, bounded by ``options``."""
    views: dict[str, SchemaView] = {}
    by_table: dict[tuple[str, str], str] = {}
    for table in snapshot.tables:
        if not options.reads_schema(table.schema):
            continue
        name = view_name(table, snapshot, options)
        if not PLAIN_NAME.fullmatch(name) or not options.keeps_view(name):
            continue
        views[name] = _schema_view(name, table, options, snapshot.default_schema)
        by_table[(table.schema, table.name)] = name
    relationships = tuple(_relationships(views, by_table))
    return SchemaLayer(views, relationships, snapshot)


def _schema_view(
    name: str, table: Table, options: SchemaOptions, default_schema: str
) -> SchemaView:
    dimensions: dict[str, Any] = {}
    skipped = []
    single_key = table.primary_key[0] if len(table.primary_key) == 1 else None
    for column in table.columns:
        if not PLAIN_NAME.fullmatch(column.name):
            skipped.append(column.name)
            continue
        spec: dict[str, Any] = {}
        if column.type in TIME_TYPES:
            spec["timeframes"] = list(options.default_timeframes)
        if column.name == single_key:
            spec["primary_key"] = True
        dimensions[column.name] = spec
    label = label_for(table.name)
    data: dict[str, Any] = {"table_name": table.name, "label": label, "dimensions": dimensions}
    if table.schema != default_schema:  # the default schema is found by the search path
        data["schema"] = table.schema
    if "count" not in dimensions:
        data["measures"] = {
            "count": {"aggregate_type": "count", "label": f"{label} Count", "format": "number_0"}
        }
    return SchemaView(name, table, data, tuple(skipped))


def _relationships(
    views: Mapping[str, SchemaView], by_table: Mapping[tuple[str, str], str]
) -> Iterable[Mapping[str, Any]]:
    for name, view in views.items():
        for fk in view.table.foreign_keys:
            target = by_table.get((fk.schema, fk.table))
            if target is None or len(fk.columns) != len(fk.ref_columns):
                continue
            on = " AND ".join(
                f"${{{name}.{col}}} = ${{{target}.{ref}}}"
                for col, ref in zip(fk.columns, fk.ref_columns, strict=True)
            )
            yield {
                "join_from_view": name,
                "join_to_view": target,
                "on_sql": on,
                "relationship_type": "many_to_one",
                "join_type": "always_left",
            }


# -- the extension merged onto the schema layer ---------------------------------------------------

FIELD_SECTIONS = ("dimensions", "measures", "filters")


def merge_view(generated: Mapping[str, Any], extension: Mapping[str, Any]) -> dict[str, Any]:
    """A view file's YAML laid over its schema view's, key by key (the file wins).

    Field sections merge per field and, within a field, per property. A field the file marks
    ``ignored: true`` is removed. The file's own mappings are kept as they are (their line
    numbers stay with them), so validation points into the file.
    """
    merged: dict[str, Any] = dict(generated)
    for key, value in extension.items():
        if key in FIELD_SECTIONS and isinstance(value, Mapping):
            merged[key] = merge_fields(generated.get(key) or {}, value)
        else:
            merged[key] = value
    for key in FIELD_SECTIONS:
        section = merged.get(key)
        if isinstance(section, Mapping) and key not in extension:
            merged[key] = dict(section)
    return merged


def merge_fields(generated: Mapping[str, Any], extension: Mapping[str, Any]) -> Any:
    """One field section: generated fields, then the file's, merged per property."""
    out: dict[str, Any] = {}
    for name, spec in generated.items():
        out[name] = spec
    for name, spec in extension.items():
        base = out.get(name)
        if isinstance(spec, Mapping) and isinstance(base, Mapping) and base:
            combined = dict(base)
            combined.update(spec)
            spec = _keep_lines(spec, combined)
        out[name] = spec
    return _keep_lines(extension, out)


def _keep_lines(source: Any, data: dict[str, Any]) -> Any:
    """``data`` as a mapping that still reports ``source``'s line numbers (ruamel's ``lc``)."""
    lc = getattr(source, "lc", None)
    if lc is None:
        return data
    from ruamel.yaml.comments import CommentedMap  # the loader's YAML type; no I/O

    out = CommentedMap(data)
    out.lc.line, out.lc.col = lc.line, lc.col  # the line numbers travel with the merged mapping
    out.lc.data = lc.data
    return out


def removed(spec: Any) -> bool:
    """Does a view or field spec say ``ignored: true``?"""
    return isinstance(spec, Mapping) and spec.get("ignored") is True


def without_ignored(data: Mapping[str, Any]) -> dict[str, Any]:
    """A view's YAML with its ``ignored: true`` fields dropped."""
    out = dict(data)
    for key in FIELD_SECTIONS:
        section = data.get(key)
        if isinstance(section, Mapping):
            kept = {n: s for n, s in section.items() if not removed(s)}
            out[key] = _keep_lines(section, kept)
    return out


# -- the whole model: schema views extended by the files ------------------------------------------

SCHEMA_FILE_PREFIX = "schema layer: "  # where issues in a generated view point


def schema_file(view: SchemaView) -> str:
    """The location a generated view's issues name (it has no file of its own)."""
    return f"{SCHEMA_FILE_PREFIX}{view.table.schema}.{view.table.name}"


def extend(layer: SchemaLayer, files: Sequence[tuple[str, str, Any]]) -> list[tuple[str, str, Any]]:
    """The model's views as ``(view name, location, YAML data)``: each file's view laid over the
    schema view of the same name (``merge_view``), the schema views no file extends, and the
    files' views with no table behind them. A view the file marks ``ignored: true`` is left out,
    and so are fields marked so. ``files`` are ``(view name, path, data)`` as read."""
    out: list[tuple[str, str, Any]] = []
    extended: set[str] = set()
    for name, path, data in files:
        generated = layer.views.get(name)
        if generated is not None:
            extended.add(name)
        if removed(data):
            continue
        if generated is not None and isinstance(data, Mapping):
            merged = _keep_lines(data, merge_view(generated.data, data))
            out.append((name, path, _keep_lines(data, without_ignored(merged))))
        else:
            out.append((name, path, without_ignored(data) if isinstance(data, Mapping) else data))
    for name, view in layer.views.items():
        if name not in extended:
            out.append((name, schema_file(view), view.data))
    return out


def extend_relationships(layer: SchemaLayer, data: Any) -> Any:
    """The relationships file's list after the inferred ones it does not restate."""
    if not layer.relationships:
        return data
    written = data if isinstance(data, list) else []
    declared = {
        frozenset((str(r.get("join_from_view")), str(r.get("join_to_view"))))
        for r in written
        if isinstance(r, Mapping)
    }
    inferred = [
        r
        for r in layer.relationships
        if frozenset((r["join_from_view"], r["join_to_view"])) not in declared
    ]
    if not isinstance(data, list) and data is not None:
        return data  # not a list: the loader reports it as the file wrote it
    return [*inferred, *written]
