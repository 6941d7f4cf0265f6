"""Totals: place totals that extra SQL computed; never re-aggregate a measure here.

Averages, distinct counts and medians cannot be summed from their parts, so the lead runs one
query per kind of total and hands the results over as :class:`Totals`. This module only puts
those values in the right cells.

Semantics (sluice's definition where Omni's wire format is not public):

* ``column_totals``: ONE row is appended. Its dimension cells are NULL; its measure cells come
  from ``Totals.column``: without pivots its first row (or ``Totals.grand`` when ``column`` is
  None, which is the same aggregate); with pivots the row whose pivot values equal the column's
  (NULL equal to NULL). Calculation cells are NULL. A string column
  ``$omni_column_total_indicator`` is appended: NULL on normal rows, ``"column_total"`` on the
  totals row.
* ``row_totals`` with pivots: after the pivoted columns, one column per measure named
  ``"::total::|<measure field name>"`` taken from ``Totals.row`` by equal non-pivot dimension
  values (NULL equal to NULL), and on the totals row from ``Totals.grand``. Their summary fields
  are the measure's with ``field_name`` set and ``"is_row_total": true``. Without pivots row
  totals are a no-op.
* A totals table that is None, lacks the measure's column or has no matching row leaves those
  cells NULL. A totals value whose type differs from the column's is cast to it when that is
  safe; otherwise both become float64 (numbers) or text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sluice.compiler.types import FieldMeta
from sluice.postquery._arrow import append, masked_take, match_rows
from sluice.postquery.pivot import Pivoted, measure_summary

COLUMN_TOTAL_INDICATOR = "$omni_column_total_indicator"
COLUMN_TOTAL = "column_total"
ROW_TOTAL_PREFIX = "::total::|"


@dataclass(frozen=True, slots=True)
class Totals:
    """Totals computed by SQL: per pivot combination, per row, and over everything."""

    column: pa.Table | None = None  # pivot fields + measures; without pivots one grand-total row
    row: pa.Table | None = None  # non-pivot dimensions + measures (across all pivot values)
    grand: pa.Table | None = None  # one row: measures over everything


NO_TOTALS = Totals()


def _cell(source: pa.Table | None, name: str, row: int = 0) -> pa.Array | None:
    """One cell of a totals table as a one-element array, or None when there is none."""
    if source is None or name not in source.column_names or not 0 <= row < source.num_rows:
        return None
    return source.column(name).slice(row, 1).combine_chunks()


def append_totals_row(table: pa.Table, cells: Mapping[str, pa.Array | None]) -> pa.Table:
    """``table`` plus one row holding ``cells`` (NULL elsewhere) and the indicator column."""
    arrays = []
    for name in table.column_names:
        column = table.column(name)
        cell = cells.get(name)
        if cell is None:
            cell = pa.nulls(1, type=column.type)
        arrays.append(append(column, cell))
    indicator = pa.array([None] * table.num_rows + [COLUMN_TOTAL], type=pa.string())
    return pa.Table.from_arrays(
        [*arrays, indicator], names=[*table.column_names, COLUMN_TOTAL_INDICATOR]
    )


def flat_column_totals(table: pa.Table, measures: Sequence[str], totals: Totals) -> pa.Table:
    """Column totals of a table that is not pivoted."""
    source = totals.column if totals.column is not None else totals.grand
    return append_totals_row(table, {m: _cell(source, m) for m in measures})


def row_total_columns(
    pivoted: Pivoted, totals: Totals, metas: Mapping[str, FieldMeta]
) -> tuple[pa.Table, dict[str, dict[str, Any]]]:
    """The pivoted table plus one ``::total::|<measure>`` column per measure; their summaries."""
    table = pivoted.table
    rows = table.num_rows
    source = totals.row
    if source is not None and all(d in source.column_names for d in pivoted.row_dims):
        index = match_rows(table, source, pivoted.row_dims)
    else:
        index = np.full(rows, -1, dtype=np.int64)
    summaries: dict[str, dict[str, Any]] = {}
    for measure in pivoted.measures:
        name = ROW_TOTAL_PREFIX + measure
        if source is not None and measure in source.column_names:
            values = masked_take(source.column(measure), index)
        else:
            values = pa.nulls(rows, type=_measure_type(pivoted, measure))
        table = table.append_column(name, values)
        entry = measure_summary(measure, metas)
        entry["field_name"] = name
        entry["is_row_total"] = True
        summaries[name] = entry
    return table, summaries


def pivoted_column_totals(table: pa.Table, pivoted: Pivoted, totals: Totals) -> pa.Table:
    """Column totals of a pivoted table (after any row-total columns were added)."""
    source = totals.column
    cells: dict[str, pa.Array | None] = {}
    if source is not None and all(p in source.column_names for p in pivoted.pivots):
        combo_row = match_rows(pivoted.combos, source, pivoted.pivots)
        for column in pivoted.columns:
            cells[column.name] = _cell(source, column.measure, int(combo_row[column.combo]))
    for measure in pivoted.measures:
        cells[ROW_TOTAL_PREFIX + measure] = _cell(totals.grand, measure)
    return append_totals_row(table, cells)


def _measure_type(pivoted: Pivoted, measure: str) -> pa.DataType:
    for column in pivoted.columns:
        if column.measure == measure:
            return pivoted.table.column(column.name).type
    return pa.null()
