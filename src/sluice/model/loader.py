"""Load a model folder into a validated ``SemanticModel``: the public entry of ``model/``.

The load runs down the rooms of ``model/``: ``files`` reads the folder (the only I/O) and
parses its YAML, ``parse`` turns the trees into the frozen types of ``types``, checking each
value against ``vocabulary`` where it is read, and ``rules`` checks the parsed model as a
whole. Validation collects *every* issue (file and line, with "did you mean" suggestions)
before raising ``ModelError``; it never stops at the first. Warehouse column types come through
the ``column_types`` callback.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sluice.errors import ModelError, ModelIssue
from sluice.model.files import (
    ModelFiles,
    YamlFile,
    file_stem,
    folder_exists,
    read_folder,
    read_texts,
)
from sluice.model.issues import IssueLog
from sluice.model.parse import parse_model
from sluice.model.parse.common import ColumnTypes, DerivedTypes
from sluice.model.parse.settings import model_settings
from sluice.model.rules import check_rules
from sluice.model.schema import (
    SchemaOptions,
    SchemaSource,
    build_schema_layer,
    extend,
    extend_relationships,
)
from sluice.model.types import Loc, SemanticModel

__all__ = ["ColumnTypes", "DerivedTypes", "check_model", "load_model", "read_folder"]


def load_model(
    path: str | Path,
    *,
    name: str | None = None,
    dialect: str = "duckdb",
    column_types: ColumnTypes | None = None,
    derived_types: DerivedTypes | None = None,
    schema: SchemaSource | None = None,
    files: Mapping[str, str] | None = None,
) -> SemanticModel:
    """Load and validate the model folder at ``path``; raise ``ModelError`` listing every issue.
    With ``schema``, the folder's files extend the schema layer generated from its snapshot.
    With ``files`` ({path relative to the folder: YAML text}), those are the files, not the
    folder's (``read_folder``)."""
    root = Path(path)
    model, issues = check_model(
        root,
        name=name,
        dialect=dialect,
        column_types=column_types,
        derived_types=derived_types,
        schema=schema,
        files=files,
    )
    if model is None or any(i.severity == "error" for i in issues):
        raise ModelError(issues)
    return model


def check_model(
    root: Path,
    *,
    name: str | None = None,
    dialect: str = "duckdb",
    column_types: ColumnTypes | None = None,
    derived_types: DerivedTypes | None = None,
    schema: SchemaSource | None = None,
    files: Mapping[str, str] | None = None,
) -> tuple[SemanticModel | None, list[ModelIssue]]:
    """Load the folder (or ``files``, as ``load_model``) and return the model (None if
    unusable) with every issue found."""
    log = IssueLog()
    texts = files
    if texts is None:
        if not folder_exists(root):
            log.error(Loc("", 0), f"model folder {str(root)!r} does not exist")
            return None, log.issues
        texts = read_folder(root)
    parsed, digest = read_texts(texts, dialect, log)
    settings = model_settings(parsed.model, log)
    # The dialect the model's SQL is written in; the compiler transpiles it for each warehouse.
    dialect = str(settings.get("dialect") or dialect).lower()
    if schema is not None:
        column_types = _extend_schema_layer(parsed, settings, schema, column_types)
        digest = hashlib.sha256(f"{digest}\0{schema.snapshot.content_hash()}".encode()).hexdigest()[
            :16
        ]
    if not parsed.views and not log.unparsed:
        where = "the warehouse's schema layer is empty and " if schema is not None else ""
        log.error(
            Loc("", 0),
            f"no views: {where}a model folder holds `<name>.view.yaml` files (and optionally "
            "`model.yaml`, `relationships.yaml`, `<name>.topic.yaml`)",
        )
        return None, log.issues
    model = parse_model(parsed, settings, dialect, log, column_types, derived_types)
    log.issues.extend(check_rules(model))
    issues = log.causes_only() if log.unparsed else log.issues
    return SemanticModel(
        name=name or root.name,
        views=model.views,
        relationships=tuple(model.relationships),
        topics=model.topics,
        dialect=dialect,
        fiscal_month_offset=int(settings.get("fiscal_month_offset", 0)),
        week_start_day=str(settings.get("week_start_day", "monday")).lower(),
        version=digest,
        warnings=tuple(i for i in issues if i.severity == "warning"),
    ), issues


def _extend_schema_layer(
    files: ModelFiles,
    settings: Mapping[str, Any],
    source: SchemaSource,
    column_types: ColumnTypes | None,
) -> ColumnTypes:
    """Lay the files over the schema layer (in ``files``, in place); the column types of the
    snapshot first, the warehouse's (``column_types``) for tables the snapshot does not hold."""
    layer = build_schema_layer(source.snapshot, SchemaOptions.from_settings(settings, source))
    read = [
        (layer.file_view_name(f.path) or file_stem(f.path), f.path, f.data) for f in files.views
    ]
    files.views = [YamlFile(path, data, name) for name, path, data in extend(layer, read)]
    relationships = files.relationships
    merged = extend_relationships(layer, relationships.data if relationships else None)
    if merged:
        path = relationships.path if relationships else "schema layer: relationships"
        files.relationships = YamlFile(path, merged)

    def types(table: str, schema: str | None) -> Mapping[str, str] | None:
        found = layer.column_types(table, schema)
        if found is None and column_types is not None:
            return column_types(table, schema)
        return found

    return types
