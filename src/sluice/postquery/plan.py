"""What to do to a query's Arrow result after its SQL ran, and the pass that does it.

``finish`` runs the passes in this order, each returning a new table:

1. **fill** (``sluice.postquery.fill``): missing date periods, so calculations see them;
2. **calculations** (``sluice.postquery.calcs``), before pivoting; with pivots every calculation
   is reported invalid ("table calculations are not supported together with pivots yet");
3. **pivot** (``sluice.postquery.pivot``);
4. **totals** (``sluice.postquery.totals``): row-total columns, then the column-totals row.

Fill runs before the calculations (the brief listed calculations first) so that a running
total or a percent of total is computed over the rows the client sees, in the order it sees
them; otherwise filled rows would break a running total and the re-sort after filling would
leave it out of order.

Columns are classified by the plan: a column named in ``dimensions`` is a dimension, every other
column carries values (measures; a column named nowhere is treated as a measure). Pivot fields
that are not columns of the table (dropped as missing fields) are ignored.

With nothing to do (:func:`needs_post` is False) the input table itself is returned: zero copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from sluice.compiler.types import FieldMeta, PostPlan
from sluice.postquery.calcs import PIVOT_REASON, apply_calculations
from sluice.postquery.fill import fill_table
from sluice.postquery.pivot import pivot_summaries, pivot_table
from sluice.postquery.totals import (
    NO_TOTALS,
    Totals,
    flat_column_totals,
    pivoted_column_totals,
    row_total_columns,
)


@dataclass(frozen=True, slots=True)
class PostResult:
    table: pa.Table
    # summary.fields entries for the new columns (pivoted, row-total and calc columns)
    fields: Mapping[str, Mapping[str, Any]]
    invalid_calculations: Mapping[str, str]  # calc_name -> reason


def needs_post(plan: PostPlan) -> bool:
    """False when ``finish`` would return the table untouched (row totals need pivots)."""
    return bool(plan.calculations or plan.fill or plan.pivots or plan.column_totals)


def finish(
    table: pa.Table,
    plan: PostPlan,
    metas: Mapping[str, FieldMeta],
    totals: Totals = NO_TOTALS,
) -> PostResult:
    """Apply ``plan`` to a query's result (see the module docstring for the order of passes).

    Raises ``ValueError`` only when filling would create too many rows (a PLAN error).
    """
    if not needs_post(plan):
        return PostResult(table, {}, {})
    dimensions = [c for c in table.column_names if c in set(plan.dimensions)]
    for spec in plan.fill:
        table = fill_table(table, spec, dimensions, plan.sort_descending.get(spec.field))
    pivots = [p for p in plan.pivots if p in table.column_names]
    summaries: dict[str, Mapping[str, Any]] = {}
    invalid: Mapping[str, str] = {}
    calc_columns: tuple[str, ...] = ()
    if plan.calculations:
        outcome = apply_calculations(
            table, plan.calculations, plan.fields, metas, PIVOT_REASON if pivots else None
        )
        table, invalid, calc_columns = outcome.table, outcome.invalid, outcome.added
        summaries.update(outcome.summaries)
    values = [c for c in table.column_names if c not in dimensions and c not in calc_columns]
    if not pivots:
        if plan.column_totals:
            table = flat_column_totals(table, values, totals)
        return PostResult(table, summaries, invalid)
    pivoted = pivot_table(
        table,
        row_dims=[d for d in dimensions if d not in pivots],
        pivots=pivots,
        measures=values,
        column_limit=plan.column_limit,
        descending=plan.sort_descending,
    )
    summaries.update(pivot_summaries(pivoted, metas))
    table = pivoted.table
    if plan.row_totals:
        table, row_summaries = row_total_columns(pivoted, totals, metas)
        summaries.update(row_summaries)
    if plan.column_totals:
        table = pivoted_column_totals(table, pivoted, totals)
    return PostResult(table, summaries, invalid)
