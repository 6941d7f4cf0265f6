"""The plan: when there is nothing to do, the order of the passes, and the plan's invariants."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from sluice.postquery import FillSpec, PostPlan, Totals, finish, needs_post
from tests.postquery.support import assert_table

D, M = "orders.created_at[month]", "orders.count"
TABLE = pa.table({D: pa.array([dt.date(2024, 3, 1), dt.date(2024, 1, 1)], pa.date32()), M: [1, 2]})


def plan(**kwargs: object) -> PostPlan:
    return PostPlan(fields=(D, M), dimensions=(D,), measures=(M,), **kwargs)  # type: ignore[arg-type]


def test_nothing_to_do_returns_the_same_table() -> None:
    empty = plan()
    assert not needs_post(empty)
    result = finish(TABLE, empty, {}, Totals(grand=pa.table({M: [3]})))
    assert result.table is TABLE
    assert result.fields == {}
    assert result.invalid_calculations == {}


@pytest.mark.parametrize(
    "kwargs",
    [
        {"calculations": ({"calc_name": "c", "original_formula": "1"},)},
        {"fill": (FillSpec(D, "month"),)},
        {"pivots": (D,)},
        {"column_totals": True},
    ],
)
def test_needs_post(kwargs: dict[str, object]) -> None:
    assert needs_post(plan(**kwargs))


def test_row_totals_alone_need_nothing() -> None:
    assert not needs_post(plan(row_totals=True))


def test_fill_runs_before_calculations() -> None:
    # Filled February counts as 0 in the running total and shows the total so far.
    p = PostPlan(
        fields=(D, "running", M),
        dimensions=(D,),
        measures=(M,),
        fill=(FillSpec(D, "month"),),
        calculations=({"calc_name": "running", "original_formula": "RUNNING_TOTAL(orders.count)"},),
    )
    assert_table(
        finish(TABLE, p, {}).table,
        {
            D: [dt.date(2024, 3, 1), dt.date(2024, 2, 1), dt.date(2024, 1, 1)],
            "running": [1.0, 1.0, 3.0],
            M: [1, None, 2],
        },
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"column_limit": 0}, "column_limit must be a positive integer"),
        ({"column_limit": True}, "column_limit must be a positive integer"),
        ({"pivots": (M,)}, "pivots must be dimensions"),
    ],
)
def test_plan_invariants(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(**kwargs)


def test_fill_spec_needs_a_field() -> None:
    with pytest.raises(ValueError, match="field"):
        FillSpec("", "month")


def test_values_are_frozen() -> None:
    p = plan()
    with pytest.raises(AttributeError):
        p.column_limit = 3  # type: ignore[misc]


def test_chunked_input_gives_the_same_result() -> None:
    region = "users.region"
    table = pa.table(
        {
            D: pa.array([dt.date(2024, m, 1) for m in (1, 3, 4, 1, 2)], pa.date32()),
            region: ["e", "e", "e", "w", None],
            M: [1, 2, 3, 4, 5],
        }
    )
    chunked = pa.concat_tables([table.slice(0, 2), table.slice(2, 1), table.slice(3)])
    assert chunked.column(M).num_chunks == 3
    plans = [
        PostPlan(
            fields=(D, region, M, "share"),
            dimensions=(D, region),
            measures=(M,),
            fill=(FillSpec(D, "month"),),
            column_totals=True,
            calculations=(
                {"calc_name": "share", "original_formula": "PERCENT_OF_TOTAL(orders.count)"},
            ),
        ),
        PostPlan(
            fields=(D, region, M),
            dimensions=(D, region),
            measures=(M,),
            pivots=(region,),
            row_totals=True,
            column_totals=True,
        ),
    ]
    totals = Totals(
        column=pa.table({region: ["w", "e", None], M: [4, 6, 5]}),
        row=pa.table({D: pa.array([dt.date(2024, 1, 1)], pa.date32()), M: [5]}),
        grand=pa.table({M: [15]}),
    )
    for p in plans:
        assert finish(chunked, p, {}, totals).table.equals(finish(table, p, {}, totals).table)
    pivoted = finish(chunked, plans[1], {}, totals).table
    assert_table(
        pivoted,
        {
            D: [
                dt.date(2024, 1, 1),
                dt.date(2024, 3, 1),
                dt.date(2024, 4, 1),
                dt.date(2024, 2, 1),
                None,
            ],
            f"e|{M}": [1, 2, 3, None, 6],
            f"w|{M}": [4, None, None, None, 4],
            f"∅|{M}": [None, None, None, 5, 5],
            f"::total::|{M}": [5, None, None, None, 15],
            "$omni_column_total_indicator": [None, None, None, None, "column_total"],
        },
    )
