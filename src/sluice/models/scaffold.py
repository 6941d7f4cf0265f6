"""``sluice init``: a ready project folder from what a warehouse holds.

From a schema ``Snapshot`` it writes ``sluice.yaml`` (the connection and one model), the model
folder's ``model.yaml``, a ``relationships.yaml`` (declared foreign keys, else joins inferred
from ``<name>_id`` columns, each inferred one marked so), a view file declaring each inferred
primary key, and one topic per fact table (a table that is the "one" side of no relationship),
joining every view it reaches through many-to-one relationships. Everything else (columns,
types, counts, timeframes) comes from the schema layer when the model loads.

Generation is pure (``scaffold``); ``write_project`` writes the files and refuses to overwrite.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from sluice.errors import ConfigError
from sluice.model.schema import (
    SchemaOptions,
    SchemaView,
    Snapshot,
    Table,
    build_schema_layer,
)

INFERRED = "inferred by sluice init from column names; check it"


@dataclass(frozen=True, slots=True)
class Join:
    from_view: str
    from_column: str
    to_view: str
    to_column: str
    inferred: bool


@dataclass(frozen=True, slots=True)
class Scaffold:
    """The files of a new project: relative path -> YAML data (comments where inferred)."""

    files: Mapping[str, Any]
    views: tuple[str, ...]
    topics: tuple[str, ...]
    joins: tuple[Join, ...]


def scaffold(
    snapshot: Snapshot,
    *,
    connection: Mapping[str, Any],
    model_name: str = "warehouse",
    schemas: Sequence[str] = (),
) -> Scaffold:
    """The project for ``snapshot``: ``connection`` is the ``sluice.yaml`` entry to write."""
    options = SchemaOptions(included_schemas=tuple(schemas))
    layer = build_schema_layer(snapshot, options)
    views = layer.views
    keys = {name: _primary_key(view.table) for name, view in views.items()}
    joins = _joins(views, keys)
    files: dict[str, Any] = {}
    model_settings: dict[str, Any] = {"dialect": _dialect(connection)}
    if schemas:
        model_settings["included_schemas"] = list(schemas)
    files[f"models/{model_name}/model.yaml"] = model_settings
    if any(j.inferred for j in joins):
        files[f"models/{model_name}/relationships.yaml"] = [
            {
                "join_from_view": j.from_view,
                "join_to_view": j.to_view,
                "on_sql": f"${{{j.from_view}.{j.from_column}}} = ${{{j.to_view}.{j.to_column}}}",
                "relationship_type": "many_to_one",
                "join_type": "always_left",
            }
            for j in joins
            if j.inferred
        ]
    for name, view in views.items():
        key = keys[name]
        if key is not None and not view.table.primary_key:
            files[f"models/{model_name}/{name}.view.yaml"] = {
                "dimensions": {key: {"primary_key": True}}
            }
    targets = {j.to_view for j in joins}
    facts = [name for name in views if name not in targets]
    for name in facts:
        topic: dict[str, Any] = {"base_view": name, "label": views[name].data["label"]}
        tree = _join_tree(name, joins)
        if tree:
            topic["joins"] = tree
        files[f"models/{model_name}/{name}.topic.yaml"] = topic
    files["sluice.yaml"] = {
        "connections": {"warehouse": dict(connection)},
        "models": {model_name: {"connection": "warehouse", "path": f"models/{model_name}"}},
    }
    return Scaffold(files, tuple(views), tuple(facts), tuple(joins))


def write_project(folder: Path, project: Scaffold) -> list[Path]:
    """Write the files under ``folder``; a ``ConfigError`` if any exists already."""
    existing = [folder / p for p in project.files if (folder / p).exists()]
    if existing:
        raise ConfigError(
            f"{existing[0]} exists; sluice init writes a new project (choose another --dir)"
        )
    yaml = YAML()
    yaml.default_flow_style = False
    written = []
    for relative, data in project.files.items():
        path = folder / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w") as out:
            if relative.endswith("relationships.yaml"):
                out.write(f"# Joins {INFERRED}.\n")
            elif relative.endswith(".view.yaml"):
                out.write(f"# The primary key is {INFERRED}.\n")
            yaml.dump(data, out)
        written.append(path)
    return written


def _dialect(connection: Mapping[str, Any]) -> str:
    engine = str(connection.get("engine", "duckdb"))
    return {"postgres": "postgres", "spark": "spark", "trino": "trino"}.get(engine, "duckdb")


def _primary_key(table: Table) -> str | None:
    """The declared key; else a column ``id``, or ``<singular table>_id``."""
    if len(table.primary_key) == 1:
        return table.primary_key[0]
    if table.primary_key:
        return None  # a composite key: nothing sluice can name as one dimension
    names = {c.name for c in table.columns}
    for candidate in ("id", f"{_singular(table.name)}_id"):
        if candidate in names:
            return candidate
    return None


def _singular(name: str) -> str:
    for plural, single in (("ies", "y"), ("ses", "s"), ("s", "")):
        if name.endswith(plural) and len(name) > len(plural):
            return name[: -len(plural)] + single
    return name


def _joins(views: Mapping[str, SchemaView], keys: Mapping[str, str | None]) -> list[Join]:
    by_table = {(v.table.schema, v.table.name): name for name, v in views.items()}
    declared = [
        Join(name, fk.columns[0], by_table[(fk.schema, fk.table)], fk.ref_columns[0], False)
        for name, view in views.items()
        for fk in view.table.foreign_keys
        if len(fk.columns) == 1 and (fk.schema, fk.table) in by_table
    ]
    if declared:
        return declared
    by_singular = {_singular(name): name for name in views}
    out = []
    for name, view in views.items():
        for column in view.table.columns:
            if not column.name.endswith("_id") or column.name == keys[name]:
                continue
            stem = column.name[: -len("_id")]
            target = by_singular.get(stem)
            if target is None or target == name or keys[target] is None:
                continue
            to_column = keys[target]
            assert to_column is not None
            out.append(Join(name, column.name, target, to_column, True))
    return out


def _join_tree(base: str, joins: Sequence[Join]) -> dict[str, Any]:
    """Every view reachable from ``base`` over many-to-one joins, each once (nearest path)."""
    children: dict[str, list[str]] = {}
    for j in joins:
        children.setdefault(j.from_view, []).append(j.to_view)
    tree: dict[str, Any] = {}
    nodes: dict[str, dict[str, Any]] = {base: tree}
    seen = {base}
    queue = deque([base])
    while queue:
        parent = queue.popleft()
        for child in children.get(parent, []):
            if child in seen:
                continue
            seen.add(child)
            nodes[parent][child] = nodes[child] = {}
            queue.append(child)
    return tree
