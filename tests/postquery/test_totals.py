"""Totals are placed, never re-aggregated: the values below are deliberately not sums."""

from __future__ import annotations

import pyarrow as pa

from sluice.postquery import (
    COLUMN_TOTAL_INDICATOR,
    PostPlan,
    Totals,
    finish,
    needs_post,
)
from tests.postquery.support import assert_table, meta

STATE, STATUS = "users.state", "orders.status"
COUNT, AVG = "orders.count", "orders.avg_price"
IND = COLUMN_TOTAL_INDICATOR

FLAT = pa.table({STATE: ["CA", "NY"], COUNT: [3, 4], AVG: [2.0, 6.0]})


def flat_plan(**kwargs: object) -> PostPlan:
    return PostPlan(
        fields=(STATE, COUNT, AVG), dimensions=(STATE,), measures=(COUNT, AVG), **kwargs
    )  # type: ignore[arg-type]


def test_column_totals_without_pivots() -> None:
    totals = Totals(column=pa.table({COUNT: [6], AVG: [4.5]}))  # 4.5 is no average of 2 and 6
    out = finish(FLAT, flat_plan(column_totals=True), {}, totals).table
    assert_table(
        out,
        {
            STATE: ["CA", "NY", None],
            COUNT: [3, 4, 6],
            AVG: [2.0, 6.0, 4.5],
            IND: [None, None, "column_total"],
        },
    )
    assert out.schema.field(COUNT).type == pa.int64()
    assert out.schema.field(IND).type == pa.string()


def test_grand_totals_stand_in_for_missing_column_totals_without_pivots() -> None:
    out = finish(
        FLAT, flat_plan(column_totals=True), {}, Totals(grand=pa.table({COUNT: [6], AVG: [4.5]}))
    ).table
    assert out.column(COUNT).to_pylist() == [3, 4, 6]


def test_missing_totals_leave_null_cells() -> None:
    out = finish(FLAT, flat_plan(column_totals=True), {}).table
    assert_table(
        out,
        {
            STATE: ["CA", "NY", None],
            COUNT: [3, 4, None],
            AVG: [2.0, 6.0, None],
            IND: [None, None, "column_total"],
        },
    )
    partial = Totals(column=pa.table({COUNT: [6]}))
    assert finish(FLAT, flat_plan(column_totals=True), {}, partial).table.column(
        AVG
    ).to_pylist() == [2.0, 6.0, None]


def test_totals_types_are_reconciled() -> None:
    safe = Totals(column=pa.table({COUNT: [6.0], AVG: pa.array([4], pa.int32())}))
    out = finish(FLAT, flat_plan(column_totals=True), {}, safe).table
    assert out.schema.field(COUNT).type == pa.int64()
    assert out.schema.field(AVG).type == pa.float64()
    assert out.column(COUNT).to_pylist() == [3, 4, 6]
    assert out.column(AVG).to_pylist() == [2.0, 6.0, 4.0]
    unsafe = Totals(column=pa.table({COUNT: [6.5], AVG: [4.5]}))
    out = finish(FLAT, flat_plan(column_totals=True), {}, unsafe).table
    assert out.schema.field(COUNT).type == pa.float64()
    assert out.column(COUNT).to_pylist() == [3.0, 4.0, 6.5]


def test_calc_cells_of_the_totals_row_are_null() -> None:
    plan = flat_plan(
        column_totals=True,
        calculations=({"calc_name": "twice", "original_formula": "orders.count * 2"},),
    )
    out = finish(FLAT, plan, {}, Totals(column=pa.table({COUNT: [6], AVG: [4.5]}))).table
    assert_table(
        out,
        {
            STATE: ["CA", "NY", None],
            COUNT: [3, 4, 6],
            AVG: [2.0, 6.0, 4.5],
            "twice": [6.0, 8.0, None],
            IND: [None, None, "column_total"],
        },
    )


def test_row_totals_without_pivots_do_nothing() -> None:
    plan = flat_plan(row_totals=True)
    assert not needs_post(plan)
    assert finish(FLAT, plan, {}, Totals(row=pa.table({STATE: ["CA"], COUNT: [1]}))).table is FLAT


# Pivoted: rows a, b, NULL; pivot values x, y, NULL.
PIVOT_INPUT = pa.table(
    {
        STATE: ["a", "a", "b", "b", None],
        STATUS: ["x", "y", "x", None, "y"],
        COUNT: [1, 2, 3, 4, 5],
        AVG: [1.5, 2.0, None, 4.0, 5.0],
    }
)
PIVOT_TOTALS = Totals(
    # one row per pivot value, in another order; "z" was cut by nothing and matches no column
    column=pa.table(
        {STATUS: [None, "z", "y", "x"], COUNT: [40, 99, 70, 41], AVG: [4.0, 9.9, 3.3, 1.1]}
    ),
    # one row per non-pivot dimension value, NULL included, in another order
    row=pa.table({STATE: ["b", None, "a"], COUNT: [70, 50, 30], AVG: [3.7, 5.0, 1.7]}),
    grand=pa.table({COUNT: [150], AVG: [2.9]}),
)


def pivot_plan(**kwargs: object) -> PostPlan:
    return PostPlan(
        fields=(STATE, STATUS, COUNT, AVG),
        dimensions=(STATE, STATUS),
        measures=(COUNT, AVG),
        pivots=(STATUS,),
        **kwargs,  # type: ignore[arg-type]
    )


def test_pivoted_with_row_and_column_totals() -> None:
    metas = {COUNT: meta(COUNT, dimension=False, aggregate="count", label="Orders")}
    result = finish(
        PIVOT_INPUT, pivot_plan(row_totals=True, column_totals=True), metas, PIVOT_TOTALS
    )
    assert_table(
        result.table,
        {
            STATE: ["a", "b", None, None],
            f"x|{COUNT}": [1, 3, None, 41],
            f"x|{AVG}": [1.5, None, None, 1.1],
            f"y|{COUNT}": [2, None, 5, 70],
            f"y|{AVG}": [2.0, None, 5.0, 3.3],
            f"∅|{COUNT}": [None, 4, None, 40],
            f"∅|{AVG}": [None, 4.0, None, 4.0],
            f"::total::|{COUNT}": [30, 70, 50, 150],
            f"::total::|{AVG}": [1.7, 3.7, 5.0, 2.9],
            IND: [None, None, None, "column_total"],
        },
    )
    assert result.fields[f"::total::|{COUNT}"] == {
        "field_name": f"::total::|{COUNT}",
        "fully_qualified_name": COUNT,
        "view_name": "orders",
        "label": "Orders",
        "data_type": "NUMBER",
        "is_dimension": False,
        "aggregate_type": "count",
        "format": None,
        "hidden": False,
        "description": None,
        "is_row_total": True,
    }
    assert result.fields[f"::total::|{AVG}"]["is_row_total"] is True
    assert IND not in result.fields
    assert list(result.fields) == [
        f"x|{COUNT}", f"x|{AVG}", f"y|{COUNT}", f"y|{AVG}", f"∅|{COUNT}", f"∅|{AVG}",
        f"::total::|{COUNT}", f"::total::|{AVG}",
    ]  # fmt: skip


def test_pivoted_with_column_totals_only() -> None:
    out = finish(
        PIVOT_INPUT.select([STATE, STATUS, COUNT]), pivot_plan(column_totals=True), {}, PIVOT_TOTALS
    ).table
    assert_table(
        out,
        {
            STATE: ["a", "b", None, None],
            f"x|{COUNT}": [1, 3, None, 41],
            f"y|{COUNT}": [2, None, 5, 70],
            f"∅|{COUNT}": [None, 4, None, 40],
            IND: [None, None, None, "column_total"],
        },
    )


def test_pivoted_with_row_totals_only() -> None:
    out = finish(
        PIVOT_INPUT.select([STATE, STATUS, COUNT]), pivot_plan(row_totals=True), {}, PIVOT_TOTALS
    ).table
    assert_table(
        out,
        {
            STATE: ["a", "b", None],
            f"x|{COUNT}": [1, 3, None],
            f"y|{COUNT}": [2, None, 5],
            f"∅|{COUNT}": [None, 4, None],
            f"::total::|{COUNT}": [30, 70, 50],
        },
    )


def test_pivoted_with_missing_totals_and_rows() -> None:
    partial = Totals(
        column=pa.table({STATUS: ["x"], COUNT: [41]}),  # no y, no NULL, no AVG column
        row=pa.table({STATE: ["a"], COUNT: [30]}),
    )
    out = finish(
        PIVOT_INPUT.select([STATE, STATUS, COUNT]),
        pivot_plan(row_totals=True, column_totals=True),
        {},
        partial,
    ).table
    assert_table(
        out,
        {
            STATE: ["a", "b", None, None],
            f"x|{COUNT}": [1, 3, None, 41],
            f"y|{COUNT}": [2, None, 5, None],
            f"∅|{COUNT}": [None, 4, None, None],
            f"::total::|{COUNT}": [30, None, None, None],
            IND: [None, None, None, "column_total"],
        },
    )
    none = finish(
        PIVOT_INPUT.select([STATE, STATUS, COUNT]),
        pivot_plan(row_totals=True, column_totals=True),
        {},
    ).table
    assert none.column(f"::total::|{COUNT}").to_pylist() == [None, None, None, None]
    assert none.schema.field(f"::total::|{COUNT}").type == pa.int64()
    assert none.column(f"x|{COUNT}").to_pylist() == [1, 3, None, None]


def test_pivoted_without_other_dimensions() -> None:
    table = pa.table({STATUS: ["x", "y"], COUNT: [1, 2]})
    plan = PostPlan(
        fields=(STATUS, COUNT), dimensions=(STATUS,), measures=(COUNT,), pivots=(STATUS,),
        row_totals=True, column_totals=True,
    )  # fmt: skip
    totals = Totals(
        column=pa.table({STATUS: ["y", "x"], COUNT: [20, 10]}),
        row=pa.table({COUNT: [33]}),
        grand=pa.table({COUNT: [33]}),
    )
    assert_table(
        finish(table, plan, {}, totals).table,
        {
            f"x|{COUNT}": [1, 10],
            f"y|{COUNT}": [2, 20],
            f"::total::|{COUNT}": [33, 33],
            IND: [None, "column_total"],
        },
    )


def test_pivoted_totals_match_on_two_pivot_fields_and_dates() -> None:
    import datetime as dt

    day = "orders.created_at[date]"
    jan, feb = dt.date(2024, 1, 1), dt.date(2024, 2, 1)
    table = pa.table(
        {
            STATE: ["a", "a"],
            day: pa.array([jan, feb], pa.date32()),
            STATUS: ["x", "x"],
            COUNT: [1, 2],
        }
    )
    plan = PostPlan(
        fields=(STATE, day, STATUS, COUNT), dimensions=(STATE, day, STATUS), measures=(COUNT,),
        pivots=(day, STATUS), column_totals=True,
    )  # fmt: skip
    totals = Totals(
        column=pa.table(
            {day: pa.array([feb, jan], pa.date32()), STATUS: ["x", "x"], COUNT: [20, 10]}
        )
    )
    assert_table(
        finish(table, plan, {}, totals).table,
        {
            STATE: ["a", None],
            f"2024-01-01|x|{COUNT}": [1, 10],
            f"2024-02-01|x|{COUNT}": [2, 20],
            IND: [None, "column_total"],
        },
    )
