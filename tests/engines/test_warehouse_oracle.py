"""The same semantic query, compiled for each warehouse, gives DuckDB's answer on the same data.

The demo tables are copied into PostgreSQL and Spark (conftest.py). Each case is compiled twice:
for DuckDB (the oracle, itself checked against hand-written SQL in tests/oracle) and for the
warehouse, with the model loaded in the warehouse's dialect and typed from the warehouse. The
two results must agree row for row (in order when the query's sort is total, as multisets when
it is not), numbers within a relative 1e-9.

A case that fails on a warehouse because the compiler renders something the warehouse reads
differently is marked ``xfail(strict=True)`` with the reason: the compiler's owner fixes it,
and the strict marker says when it is fixed.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from sluice.compiler import compile_query
from sluice.engines.base import Engine
from sluice.engines.duckdb import DuckDBEngine
from sluice.model import SemanticModel, load_model
from sluice.project import schema_lookup
from sluice.query import parse_query
from tests.conftest import DEMO_MODEL, MODEL_ID, NOW

WAREHOUSES = {"postgres": "postgres_engine", "spark": "spark_engine"}


@dataclass(frozen=True)
class Case:
    id: str
    query: dict[str, Any]
    exact_order: bool = True  # False: the sort has ties, compare rows as multisets
    min_rows: int = 1
    xfail: dict[str, str] = field(default_factory=dict)  # dialect -> why it fails today


def oi(fields: list[str], **rest: Any) -> dict[str, Any]:
    return {"join_paths_from_topic_name": "order_items", "fields": fields, **rest}


def sort(col: str, desc: bool = False, nulls: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"column_name": col, "sort_descending": desc}
    if nulls is not None:
        out["null_sort"] = nulls
    return out


def s(kind: str, *values: Any, neg: bool = False, ci: bool = False) -> dict[str, Any]:
    return {
        "type": "string",
        "kind": kind,
        "values": list(values),
        "is_negative": neg,
        "case_insensitive": ci,
    }


def d(kind: str, left: str, right: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "date", "kind": kind, "left_side": left, "is_negative": False}
    if right is not None:
        out["right_side"] = right
    return out


CA = "order_items.created_at"
CNT = "order_items.count"

CASES = [
    Case(
        "monthly_revenue",
        oi([f"{CA}[month]", "order_items.total_sale_price"]),
        min_rows=60,
    ),
    Case(
        "weekly_counts_across_new_year",
        oi(
            [f"{CA}[week]", CNT],
            filters={CA: d("BETWEEN", "2021-12-01", "2022-02-01")},
            sorts=[sort(f"{CA}[week]")],
        ),
        min_rows=9,
    ),
    Case(
        "date_grain_last_quarter",
        oi(
            [f"{CA}[date]", CNT],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "last quarter")},
            sorts=[sort(f"{CA}[date]")],
        ),
        min_rows=80,
    ),
    Case(
        "quarter_and_year_grains",
        oi([f"{CA}[quarter]", f"{CA}[year]", CNT, "order_items.total_sale_price"]),
        min_rows=20,
    ),
    Case(
        "hourly_counts_in_a_month",
        oi([f"{CA}[hour]", CNT], filters={CA: d("TIME_FOR_UNIT_DURATION", "2024-03")}),
        min_rows=100,
    ),
    Case(
        "day_and_month_names",
        oi(
            [f"{CA}[day_of_week_name]", f"{CA}[month_name]", CNT],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "this year")},
            sorts=[sort(f"{CA}[month_name]"), sort(f"{CA}[day_of_week_name]")],
        ),
        min_rows=30,
    ),
    Case(
        "measures_of_every_type_by_status",
        oi(
            [
                "order_items.status",
                CNT,
                "order_items.unique_users",
                "order_items.order_count",
                "order_items.total_sale_price",
                "order_items.average_sale_price",
                "order_items.min_sale_price",
                "order_items.max_sale_price",
            ],
            sorts=[sort("order_items.status")],
        ),
        min_rows=5,
    ),
    Case(
        "filtered_and_derived_measures_by_year",
        oi(
            [
                f"{CA}[year]",
                "order_items.returned_count",
                "order_items.returned_sale_price",
                "order_items.total_gross_margin",
                "order_items.gross_margin_percent",
            ]
        ),
        min_rows=7,
    ),
    Case(
        "ratio_of_two_counts",
        oi([f"{CA}[year]", "order_items.return_rate"]),
        min_rows=7,
    ),
    Case(
        "three_deep_join_to_distribution_centers",
        oi(
            ["distribution_centers.name", CNT, "order_items.total_sale_price", "users.count"],
            sorts=[sort("distribution_centers.name")],
        ),
        min_rows=10,
    ),
    Case(
        "derived_dimensions_and_string_filters",
        oi(
            ["users.age_tier", "products.department", CNT],
            filters={
                "products.name": s("CONTAINS", "MEN'S", ci=True),
                "users.country": s("EQUALS", "United States", "Brasil", "Japan"),
            },
            sorts=[sort("users.age_tier"), sort("products.department")],
        ),
        min_rows=3,
    ),
    Case(
        "events_negated_filter_keeps_nulls_sorted_first",
        {
            "join_paths_from_topic_name": "events",
            "fields": ["users.country", "events.count"],
            "filters": {
                "users.country": s("EQUALS", "United States", neg=True),
                "events.uri": s("STARTS_WITH", "/department/women", "/cart"),
            },
            "sorts": [sort("users.country", nulls="FIRST")],
        },
        min_rows=5,
    ),
    Case(
        "users_number_filter",
        {
            "join_paths_from_topic_name": "users",
            "fields": ["users.age", "users.gender", "users.count"],
            "filters": {
                "users.age": {
                    "type": "number",
                    "kind": "GREATER_THAN",
                    "values": [65],
                    "is_negative": False,
                    "is_inclusive": True,
                }
            },
            "sorts": [sort("users.age"), sort("users.gender")],
        },
        min_rows=8,
    ),
    Case(
        "boolean_dimension",
        oi(
            ["order_items.is_returned", CNT, "order_items.total_sale_price"],
            sorts=[sort("order_items.is_returned")],
        ),
        min_rows=2,
    ),
    Case(
        "date_difference_dimension",
        oi(
            ["order_items.days_to_deliver", CNT],
            filters={"order_items.status": s("EQUALS", "Complete", "Returned")},
            sorts=[sort("order_items.days_to_deliver")],
        ),
        min_rows=4,
    ),
]


# -- comparing results ----------------------------------------------------------------------------


def _norm(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def same(a: Any, b: Any) -> bool:
    a, b = _norm(a), _norm(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dt.date) or isinstance(b, dt.date):  # a DATE is not a TIMESTAMP
        return type(a) is type(b) and a == b
    return bool(a == b)


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for v in map(_norm, row):
        if v is None:
            out.append((0, ""))
        elif isinstance(v, int | float) and not isinstance(v, bool):
            out.append((2, round(float(v), 6)))
        else:
            out.append((3, str(v)))
    return tuple(out)


def rows(table: pa.Table) -> list[tuple[Any, ...]]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return list(zip(*columns, strict=True)) if columns else []


def difference(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]], exact: bool) -> str | None:
    if not exact:
        got, want = sorted(got, key=_sort_key), sorted(want, key=_sort_key)
    if len(got) != len(want):
        return f"row count: warehouse {len(got)}, duckdb {len(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if len(g) != len(w) or not all(same(x, y) for x, y in zip(g, w, strict=True)):
            return f"row {i}: warehouse {g!r} != duckdb {w!r}"
    return None


# -- the test -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def warehouse_models() -> dict[str, SemanticModel]:
    """The demo model per warehouse dialect, loaded once (typed from that warehouse)."""
    return {}


def _model(dialect: str, engine: Engine, cache: dict[str, SemanticModel]) -> SemanticModel:
    if dialect not in cache:
        cache[dialect] = load_model(
            DEMO_MODEL, name="ecommerce", dialect=dialect, column_types=schema_lookup(engine)
        )
    return cache[dialect]


def _params() -> list[Any]:
    out = []
    for dialect in WAREHOUSES:
        marks: list[Any] = [pytest.mark.slow] if dialect == "spark" else []
        for case in CASES:
            if dialect in case.xfail:
                marks_here = [*marks, pytest.mark.xfail(strict=True, reason=case.xfail[dialect])]
            else:
                marks_here = marks
            out.append(pytest.param(dialect, case, id=f"{dialect}-{case.id}", marks=marks_here))
    return out


@pytest.mark.parametrize(("dialect", "case"), _params())
def test_warehouse_matches_duckdb(
    dialect: str,
    case: Case,
    request: pytest.FixtureRequest,
    demo_model: SemanticModel,
    duck: DuckDBEngine,
    warehouse_models: dict[str, SemanticModel],
) -> None:
    engine: Engine = request.getfixturevalue(WAREHOUSES[dialect])
    body = {"modelId": MODEL_ID, **case.query}

    oracle = compile_query(demo_model, parse_query(body), dialect="duckdb", now=NOW)
    want = rows(duck.execute(oracle.sql))
    assert len(want) >= case.min_rows, f"the oracle returned only {len(want)} row(s)"

    model = _model(dialect, engine, warehouse_models)
    compiled = compile_query(model, parse_query(body), dialect=dialect, now=NOW)
    got = rows(engine.execute(compiled.sql))
    problem = difference(got, want, case.exact_order)
    assert problem is None, f"{problem}\n-- {dialect} SQL:\n{compiled.sql}"
