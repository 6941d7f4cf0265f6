"""The semantic model as frozen, typed values.

A ``SemanticModel`` is what the loader builds from a model folder. It is immutable and carries a
``version`` (a hash of its content) so compiled queries and cached results can be keyed by it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sluice.model.filters import Filter

# Data types a field can have, as ``summary.fields[*].data_type`` spells them (upper case).
STRING = "string"
NUMBER = "number"
TIMESTAMP = "timestamp"
DATE = "date"
BOOLEAN = "boolean"
UNKNOWN = "unknown"
DATA_TYPES = (STRING, NUMBER, TIMESTAMP, DATE, BOOLEAN)

AGGREGATE_TYPES = frozenset(
    {"count", "count_distinct", "sum", "average", "min", "max", "median", "percentile", "list",
     "sum_distinct_on", "average_distinct_on"}
)  # fmt: skip
DISTINCT_ON_TYPES = frozenset({"sum_distinct_on", "average_distinct_on"})

RELATIONSHIP_TYPES = frozenset({"many_to_one", "one_to_many", "one_to_one", "many_to_many"})
JOIN_TYPES = frozenset({"always_left", "inner", "full_outer", "cross"})

DEFAULT_TIMEFRAMES = ("raw", "date", "week", "month", "quarter", "year")


def label_for(name: str) -> str:
    """The default label of a field or view: ``order_id`` -> ``Order ID``."""
    return " ".join(
        w.upper() if w in ("id", "sku", "url") else w.capitalize() for w in name.split("_")
    )


@dataclass(frozen=True, slots=True)
class Loc:
    """Where a definition sits: file (relative to the model folder) and 1-based line."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True, slots=True)
class Dimension:
    view: str
    name: str
    sql: str | None  # None: the column of the same name
    type: str  # one of DATA_TYPES, or UNKNOWN when neither declared nor inferable
    primary_key: bool
    label: str
    description: str | None
    format: str | None
    hidden: bool
    timeframes: tuple[str, ...]
    convert_tz: bool
    group_label: str | None
    loc: Loc
    # ``groups``: (name, filter) pairs and the ``else`` label; ``bin_boundaries``: ascending.
    groups: tuple[tuple[str, Filter], ...] = ()
    group_else: str | None = None
    bin_boundaries: tuple[Decimal, ...] = ()

    @property
    def is_time(self) -> bool:
        return self.type in (TIMESTAMP, DATE)

    @property
    def qualified_name(self) -> str:
        return f"{self.view}.{self.name}"


@dataclass(frozen=True, slots=True)
class Measure:
    view: str
    name: str
    sql: str | None
    aggregate_type: str | None  # None: a measure built from other measures
    filters: tuple[tuple[str, Filter], ...]  # (field reference as written, filter)
    label: str
    description: str | None
    format: str | None
    hidden: bool
    group_label: str | None
    loc: Loc
    percentile: float | None = None  # 0..100, for aggregate_type percentile
    custom_primary_key_sql: str | None = None  # the key of sum/average_distinct_on

    @property
    def qualified_name(self) -> str:
        return f"{self.view}.{self.name}"


@dataclass(frozen=True, slots=True)
class View:
    name: str
    table_name: str | None  # None for a derived table (``sql``)
    schema: str | None
    sql: str | None
    label: str
    description: str | None
    hidden: bool
    dimensions: Mapping[str, Dimension]
    measures: Mapping[str, Measure]
    filter_fields: Mapping[str, Dimension]
    loc: Loc
    base_view: str | None = None  # set when this view is an alias (``join_to_view_as``)

    @property
    def primary_key(self) -> Dimension | None:
        for dim in self.dimensions.values():
            if dim.primary_key:
                return dim
        return None

    def field_names(self) -> list[str]:
        return [*self.dimensions, *self.measures, *self.filter_fields]


@dataclass(frozen=True, slots=True)
class Relationship:
    join_from_view: str
    join_to_view: str  # the alias when ``join_to_view_as`` is given
    on_sql: str | None
    relationship_type: str
    join_type: str
    loc: Loc

    def reversed_type(self) -> str:
        return {
            "many_to_one": "one_to_many",
            "one_to_many": "many_to_one",
        }.get(self.relationship_type, self.relationship_type)


@dataclass(frozen=True, slots=True)
class TopicJoin:
    """One node of a topic's join tree: ``view`` joined to its parent, then ``children``."""

    view: str
    children: tuple[TopicJoin, ...]
    loc: Loc


@dataclass(frozen=True, slots=True)
class Topic:
    name: str
    base_view: str
    label: str
    description: str | None
    hidden: bool
    group_label: str | None
    joins: tuple[TopicJoin, ...]
    fields: tuple[str, ...]  # curation patterns (``view.*``, ``-view.field``); empty: all
    default_filters: tuple[tuple[str, Filter], ...]
    always_where_filters: tuple[tuple[str, Filter], ...]
    always_where_sql: str | None
    default_row_limit: int | None
    cache_policy: str | None
    loc: Loc

    def admits(self, view: str, name: str) -> bool:
        """Does the topic's field curation (``view.*``, ``-view.field``) admit this field?"""
        if not self.fields:
            return True
        allowed = False
        for pattern in self.fields:
            negative = pattern.startswith("-")
            body = pattern[1:] if negative else pattern
            pattern_view, _, pattern_name = body.partition(".")
            if pattern_view in (view, "all_views") and pattern_name in ("*", name):
                allowed = not negative
        return allowed

    def join_views(self) -> list[str]:
        """Every view the topic can reach, base first, in tree (depth-first) order."""
        out = [self.base_view]

        def walk(nodes: tuple[TopicJoin, ...]) -> None:
            for node in nodes:
                out.append(node.view)
                walk(node.children)

        walk(self.joins)
        return out


@dataclass(frozen=True, slots=True)
class SemanticModel:
    name: str
    views: Mapping[str, View]
    relationships: tuple[Relationship, ...]
    topics: Mapping[str, Topic]
    dialect: str  # the dialect the model's SQL is written in (compiled SQL may target another)
    fiscal_month_offset: int
    week_start_day: str
    version: str
    warnings: tuple[Any, ...] = ()

    def lookup(self, view: str, name: str) -> Dimension | Measure | None:
        """The dimension, measure or filter-only field ``view.name``, or None."""
        found = self.views.get(view)
        if found is None:
            return None
        return (
            found.dimensions.get(name) or found.measures.get(name) or found.filter_fields.get(name)
        )

    def relationship(self, parent: str, child: str) -> tuple[Relationship, str] | None:
        """The relationship joining ``child`` to ``parent`` and its type seen from ``parent``."""
        for rel in self.relationships:
            if rel.join_from_view == parent and rel.join_to_view == child:
                return rel, rel.relationship_type
        for rel in self.relationships:
            if rel.join_from_view == child and rel.join_to_view == parent:
                return rel, rel.reversed_type()
        return None
