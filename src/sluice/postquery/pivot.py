"""Pivots: the values of the pivot fields become columns, one per measure.

Semantics (sluice's definition where Omni's wire format is not public):

* Output columns: the non-pivot dimensions in order, then for each pivot value combination one
  column per measure (in the order of the query's fields), named
  ``"<pivot value 1>|<pivot value 2>|...|<measure field name>"``.
* Combinations are those present in the data, sorted by the pivot fields in order, ascending
  unless the query sorts that field descending, NULLs last whatever the direction, and cut to
  ``column_limit``. Rows whose combination is cut are dropped.
* Pivot values as text: dates ``YYYY-MM-DD``, timestamps ``YYYY-MM-DD HH:MM:SS`` (with
  ``.ffffff`` only when there are fractional seconds; time-zone aware values in their zone),
  NULL ``∅``, booleans ``true``/``false``, numbers as Python ``str()`` without the ``.0`` of an
  integral float, anything else ``str()``. Two values that render alike (the text ``"∅"`` and
  NULL, say) give columns of the same name.
* Rows: the distinct non-pivot dimension combinations (NULL equal to NULL) in the order they
  first appear in the input; a cell with no input row is NULL. The input is grouped by every
  dimension, so each cell has at most one row (were there several, the last would win). With no
  non-pivot dimension there is exactly one row (none when the input is empty).
* Each pivoted column's summary field is the measure's, with ``field_name`` set to the column
  name and ``pivot_values`` mapping each pivot field to its value as JSON carries it (dates and
  timestamps as the text above, decimals as numbers).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.compiler.types import FieldMeta
from sluice.postquery._arrow import (
    first_rows,
    group_ids,
    json_value,
    masked_take,
    render,
    scalar_values,
)


@dataclass(frozen=True, slots=True)
class PivotColumn:
    """One pivoted measure column."""

    name: str
    measure: str
    combo: int  # row of ``Pivoted.combos`` holding its pivot values
    values: Mapping[str, Any]  # pivot field -> JSON-able value


@dataclass(frozen=True, slots=True)
class Pivoted:
    table: pa.Table
    row_dims: tuple[str, ...]
    pivots: tuple[str, ...]
    measures: tuple[str, ...]
    combos: pa.Table  # the kept pivot value combinations (pivot columns only), in column order
    columns: tuple[PivotColumn, ...]


def pivot_table(
    table: pa.Table,
    *,
    row_dims: Sequence[str],
    pivots: Sequence[str],
    measures: Sequence[str],
    column_limit: int,
    descending: Mapping[str, bool],
) -> Pivoted:
    """Pivot ``table`` (see the module docstring)."""
    combo_of_row, combo_count = group_ids(table, pivots)
    combos = table.select(list(pivots)).take(pa.array(first_rows(combo_of_row)))
    order = pc.sort_indices(
        combos,
        sort_keys=[
            (p, "descending" if descending.get(p, False) else "ascending", "at_end") for p in pivots
        ],
    )
    kept = order.to_numpy(zero_copy_only=False)[:column_limit].astype(np.int64)
    rank = np.full(combo_count, -1, dtype=np.int64)
    rank[kept] = np.arange(len(kept), dtype=np.int64)
    column_of_row = rank[combo_of_row]

    row_of_input, row_count = group_ids(table, row_dims)
    if not row_dims and table.num_rows == 0:
        row_count = 0
    cells = np.full(len(kept) * row_count, -1, dtype=np.int64)
    used = np.flatnonzero(column_of_row >= 0)
    cells[column_of_row[used] * row_count + row_of_input[used]] = used

    kept_combos = combos.take(pa.array(kept))
    firsts = first_rows(row_of_input) if row_dims else np.zeros(0, dtype=np.int64)
    names: list[str] = list(row_dims)
    arrays: list[pa.Array] = [masked_take(table.column(d), firsts) for d in row_dims]
    columns: list[PivotColumn] = []
    for position, values in enumerate(_combo_values(kept_combos, pivots)):
        prefix = "|".join(render(v) for v in values)
        as_json = {p: json_value(v) for p, v in zip(pivots, values, strict=True)}
        index = cells[position * row_count : (position + 1) * row_count]
        for measure in measures:
            name = f"{prefix}|{measure}"
            names.append(name)
            arrays.append(masked_take(table.column(measure), index))
            columns.append(PivotColumn(name, measure, position, as_json))
    out = pa.Table.from_arrays(arrays, names=names) if names else pa.table({})
    return Pivoted(
        out, tuple(row_dims), tuple(pivots), tuple(measures), kept_combos, tuple(columns)
    )


def _combo_values(combos: pa.Table, pivots: Sequence[str]) -> list[tuple[Any, ...]]:
    columns = [scalar_values(combos.column(p).combine_chunks()) for p in pivots]
    return list(zip(*columns, strict=True)) if columns else []


def measure_summary(name: str, metas: Mapping[str, FieldMeta]) -> dict[str, Any]:
    """The measure's ``summary.fields`` entry (a plain one when no FieldMeta describes it)."""
    meta = metas.get(name)
    if meta is not None:
        return meta.summary()
    return {
        "field_name": name,
        "fully_qualified_name": name,
        "view_name": None,
        "label": name,
        "data_type": "UNKNOWN",
        "is_dimension": False,
        "aggregate_type": None,
        "format": None,
        "hidden": False,
        "description": None,
    }


def pivot_summaries(pivoted: Pivoted, metas: Mapping[str, FieldMeta]) -> dict[str, dict[str, Any]]:
    """``summary.fields`` entries of the pivoted columns."""
    out: dict[str, dict[str, Any]] = {}
    for column in pivoted.columns:
        entry = measure_summary(column.measure, metas)
        entry["field_name"] = column.name
        entry["pivot_values"] = dict(column.values)
        out[column.name] = entry
    return out
