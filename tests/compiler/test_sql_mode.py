"""SQL mode (userEditedSQL): semantic references resolved against the model, or verbatim SQL
for users allowed raw SQL. Results are checked against hand-written SQL."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.compiler import CompileOptions
from sluice.errors import Forbidden, PlanError
from tests.conftest import Runner


def rows(table: Any) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in table.to_pylist()]


def sql_query(sql: str, **extra: Any) -> dict[str, Any]:
    return {
        "join_paths_from_topic_name": "order_items",
        "fields": [],
        "userEditedSQL": sql,
        **extra,
    }


def test_semantic_sql_resolves_fields_measures_and_joins(runner: Runner) -> None:
    query = sql_query(
        "SELECT ${users.country}, ${order_items.total_sale_price} AS revenue, count(*) AS n "
        "FROM ${order_items} WHERE ${products.department} = 'Women' "
        "GROUP BY 1 ORDER BY revenue DESC LIMIT 5"
    )
    compiled = runner.compile(query)
    assert "LEFT JOIN users" in compiled.sql and "LEFT JOIN products" in compiled.sql
    assert "LEFT JOIN orders" not in compiled.sql  # only the views the statement uses
    got = runner.run(query)
    assert got.column_names == ["users.country", "revenue", "n"]
    want = runner.sql("""
        SELECT u.country, sum(oi.sale_price), count(*) FROM order_items oi
        LEFT JOIN users u ON oi.user_id = u.id
        LEFT JOIN inventory_items ii ON oi.inventory_item_id = ii.id
        LEFT JOIN products p ON ii.product_id = p.id
        WHERE p.department = 'Women' GROUP BY 1 ORDER BY 2 DESC LIMIT 5""")
    assert [r[0] for r in rows(got)] == [r[0] for r in rows(want)]
    assert [r[1] for r in rows(got)] == pytest.approx([r[1] for r in rows(want)], rel=1e-9)
    assert [r[2] for r in rows(got)] == [r[2] for r in rows(want)]
    summary = compiled.summary_fields(got)
    assert summary["users.country"]["data_type"] == "STRING"
    assert summary["revenue"]["data_type"] == "NUMBER" and summary["n"]["view_name"] is None


def test_semantic_sql_with_grains_and_derived_measures(runner: Runner) -> None:
    query = sql_query(
        "SELECT ${order_items.created_at[year]}, ${order_items.gross_margin_percent} "
        "FROM ${order_items} GROUP BY 1 ORDER BY 1"
    )
    got = runner.run(query)
    want = runner.sql("""
        SELECT make_date(year(oi.created_at), 1, 1),
               sum(oi.sale_price - ii.cost) / nullif(sum(oi.sale_price), 0)
        FROM order_items oi LEFT JOIN inventory_items ii ON oi.inventory_item_id = ii.id
        GROUP BY 1 ORDER BY 1""")
    assert got.column_names[0] == "order_items.created_at[year]"
    assert [r[0] for r in rows(got)] == [r[0] for r in rows(want)]
    assert [r[1] for r in rows(got)] == pytest.approx([r[1] for r in rows(want)], rel=1e-9)


def test_semantic_sql_renders_for_other_dialects(runner: Runner) -> None:
    query = sql_query("SELECT ${users.state}, ${order_items.count} FROM ${order_items} GROUP BY 1")
    sql = runner.compile(query, dialect="spark").sql
    assert "LEFT JOIN users AS users" in sql and "COUNT(*)" in sql


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (
            "SELECT ${users.sate} FROM ${order_items}",
            r"no field \$\{users.sate\}; did you mean `users.state`",
        ),
        ("SELECT ${users.state} FROM order_items", r"no \$\{topic\} in FROM"),
        (
            "SELECT ${users.state} FROM ${order_itms}",
            "no topic or view `order_itms`; did you mean `order_items`",
        ),
        ("DELETE FROM ${order_items}", "must be one SELECT statement"),
        ("SELECT ${users.state} FROM ${order_items} WHERE ${order_items} = 1", "is not a field"),
        ("SELECT ${events.count} FROM ${order_items}", "cannot be joined"),
        ("SELECT (", "cannot parse SQL"),
    ],
)
def test_bad_semantic_sql_is_a_plan_error(runner: Runner, sql: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        runner.compile(sql_query(sql))


def test_raw_sql_needs_permission_and_runs_verbatim(runner: Runner) -> None:
    query = sql_query(
        "SELECT status, count(*) AS n FROM order_items GROUP BY 1 ORDER BY 1;", rewriteSql=False
    )
    with pytest.raises(Forbidden, match="raw SQL"):
        runner.compile(query)
    compiled = runner.compile(query, options=CompileOptions(allow_raw_sql=True))
    assert compiled.sql == "SELECT status, count(*) AS n FROM order_items GROUP BY 1 ORDER BY 1"
    got = runner.engine.execute(compiled.sql)
    assert rows(got) == rows(
        runner.sql("SELECT status, count(*) FROM order_items GROUP BY 1 ORDER BY 1")
    )
    assert set(compiled.summary_fields(got)) == {"status", "n"}


def test_fanning_measure_in_sql_mode_is_refused(runner: Runner) -> None:
    # orders.count joined through order_items (many rows per order) would be inflated.
    with pytest.raises(PlanError, match="fan-out"):
        runner.compile(
            sql_query(
                "SELECT ${users.state}, ${orders.average_items} FROM ${order_items} GROUP BY 1"
            )
        )
