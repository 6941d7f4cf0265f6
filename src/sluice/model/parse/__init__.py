"""Parse the model's YAML trees into its frozen types (``model/types.py``).

Parsing reports what it reads where it reads it (an unknown key, a value of the wrong kind, a
view a relationship names that does not exist), so each issue carries its file and line. The
checks that need the whole model (references, cycles) are ``model/rules.py``'s.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sluice.model.files import ModelFiles, file_stem
from sluice.model.issues import IssueLog
from sluice.model.parse.common import ColumnTypes, DerivedTypes
from sluice.model.parse.relationships import parse_relationships
from sluice.model.parse.topics import parse_topic
from sluice.model.parse.views import parse_view
from sluice.model.types import Loc, Relationship, Topic, View
from sluice.model.typing import infer_dimension_types


@dataclass
class ParsedModel:
    """The parsed views (aliases included), relationships and topics, before the rules run."""

    views: dict[str, View]
    relationships: list[Relationship]
    topics: dict[str, Topic]
    dialect: str  # the dialect the model's SQL is written in
    warehouse_typed: bool  # plain columns were typed by the warehouse (``column_types``)


def parse_model(
    files: ModelFiles,
    settings: Mapping[str, Any],
    dialect: str,
    log: IssueLog,
    column_types: ColumnTypes | None = None,
    derived_types: DerivedTypes | None = None,
) -> ParsedModel:
    """Views, then relationships (which may add alias views), then topics; last, expression
    dimensions without a declared type get their expression's type."""
    views: dict[str, View] = {}
    for file in files.views:
        view_name = file.name or file_stem(file.path)
        loc = Loc(file.path, 1)
        if view_name in views:
            log.error(loc, f"duplicate view `{view_name}` (also in {views[view_name].loc.file})")
            continue
        views[view_name] = parse_view(view_name, file, log, settings, column_types, derived_types)
    relationships = parse_relationships(files.relationships, views, log)
    topics: dict[str, Topic] = {}
    for file in files.topics:
        topic_name = file_stem(file.path)
        if topic_name in topics:
            log.error(Loc(file.path, 1), f"duplicate topic `{topic_name}`")
            continue
        topics[topic_name] = parse_topic(topic_name, file, views, relationships, log)
    _infer_expression_types(views, dialect)
    return ParsedModel(views, relationships, topics, dialect, column_types is not None)


def _infer_expression_types(views: dict[str, View], dialect: str) -> None:
    """Give expression dimensions without a declared type the type of their expression (in
    ``views``, in place; a view sees the types inferred for the views before it)."""
    for name, view in list(views.items()):
        inferred = infer_dimension_types(view, views, dialect)
        if inferred:
            dims = {
                k: dataclasses.replace(d, type=inferred.get(k, d.type))
                for k, d in view.dimensions.items()
            }
            views[name] = dataclasses.replace(view, dimensions=dims)
