"""fill_fields: every grain, bounds given or taken from the data, other dimensions, order, guard."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

import pyarrow as pa
import pytest

from sluice.postquery import FillSpec, PostPlan, finish
from sluice.postquery.fill import MAX_FILLED_ROWS, fill_table
from tests.postquery.support import assert_table

D = "orders.created_at[month]"
M = "orders.count"
REGION = "users.region"


DATE32 = pa.date32()


def dates(*values: date | None, kind: pa.DataType = DATE32) -> pa.Array:
    return pa.array(list(values), kind)


def fill(
    table: pa.Table,
    grain: str,
    start: date | None = None,
    end: date | None = None,
    descending: bool | None = None,
    dimensions: tuple[str, ...] = (D,),
) -> pa.Table:
    return fill_table(table, FillSpec(D, grain, start, end), dimensions, descending)


def test_month_with_start_and_end_keeps_descending_order() -> None:
    table = pa.table({D: dates(date(2024, 3, 1), date(2024, 1, 1)), M: [1, 2]})
    out = fill(table, "month", date(2023, 12, 15), date(2024, 5, 1))
    assert_table(
        out,
        {
            D: [
                date(2024, 4, 1),
                date(2024, 3, 1),
                date(2024, 2, 1),
                date(2024, 1, 1),
                date(2023, 12, 1),
            ],
            M: [None, 1, None, 2, None],
        },
    )


def test_month_from_the_data_min_to_its_max() -> None:
    table = pa.table({D: dates(date(2024, 1, 1), date(2024, 4, 1)), M: [2, 1]})
    out = fill(table, "month")
    assert_table(
        out,
        {
            D: [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1), date(2024, 4, 1)],
            M: [2, None, None, 1],
        },
    )


def test_week_starts_on_monday_and_end_is_exclusive() -> None:
    # 2024-01-01 and 2024-01-22 are Mondays; 2023-12-28 is a Thursday (its week: 12-25);
    # the last week starting before 2024-01-30 (a Tuesday) starts on 2024-01-29.
    table = pa.table({D: dates(date(2024, 1, 1), date(2024, 1, 22)), M: [1, 2]})
    out = fill(table, "WEEK", date(2023, 12, 28), date(2024, 1, 30))
    assert_table(
        out,
        {
            D: [
                date(2023, 12, 25),
                date(2024, 1, 1),
                date(2024, 1, 8),
                date(2024, 1, 15),
                date(2024, 1, 22),
                date(2024, 1, 29),
            ],
            M: [None, 1, None, None, 2, None],
        },
    )


def test_week_end_on_a_monday_excludes_that_week() -> None:
    table = pa.table({D: dates(date(2024, 1, 1)), M: [1]})
    out = fill(table, "week", date(2024, 1, 1), date(2024, 1, 15))
    assert_table(out, {D: [date(2024, 1, 1), date(2024, 1, 8)], M: [1, None]})


def test_date_across_a_leap_day() -> None:
    table = pa.table({D: dates(date(2024, 2, 27), date(2024, 3, 1)), M: [1, 2]})
    out = fill(table, "date")
    assert_table(
        out,
        {
            D: [date(2024, 2, 27), date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)],
            M: [1, None, None, 2],
        },
    )


def test_quarter_with_bounds() -> None:
    table = pa.table({D: dates(date(2023, 4, 1), date(2024, 1, 1)), M: [1, 2]})
    out = fill(table, "quarter", date(2023, 2, 10), date(2024, 4, 1))
    assert_table(
        out,
        {
            D: [
                date(2023, 1, 1),
                date(2023, 4, 1),
                date(2023, 7, 1),
                date(2023, 10, 1),
                date(2024, 1, 1),
            ],
            M: [None, 1, None, None, 2],
        },
    )


def test_year_with_an_end_only() -> None:
    table = pa.table({D: dates(date(2020, 1, 1), date(2023, 1, 1), kind=pa.date64()), M: [1, 2]})
    out = fill(table, "year", end=date(2025, 1, 1))
    assert out.schema.field(D).type == pa.date64()
    assert_table(
        out,
        {
            D: [
                date(2020, 1, 1),
                date(2021, 1, 1),
                date(2022, 1, 1),
                date(2023, 1, 1),
                date(2024, 1, 1),
            ],
            M: [1, None, None, 2, None],
        },
    )


def test_a_timestamp_bound_counts_as_its_day() -> None:
    spec = FillSpec(D, "month", datetime(2024, 1, 31, 23, 0), datetime(2024, 3, 1, 0, 0))
    assert spec.start == date(2024, 1, 31)
    assert spec.end == date(2024, 3, 1)
    table = pa.table({D: dates(date(2024, 2, 1)), M: [1]})
    out = fill_table(table, spec, (D,))
    assert_table(out, {D: [date(2024, 1, 1), date(2024, 2, 1)], M: [None, 1]})


def test_fills_every_combination_of_the_other_dimensions() -> None:
    # Combinations in order of appearance: east, west, NULL. Months Jan..Mar from the data.
    table = pa.table(
        {
            D: dates(date(2024, 1, 1), date(2024, 3, 1), date(2024, 2, 1), date(2024, 1, 1)),
            REGION: ["east", "east", "west", None],
            M: [1, 2, 3, 4],
        }
    )
    out = fill(table, "month", dimensions=(D, REGION))
    jan, feb, mar = date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)
    assert_table(
        out,
        {
            D: [jan, jan, jan, feb, feb, feb, mar, mar, mar],
            REGION: ["east", "west", None, "east", "west", None, "east", "west", None],
            M: [1, None, 4, None, 3, None, 2, None, None],
        },
    )
    descending = fill(table, "month", dimensions=(D, REGION), descending=True)
    assert_table(
        descending,
        {
            D: [mar, mar, mar, feb, feb, feb, jan, jan, jan],
            REGION: ["east", "west", None, "east", "west", None, "east", "west", None],
            M: [2, None, None, None, 3, None, 1, None, 4],
        },
    )


def test_null_fill_values_stay_and_sort_last() -> None:
    table = pa.table({D: dates(date(2024, 1, 1), None, date(2024, 3, 1)), M: [1, 5, 2]})
    out = fill(table, "month")
    assert_table(
        out, {D: [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1), None], M: [1, None, 2, 5]}
    )


def test_an_empty_table_with_both_bounds_gets_every_period() -> None:
    table = pa.table({D: dates(), M: pa.array([], pa.int64())})
    out = fill(table, "month", date(2024, 1, 1), date(2024, 4, 1))
    assert_table(
        out, {D: [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)], M: [None, None, None]}
    )
    assert out.schema == table.schema


@pytest.mark.parametrize(
    ("table", "spec"),
    [
        # nothing missing
        (pa.table({D: dates(date(2024, 2, 1), date(2024, 1, 1)), M: [1, 2]}), FillSpec(D, "month")),
        # not a DATE column
        (
            pa.table({D: pa.array([datetime(2024, 1, 1), datetime(2024, 3, 1)]), M: [1, 2]}),
            FillSpec(D, "month"),
        ),
        (pa.table({D: ["2024-01-01", "2024-03-01"], M: [1, 2]}), FillSpec(D, "month")),
        # a grain fill does not know
        (pa.table({D: dates(date(2024, 1, 1), date(2024, 3, 1)), M: [1, 2]}), FillSpec(D, "hour")),
        # no such column
        (pa.table({M: [1, 2]}), FillSpec(D, "month")),
        # no data and an open bound
        (
            pa.table({D: dates(), M: pa.array([], pa.int64())}),
            FillSpec(D, "month", date(2024, 1, 1)),
        ),
        (pa.table({D: dates(None), M: [1]}), FillSpec(D, "month")),
        # an empty range
        (
            pa.table({D: dates(date(2024, 1, 1)), M: [1]}),
            FillSpec(D, "month", date(2024, 3, 1), date(2024, 3, 1)),
        ),
    ],
)
def test_left_alone(table: pa.Table, spec: FillSpec) -> None:
    assert fill_table(table, spec, (D,)) is table


def test_the_row_guard() -> None:
    # 2000-01-01 .. 2299-12-31: 300 * 365 days + 73 leap days (2100 and 2200 are not leap years).
    table = pa.table({D: dates(date(2010, 6, 1)), M: [1]})
    with pytest.raises(
        ValueError, match=r"^fill_fields would create 109573 rows; narrow the date filter$"
    ):
        fill(table, "date", date(2000, 1, 1), date(2300, 1, 1))


def test_the_row_guard_counts_other_dimensions() -> None:
    table = pa.table({D: dates(date(2024, 1, 1), date(2024, 1, 1)), REGION: ["a", "b"], M: [1, 2]})
    start = date(2000, 1, 1)
    fine = fill(
        table, "date", start, start + timedelta(days=MAX_FILLED_ROWS // 2), dimensions=(D, REGION)
    )
    assert fine.num_rows == MAX_FILLED_ROWS
    with pytest.raises(ValueError, match=r"would create 100002 rows"):
        fill(
            table,
            "date",
            start,
            start + timedelta(days=MAX_FILLED_ROWS // 2 + 1),
            dimensions=(D, REGION),
        )


def test_fill_through_finish_uses_the_query_sort() -> None:
    table = pa.table({D: dates(date(2024, 1, 1), date(2024, 3, 1)), M: [1, 2]})
    plan = PostPlan(
        fields=(D, M),
        dimensions=(D,),
        measures=(M,),
        fill=(FillSpec(D, "month"),),
        sort_descending={D: True},
    )
    out: dict[str, Any] = finish(table, plan, {}).table.to_pydict()
    assert out == {D: [date(2024, 3, 1), date(2024, 2, 1), date(2024, 1, 1)], M: [2, None, 1]}


def test_fill_on_a_pivot_field_makes_its_columns() -> None:
    status = "orders.status"
    table = pa.table({D: dates(date(2024, 1, 1), date(2024, 3, 1)), status: ["a", "b"], M: [1, 2]})
    plan = PostPlan(
        fields=(status, D, M),
        dimensions=(status, D),
        measures=(M,),
        pivots=(D,),
        fill=(FillSpec(D, "month"),),
    )
    assert_table(
        finish(table, plan, {}).table,
        {
            status: ["a", "b"],
            f"2024-01-01|{M}": [1, None],
            f"2024-02-01|{M}": [None, None],
            f"2024-03-01|{M}": [None, 2],
        },
    )
