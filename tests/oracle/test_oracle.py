"""Oracle tests: compiled query objects against hand-written SQL over the raw demo tables.

Each case pairs an Omni query object with DuckDB SQL written independently from the meaning of
the data (not from the compiler's output). Both run on the session's demo warehouse and their
results are compared by position: row for row when the query's order is total, as multisets
when it is not (``keys`` then also checks the order of the sort-key columns).

The clock every compiled query sees is ``NOW = 2025-06-15 10:30 UTC`` (a Sunday; the current
week started on Monday 2025-06-09), so relative date literals are written out by hand below:

* ``N <units> ago`` counts the current unit as one of the N (Omni's reading): ``90 days ago`` +
  ``90 days`` = [2025-03-18, 2025-06-16), the 90 days ending today; ``7 days ago`` = 2025-06-09
* ``last month`` = [2025-05-01, 2025-06-01), ``this year`` = [2025-01-01, 2026-01-01)
* ``last week`` = [2025-06-02, 2025-06-09), ``last quarter`` = [2025-01-01, 2025-04-01)
* ``4 months ago`` (as a unit) = [2025-03-01, 2025-04-01), ``yesterday`` = [2025-06-14, 2025-06-15)
* number ``BETWEEN [a, b]`` is ``a <= x < b`` (the upper bound is excluded, as on Omni)
"""

from __future__ import annotations

import datetime as dt
import math
import os
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

# Thresholds of the HAVING cases follow the data's scale (row counts grow linearly with it).
SCALE = float(os.environ.get("SLUICE_TEST_SCALE", "0.02"))
BRAND_MIN = max(1, round(12_500 * SCALE))  # 250 order items at the default scale
CATEGORY_MAX = max(1, round(25_000 * SCALE))  # 500 order items at the default scale

# -- the comparison helper ------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    id: str
    query: dict[str, Any]
    sql: str
    # "exact": same rows in the same order; "set": same rows in any order;
    # a tuple of column indexes: those columns in the same order, whole rows as a multiset
    # (for sorts with ties).
    order: str | tuple[int, ...] = "exact"
    empty: bool = False  # the filter is designed to match nothing
    min_rows: int = 1
    xfail: str | None = None


def _norm(v: Any) -> Any:
    if isinstance(v, Decimal):
        return int(v) if v == v.to_integral_value() else float(v)
    return v


def _same(a: Any, b: Any) -> bool:
    a, b = _norm(a), _norm(b)
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, float) or isinstance(b, float):
        if not isinstance(a, int | float) or not isinstance(b, int | float):
            return False
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(a, dt.date) or isinstance(b, dt.date):
        return type(a) is type(b) and a == b  # a DATE is not a TIMESTAMP
    return bool(a == b)


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    out: list[Any] = []
    for v in row:
        v = _norm(v)
        if v is None:
            out.append((0, ""))
        elif isinstance(v, bool):
            out.append((1, int(v)))
        elif isinstance(v, int | float):
            out.append((2, round(float(v), 6)))
        elif isinstance(v, dt.datetime | dt.date):
            out.append((3, v.isoformat()))
        else:
            out.append((4, str(v)))
    return tuple(out)


def _rows(table: Any) -> list[tuple[Any, ...]]:
    columns = [table.column(i).to_pylist() for i in range(table.num_columns)]
    return list(zip(*columns, strict=True)) if columns else []


def _diff(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]]) -> str | None:
    if len(got) != len(want):
        return f"row count: compiled {len(got)}, hand SQL {len(want)}"
    for i, (g, w) in enumerate(zip(got, want, strict=True)):
        if len(g) != len(w):
            return f"column count: compiled {len(g)}, hand SQL {len(w)}"
        if not all(_same(x, y) for x, y in zip(g, w, strict=True)):
            return f"row {i}: compiled {g!r} != hand SQL {w!r}"
    return None


def compare(got: list[tuple[Any, ...]], want: list[tuple[Any, ...]], order: Any) -> str | None:
    """None when the results agree, else a description of the first difference."""
    if order == "exact":
        return _diff(got, want)
    if order != "set":  # the sort-key columns must come in the same order
        keys = tuple(order)
        problem = _diff(
            [tuple(r[k] for k in keys) for r in got], [tuple(r[k] for k in keys) for r in want]
        )
        if problem:
            return f"sort keys {keys}: {problem}"
    return _diff(sorted(got, key=_sort_key), sorted(want, key=_sort_key))


# -- hand-written SQL building blocks -------------------------------------------------------------

# The topic order_items joins (LEFT, from the base view along the topic's tree).
U = "LEFT JOIN users u ON oi.user_id = u.id"
ORD = "LEFT JOIN orders o ON oi.order_id = o.order_id"
II = "LEFT JOIN inventory_items ii ON oi.inventory_item_id = ii.id"
P = "LEFT JOIN products p ON ii.product_id = p.id"
DC = "LEFT JOIN distribution_centers dc ON p.distribution_center_id = dc.id"
EU = "LEFT JOIN users u ON e.user_id = u.id"


def ts(text: str) -> str:
    return f"TIMESTAMP '{text}'"


def in_range(col: str, start: str, end: str) -> str:
    """The half-open range [start, end) on a timestamp column."""
    return f"{col} >= {ts(start)} AND {col} < {ts(end)}"


def s(kind: str, *values: Any, neg: bool = False, ci: bool = False) -> dict[str, Any]:
    return {
        "type": "string",
        "kind": kind,
        "values": list(values),
        "is_negative": neg,
        "case_insensitive": ci,
    }


def n(kind: str, *values: Any, neg: bool = False, incl: bool = False) -> dict[str, Any]:
    return {
        "type": "number",
        "kind": kind,
        "values": list(values),
        "is_negative": neg,
        "is_inclusive": incl,
    }


def d(kind: str, left: str, right: str | None = None, neg: bool = False) -> dict[str, Any]:
    if kind == "BEFORE":  # Omni puts BEFORE's bound in right_side
        return {"type": "date", "kind": kind, "right_side": left, "is_negative": neg}
    out: dict[str, Any] = {"type": "date", "kind": kind, "left_side": left, "is_negative": neg}
    if right is not None:
        out["right_side"] = right
    return out


def sort(col: str, desc: bool = False, nulls: str | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"column_name": col, "sort_descending": desc}
    if nulls is not None:
        out["null_sort"] = nulls
    return out


def oi(fields: list[str], **rest: Any) -> dict[str, Any]:
    return {"join_paths_from_topic_name": "order_items", "fields": fields, **rest}


def ev(fields: list[str], **rest: Any) -> dict[str, Any]:
    return {"join_paths_from_topic_name": "events", "fields": fields, **rest}


def us(fields: list[str], **rest: Any) -> dict[str, Any]:
    return {"join_paths_from_topic_name": "users", "fields": fields, **rest}


CA = "order_items.created_at"
CNT = "order_items.count"
SP = "order_items.sale_price"

# -- the cases ------------------------------------------------------------------------------------

GRAINS = [
    Case(
        "grain_raw_default_sort_desc",
        # items of one order share created_at: only the key column's order is checked
        oi([CA, "order_items.id", SP], filters={"order_items.id": n("LESS_THAN", 500)}),
        """SELECT created_at, id, sale_price FROM order_items WHERE id < 500
           GROUP BY ALL ORDER BY created_at DESC""",
        order=(0,),
        min_rows=499,
    ),
    Case(
        "grain_raw_explicit",
        oi(
            [f"{CA}[raw]", "order_items.id"],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "2024-03")},
            sorts=[sort(f"{CA}[raw]"), sort("order_items.id", desc=True)],
            limit=50,
        ),
        f"""SELECT created_at, id FROM order_items
            WHERE {in_range("created_at", "2024-03-01", "2024-04-01")}
            ORDER BY created_at, id DESC LIMIT 50""",
        min_rows=50,
    ),
    Case(
        "grain_date",
        oi(
            [f"{CA}[date]", CNT, "order_items.total_sale_price"],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "2025 Q1")},
        ),
        f"""SELECT created_at::DATE, count(*), sum(sale_price) FROM order_items
            WHERE {in_range("created_at", "2025-01-01", "2025-04-01")}
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=60,
    ),
    Case(
        "grain_week_monday_start_across_new_year",
        oi(
            [f"{CA}[week]", CNT],
            filters={CA: d("BETWEEN", "2021-12-01", "2022-02-01")},
            sorts=[sort(f"{CA}[week]")],
        ),
        # 2022-01-01 is a Saturday: its week starts on Monday 2021-12-27.
        f"""SELECT created_at::DATE - (isodow(created_at) - 1)::INTEGER AS wk, count(*)
            FROM order_items WHERE {in_range("created_at", "2021-12-01", "2022-02-01")}
            GROUP BY 1 ORDER BY 1""",
        min_rows=9,
    ),
    Case(
        "grain_month",
        oi([f"{CA}[month]", CNT], filters={CA: d("TIME_FOR_UNIT_DURATION", "this year")}),
        f"""SELECT make_date(year(created_at), month(created_at), 1), count(*) FROM order_items
            WHERE {in_range("created_at", "2025-01-01", "2026-01-01")}
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=12,
    ),
    Case(
        "grain_quarter",
        oi([f"{CA}[quarter]", CNT, "order_items.total_sale_price"]),
        """SELECT make_date(year(created_at), 3 * quarter(created_at) - 2, 1), count(*),
                  sum(sale_price)
           FROM order_items GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=28,
    ),
    Case(
        "grain_year",
        oi([f"{CA}[year]", CNT]),
        "SELECT make_date(year(created_at), 1, 1), count(*) FROM order_items GROUP BY 1"
        " ORDER BY 1 DESC",
        min_rows=7,
    ),
    Case(
        "grain_hour",
        oi([f"{CA}[hour]", CNT], filters={CA: d("TIME_FOR_UNIT_DURATION", "2024-03")}),
        f"""SELECT make_timestamp(year(created_at), month(created_at), day(created_at),
                                  hour(created_at), 0, 0), count(*)
            FROM order_items WHERE {in_range("created_at", "2024-03-01", "2024-04-01")}
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=20,
    ),
    Case(
        "grain_day_of_week_name_default_sort_by_measure",
        oi([f"{CA}[day_of_week_name]", CNT]),
        "SELECT dayname(created_at), count(*) FROM order_items GROUP BY 1 ORDER BY 2 DESC",
        order=(1,),
        min_rows=7,
    ),
    Case(
        "grain_month_name",
        oi([f"{CA}[month_name]", CNT], sorts=[sort(f"{CA}[month_name]")]),
        "SELECT monthname(created_at), count(*) FROM order_items GROUP BY 1 ORDER BY 1",
        min_rows=12,
    ),
    Case(
        "grain_month_num",
        oi([f"{CA}[month_num]", CNT], sorts=[sort(f"{CA}[month_num]")]),
        "SELECT month(created_at), count(*) FROM order_items GROUP BY 1 ORDER BY 1",
        min_rows=12,
    ),
    Case(
        "grain_quarter_of_year",
        oi(
            [f"{CA}[quarter_of_year]", "order_items.total_sale_price"],
            sorts=[sort(f"{CA}[quarter_of_year]", desc=True)],
        ),
        "SELECT quarter(created_at), sum(sale_price) FROM order_items GROUP BY 1 ORDER BY 1 DESC",
        min_rows=4,
    ),
    Case(
        "grain_day_of_month",
        oi([f"{CA}[day_of_month]", CNT], sorts=[sort(f"{CA}[day_of_month]")]),
        "SELECT day(created_at), count(*) FROM order_items GROUP BY 1 ORDER BY 1",
        min_rows=31,
    ),
    Case(
        "grain_day_of_year",
        oi([f"{CA}[day_of_year]", CNT], sorts=[sort(f"{CA}[day_of_year]")], limit=None),
        "SELECT dayofyear(created_at), count(*) FROM order_items GROUP BY 1 ORDER BY 1",
        min_rows=300,
    ),
    Case(
        "grain_hour_of_day",
        oi([f"{CA}[hour_of_day]", CNT], sorts=[sort(f"{CA}[hour_of_day]")]),
        "SELECT hour(created_at), count(*) FROM order_items GROUP BY 1 ORDER BY 1",
        min_rows=20,
    ),
    Case(
        "grain_number_filter_on_month_num_between_upper_exclusive",
        oi([f"{CA}[year]", CNT], filters={f"{CA}[month_num]": n("BETWEEN", 11, 13)}),
        """SELECT make_date(year(created_at), 1, 1), count(*) FROM order_items
           WHERE month(created_at) IN (11, 12) GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
]

MEASURES = [
    Case(
        "measures_every_type_by_status",
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
        """SELECT status, count(*), count(DISTINCT user_id), count(DISTINCT order_id),
                  sum(sale_price), avg(sale_price), min(sale_price), max(sale_price)
           FROM order_items GROUP BY status ORDER BY status""",
        min_rows=5,
    ),
    Case(
        "measures_only_no_dimensions",
        oi(
            [
                CNT,
                "order_items.unique_users",
                "order_items.total_sale_price",
                "order_items.average_sale_price",
                "order_items.returned_count",
            ]
        ),
        """SELECT count(*), count(DISTINCT user_id), sum(sale_price), avg(sale_price),
                  count(*) FILTER (WHERE status = 'Returned') FROM order_items""",
    ),
    Case(
        "filtered_measures_by_year",
        oi(
            [
                f"{CA}[year]",
                "order_items.returned_count",
                "order_items.returned_sale_price",
                "order_items.complete_count",
            ]
        ),
        """SELECT make_date(year(created_at), 1, 1),
                  count(*) FILTER (WHERE status = 'Returned'),
                  sum(sale_price) FILTER (WHERE status = 'Returned'),
                  count(*) FILTER (WHERE status IN ('Complete', 'Shipped'))
           FROM order_items GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
    Case(
        "filtered_measure_null_for_groups_without_match",
        oi(
            ["order_items.status", "order_items.returned_sale_price", "order_items.complete_count"],
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, sum(CASE WHEN status = 'Returned' THEN sale_price END),
                  sum(CASE WHEN status IN ('Complete', 'Shipped') THEN 1 ELSE 0 END)
           FROM order_items GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    Case(
        "measures_of_measures_by_year",
        oi(
            [
                f"{CA}[year]",
                "order_items.total_gross_margin",
                "order_items.gross_margin_percent",
                "order_items.return_rate",
            ]
        ),
        f"""SELECT make_date(year(oi.created_at), 1, 1), sum(oi.sale_price - ii.cost),
                   sum(oi.sale_price - ii.cost) / sum(oi.sale_price),
                   count(*) FILTER (WHERE oi.status = 'Returned')::DOUBLE / count(*)
            FROM order_items oi {II} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
    Case(
        "count_of_joined_views_is_distinct_primary_key",
        oi(
            ["order_items.status", "users.count", "orders.count", "users.count_female"],
            sorts=[sort("order_items.status")],
        ),
        f"""SELECT oi.status, count(DISTINCT u.id), count(DISTINCT o.order_id),
                   count(DISTINCT u.id) FILTER (WHERE u.gender = 'F')
            FROM order_items oi {U} {ORD} GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    Case(
        "joined_view_measures_without_fan_out",
        oi(
            [
                "products.category",
                "inventory_items.total_cost",
                "inventory_items.average_cost",
                "inventory_items.sold_count",
                CNT,
            ],
            sorts=[sort("products.category")],
        ),
        # one inventory item per order item: the sold items' costs, each counted once
        f"""SELECT p.category, sum(ii.cost), avg(ii.cost),
                   count(DISTINCT ii.id) FILTER (WHERE ii.sold_at IS NOT NULL), count(*)
            FROM order_items oi {II} {P} GROUP BY 1 ORDER BY 1""",
        min_rows=20,
    ),
]

JOINS = [
    Case(
        "join_users_one_deep",
        oi(["users.country", CNT, "order_items.total_sale_price"], sorts=[sort("users.country")]),
        f"""SELECT u.country, count(*), sum(oi.sale_price) FROM order_items oi {U}
            GROUP BY 1 ORDER BY 1""",
        min_rows=13,
    ),
    Case(
        "join_products_two_deep",
        oi(
            ["products.department", "products.category", CNT, "products.count"],
            sorts=[sort("products.department"), sort("products.category")],
        ),
        f"""SELECT p.department, p.category, count(*), count(DISTINCT p.id)
            FROM order_items oi {II} {P} GROUP BY 1, 2 ORDER BY 1, 2""",
        min_rows=30,
    ),
    Case(
        "join_distribution_centers_three_deep",
        oi(
            [
                "distribution_centers.name",
                CNT,
                "order_items.total_sale_price",
                "order_items.total_gross_margin",
            ],
            sorts=[sort("distribution_centers.name")],
        ),
        f"""SELECT dc.name, count(*), sum(oi.sale_price), sum(oi.sale_price - ii.cost)
            FROM order_items oi {II} {P} {DC} GROUP BY 1 ORDER BY 1""",
        min_rows=10,
    ),
    Case(
        "join_count_distinct_of_two_joined_views",
        oi(
            ["users.country", "distribution_centers.count", "products.count"],
            sorts=[sort("users.country")],
        ),
        f"""SELECT u.country, count(DISTINCT dc.id), count(DISTINCT p.id)
            FROM order_items oi {U} {II} {P} {DC} GROUP BY 1 ORDER BY 1""",
        min_rows=13,
    ),
    Case(
        "derived_dimensions_across_joins",
        oi(
            ["users.age_tier", "products.margin", CNT],
            filters={"products.category": s("EQUALS", "Suits")},
            sorts=[sort("users.age_tier"), sort("products.margin", desc=True)],
        ),
        f"""SELECT CASE WHEN u.age < 30 THEN 'Under 30' WHEN u.age < 50 THEN '30 to 49'
                        ELSE '50+' END, p.retail_price - p.cost, count(*)
            FROM order_items oi {U} {II} {P} WHERE p.category = 'Suits'
            GROUP BY 1, 2 ORDER BY 1, 2 DESC""",
        min_rows=3,
    ),
    Case(
        "filter_on_view_joined_only_for_the_filter",
        oi(
            ["order_items.status", CNT],
            filters={"users.country": s("EQUALS", "Japan")},
            sorts=[sort("order_items.status")],
        ),
        f"""SELECT oi.status, count(*) FROM order_items oi {U} WHERE u.country = 'Japan'
            GROUP BY 1 ORDER BY 1""",
        min_rows=3,
    ),
    Case(
        "filter_three_deep_joined_only_for_the_filter",
        oi(
            [f"{CA}[year]", CNT], filters={"distribution_centers.name": s("STARTS_WITH", "Chicago")}
        ),
        f"""SELECT make_date(year(oi.created_at), 1, 1), count(*) FROM order_items oi {II} {P} {DC}
            WHERE dc.name LIKE 'Chicago%' GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
]

STRINGS = [
    Case(
        "string_equals_one_value",
        oi(
            ["users.gender", CNT],
            filters={"order_items.status": s("EQUALS", "Complete")},
            sorts=[sort("users.gender")],
        ),
        f"""SELECT u.gender, count(*) FROM order_items oi {U} WHERE oi.status = 'Complete'
            GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "string_equals_several_values_is_in",
        us(
            ["users.country", "users.count"],
            filters={"users.country": s("EQUALS", "France", "Germany", "Atlantis")},
            sorts=[sort("users.country")],
        ),
        """SELECT country, count(*) FROM users WHERE country IN ('France', 'Germany')
           GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "string_equals_negated_keeps_null_rows",
        ev(
            ["users.country", "events.count"],
            filters={"users.country": s("EQUALS", "United States", neg=True)},
            sorts=[sort("users.country", nulls="FIRST")],
        ),
        f"""SELECT u.country, count(*) FROM events e {EU}
            WHERE u.country IS NULL OR u.country <> 'United States'
            GROUP BY 1 ORDER BY 1 NULLS FIRST""",
        min_rows=13,
    ),
    Case(
        "string_equals_several_values_negated",
        oi(
            ["order_items.status", CNT],
            filters={"order_items.status": s("EQUALS", "Complete", "Shipped", neg=True)},
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, count(*) FROM order_items
           WHERE status NOT IN ('Complete', 'Shipped') GROUP BY 1 ORDER BY 1""",
        min_rows=3,
    ),
    Case(
        "string_equals_value_with_quote",
        oi(["products.brand", CNT], filters={"products.brand": s("EQUALS", "Levi's")}),
        f"""SELECT p.brand, count(*) FROM order_items oi {II} {P} WHERE p.brand = 'Levi''s'
            GROUP BY 1""",
    ),
    Case(
        "string_contains_case_sensitive",
        oi(
            ["products.department", CNT],
            filters={"products.name": s("CONTAINS", "Men's")},
            sorts=[sort("products.department")],
        ),
        # "Women's" contains "men's", not "Men's": only the Men department matches
        f"""SELECT p.department, count(*) FROM order_items oi {II} {P}
            WHERE position('Men''s' IN p.name) > 0 GROUP BY 1 ORDER BY 1""",
    ),
    Case(
        "string_contains_case_insensitive",
        oi(
            ["products.department", CNT],
            filters={"products.name": s("CONTAINS", "MEN'S", ci=True)},
            sorts=[sort("products.department")],
        ),
        f"""SELECT p.department, count(*) FROM order_items oi {II} {P}
            WHERE lower(p.name) LIKE '%men''s%' GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "string_contains_several_values_or",
        oi(
            ["products.category", CNT],
            filters={"products.name": s("CONTAINS", "Jean", "Hoodie")},
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P}
            WHERE p.name LIKE '%Jean%' OR p.name LIKE '%Hoodie%' GROUP BY 1 ORDER BY 1""",
        min_rows=3,
    ),
    Case(
        "string_contains_negated",
        oi(
            ["products.category", CNT],
            filters={
                "products.name": s("CONTAINS", "Jean", neg=True),
                "products.department": s("EQUALS", "Men"),
            },
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P}
            WHERE p.name NOT LIKE '%Jean%' AND p.department = 'Men' GROUP BY 1 ORDER BY 1""",
        min_rows=10,
    ),
    Case(
        "string_contains_underscore_is_literal_matches_nothing",
        oi(["products.category", CNT], filters={"products.name": s("CONTAINS", "_")}),
        # no product name contains an underscore; as a LIKE wildcard it would match every name
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P}
            WHERE false GROUP BY 1 ORDER BY 2 DESC""",
        empty=True,
    ),
    Case(
        "string_contains_percent_negated_keeps_every_row",
        ev(
            ["events.event_type", "events.count"],
            filters={"events.uri": s("CONTAINS", "%", neg=True)},
            sorts=[sort("events.event_type")],
        ),
        # no uri contains a literal "%": the negation keeps all events
        "SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 1",
        min_rows=6,
    ),
    Case(
        "string_starts_with_underscore_negated_is_literal",
        oi(
            ["products.department", CNT],
            filters={"products.name": s("STARTS_WITH", "_", neg=True)},
            sorts=[sort("products.department")],
        ),
        f"""SELECT p.department, count(*) FROM order_items oi {II} {P} GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "string_starts_with_several_values",
        ev(
            ["events.event_type", "events.count"],
            filters={"events.uri": s("STARTS_WITH", "/department/women", "/cart")},
            sorts=[sort("events.event_type")],
        ),
        """SELECT event_type, count(*) FROM events
           WHERE starts_with(uri, '/department/women') OR starts_with(uri, '/cart')
           GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "string_starts_with_negated",
        ev(
            ["events.event_type", "events.count"],
            filters={"events.uri": s("STARTS_WITH", "/product", neg=True)},
            sorts=[sort("events.event_type")],
        ),
        """SELECT event_type, count(*) FROM events WHERE NOT starts_with(uri, '/product')
           GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    Case(
        "string_ends_with",
        oi(
            ["products.category", CNT],
            filters={"products.category": s("ENDS_WITH", "Coats")},
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P}
            WHERE right(p.category, 5) = 'Coats' GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "string_ends_with_negated_case_insensitive",
        oi(
            ["products.category", CNT],
            filters={"products.category": s("ENDS_WITH", "COATS", "s", neg=True, ci=True)},
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P}
            WHERE NOT (lower(p.category) LIKE '%coats' OR lower(p.category) LIKE '%s')
            GROUP BY 1 ORDER BY 1""",
        min_rows=3,
    ),
    Case(
        "string_equals_case_insensitive",
        us(
            ["users.country", "users.count"],
            filters={"users.country": s("EQUALS", "fRANCE", "united kingdom", ci=True)},
            sorts=[sort("users.country")],
        ),
        """SELECT country, count(*) FROM users WHERE country IN ('France', 'United Kingdom')
           GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "string_is_empty_matches_null_rows",
        ev(
            ["events.event_type", "events.count"],
            filters={"users.city": s("IS_EMPTY")},
            sorts=[sort("events.event_type")],
        ),
        # anonymous events have no user, so no city
        f"""SELECT e.event_type, count(*) FROM events e {EU}
            WHERE u.city IS NULL OR u.city = '' GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    Case(
        "string_is_empty_negated_is_not_empty",
        ev(
            ["events.event_type", "events.count"],
            filters={"users.city": s("IS_EMPTY", neg=True)},
            sorts=[sort("events.event_type")],
        ),
        f"""SELECT e.event_type, count(*) FROM events e {EU}
            WHERE u.city IS NOT NULL AND u.city <> '' GROUP BY 1 ORDER BY 1""",
        min_rows=6,
    ),
    Case(
        "string_sql_like",
        oi(
            ["products.category", CNT],
            filters={"products.name": s("SQL_LIKE", "%Slim%Jean")},
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P}
            WHERE p.name LIKE '%Slim%Jean' GROUP BY 1 ORDER BY 1""",
    ),
    Case(
        "string_sql_like_negated_underscore_wildcard",
        oi(
            ["products.department", CNT],
            filters={"products.name": s("SQL_LIKE", "_% Men's %", neg=True)},
            sorts=[sort("products.department")],
        ),
        f"""SELECT p.department, count(*) FROM order_items oi {II} {P}
            WHERE NOT regexp_matches(p.name, '^.+ Men''s ') GROUP BY 1 ORDER BY 1""",
    ),
]

NUMBERS = [
    Case(
        "number_equals_one_value",
        us(
            ["users.gender", "users.count"],
            filters={"users.age": n("EQUALS", 30)},
            sorts=[sort("users.gender")],
        ),
        "SELECT gender, count(*) FROM users WHERE age = 30 GROUP BY 1 ORDER BY 1",
        min_rows=2,
    ),
    Case(
        "number_equals_several_numeric_strings",
        us(
            ["users.age", "users.count"],
            filters={"users.age": n("EQUALS", "20", "30", "40")},
            sorts=[sort("users.age")],
        ),
        "SELECT age, count(*) FROM users WHERE age IN (20, 30, 40) GROUP BY 1 ORDER BY 1",
        min_rows=3,
    ),
    Case(
        "number_equals_negated",
        us(
            ["users.age_tier", "users.count"],
            filters={"users.age": n("EQUALS", 30, 31, neg=True)},
            sorts=[sort("users.age_tier")],
        ),
        """SELECT CASE WHEN age < 30 THEN 'Under 30' WHEN age < 50 THEN '30 to 49' ELSE '50+' END,
                  count(*) FROM users WHERE age NOT IN (30, 31) GROUP BY 1 ORDER BY 1""",
        min_rows=3,
    ),
    Case(
        "number_greater_than",
        us(
            ["users.age", "users.count"],
            filters={"users.age": n("GREATER_THAN", 65)},
            sorts=[sort("users.age")],
        ),
        "SELECT age, count(*) FROM users WHERE age >= 66 GROUP BY 1 ORDER BY 1",
        min_rows=4,
    ),
    Case(
        "number_greater_than_inclusive",
        us(
            ["users.age", "users.count"],
            filters={"users.age": n("GREATER_THAN", 65, incl=True)},
            sorts=[sort("users.age")],
        ),
        "SELECT age, count(*) FROM users WHERE age >= 65 GROUP BY 1 ORDER BY 1",
        min_rows=5,
    ),
    Case(
        "number_less_than",
        us(
            ["users.age", "users.count"],
            filters={"users.age": n("LESS_THAN", 15)},
            sorts=[sort("users.age")],
        ),
        "SELECT age, count(*) FROM users WHERE age <= 14 GROUP BY 1 ORDER BY 1",
        min_rows=3,
    ),
    Case(
        "number_less_than_inclusive_numeric_string",
        us(
            ["users.age", "users.count"],
            filters={"users.age": n("LESS_THAN", "15", incl=True)},
            sorts=[sort("users.age")],
        ),
        "SELECT age, count(*) FROM users WHERE age <= 15 GROUP BY 1 ORDER BY 1",
        min_rows=4,
    ),
    Case(
        "number_between_upper_exclusive",
        us(
            ["users.age", "users.count"],
            filters={"users.age": n("BETWEEN", 20, 24)},
            sorts=[sort("users.age")],
        ),
        "SELECT age, count(*) FROM users WHERE age IN (20, 21, 22, 23) GROUP BY 1 ORDER BY 1",
        min_rows=4,
    ),
    Case(
        "number_between_negated",
        us(
            ["users.age_tier", "users.count"],
            filters={"users.age": n("BETWEEN", 20, 60, neg=True)},
            sorts=[sort("users.age_tier")],
        ),
        # BETWEEN is [20, 60): its negation keeps 60
        """SELECT CASE WHEN age < 30 THEN 'Under 30' ELSE '50+' END, count(*) FROM users
           WHERE age < 20 OR age >= 60 GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "number_decimal_string_on_double",
        oi(
            ["products.category", CNT, "order_items.min_sale_price"],
            filters={SP: n("GREATER_THAN", "100.5")},
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, count(*), min(oi.sale_price) FROM order_items oi {II} {P}
            WHERE oi.sale_price > 100.5 GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    Case(
        "number_negated_keeps_null_rows_days_to_deliver",
        oi(
            ["order_items.days_to_deliver", CNT],
            filters={"order_items.days_to_deliver": n("GREATER_THAN", 3, neg=True)},
            sorts=[sort("order_items.days_to_deliver", nulls="FIRST")],
        ),
        # undelivered items (delivered_at NULL) have no days_to_deliver and are kept
        """SELECT delivered_at::DATE - created_at::DATE AS days, count(*) FROM order_items
           WHERE delivered_at IS NULL OR delivered_at::DATE - created_at::DATE <= 3
           GROUP BY 1 ORDER BY 1 NULLS FIRST""",
        min_rows=3,
    ),
]


NULLS_AND_BOOLEANS = [
    Case(
        "null_filter_on_returned_at",
        oi(
            ["order_items.status", CNT],
            filters={"order_items.returned_at": {"type": "null"}},
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, count(*) FROM order_items WHERE returned_at IS NULL
           GROUP BY 1 ORDER BY 1""",
        min_rows=4,
    ),
    Case(
        "null_filter_negated_on_delivered_at",
        oi(
            ["order_items.status", CNT],
            filters={"order_items.delivered_at": {"type": "null", "is_negative": True}},
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, count(*) FROM order_items WHERE delivered_at IS NOT NULL
           GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "null_filter_anonymous_events",
        ev(
            ["events.event_type", "events.count", "events.unique_sessions"],
            filters={"events.user_id": {"type": "null"}},
            sorts=[sort("events.event_type")],
        ),
        """SELECT event_type, count(*), count(DISTINCT session_id) FROM events
           WHERE user_id IS NULL GROUP BY 1 ORDER BY 1""",
        min_rows=4,
    ),
    Case(
        "boolean_true",
        oi(
            ["order_items.status", "order_items.is_returned", CNT],
            filters={"order_items.is_returned": {"type": "boolean", "is_negative": False}},
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, true, count(*) FROM order_items WHERE returned_at IS NOT NULL
           GROUP BY 1 ORDER BY 1""",
    ),
    Case(
        "boolean_negated_false",
        oi(
            ["order_items.status", "order_items.is_returned", CNT],
            filters={"order_items.is_returned": {"type": "boolean", "is_negative": True}},
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, false, count(*) FROM order_items WHERE returned_at IS NULL
           GROUP BY 1 ORDER BY 1""",
        min_rows=4,
    ),
    Case(
        "boolean_negated_treat_nulls_as_false",
        oi(
            [f"{CA}[year]", CNT],
            filters={
                "order_items.is_returned": {
                    "type": "boolean",
                    "is_negative": True,
                    "treat_nulls_as_false": True,
                }
            },
        ),
        # is_returned (returned_at IS NOT NULL) is never NULL itself
        """SELECT make_date(year(created_at), 1, 1), count(*) FROM order_items
           WHERE status <> 'Returned' GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
    Case(
        "boolean_true_table_inventory_items",
        {
            "table": "inventory_items",
            "fields": ["inventory_items.product_department", "inventory_items.count"],
            "filters": {"inventory_items.is_sold": {"type": "boolean", "is_negative": False}},
            "sorts": [sort("inventory_items.product_department")],
        },
        """SELECT product_department, count(*) FROM inventory_items WHERE sold_at IS NOT NULL
           GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "boolean_negated_treat_nulls_table_inventory_items",
        {
            "table": "inventory_items",
            "fields": ["inventory_items.product_department", "inventory_items.count"],
            "filters": {
                "inventory_items.is_sold": {
                    "type": "boolean",
                    "is_negative": True,
                    "treat_nulls_as_false": True,
                }
            },
            "sorts": [sort("inventory_items.product_department")],
        },
        # the unsold stock
        """SELECT product_department, count(*) FROM inventory_items WHERE sold_at IS NULL
           GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
]

DATES = [
    Case(
        "date_between_days",
        oi([f"{CA}[date]", CNT], filters={CA: d("BETWEEN", "2024-01-01", "2024-02-01")}),
        f"""SELECT created_at::DATE, count(*) FROM order_items
            WHERE {in_range("created_at", "2024-01-01", "2024-02-01")}
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=25,
    ),
    Case(
        "date_between_month_and_datetime_literals",
        oi([f"{CA}[date]", CNT], filters={CA: d("BETWEEN", "2024-02", "2024-03-15 12:00:00")}),
        # [start of Feb 2024, 2024-03-15 12:00)
        f"""SELECT created_at::DATE, count(*) FROM order_items
            WHERE {in_range("created_at", "2024-02-01", "2024-03-15 12:00:00")}
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=20,
    ),
    Case(
        "date_before",
        oi([f"{CA}[month]", CNT], filters={CA: d("BEFORE", "2019-06-15")}),
        f"""SELECT make_date(year(created_at), month(created_at), 1), count(*)
            FROM order_items WHERE created_at < {ts("2019-06-15")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=5,
    ),
    Case(
        "date_on_or_after",
        oi([f"{CA}[month]", CNT], filters={CA: d("ON_OR_AFTER", "2025-10")}),
        f"""SELECT make_date(year(created_at), month(created_at), 1), count(*)
            FROM order_items WHERE created_at >= {ts("2025-10-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=3,
    ),
    Case(
        "date_on_or_after_days_ago",
        oi(
            [f"{CA}[date]", CNT],
            filters={CA: d("ON_OR_AFTER", "7 days ago")},
            sorts=[sort(f"{CA}[date]")],
            limit=5,
        ),
        f"""SELECT created_at::DATE, count(*) FROM order_items
            WHERE created_at >= {ts("2025-06-09")} GROUP BY 1 ORDER BY 1 LIMIT 5""",
        min_rows=5,
    ),
    Case(
        "date_interval_duration_90_days_ago",
        oi(
            [f"{CA}[month]", CNT, "order_items.total_sale_price"],
            filters={CA: d("TIME_FOR_INTERVAL_DURATION", "90 days ago", "90 days")},
        ),
        f"""SELECT make_date(year(created_at), month(created_at), 1), count(*), sum(sale_price)
            FROM order_items WHERE {in_range("created_at", "2025-03-18", "2025-06-16")}
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=4,
    ),
    Case(
        "date_unit_last_month",
        oi([f"{CA}[date]", CNT], filters={CA: d("TIME_FOR_UNIT_DURATION", "last month")}),
        f"""SELECT created_at::DATE, count(*) FROM order_items
            WHERE {in_range("created_at", "2025-05-01", "2025-06-01")}
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=25,
    ),
    Case(
        "date_unit_month_literal_2024_03",
        oi(
            ["order_items.status", CNT],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "2024-03")},
            sorts=[sort("order_items.status")],
        ),
        f"""SELECT status, count(*) FROM order_items
            WHERE {in_range("created_at", "2024-03-01", "2024-04-01")} GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    Case(
        "date_unit_quarter_literal_2024_q2",
        oi([f"{CA}[month]", CNT], filters={CA: d("TIME_FOR_UNIT_DURATION", "2024 Q2")}),
        f"""SELECT make_date(year(created_at), month(created_at), 1), count(*) FROM order_items
            WHERE {in_range("created_at", "2024-04-01", "2024-07-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=3,
    ),
    Case(
        "date_unit_this_year",
        oi([f"{CA}[quarter]", CNT], filters={CA: d("TIME_FOR_UNIT_DURATION", "this year")}),
        f"""SELECT make_date(2025, 3 * quarter(created_at) - 2, 1), count(*) FROM order_items
            WHERE {in_range("created_at", "2025-01-01", "2026-01-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=4,
    ),
    Case(
        "date_unit_last_week_monday_start",
        oi([f"{CA}[date]", CNT], filters={CA: d("TIME_FOR_UNIT_DURATION", "last week")}),
        f"""SELECT created_at::DATE, count(*) FROM order_items
            WHERE {in_range("created_at", "2025-06-02", "2025-06-09")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
    Case(
        "date_unit_last_quarter_and_months_ago",
        oi(
            [f"{CA}[month]", CNT],
            filters={
                CA: {
                    "type": "composite",
                    "conjunction": "AND",
                    "filters": [
                        d("TIME_FOR_UNIT_DURATION", "last quarter"),
                        d("TIME_FOR_UNIT_DURATION", "4 months ago"),
                    ],
                }
            },
        ),
        # [2025-01-01, 2025-04-01) AND "4 months ago" (the current month counts as one:
        # March 2025) = [2025-03-01, 2025-04-01)
        f"""SELECT make_date(year(created_at), month(created_at), 1), count(*) FROM order_items
            WHERE {in_range("created_at", "2025-03-01", "2025-04-01")} GROUP BY 1""",
    ),
    Case(
        "date_unit_yesterday",
        oi([f"{CA}[hour]", CNT], filters={CA: d("TIME_FOR_UNIT_DURATION", "yesterday")}),
        f"""SELECT date_trunc('hour', created_at), count(*) FROM order_items
            WHERE {in_range("created_at", "2025-06-14", "2025-06-15")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=3,
    ),
    Case(
        "date_negated_keeps_null_rows",
        oi(
            ["order_items.returned_at[year]", CNT],
            filters={"order_items.returned_at": d("BEFORE", "2024-01-01", neg=True)},
            sorts=[sort("order_items.returned_at[year]", nulls="FIRST")],
        ),
        f"""SELECT make_date(year(returned_at), 1, 1), count(*) FROM order_items
            WHERE returned_at IS NULL OR returned_at >= {ts("2024-01-01")}
            GROUP BY 1 ORDER BY 1 NULLS FIRST""",
        min_rows=3,
    ),
    Case(
        "date_filter_on_null_heavy_delivered_at",
        oi(
            ["order_items.delivered_at[month]", CNT, "order_items.unique_users"],
            filters={"order_items.delivered_at": d("TIME_FOR_UNIT_DURATION", "this year")},
        ),
        f"""SELECT make_date(year(delivered_at), month(delivered_at), 1), count(*),
                   count(DISTINCT user_id)
            FROM order_items WHERE {in_range("delivered_at", "2025-01-01", "2026-01-01")}
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=12,
    ),
]

COMPOSITES_AND_HAVING = [
    Case(
        "composite_and_number_range",
        oi(
            ["products.department", CNT, "order_items.average_sale_price"],
            filters={
                SP: {
                    "type": "composite",
                    "conjunction": "AND",
                    "filters": [n("GREATER_THAN", 50), n("LESS_THAN", 100, incl=True)],
                }
            },
            sorts=[sort("products.department")],
        ),
        f"""SELECT p.department, count(*), avg(oi.sale_price) FROM order_items oi {II} {P}
            WHERE oi.sale_price > 50 AND oi.sale_price <= 100 GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "composite_or_string_kinds",
        oi(
            ["order_items.status", CNT],
            filters={
                "order_items.status": {
                    "type": "composite",
                    "conjunction": "OR",
                    "filters": [s("EQUALS", "Returned"), s("STARTS_WITH", "Ship")],
                }
            },
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, count(*) FROM order_items WHERE status IN ('Returned', 'Shipped')
           GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "composite_or_date_ranges",
        oi(
            [f"{CA}[month]", CNT],
            filters={
                CA: {
                    "type": "composite",
                    "conjunction": "OR",
                    "filters": [
                        d("TIME_FOR_UNIT_DURATION", "2024 Q2"),
                        d("TIME_FOR_UNIT_DURATION", "last month"),
                    ],
                }
            },
        ),
        f"""SELECT make_date(year(created_at), month(created_at), 1), count(*) FROM order_items
            WHERE ({in_range("created_at", "2024-04-01", "2024-07-01")})
               OR ({in_range("created_at", "2025-05-01", "2025-06-01")})
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=4,
    ),
    Case(
        "filters_on_several_fields_are_anded",
        oi(
            ["users.country", CNT],
            filters={
                "order_items.status": s("EQUALS", "Complete"),
                "users.gender": s("EQUALS", "F"),
                CA: d("TIME_FOR_UNIT_DURATION", "this year"),
            },
            sorts=[sort("users.country")],
        ),
        f"""SELECT u.country, count(*) FROM order_items oi {U}
            WHERE oi.status = 'Complete' AND u.gender = 'F'
              AND {in_range("oi.created_at", "2025-01-01", "2026-01-01")}
            GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    Case(
        "having_filter_on_measure",
        oi(
            ["products.brand", CNT, "order_items.total_sale_price"],
            filters={CNT: n("GREATER_THAN", BRAND_MIN), CA: d("BEFORE", "2026-01-01")},
            sorts=[sort(CNT, desc=True), sort("products.brand")],
        ),
        f"""SELECT p.brand, count(*), sum(oi.sale_price) FROM order_items oi {II} {P}
            WHERE oi.created_at < {ts("2026-01-01")}
            GROUP BY 1 HAVING count(*) > {BRAND_MIN} ORDER BY 2 DESC, 1""",
        min_rows=3,
    ),
    Case(
        "having_filter_on_measure_of_measures",
        oi(
            ["products.category", "order_items.return_rate"],
            filters={"order_items.return_rate": n("GREATER_THAN", 0.1)},
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, avg((oi.status = 'Returned')::INTEGER)
            FROM order_items oi {II} {P} GROUP BY 1
            HAVING avg((oi.status = 'Returned')::INTEGER) > 0.1 ORDER BY 1""",
        min_rows=3,
    ),
]

MORE = [
    Case(
        "derived_string_full_name_contains_case_insensitive",
        us(
            ["users.full_name", "users.count"],
            filters={"users.full_name": s("CONTAINS", "N S", ci=True)},
            sorts=[sort("users.full_name")],
        ),
        # no first or last name contains a space: the one space is between the two
        """SELECT first_name || ' ' || last_name, count(*) FROM users
           WHERE lower(first_name) LIKE '%n' AND lower(last_name) LIKE 's%'
           GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "derived_number_margin_between_negated",
        oi(
            ["products.department", "products.count"],
            filters={"products.margin": n("BETWEEN", 10, 50, neg=True)},
            sorts=[sort("products.department")],
        ),
        f"""SELECT p.department, count(DISTINCT p.id) FROM order_items oi {II} {P}
            WHERE p.retail_price - p.cost < 10 OR p.retail_price - p.cost > 50
            GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "number_grain_filter_negated_hour_of_day",
        oi(
            [f"{CA}[hour_of_day]", CNT],
            filters={f"{CA}[hour_of_day]": n("LESS_THAN", 8, neg=True)},
            sorts=[sort(f"{CA}[hour_of_day]", desc=True)],
        ),
        """SELECT hour(created_at), count(*) FROM order_items WHERE hour(created_at) >= 8
           GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=10,
    ),
    Case(
        "having_negated_measure_filter",
        oi(
            ["products.category", CNT],
            filters={CNT: n("GREATER_THAN", CATEGORY_MAX, neg=True)},
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P} GROUP BY 1
            HAVING count(*) <= {CATEGORY_MAX} ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "having_on_filtered_measure_with_where",
        oi(
            ["products.brand", "order_items.returned_count", CNT],
            filters={
                "order_items.returned_count": n("GREATER_THAN", 20, incl=True),
                "products.department": s("EQUALS", "Women"),
            },
            sorts=[sort("order_items.returned_count", desc=True), sort("products.brand")],
        ),
        f"""SELECT p.brand, count(*) FILTER (WHERE oi.status = 'Returned'), count(*)
            FROM order_items oi {II} {P} WHERE p.department = 'Women' GROUP BY 1
            HAVING count(*) FILTER (WHERE oi.status = 'Returned') >= 20 ORDER BY 2 DESC, 1""",
        min_rows=3,
    ),
    Case(
        "events_day_of_week_signed_in",
        ev(
            ["events.created_at[day_of_week_name]", "events.count", "events.unique_visitors"],
            filters={"events.user_id": {"type": "null", "is_negative": True}},
            sorts=[sort("events.created_at[day_of_week_name]")],
        ),
        """SELECT dayname(created_at), count(*), count(DISTINCT user_id) FROM events
           WHERE user_id IS NOT NULL GROUP BY 1 ORDER BY 1""",
        min_rows=7,
    ),
]

EXTRA = [
    Case(
        "table_without_topic_measure_of_measures_implicit_joins",
        {
            "table": "order_items",
            "fields": [
                "users.gender",
                "order_items.gross_margin_percent",
                "order_items.return_rate",
            ],
            "sorts": [sort("users.gender")],
        },
        f"""SELECT u.gender, sum(oi.sale_price - ii.cost) / sum(oi.sale_price),
                   avg(CASE WHEN oi.status = 'Returned' THEN 1.0 ELSE 0.0 END)
            FROM order_items oi {U} {II} GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "dimensions_only_with_having_on_unselected_measure",
        oi(["order_items.status"], filters={CNT: n("GREATER_THAN", CATEGORY_MAX * 6)}),
        f"""SELECT status FROM order_items GROUP BY 1 HAVING count(*) > {CATEGORY_MAX * 6}
            ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "having_composite_on_measure",
        oi(
            ["products.category", CNT],
            filters={
                CNT: {
                    "type": "composite",
                    "conjunction": "AND",
                    "filters": [
                        n("GREATER_THAN", BRAND_MIN, incl=True),
                        n("LESS_THAN", CATEGORY_MAX * 2),
                    ],
                }
            },
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P} GROUP BY 1
            HAVING count(*) BETWEEN {BRAND_MIN} AND {CATEGORY_MAX * 2 - 1} ORDER BY 1""",
        min_rows=3,
    ),
    Case(
        "date_filter_on_month_grain_field",
        oi(
            [f"{CA}[month]", CNT],
            filters={f"{CA}[month]": d("TIME_FOR_UNIT_DURATION", "2024 Q2")},
        ),
        f"""SELECT make_date(year(created_at), month(created_at), 1), count(*) FROM order_items
            WHERE {in_range("created_at", "2024-04-01", "2024-07-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=3,
    ),
    Case(
        "string_filter_on_day_of_week_name_grain",
        oi(
            [f"{CA}[day_of_week_name]", CNT],
            filters={f"{CA}[day_of_week_name]": s("EQUALS", "Saturday", "Sunday")},
            sorts=[sort(f"{CA}[day_of_week_name]")],
        ),
        """SELECT dayname(created_at), count(*) FROM order_items
           WHERE isodow(created_at) IN (6, 7) GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "string_sql_like_case_insensitive",
        oi(
            ["products.category", CNT],
            filters={"products.name": s("SQL_LIKE", "%SLIM%jean", ci=True)},
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P}
            WHERE p.name ILIKE '%slim%jean' GROUP BY 1 ORDER BY 1""",
    ),
    Case(
        "date_interval_duration_weeks_ago_events",
        ev(
            ["events.created_at[week]", "events.count", "events.unique_sessions"],
            filters={
                "events.created_at": d("TIME_FOR_INTERVAL_DURATION", "2 weeks ago", "2 weeks")
            },
        ),
        # "2 weeks ago" counts this week (from Monday 2025-06-09) as one of the two: it starts
        # 2025-06-02, for two weeks
        f"""SELECT created_at::DATE - (isodow(created_at) - 1)::INTEGER, count(*),
                   count(DISTINCT session_id)
            FROM events WHERE {in_range("created_at", "2025-06-02", "2025-06-16")}
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=2,
    ),
    Case(
        "date_unit_today_negated_keeps_other_days",
        ev(
            ["events.created_at[year]", "events.count"],
            filters={
                "events.created_at": d("TIME_FOR_UNIT_DURATION", "today", neg=True),
                "events.sequence_number": n("EQUALS", 1),
            },
        ),
        f"""SELECT make_date(year(created_at), 1, 1), count(*) FROM events
            WHERE NOT ({in_range("created_at", "2025-06-15", "2025-06-16")})
              AND sequence_number = 1
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
]

SORTS_AND_LIMITS = [
    Case(
        "sort_asc_nulls_first",
        oi(
            ["order_items.returned_at[month]", CNT],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "2024 Q2")},
            sorts=[sort("order_items.returned_at[month]", nulls="FIRST")],
        ),
        f"""SELECT make_date(year(returned_at), month(returned_at), 1), count(*)
            FROM order_items WHERE {in_range("created_at", "2024-04-01", "2024-07-01")}
            GROUP BY 1 ORDER BY 1 ASC NULLS FIRST""",
        min_rows=4,
    ),
    Case(
        "sort_asc_default_nulls_last",
        oi(
            ["order_items.returned_at[month]", CNT],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "2024 Q2")},
            sorts=[sort("order_items.returned_at[month]")],
        ),
        f"""SELECT make_date(year(returned_at), month(returned_at), 1), count(*)
            FROM order_items WHERE {in_range("created_at", "2024-04-01", "2024-07-01")}
            GROUP BY 1 ORDER BY 1 ASC NULLS LAST""",
        min_rows=4,
    ),
    Case(
        "sort_desc_nulls_first",
        oi(
            ["order_items.returned_at[month]", CNT],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "2024 Q2")},
            sorts=[sort("order_items.returned_at[month]", desc=True, nulls="FIRST")],
        ),
        f"""SELECT make_date(year(returned_at), month(returned_at), 1), count(*)
            FROM order_items WHERE {in_range("created_at", "2024-04-01", "2024-07-01")}
            GROUP BY 1 ORDER BY 1 DESC NULLS FIRST""",
        min_rows=4,
    ),
    Case(
        "sort_desc_omni_default_nulls_last",
        oi(
            ["order_items.returned_at[month]", CNT],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "2024 Q2")},
            sorts=[sort("order_items.returned_at[month]", desc=True, nulls="OMNI_DEFAULT")],
        ),
        f"""SELECT make_date(year(returned_at), month(returned_at), 1), count(*)
            FROM order_items WHERE {in_range("created_at", "2024-04-01", "2024-07-01")}
            GROUP BY 1 ORDER BY 1 DESC NULLS LAST""",
        min_rows=4,
    ),
    Case(
        "sort_string_desc_nulls_first_then_measure",
        ev(
            ["users.gender", "events.browser", "events.count"],
            sorts=[
                sort("users.gender", desc=True, nulls="FIRST"),
                sort("events.count", desc=True, nulls="LAST"),
            ],
        ),
        f"""SELECT u.gender, e.browser, count(*) FROM events e {EU}
            GROUP BY 1, 2 ORDER BY 1 DESC NULLS FIRST, 3 DESC""",
        min_rows=10,
    ),
    Case(
        "limit_and_offset",
        oi(
            ["products.brand", CNT],
            sorts=[sort(CNT, desc=True), sort("products.brand")],
            limit=10,
            offset=5,
        ),
        f"""SELECT p.brand, count(*) FROM order_items oi {II} {P}
            GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10 OFFSET 5""",
        min_rows=10,
    ),
    Case(
        "limit_null_is_unlimited",
        oi(
            ["order_items.order_id", CNT, "order_items.total_sale_price"],
            sorts=[sort("order_items.order_id")],
            limit=None,
        ),
        """SELECT order_id, count(*), sum(sale_price) FROM order_items GROUP BY 1 ORDER BY 1""",
        min_rows=1001,
    ),
    Case(
        "offset_without_limit",
        us(["users.country", "users.count"], sorts=[sort("users.country")], limit=None, offset=3),
        "SELECT country, count(*) FROM users GROUP BY 1 ORDER BY 1 OFFSET 3",
        min_rows=10,
    ),
    Case(
        "default_limit_1000_dimension_only_default_sort_asc",
        oi(["order_items.id"]),
        "SELECT DISTINCT id FROM order_items ORDER BY id LIMIT 1000",
        min_rows=1000,
    ),
]

TOPICS_AND_SHAPES = [
    Case(
        "dimensions_only_group_by_is_distinct",
        oi(["order_items.status", "users.gender"]),
        f"SELECT DISTINCT oi.status, u.gender FROM order_items oi {U} ORDER BY 1",
        order=(0,),
        min_rows=10,
    ),
    Case(
        "topic_users",
        us(
            [
                "users.country",
                "users.gender",
                "users.count",
                "users.average_age",
                "users.count_female",
            ],
            sorts=[sort("users.country"), sort("users.gender")],
        ),
        """SELECT country, gender, count(*), avg(age), count(*) FILTER (WHERE gender = 'F')
           FROM users GROUP BY 1, 2 ORDER BY 1, 2""",
        min_rows=26,
    ),
    Case(
        "topic_users_signup_week_default_sort",
        us(
            ["users.created_at[week]", "users.count"],
            filters={"users.created_at": d("TIME_FOR_UNIT_DURATION", "2024")},
        ),
        f"""SELECT created_at::DATE - (isodow(created_at) - 1)::INTEGER, count(*) FROM users
            WHERE {in_range("created_at", "2024-01-01", "2025-01-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=20,
    ),
    Case(
        "topic_events_measures",
        ev(
            [
                "events.event_type",
                "events.count",
                "events.unique_sessions",
                "events.unique_visitors",
                "events.purchase_count",
            ],
            sorts=[sort("events.event_type")],
        ),
        """SELECT event_type, count(*), count(DISTINCT session_id), count(DISTINCT user_id),
                  count(*) FILTER (WHERE event_type = 'purchase')
           FROM events GROUP BY 1 ORDER BY 1""",
        min_rows=6,
    ),
    Case(
        "topic_events_join_users_with_null_user",
        ev(
            ["events.created_at[year]", "users.gender", "events.count", "users.count"],
            sorts=[sort("events.created_at[year]", desc=True), sort("users.gender", nulls="FIRST")],
        ),
        f"""SELECT make_date(year(e.created_at), 1, 1), u.gender, count(*), count(DISTINCT u.id)
            FROM events e {EU} GROUP BY 1, 2 ORDER BY 1 DESC, 2 NULLS FIRST""",
        min_rows=21,
    ),
    Case(
        "topic_events_filter_on_joined_users_only",
        ev(
            ["events.traffic_source", "events.count", "events.unique_visitors"],
            filters={"users.gender": s("EQUALS", "M")},
            sorts=[sort("events.traffic_source")],
        ),
        f"""SELECT e.traffic_source, count(*), count(DISTINCT e.user_id) FROM events e {EU}
            WHERE u.gender = 'M' GROUP BY 1 ORDER BY 1""",
        min_rows=4,
    ),
    Case(
        "topic_events_negated_gender_keeps_anonymous",
        ev(
            ["users.gender", "events.count"],
            filters={"users.gender": s("EQUALS", "F", neg=True)},
            sorts=[sort("users.gender", nulls="LAST")],
        ),
        f"""SELECT u.gender, count(*) FROM events e {EU}
            WHERE u.gender IS DISTINCT FROM 'F' GROUP BY 1 ORDER BY 1 NULLS LAST""",
        min_rows=2,
    ),
    Case(
        "table_without_topic_order_items",
        {
            "table": "order_items",
            "fields": ["products.category", CNT, "order_items.total_sale_price"],
            "sorts": [sort("products.category")],
        },
        # without a topic, order_items reaches products directly through its product_id
        """SELECT p.category, count(*), sum(oi.sale_price)
           FROM order_items oi LEFT JOIN products p ON oi.product_id = p.id
           GROUP BY 1 ORDER BY 1""",
        min_rows=20,
    ),
    Case(
        "table_without_topic_products",
        {
            "table": "products",
            "fields": [
                "products.department",
                "products.count",
                "products.average_retail_price",
                "products.brand_count",
            ],
            "sorts": [sort("products.department")],
        },
        """SELECT department, count(*), avg(retail_price), count(DISTINCT brand) FROM products
           GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    Case(
        "table_without_topic_users_only_measures",
        {"table": "users", "fields": ["users.count", "users.average_age", "users.count_female"]},
        "SELECT count(*), avg(age), count(*) FILTER (WHERE gender = 'F') FROM users",
    ),
]

CASES = (
    GRAINS
    + MEASURES
    + JOINS
    + STRINGS
    + NUMBERS
    + NULLS_AND_BOOLEANS
    + DATES
    + COMPOSITES_AND_HAVING
    + MORE
    + EXTRA
    + SORTS_AND_LIMITS
    + TOPICS_AND_SHAPES
)


def _param(case: Case) -> Any:
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(case, id=case.id, marks=marks)


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 50


@pytest.mark.parametrize("case", [_param(c) for c in CASES])
def test_oracle(runner: Any, case: Case) -> None:
    want = _rows(runner.sql(case.sql))
    if case.empty:
        assert want == [], f"hand SQL of {case.id} was meant to match nothing"
    else:
        assert len(want) >= case.min_rows, (
            f"hand SQL returned {len(want)} rows; the case expects at least {case.min_rows}"
        )
    compiled = runner.compile(case.query)
    table = runner.run(case.query)
    assert table.column_names == [f for f in case.query["fields"]]
    got = _rows(table)
    problem = compare(got, want, case.order)
    assert problem is None, f"{problem}\n-- compiled SQL:\n{compiled.sql}"


def test_compare_helper_detects_differences() -> None:
    day = dt.date(2024, 1, 1)
    rows = [(day, "a", 1, 0.1 + 0.2), (None, "b", 2, 1.0)]
    assert compare(rows, [(day, "a", 1, 0.3), (None, "b", 2, 1.0)], "exact") is None
    assert compare(rows, [(day, "a", 1, 0.3001), (None, "b", 2, 1.0)], "exact") is not None
    assert compare(rows, list(reversed(rows)), "exact") is not None
    assert compare(rows, list(reversed(rows)), "set") is None
    assert compare(rows, list(reversed(rows)), (1,)) is not None
    assert compare(rows, rows[:1], "set") is not None
    assert compare([(dt.datetime(2024, 1, 1),)], [(day,)], "exact") is not None
    assert compare([(Decimal(3),)], [(3,)], "exact") is None
    assert compare([(None,)], [(0,)], "exact") is not None
