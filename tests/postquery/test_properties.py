"""Properties: pivoting keeps every non-NULL measure value exactly once."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from sluice.postquery import PostPlan, finish

ROW, PIVOT, MEASURE = "v.row", "v.pivot", "v.m"

keys = st.one_of(st.none(), st.sampled_from(["a", "b", "c", "d"]))
measures = st.one_of(st.none(), st.integers(-1000, 1000))
records = st.lists(
    st.tuples(keys, st.one_of(st.none(), st.integers(0, 6)), measures),
    max_size=40,
    unique_by=lambda r: (r[0], r[1]),
)


def table_of(rows: list[tuple[Any, Any, Any]]) -> pa.Table:
    return pa.table(
        {
            ROW: pa.array([r[0] for r in rows], pa.string()),
            PIVOT: pa.array([r[1] for r in rows], pa.int64()),
            MEASURE: pa.array([r[2] for r in rows], pa.int64()),
        }
    )


@settings(max_examples=200, deadline=None)
@given(records, st.booleans(), st.booleans(), st.integers(0, 40))
def test_pivot_keeps_each_non_null_value_once(
    rows: list[tuple[Any, Any, Any]], with_row_dim: bool, descending: bool, split: int
) -> None:
    table = table_of(rows)
    if not with_row_dim:  # one row per pivot value: drop duplicates of the pivot key
        first: dict[Any, tuple[Any, Any, Any]] = {}
        for row in rows:
            first.setdefault(row[1], row)
        rows = list(first.values())
        table = table_of(rows).drop_columns([ROW])
    table = pa.concat_tables([table.slice(0, split), table.slice(split)])  # two chunks
    dims = (ROW, PIVOT) if with_row_dim else (PIVOT,)
    plan = PostPlan(
        fields=(*dims, MEASURE),
        dimensions=dims,
        measures=(MEASURE,),
        pivots=(PIVOT,),
        column_limit=8,  # more than the 8 possible pivot values (0..6 and NULL)
        sort_descending={PIVOT: descending},
    )
    out = finish(table, plan, {}).table
    cells = [
        v
        for name in out.column_names
        if name.endswith(f"|{MEASURE}")
        for v in out.column(name).to_pylist()
    ]
    kept = [v for v in cells if v is not None]
    wanted = [r[2] for r in rows if r[2] is not None]
    assert len(kept) == len(wanted)
    assert sorted(kept) == sorted(wanted)
    if with_row_dim:
        assert out.num_rows == len({r[0] for r in rows})
    else:
        assert out.num_rows == (1 if rows else 0)
