"""Pivots, totals, fill and table calculations, end to end through Project.run, against
hand-written SQL on the demo warehouse. Totals of non-additive measures (averages, distinct
counts) must be the warehouse's own aggregates, never sums of the rows."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from sluice.project import Project
from tests.conftest import MODEL_ID, NOW, Runner


def run(project: Project, query: dict[str, Any]) -> Any:
    compiled = project.compile(MODEL_ID, {"modelId": MODEL_ID, **query}, now=NOW)
    return project.run(MODEL_ID, compiled)


def column(table: Any, name: str) -> list[Any]:
    return table.column(name).to_pylist()


def test_pivot_spreads_a_dimension_into_columns(demo_project: Project, runner: Runner) -> None:
    result = run(demo_project, {"join_paths_from_topic_name": "order_items",
                                "fields": ["users.gender", "order_items.status", "order_items.count"],
                                "pivots": ["order_items.status"],
                                "sorts": [{"column_name": "users.gender"}]})  # fmt: skip
    hand = runner.sql("""SELECT u.gender, oi.status, count(*) FROM order_items oi
                         LEFT JOIN users u ON oi.user_id = u.id GROUP BY 1, 2""").to_pylist()
    statuses = sorted({r["status"] for r in hand})
    assert result.table.column_names == ["users.gender"] + [
        f"{s}|order_items.count" for s in statuses
    ]
    for row in result.table.to_pylist():
        for s in statuses:
            want = [
                r["count_star()"]
                for r in hand
                if r["gender"] == row["users.gender"] and r["status"] == s
            ]
            assert row[f"{s}|order_items.count"] == (want[0] if want else None)
    meta = result.fields["Complete|order_items.count"]
    assert (
        meta["pivot_values"] == {"order_items.status": "Complete"} and meta["data_type"] == "NUMBER"
    )
    assert "order_items.status" not in result.fields and "users.gender" in result.fields


def test_column_totals_are_computed_by_the_warehouse(demo_project: Project, runner: Runner) -> None:
    result = run(demo_project, {"join_paths_from_topic_name": "order_items",
                                "fields": ["products.category", "order_items.average_sale_price",
                                           "order_items.unique_users"],
                                "column_totals": {"::total::": {"type": "aggregation"}},
                                "sorts": [{"column_name": "products.category"}]})  # fmt: skip
    rows = result.table.to_pylist()
    total = rows[-1]
    assert (
        total["$omni_column_total_indicator"] == "column_total"
        and total["products.category"] is None
    )
    assert all(r["$omni_column_total_indicator"] is None for r in rows[:-1])
    want = runner.sql(
        "SELECT avg(sale_price), count(DISTINCT user_id) FROM order_items"
    ).to_pylist()[0]
    assert total["order_items.average_sale_price"] == pytest.approx(
        want["avg(sale_price)"], rel=1e-12
    )
    assert total["order_items.unique_users"] == want["count(DISTINCT user_id)"]
    # the total of a distinct count is not the sum of the rows (users buy in several categories)
    assert total["order_items.unique_users"] < sum(r["order_items.unique_users"] for r in rows[:-1])


def test_pivot_with_row_and_column_totals(demo_project: Project, runner: Runner) -> None:
    result = run(demo_project, {"join_paths_from_topic_name": "order_items",
                                "fields": ["users.traffic_source", "products.department", "order_items.unique_users"],
                                "pivots": ["products.department"],
                                "row_totals": {"order_items.unique_users": {"type": "aggregation"}},
                                "column_totals": {"::total::": {"type": "aggregation"}},
                                "sorts": [{"column_name": "users.traffic_source"}]})  # fmt: skip
    rows = result.table.to_pylist()
    per_source = {r["traffic_source"]: r["n"] for r in runner.sql("""
        SELECT u.traffic_source, count(DISTINCT oi.user_id) AS n FROM order_items oi
        LEFT JOIN users u ON oi.user_id = u.id GROUP BY 1""").to_pylist()}  # fmt: skip
    per_department = {r["department"]: r["n"] for r in runner.sql("""
        SELECT p.department, count(DISTINCT oi.user_id) AS n FROM order_items oi
        LEFT JOIN inventory_items ii ON oi.inventory_item_id = ii.id
        LEFT JOIN products p ON ii.product_id = p.id GROUP BY 1""").to_pylist()}  # fmt: skip
    everyone = runner.sql("SELECT count(DISTINCT user_id) FROM order_items").column(0)[0].as_py()
    for row in rows[:-1]:
        assert row["::total::|order_items.unique_users"] == per_source[row["users.traffic_source"]]
    total = rows[-1]
    for department, n in per_department.items():
        assert total[f"{department}|order_items.unique_users"] == n
    assert total["::total::|order_items.unique_users"] == everyone
    assert result.fields["::total::|order_items.unique_users"]["is_row_total"] is True


def test_fill_fields_fill_the_filtered_range(demo_project: Project, runner: Runner) -> None:
    # A rare status in one small country leaves empty months; fill makes every month appear.
    query = {"join_paths_from_topic_name": "order_items",
             "fields": ["order_items.created_at[month]", "order_items.count"],
             "filters": {"order_items.created_at": {"type": "date", "kind": "BETWEEN", "left_side": "2024-01",
                                                    "right_side": "2025-01"},
                         "order_items.status": {"type": "string", "values": ["Returned"]},
                         "users.country": {"type": "string", "values": ["Poland"]}},
             "fill_fields": ["order_items.created_at[month]"],
             "sorts": [{"column_name": "order_items.created_at[month]"}]}  # fmt: skip
    months = [date(2024, m, 1) for m in range(1, 13)]
    result = run(demo_project, query)
    assert column(result.table, "order_items.created_at[month]") == months
    hand = {
        r["month"]: r["n"]
        for r in runner.sql("""
        SELECT date_trunc('month', oi.created_at)::DATE AS month, count(*) AS n FROM order_items oi
        LEFT JOIN users u ON oi.user_id = u.id
        WHERE oi.status = 'Returned' AND u.country = 'Poland'
          AND oi.created_at >= TIMESTAMP '2024-01-01' AND oi.created_at < TIMESTAMP '2025-01-01'
        GROUP BY 1""").to_pylist()
    }
    assert len(hand) < 12, "the case needs months without data"
    assert column(result.table, "order_items.count") == [hand.get(m) for m in months]


def test_table_calculations(demo_project: Project, runner: Runner) -> None:
    calcs = [
        {"calc_name": "share", "sql_expression": {"type": "call", "operator": "Omni.OMNI_PERCENT_OF_TOTAL",
                                                  "operands": [{"type": "field", "field_name": "order_items.count"}]}},
        {"calc_name": "running", "original_formula": "=RUNNING_TOTAL(order_items.count)"},
        {"calc_name": "avg_check", "original_formula": "order_items.total_sale_price / order_items.count"},
        {"calc_name": "broken", "original_formula": "OMNI_FROBNICATE(order_items.count)"},
    ]  # fmt: skip
    result = run(demo_project, {"join_paths_from_topic_name": "order_items",
                                "fields": ["order_items.status", "share", "order_items.count", "running",
                                           "order_items.total_sale_price", "avg_check"],
                                "calculations": calcs, "sorts": [{"column_name": "order_items.status"}]})  # fmt: skip
    assert result.table.column_names == ["order_items.status", "share", "order_items.count", "running",
                                         "order_items.total_sale_price", "avg_check"]  # fmt: skip
    want = runner.sql("""SELECT status, count(*) * 1.0 / sum(count(*)) OVER (),
                                sum(count(*)) OVER (ORDER BY status), sum(sale_price) / count(*)
                         FROM order_items GROUP BY 1 ORDER BY 1""").to_pylist()  # fmt: skip
    got = result.table.to_pylist()
    for g, w in zip(got, want, strict=True):
        values = list(w.values())
        assert g["share"] == pytest.approx(values[1], rel=1e-12)
        assert g["running"] == pytest.approx(float(values[2]))
        assert g["avg_check"] == pytest.approx(values[3], rel=1e-12)
    assert (
        "broken" in result.invalid_calculations
        and "OMNI_FROBNICATE" in result.invalid_calculations["broken"]
    )
    assert result.fields["share"]["is_calc"] is True and "broken" not in result.table.column_names


def test_calc_name_in_fields_is_not_a_missing_field(demo_project: Project) -> None:
    compiled = demo_project.compile(MODEL_ID, {"modelId": MODEL_ID, "join_paths_from_topic_name": "order_items",
                                               "fields": ["order_items.count", "double"],
                                               "calculations": [{"calc_name": "double", "original_formula": "order_items.count * 2"}]},
                                    now=NOW)  # fmt: skip
    assert compiled.missing_fields == ()
    table = demo_project.run(MODEL_ID, compiled).table
    assert column(table, "double") == [2 * v for v in column(table, "order_items.count")]
