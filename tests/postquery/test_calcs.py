"""Table calculations: every operator, NULLs, the formula language, invalid cases, placement.

Expected values are computed by hand from the four-row table below.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pytest

from sluice.postquery import PIVOT_REASON, PostPlan, PostResult, finish
from tests.postquery.support import assert_table, meta

STATUS, COUNT, REVENUE, DELTA = "orders.status", "orders.count", "orders.revenue", "orders.delta"
CREATED = "orders.created_at[month]"

TABLE = pa.table(
    {
        STATUS: ["a", "b", "c", "d"],
        COUNT: pa.array([10, 20, 0, None], pa.int64()),
        REVENUE: [5.0, 2.5, 4.0, 1.0],
        DELTA: [1.0, -1.0, 0.0, None],
    }
)
METAS = {
    STATUS: meta(STATUS, dimension=True, data_type="STRING"),
    COUNT: meta(COUNT, dimension=False, aggregate="count"),
    REVENUE: meta(REVENUE, dimension=False, aggregate="sum"),
    DELTA: meta(DELTA, dimension=False, aggregate="sum"),
}
BASE = [STATUS, COUNT, REVENUE, DELTA]


def f(name: str) -> dict[str, Any]:
    return {"type": "field", "field_name": name}


def lit(value: Any) -> dict[str, Any]:
    return {"type": "literal", "value": value}


def call(op: str, *args: dict[str, Any]) -> dict[str, Any]:
    return {"type": "call", "operator": op, "operands": list(args)}


def run(
    calcs: Sequence[Mapping[str, Any]],
    fields: Sequence[str] | None = None,
    table: pa.Table = TABLE,
    pivots: tuple[str, ...] = (),
) -> PostResult:
    dims = tuple(c for c in table.column_names if c in (STATUS, CREATED))
    measures = tuple(c for c in table.column_names if c not in dims)
    plan = PostPlan(
        fields=tuple(fields) if fields is not None else tuple(table.column_names),
        dimensions=dims,
        measures=measures,
        pivots=pivots,
        calculations=tuple(calcs),
    )
    return finish(table, plan, METAS)


def values(tree: dict[str, Any] | None = None, formula: str | None = None) -> list[Any]:
    calc: dict[str, Any] = {"calc_name": "c"}
    if tree is not None:
        calc["sql_expression"] = tree
    if formula is not None:
        calc["original_formula"] = formula
    result = run([calc])
    assert result.invalid_calculations == {}
    assert result.table.column("c").type == pa.float64()
    return result.table.column("c").to_pylist()


def assert_values(got: list[Any], expected: list[Any]) -> None:
    """NULLs where expected, and the other values equal to 1e-9."""
    assert [g is None for g in got] == [e is None for e in expected], got
    assert [g for g in got if g is not None] == pytest.approx(
        [e for e in expected if e is not None]
    )


def reason(calc: Mapping[str, Any], name: str = "c") -> str:
    result = run([calc])
    assert name not in result.table.column_names
    return result.invalid_calculations[name]


# -- operators ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tree", "expected"),
    [
        (call("OMNI_FX_PLUS", f(COUNT), f(REVENUE)), [15.0, 22.5, 4.0, None]),
        (call("OMNI_FX_MINUS", f(COUNT), f(REVENUE)), [5.0, 17.5, -4.0, None]),
        (call("OMNI_FX_MULTIPLY", f(COUNT), f(REVENUE)), [50.0, 50.0, 0.0, None]),
        (call("OMNI_FX_DIVIDE", f(REVENUE), f(COUNT)), [0.5, 0.125, None, None]),
        (call("OMNI_FX_DIVIDE", lit(0), f(COUNT)), [0.0, 0.0, None, None]),
        (call("OMNI_FX_NEGATE", f(REVENUE)), [-5.0, -2.5, -4.0, -1.0]),
        (call("OMNI_ABS", call("OMNI_FX_NEGATE", f(DELTA))), [1.0, 1.0, 0.0, None]),
        (
            call("OMNI_ROUND", call("OMNI_FX_DIVIDE", f(REVENUE), lit(3)), lit(2)),
            [1.67, 0.83, 1.33, 0.33],
        ),
        (call("OMNI_PERCENT_OF_TOTAL", f(COUNT)), [1 / 3, 2 / 3, 0.0, None]),
        (call("OMNI_PERCENT_OF_TOTAL", f(DELTA)), [None, None, None, None]),  # the sum is 0
        (call("OMNI_RUNNING_TOTAL", f(COUNT)), [10.0, 30.0, 30.0, 30.0]),  # NULL counts as 0
        (call("OMNI_RUNNING_TOTAL", f(DELTA)), [1.0, 0.0, 0.0, 0.0]),
        (call("OMNI_FX_PLUS", f(COUNT), f(REVENUE), lit(1)), [16.0, 23.5, 5.0, None]),
        (call("OMNI_FX_PLUS", f(REVENUE), lit(None)), [None, None, None, None]),
        (call("OMNI_FX_MULTIPLY", f(REVENUE), lit("2")), [10.0, 5.0, 8.0, 2.0]),
        (lit(7), [7.0, 7.0, 7.0, 7.0]),
        (f(COUNT), [10.0, 20.0, 0.0, None]),
    ],
)
def test_operators(tree: dict[str, Any], expected: list[Any]) -> None:
    assert_values(values(tree), expected)


def test_round_halves_away_from_zero_and_negative_digits() -> None:
    table = pa.table({REVENUE: [2.5, -2.5, 1.25, 0.125], COUNT: pa.array([14, 15, -15, 4])})
    calcs = [
        {"calc_name": "r0", "sql_expression": call("OMNI_ROUND", f(REVENUE))},
        {"calc_name": "r1", "sql_expression": call("OMNI_ROUND", f(REVENUE), lit(1))},
        {"calc_name": "tens", "original_formula": "ROUND(orders.count, -1)"},
    ]
    result = run(calcs, table=table)
    assert result.invalid_calculations == {}
    assert result.table.column("r0").to_pylist() == [3.0, -3.0, 1.0, 0.0]
    assert result.table.column("r1").to_pylist() == [2.5, -2.5, 1.3, 0.1]
    assert result.table.column("tens").to_pylist() == [10.0, 20.0, -20.0, 0.0]


@pytest.mark.parametrize(
    "tree",
    [
        {"type": "call", "operator": "Omni.OMNI_FX_PLUS", "operands": [f(COUNT), f(REVENUE)]},
        {"type": "call", "operator": "omni_fx_plus", "operands": [f(COUNT), f(REVENUE)]},
        {"type": "call", "function": "OMNI_FX_PLUS", "args": [f(COUNT), f(REVENUE)]},
        {
            "type": "CALL",
            "operator": "PLUS",
            "operands": [{"type": "field", "field": COUNT}, f(REVENUE)],
        },
    ],
)
def test_operator_and_node_spellings(tree: dict[str, Any]) -> None:
    assert values(tree) == [15.0, 22.5, 4.0, None]


def test_calcs_reference_earlier_calcs() -> None:
    result = run(
        [
            {"calc_name": "double", "sql_expression": call("OMNI_FX_MULTIPLY", f(REVENUE), lit(2))},
            {"calc_name": "plus", "sql_expression": call("OMNI_FX_PLUS", f("double"), f(COUNT))},
            {"calc_name": "share", "original_formula": "=PERCENT_OF_TOTAL(double)"},
        ]
    )
    assert result.invalid_calculations == {}
    assert_table(
        result.table,
        {
            **TABLE.to_pydict(),
            "double": [10.0, 5.0, 8.0, 2.0],
            "plus": [20.0, 25.0, 8.0, None],
            "share": [10 / 25, 5 / 25, 8 / 25, 2 / 25],
        },
    )


def test_summary_fields_of_calcs() -> None:
    result = run(
        [
            {
                "calc_name": "labelled",
                "label": "Revenue x2",
                "original_formula": "orders.revenue*2",
            },
            {"calc_name": "plain", "original_formula": "orders.revenue"},
        ]
    )
    assert result.fields == {
        "labelled": {
            "field_name": "labelled",
            "fully_qualified_name": "labelled",
            "view_name": None,
            "label": "Revenue x2",
            "data_type": "NUMBER",
            "is_dimension": False,
            "is_calc": True,
            "aggregate_type": None,
            "format": None,
            "hidden": False,
            "description": None,
        },
        "plain": {
            "field_name": "plain",
            "fully_qualified_name": "plain",
            "view_name": None,
            "label": "plain",
            "data_type": "NUMBER",
            "is_dimension": False,
            "is_calc": True,
            "aggregate_type": None,
            "format": None,
            "hidden": False,
            "description": None,
        },
    }


# -- the formula language -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("formula", "expected"),
    [
        ("=orders.count + orders.revenue * 2", [20.0, 25.0, 8.0, None]),
        ("(orders.count + orders.revenue) * 2", [30.0, 45.0, 8.0, None]),
        ("orders.count - 4 - 1", [5.0, 15.0, -5.0, None]),
        ("orders.count / 2 / 5", [1.0, 2.0, 0.0, None]),
        ("orders.revenue - orders.revenue + orders.count + 1", [11.0, 21.0, 1.0, None]),
        ("-orders.revenue * 2", [-10.0, -5.0, -8.0, -2.0]),
        ("2 - -orders.revenue", [7.0, 4.5, 6.0, 3.0]),
        ("-(orders.count - 5)", [-5.0, -15.0, 5.0, None]),
        ("+orders.revenue", [5.0, 2.5, 4.0, 1.0]),
        ("1.5e1 + .5", [15.5, 15.5, 15.5, 15.5]),
        ("= 10 / orders.count", [1.0, 0.5, None, None]),
        ("ROUND(orders.revenue / 3, 2)", [1.67, 0.83, 1.33, 0.33]),
        ("round(orders.revenue / 3)", [2.0, 1.0, 1.0, 0.0]),
        ("OMNI_PERCENT_OF_TOTAL(orders.count)", [1 / 3, 2 / 3, 0.0, None]),
        ("PERCENT_OF_TOTAL(orders.delta)", [None, None, None, None]),
        ("RUNNING_TOTAL(orders.count) * 2", [20.0, 60.0, 60.0, 60.0]),
        ("abs(-orders.delta)", [1.0, 1.0, 0.0, None]),
        ("ABS(orders.delta) + ABS(-3)", [4.0, 4.0, 3.0, None]),
    ],
)
def test_formula(formula: str, expected: list[Any]) -> None:
    assert_values(values(formula=formula), expected)


def test_a_long_sum_is_not_too_deep() -> None:
    formula = " + ".join(["orders.revenue"] * 150)
    assert values(formula=formula) == [750.0, 375.0, 600.0, 150.0]


def test_sql_expression_wins_over_the_formula() -> None:
    got = values(tree=call("OMNI_FX_NEGATE", f(REVENUE)), formula="orders.revenue")
    assert got == [-5.0, -2.5, -4.0, -1.0]


# -- invalid calculations -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("calc", "expected"),
    [
        (
            {"sql_expression": call("OMNI_FX_POWER", f(COUNT), lit(2))},
            "unknown operator 'OMNI_FX_POWER'",
        ),
        ({"sql_expression": f("orders.nope")}, "unknown field 'orders.nope'"),
        (
            {"sql_expression": call("OMNI_FX_PLUS", f(STATUS), lit(1))},
            "field 'orders.status' is STRING, not a number",
        ),
        (
            {"sql_expression": call("OMNI_FX_MINUS", f(COUNT), lit(1), lit(2))},
            "MINUS takes 2 operands, got 3",
        ),
        (
            {"sql_expression": call("OMNI_FX_PLUS", f(COUNT))},
            "PLUS takes at least 2 operands, got 1",
        ),
        ({"sql_expression": call("OMNI_FX_NEGATE")}, "NEGATE takes 1 operand, got 0"),
        (
            {"sql_expression": call("OMNI_ROUND", f(COUNT), lit(1), lit(2))},
            "ROUND takes 1 to 2 operands, got 3",
        ),
        (
            {"sql_expression": call("OMNI_ROUND", f(COUNT), f(COUNT))},
            "ROUND digits must be an integer literal",
        ),
        (
            {"sql_expression": call("OMNI_ROUND", f(COUNT), lit(1.5))},
            "ROUND digits must be an integer literal",
        ),
        ({"sql_expression": lit(True)}, "literal true is not a number"),
        ({"sql_expression": lit("abc")}, "literal 'abc' is not a number"),
        (
            {"sql_expression": {"type": "column", "name": COUNT}},
            "unknown expression node type 'column'",
        ),
        (
            {"sql_expression": call("OMNI_FX_PLUS", f(COUNT), 3)},
            "expression node must be an object, got int",
        ),  # type: ignore[arg-type]
        (
            {"sql_expression": {"type": "call", "operator": "OMNI_ABS", "operands": f(COUNT)}},
            "operands of 'OMNI_ABS' must be an array",
        ),
        ({"sql_expression": {"type": "field"}}, "field node needs a field_name string"),
        ({"label": "nothing"}, "calculation has neither a sql_expression nor an original_formula"),
        (
            {"original_formula": "=orders.count +"},
            "cannot parse formula: unexpected end of formula at position 16",
        ),
        (
            {"original_formula": "orders.count % 2"},
            "cannot parse formula: unexpected character '%' at position 14",
        ),
        (
            {"original_formula": "(orders.count"},
            "cannot parse formula: unexpected end of formula at position 14",
        ),
        (
            {"original_formula": "orders.count 2"},
            "cannot parse formula: unexpected '2' at position 14",
        ),
        (
            {"original_formula": "orders.count * )"},
            "cannot parse formula: unexpected ')' at position 16",
        ),
        (
            {"original_formula": "SQRT(orders.count)"},
            "cannot parse formula: unknown function 'SQRT' at position 1",
        ),
        (
            {"original_formula": "ABS(orders.count, 2)"},
            "cannot parse formula: ABS takes 1 operand, got 2",
        ),
        (
            {"original_formula": "ROUND(orders.count, orders.count)"},
            "cannot parse formula: ROUND digits must be an integer literal",
        ),
        ({"original_formula": "  =  "}, "cannot parse formula: it is empty"),
        (
            {"original_formula": "(" * 150 + "1" + ")" * 150},
            "cannot parse formula: formula nests deeper than 100 levels",
        ),
        ({"original_formula": "c + 1"}, "calculation 'c' references itself"),
    ],
)
def test_invalid(calc: dict[str, Any], expected: str) -> None:
    assert reason({"calc_name": "c", **calc}) == expected


def test_a_deep_tree_is_invalid() -> None:
    tree = f(COUNT)
    for _ in range(150):
        tree = call("OMNI_FX_NEGATE", tree)
    assert (
        reason({"calc_name": "c", "sql_expression": tree})
        == "expression nests deeper than 100 levels"
    )


def test_a_string_field_without_metas_names_its_arrow_type() -> None:
    plan = PostPlan(
        fields=(STATUS, "c"),
        dimensions=(STATUS,),
        measures=(),
        calculations=({"calc_name": "c", "original_formula": "orders.status"},),
    )
    result = finish(TABLE.select([STATUS]), plan, {})
    assert result.invalid_calculations == {"c": "field 'orders.status' is string, not a number"}


def test_a_date_field_with_a_grain_is_not_a_number() -> None:
    table = pa.table({CREATED: pa.array([dt.date(2024, 1, 1)], pa.date32()), COUNT: [1]})
    metas = {**METAS, CREATED: meta(CREATED, dimension=True, data_type="DATE")}
    plan = PostPlan(
        fields=(CREATED, COUNT),
        dimensions=(CREATED,),
        measures=(COUNT,),
        calculations=({"calc_name": "c", "original_formula": "orders.created_at[month] + 1"},),
    )
    result = finish(table, plan, metas)
    assert result.invalid_calculations == {
        "c": "field 'orders.created_at[month]' is DATE, not a number"
    }


def test_references_between_calcs() -> None:
    result = run(
        [
            {"calc_name": "early", "original_formula": "later * 2"},
            {"calc_name": "bad", "original_formula": "orders.nope"},
            {"calc_name": "uses_bad", "original_formula": "bad + 1"},
            {"calc_name": "later", "original_formula": "orders.count"},
            {"calc_name": "uses_later", "original_formula": "later + 1"},
        ]
    )
    assert result.invalid_calculations == {
        "early": "references calculation 'later', which is defined later",
        "bad": "unknown field 'orders.nope'",
        "uses_bad": "references invalid calculation 'bad'",
    }
    assert_table(
        result.table,
        {
            **TABLE.to_pydict(),
            "later": [10.0, 20.0, 0.0, None],
            "uses_later": [11.0, 21.0, 1.0, None],
        },
    )


def test_duplicate_names_keep_the_first_definition() -> None:
    result = run(
        [
            {"calc_name": "dup", "original_formula": "orders.revenue"},
            {"calc_name": "dup", "original_formula": "orders.count"},
            {"calc_name": "bad", "original_formula": "orders.nope"},
            {"calc_name": "bad", "original_formula": "orders.count"},
        ]
    )
    assert result.invalid_calculations == {
        "dup": "duplicate calc_name 'dup'; the first definition is used",
        "bad": "unknown field 'orders.nope'",
    }
    assert_table(result.table, {**TABLE.to_pydict(), "dup": [5.0, 2.5, 4.0, 1.0]})


def test_names_that_are_missing_or_taken() -> None:
    result = run(
        [
            {"original_formula": "1"},
            {"calc_name": "", "original_formula": "1"},
            {"calc_name": COUNT, "original_formula": "1"},
        ]
    )
    assert result.invalid_calculations == {
        "calculations[0]": "calc_name must be a non-empty string",
        "calculations[1]": "calc_name must be a non-empty string",
        COUNT: "calc_name 'orders.count' is already a field of the query",
    }
    assert result.table is TABLE  # nothing was added
    assert result.fields == {}


def test_calculations_with_pivots_are_invalid() -> None:
    result = run(
        [{"calc_name": "x", "original_formula": "1"}, {"calc_name": "y", "original_formula": "?"}],
        pivots=(STATUS,),
    )
    assert result.invalid_calculations == {"x": PIVOT_REASON, "y": PIVOT_REASON}
    assert PIVOT_REASON == "table calculations are not supported together with pivots yet"
    assert not any(name in ("x", "y") for name in result.table.column_names)


# -- placement ------------------------------------------------------------------------------------


def test_placement_follows_the_fields() -> None:
    calcs = [
        {"calc_name": "c1", "original_formula": "1"},
        {"calc_name": "c2", "original_formula": "2"},
        {"calc_name": "c3", "original_formula": "3"},
        {"calc_name": "bad", "original_formula": "orders.nope"},
        {"calc_name": "c4", "original_formula": "4"},
    ]
    fields = ["c1", STATUS, COUNT, "c4", "bad", "c2", REVENUE, DELTA]
    result = run(calcs, fields=fields)
    assert result.table.column_names == ["c1", STATUS, COUNT, "c4", "c2", REVENUE, DELTA, "c3"]
    assert result.invalid_calculations == {"bad": "unknown field 'orders.nope'"}


def test_placement_at_the_end_of_the_fields() -> None:
    calcs = [
        {"calc_name": "c2", "original_formula": "2"},
        {"calc_name": "c1", "original_formula": "1"},
    ]
    result = run(calcs, fields=[*BASE, "c1", "c2"])
    assert result.table.column_names == [*BASE, "c1", "c2"]
    assert result.table.column("c1").to_pylist() == [1.0, 1.0, 1.0, 1.0]
