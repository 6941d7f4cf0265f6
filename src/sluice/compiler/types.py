"""What the compiler hands on: SQL for one dialect plus the metadata of every output field."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from sluice.query.spec import DEFAULT_COLUMN_LIMIT


@dataclass(frozen=True, slots=True)
class CompileOptions:
    max_rows: int | None = None  # a limit above this (or no limit) is refused; None: no cap
    allow_raw_sql: bool = False  # may userEditedSQL run verbatim (rewriteSql: false)?


@dataclass(frozen=True, slots=True)
class FieldMeta:
    """One output column, described as ``summary.fields[name]`` carries it."""

    field_name: str  # exactly as requested, grain included
    view_name: str
    name: str  # the field's name inside its view (no grain)
    grain: str | None
    label: str
    data_type: str  # NUMBER, STRING, TIMESTAMP, DATE, BOOLEAN, UNKNOWN
    is_dimension: bool
    aggregate_type: str | None
    format: str | None
    hidden: bool
    description: str | None
    alias: str  # the column alias in the SQL

    @property
    def fully_qualified_name(self) -> str:
        return f"{self.view_name}.{self.short_name}"

    @property
    def short_name(self) -> str:
        """The name within its view, grain included (``created_at[month]``), as Omni's
        ``field_name`` is."""
        return f"{self.name}[{self.grain}]" if self.grain else self.name

    def summary(self) -> dict[str, Any]:
        return {
            "field_name": self.short_name,
            "fully_qualified_name": self.fully_qualified_name,
            "view_name": self.view_name,
            "label": self.label,
            "data_type": self.data_type,
            "is_dimension": self.is_dimension,
            "aggregate_type": self.aggregate_type,
            "format": {"value": self.format} if self.format else None,
            "hidden": self.hidden,
            "description": self.description,
        }


@dataclass(frozen=True, slots=True)
class FillSpec:
    """A ``fill_fields`` entry: its name as requested, its date grain, and the range ``[start,
    end)`` the query's filter on it gives (``sluice.postquery.fill`` inserts missing periods)."""

    field: str  # e.g. "order_items.created_at[month]"
    grain: str  # date | week | month | quarter | year
    start: date | None = None  # None: the data's smallest value
    end: date | None = None  # exclusive; None: the data's largest value, inclusive

    def __post_init__(self) -> None:
        if not self.field:
            raise ValueError("FillSpec.field must be a field name")
        for name in ("start", "end"):
            value = getattr(self, name)
            if isinstance(value, datetime):  # a timestamp bound: its calendar day
                object.__setattr__(self, name, value.date())


@dataclass(frozen=True, slots=True)
class PostPlan:
    """What runs after the SQL: pivots, totals, fill, table calculations (``sluice.postquery``).

    ``totals`` are extra compiled queries, so totals of averages and distinct counts are
    computed by the warehouse, never re-aggregated from rows."""

    fields: tuple[str, ...]  # output order as requested, calc names included
    dimensions: tuple[str, ...]  # dimension field names (including pivot fields)
    measures: tuple[str, ...]  # measure field names
    pivots: tuple[str, ...] = ()  # a subset of dimensions
    column_limit: int = DEFAULT_COLUMN_LIMIT  # pivot value combinations kept
    column_totals: bool = False
    row_totals: bool = False
    fill: tuple[FillSpec, ...] = ()
    calculations: tuple[Mapping[str, Any], ...] = ()  # raw calc objects as sent
    sort_descending: Mapping[str, bool] = field(default_factory=dict)  # field -> descending
    totals: tuple[tuple[str, CompiledQuery], ...] = ()  # ("column" | "row" | "grand", query)

    def __post_init__(self) -> None:
        if isinstance(self.column_limit, bool) or self.column_limit < 1:
            raise ValueError("PostPlan.column_limit must be a positive integer")
        stray = [p for p in self.pivots if p not in self.dimensions]
        if stray:
            raise ValueError(f"PostPlan.pivots must be dimensions; not: {stray}")


@dataclass(frozen=True, slots=True)
class CompiledQuery:
    sql: str
    dialect: str
    fields: tuple[FieldMeta, ...]
    missing_fields: tuple[str, ...]
    model_version: str
    base_view: str
    topic: str | None
    limit: int | None
    # The user attributes the SQL depends on (name -> value), for cache keys.
    user_attributes: tuple[tuple[str, str], ...] = ()
    # SQL mode: columns are named by the statement; ``fields`` describes the bare references.
    sql_mode: bool = False
    post: PostPlan | None = None  # work after the SQL (pivots, totals, fill, calculations)
    # Why each of ``missing_fields`` was left out, with a "did you mean" (summary.warnings).
    warnings: tuple[str, ...] = ()
    # A date literal relative to the clock went into it, truncating the clock to this grain
    # (``compiler.dates.CLOCK_GRAINS``): compiled in another such bucket, it would differ.
    clock_grain: str | None = None

    @property
    def reads_clock(self) -> bool:
        return self.clock_grain is not None

    def name_columns(self, table: pa.Table) -> pa.Table:
        """Rename the SQL aliases to the requested field names (zero-copy)."""
        if self.sql_mode or table.num_columns != len(self.fields):
            return table
        return table.rename_columns([f.field_name for f in self.fields])

    def summary_fields(self, table: pa.Table | None = None) -> dict[str, dict[str, Any]]:
        """``summary.fields``; with the result ``table``, also its columns no field describes
        (SQL mode), typed from the Arrow schema."""
        out = {f.field_name: f.summary() for f in self.fields}
        if table is not None:
            for column in table.schema:
                if column.name not in out:
                    out[column.name] = column_summary(column)
        return out


def arrow_data_type(t: pa.DataType) -> str:
    """The sluice data type (``number``, ``string``, ...) of an Arrow type."""
    if pa.types.is_boolean(t):
        return "boolean"
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "number"
    if pa.types.is_timestamp(t):
        return "timestamp"
    if pa.types.is_date(t):
        return "date"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "string"
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return "array"
    return "unknown"


def column_summary(column: pa.Field) -> dict[str, Any]:
    """``summary.fields`` entry for a result column that no model field describes."""
    data_type = arrow_data_type(column.type).upper()
    return {
        "field_name": column.name,
        "fully_qualified_name": column.name,
        "view_name": None,
        "label": column.name,
        "data_type": data_type,
        "is_dimension": data_type != "NUMBER",
        "aggregate_type": None,
        "format": None,
        "hidden": False,
        "description": None,
    }
