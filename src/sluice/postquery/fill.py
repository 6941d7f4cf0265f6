"""``fill_fields``: insert the periods a date dimension is missing, as Omni's "fill" does.

Semantics (sluice's definition; Omni does not publish one):

* A :class:`FillSpec` names a DATE column and its grain (``date``, ``week``, ``month``,
  ``quarter``, ``year``; case-insensitive). Values are the period starts: weeks start on Monday,
  quarters on January, April, July and October 1st.
* The range runs from the period containing ``start`` (or the data's smallest value) to the last
  period that begins before ``end`` (``end`` is exclusive, as a date filter's upper bound is), or
  to the data's largest value inclusive when ``end`` is None. With no bound given and no non-NULL
  value in the data there is nothing to fill.
* Rows are filled per combination of the *other* dimensions' values present in the data (NULL is
  a value like any other); with no other dimension the whole table is one combination, so an
  empty table with both bounds given becomes one row per period. A period counts as present for
  a combination when any row of it falls in that period. Inserted rows carry the period start in
  the fill field, the combination's values in the other dimensions, and NULL everywhere else.
* Order afterwards: by the fill field, NULLs last, descending when ``descending`` says so (the
  query's sort on the field) or, when it is None, when the data's non-NULL values were
  non-increasing with at least one decrease; ascending otherwise. Rows with equal fill values
  keep the first-appearance order of their other-dimension combination, then their input order.
* A field that is absent, not a DATE column, or has another grain is left alone (no error).
  When nothing is missing the table is returned as it came (same object, SQL order kept).
* Guard: when the filled table would exceed :data:`MAX_FILLED_ROWS` rows a ``ValueError`` says
  ``fill_fields would create N rows; narrow the date filter`` before anything is allocated.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sluice.compiler.types import FillSpec
from sluice.model.grains import FILL_GRAINS
from sluice.postquery._arrow import BoolArray, IntArray, first_rows, group_ids, masked_take

MAX_FILLED_ROWS = 100_000
_EPOCH = dt.date(1970, 1, 1)


def fill_table(
    table: pa.Table, spec: FillSpec, dimensions: Sequence[str], descending: bool | None = None
) -> pa.Table:
    """``table`` with the missing periods of ``spec`` inserted (see the module docstring)."""
    grain = spec.grain.lower()
    if grain not in FILL_GRAINS or spec.field not in table.column_names:
        return table
    column = table.column(spec.field)
    if not pa.types.is_date(column.type):
        return table
    days, valid = _days(column)
    index = _period_index(days, grain)
    bounds = _bounds(spec, grain, index[valid])
    if bounds is None:
        return table
    lo, periods = bounds
    others = [d for d in dimensions if d != spec.field and d in table.column_names]
    combo, combos = group_ids(table, others)
    combos = max(combos, 1)
    in_range = valid & (index >= lo) & (index < lo + periods)
    existing = np.unique(combo[in_range] * periods + (index[in_range] - lo))
    missing = combos * periods - int(existing.size)
    if missing == 0:
        return table
    total = table.num_rows + missing
    if total > MAX_FILLED_ROWS:
        raise ValueError(f"fill_fields would create {total} rows; narrow the date filter")
    absent = np.ones(combos * periods, dtype=bool)
    absent[existing] = False
    keys = np.flatnonzero(absent).astype(np.int64)
    new_combo = keys // periods
    new_days = _period_start(lo + keys % periods, grain)
    firsts = first_rows(combo)
    inserted = []
    for name in table.column_names:
        kind = table.schema.field(name).type
        if name == spec.field:
            days32 = pa.array(new_days.astype(np.int32), type=pa.int32())
            inserted.append(days32.cast(pa.date32()).cast(kind))
        elif name in others:
            inserted.append(masked_take(table.column(name), firsts[new_combo]))
        else:
            inserted.append(pa.nulls(len(keys), type=kind))
    filled = pa.concat_tables([table, pa.Table.from_arrays(inserted, schema=table.schema)])
    if descending is None:
        descending = _is_descending(days[valid])
    order = pc.sort_indices(
        pa.table({"value": filled.column(spec.field), "group": np.concatenate([combo, new_combo])}),
        sort_keys=[
            ("value", "descending" if descending else "ascending", "at_end"),
            ("group", "ascending", "at_end"),
        ],
    )
    return filled.take(order)


def _bounds(spec: FillSpec, grain: str, present: IntArray) -> tuple[int, int] | None:
    """The first period index and the number of periods to cover, or None for nothing to fill."""
    if spec.start is not None:
        lo = int(_period_index(np.array([_day(spec.start)], dtype=np.int64), grain)[0])
    elif present.size:
        lo = int(present.min())
    else:
        return None
    if spec.end is not None:  # the last period beginning before the exclusive end
        last_day = np.array([_day(spec.end) - 1], dtype=np.int64)
        hi = int(_period_index(last_day, grain)[0])
    elif present.size:
        hi = int(present.max())
    else:
        return None
    periods = hi - lo + 1
    return (lo, periods) if periods > 0 else None


def _days(column: pa.ChunkedArray) -> tuple[IntArray, BoolArray]:
    """Days since 1970-01-01 of each value (0 where NULL) and the validity mask."""
    array = column.combine_chunks().cast(pa.date32())
    valid = array.is_valid().to_numpy(zero_copy_only=False)
    days = pc.fill_null(array.cast(pa.int32()), 0).to_numpy(zero_copy_only=False)
    return days.astype(np.int64), valid


def _day(value: dt.date) -> int:
    return (value - _EPOCH).days


def _period_index(days: IntArray, grain: str) -> IntArray:
    """The number of the period each day falls in (weeks counted from a Monday)."""
    if grain == "date":
        return days
    if grain == "week":  # 1970-01-01 was a Thursday; day 4 (1970-01-05) is week 1's Monday
        return (days + 3) // 7
    as_dates = days.astype("datetime64[D]")
    if grain == "year":
        return as_dates.astype("datetime64[Y]").astype(np.int64)
    months = as_dates.astype("datetime64[M]").astype(np.int64)
    return months if grain == "month" else months // 3


def _period_start(index: IntArray, grain: str) -> IntArray:
    """The first day (days since the epoch) of each numbered period."""
    if grain == "date":
        return index
    if grain == "week":
        return index * 7 - 3
    if grain == "year":
        return index.astype("datetime64[Y]").astype("datetime64[D]").astype(np.int64)
    months = index if grain == "month" else index * 3
    return months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)


def _is_descending(values: IntArray) -> bool:
    steps = np.diff(values)
    return bool(steps.size and (steps <= 0).all() and (steps < 0).any())
