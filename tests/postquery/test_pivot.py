"""Pivots: one and two pivot fields, several measures, column_limit, sort, NULLs, value text."""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pytest

from sluice.compiler.types import FieldMeta
from sluice.postquery import PostPlan, PostResult, finish
from sluice.postquery._arrow import json_value, render
from tests.postquery.support import assert_table, meta

STATE, STATUS, YEAR = "users.state", "orders.status", "orders.created_at[year]"
COUNT, REVENUE = "orders.count", "orders.revenue"

TABLE = pa.table(
    {
        STATE: ["CA", "CA", "NY", "TX", "NY"],
        STATUS: ["done", "open", "done", "open", None],
        COUNT: [1, 2, 3, 4, 5],
        REVENUE: [1.5, 2.5, 3.5, 4.5, 5.5],
    }
)


def pivot(
    table: pa.Table,
    pivots: tuple[str, ...],
    *,
    column_limit: int = 50,
    descending: Mapping[str, bool] | None = None,
    metas: Mapping[str, FieldMeta] | None = None,
) -> PostResult:
    measures = tuple(c for c in table.column_names if c in (COUNT, REVENUE, "m"))
    plan = PostPlan(
        fields=tuple(table.column_names),
        dimensions=tuple(c for c in table.column_names if c not in measures),
        measures=measures,
        pivots=pivots,
        column_limit=column_limit,
        sort_descending=descending or {},
    )
    return finish(table, plan, metas or {})


def test_one_pivot_field_with_a_null_value() -> None:
    result = pivot(TABLE.select([STATE, STATUS, COUNT]), (STATUS,))
    assert_table(
        result.table,
        {
            STATE: ["CA", "NY", "TX"],
            f"done|{COUNT}": [1, 3, None],
            f"open|{COUNT}": [2, None, 4],
            f"∅|{COUNT}": [None, 5, None],
        },
    )
    assert result.invalid_calculations == {}


def test_several_measures_keep_their_order_within_a_value() -> None:
    result = pivot(TABLE, (STATUS,))
    assert_table(
        result.table,
        {
            STATE: ["CA", "NY", "TX"],
            f"done|{COUNT}": [1, 3, None],
            f"done|{REVENUE}": [1.5, 3.5, None],
            f"open|{COUNT}": [2, None, 4],
            f"open|{REVENUE}": [2.5, None, 4.5],
            f"∅|{COUNT}": [None, 5, None],
            f"∅|{REVENUE}": [None, 5.5, None],
        },
    )
    assert result.table.schema.field(f"done|{COUNT}").type == pa.int64()


TWO = pa.table(
    {
        STATE: ["CA", "CA", "CA", "NY"],
        YEAR: [2024, 2023, 2024, 2023],
        STATUS: ["b", "a", "a", "b"],
        COUNT: [1, 2, 3, 4],
    }
)


def test_two_pivot_fields_sorted_in_order() -> None:
    assert_table(
        pivot(TWO, (YEAR, STATUS)).table,
        {
            STATE: ["CA", "NY"],
            f"2023|a|{COUNT}": [2, None],
            f"2023|b|{COUNT}": [None, 4],
            f"2024|a|{COUNT}": [3, None],
            f"2024|b|{COUNT}": [1, None],
        },
    )


def test_descending_pivot_sort() -> None:
    assert_table(
        pivot(TWO, (YEAR, STATUS), descending={YEAR: True}).table,
        {
            STATE: ["CA", "NY"],
            f"2024|a|{COUNT}": [3, None],
            f"2024|b|{COUNT}": [1, None],
            f"2023|a|{COUNT}": [2, None],
            f"2023|b|{COUNT}": [None, 4],
        },
    )
    assert_table(
        pivot(TWO, (YEAR, STATUS), descending={STATUS: True}).table,
        {
            STATE: ["CA", "NY"],
            f"2023|b|{COUNT}": [None, 4],
            f"2023|a|{COUNT}": [2, None],
            f"2024|b|{COUNT}": [1, None],
            f"2024|a|{COUNT}": [3, None],
        },
    )


def test_nulls_sort_last_even_descending() -> None:
    table = pa.table({STATUS: ["b", None, "a"], COUNT: [1, 2, 3]})
    out = pivot(table, (STATUS,), descending={STATUS: True}).table
    assert out.column_names == [f"b|{COUNT}", f"a|{COUNT}", f"∅|{COUNT}"]


def test_column_limit_cuts_combinations_but_keeps_rows() -> None:
    assert_table(
        pivot(TWO, (YEAR, STATUS), column_limit=2).table,
        {STATE: ["CA", "NY"], f"2023|a|{COUNT}": [2, None], f"2023|b|{COUNT}": [None, 4]},
    )
    assert_table(
        pivot(TWO, (YEAR, STATUS), column_limit=1).table,
        {STATE: ["CA", "NY"], f"2023|a|{COUNT}": [2, None]},
    )


def test_null_dimension_values_are_one_row_and_keep_first_appearance_order() -> None:
    table = pa.table(
        {
            STATE: ["TX", None, "CA", None, "TX"],
            "users.city": ["x", "y", "z", "y", None],
            STATUS: ["a", "a", "b", "b", "b"],
            COUNT: [1, 2, 3, 4, 5],
        }
    )
    assert_table(
        pivot(table, (STATUS,)).table,
        {
            STATE: ["TX", None, "CA", "TX"],
            "users.city": ["x", "y", "z", None],
            f"a|{COUNT}": [1, 2, None, None],
            f"b|{COUNT}": [None, 4, 3, 5],
        },
    )


def test_no_other_dimension_gives_one_row() -> None:
    table = pa.table({STATUS: ["open", "done"], COUNT: [7, 9], REVENUE: [0.5, None]})
    assert_table(
        pivot(table, (STATUS,)).table,
        {
            f"done|{COUNT}": [9],
            f"done|{REVENUE}": [None],
            f"open|{COUNT}": [7],
            f"open|{REVENUE}": [0.5],
        },
    )


def test_an_empty_result() -> None:
    table = pa.table(
        {
            STATE: pa.array([], pa.string()),
            STATUS: pa.array([], pa.string()),
            COUNT: pa.array([], pa.int64()),
        }
    )
    result = pivot(table, (STATUS,))
    assert_table(result.table, {STATE: []})
    assert result.fields == {}


def test_value_text_in_column_names() -> None:
    table = pa.table(
        {
            "d": pa.array([dt.date(2024, 1, 5)] * 2 + [None], pa.date32()),
            "t": pa.array([dt.datetime(2024, 1, 5, 3, 4, 5)] * 3, pa.timestamp("ns", tz="UTC")),
            "b": [False, True, True],
            "f": [1.0, 2.5, 2.5],
            "m": [1, 2, 3],
        }
    )
    out = pivot(table, ("d", "t", "b", "f")).table
    assert out.column_names == [
        "2024-01-05|2024-01-05 03:04:05|false|1|m",
        "2024-01-05|2024-01-05 03:04:05|true|2.5|m",
        "∅|2024-01-05 03:04:05|true|2.5|m",
    ]
    assert [c.to_pylist() for c in out.columns] == [[1], [2], [3]]


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "∅"),
        (True, "true"),
        (False, "false"),
        (dt.date(2024, 1, 5), "2024-01-05"),
        (dt.datetime(2024, 1, 5, 3, 4, 5), "2024-01-05 03:04:05"),
        (dt.datetime(2024, 1, 5, 3, 4, 5, 120), "2024-01-05 03:04:05.000120"),
        (2.0, "2"),
        (2.5, "2.5"),
        (-0.0, "-0"),
        (1e16, "1e+16"),
        (3, "3"),
        (decimal.Decimal("1.50"), "1.50"),
        ("a b", "a b"),
    ],
)
def test_render(value: Any, text: str) -> None:
    assert render(value) == text


@pytest.mark.parametrize(
    ("value", "as_json"),
    [
        (None, None),
        (True, True),
        (3, 3),
        (2.5, 2.5),
        ("x", "x"),
        (dt.date(2024, 1, 5), "2024-01-05"),
        (dt.datetime(2024, 1, 5, 3, 4, 5), "2024-01-05 03:04:05"),
        (decimal.Decimal("2.00"), 2),
        (decimal.Decimal("2.50"), 2.5),
        (float("nan"), "nan"),
    ],
)
def test_json_value(value: Any, as_json: Any) -> None:
    got = json_value(value)
    assert got == as_json and type(got) is type(as_json)


def test_summary_fields_of_pivoted_columns() -> None:
    metas = {
        STATE: meta(STATE, dimension=True, data_type="STRING"),
        YEAR: meta(YEAR, dimension=True, data_type="NUMBER"),
        STATUS: meta(STATUS, dimension=True, data_type="STRING"),
        COUNT: meta(COUNT, dimension=False, aggregate="count", label="Orders", fmt="number"),
    }
    result = pivot(TWO, (YEAR, STATUS), column_limit=2, metas=metas)
    assert result.fields == {
        f"2023|a|{COUNT}": {
            "field_name": f"2023|a|{COUNT}",
            "fully_qualified_name": COUNT,
            "view_name": "orders",
            "label": "Orders",
            "data_type": "NUMBER",
            "is_dimension": False,
            "aggregate_type": "count",
            "format": {"value": "number"},
            "hidden": False,
            "description": None,
            "pivot_values": {YEAR: 2023, STATUS: "a"},
        },
        f"2023|b|{COUNT}": {
            "field_name": f"2023|b|{COUNT}",
            "fully_qualified_name": COUNT,
            "view_name": "orders",
            "label": "Orders",
            "data_type": "NUMBER",
            "is_dimension": False,
            "aggregate_type": "count",
            "format": {"value": "number"},
            "hidden": False,
            "description": None,
            "pivot_values": {YEAR: 2023, STATUS: "b"},
        },
    }


def test_summary_pivot_values_are_json_ready() -> None:
    table = pa.table({"d": pa.array([dt.date(2024, 1, 5), None], pa.date32()), "m": [1, 2]})
    result = pivot(table, ("d",))
    assert {name: entry["pivot_values"] for name, entry in result.fields.items()} == {
        "2024-01-05|m": {"d": "2024-01-05"},
        "∅|m": {"d": None},
    }
    assert result.fields["∅|m"]["data_type"] == "UNKNOWN"  # no FieldMeta given


def test_a_pivot_field_that_is_not_a_column_is_ignored() -> None:
    table = TABLE.select([STATE, COUNT])
    plan = PostPlan(
        fields=(STATE, COUNT), dimensions=(STATE, STATUS), measures=(COUNT,), pivots=(STATUS,)
    )
    assert finish(table, plan, {}).table is table
