"""Oracle cases as semantic SQL over Flight SQL (the real ADBC driver against ``sluice serve``).

Each entry is an oracle case of tests/oracle/test_oracle.py written as the semantic SQL a BI
tool would send; its result over Flight must equal the case's hand-written SQL on the same data.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import adbc_driver_flightsql.dbapi as flightsql
import pytest

from tests.conftest import Runner
from tests.flight.conftest import FlightServer
from tests.oracle import test_oracle as oracle

OI = "ecommerce.topics.order_items"
EV = "ecommerce.topics.events"
US = "ecommerce.topics.users"
CNT = 'MEASURE("order_items.count")'

SEMANTIC_SQL: dict[str, str] = {
    "grain_quarter": f"""SELECT "order_items.created_at[quarter]", {CNT},
        MEASURE("order_items.total_sale_price") FROM {OI} GROUP BY 1""",
    "grain_year": f"""SELECT DATE_TRUNC('year', "order_items.created_at"), {CNT} FROM {OI}
        GROUP BY 1""",
    "grain_week_monday_start_across_new_year": f"""SELECT "order_items.created_at[week]", {CNT}
        FROM {OI} WHERE "order_items.created_at" >= DATE '2021-12-01'
        AND "order_items.created_at" < DATE '2022-02-01' GROUP BY 1 ORDER BY 1""",
    "grain_hour": f"""SELECT DATE_TRUNC('hour', "order_items.created_at"), {CNT} FROM {OI}
        WHERE "order_items.created_at" BETWEEN DATE '2024-03-01' AND DATE '2024-03-31'""",
    # Cube's convention: a bare measure with GROUP BY left out.
    "grain_month_num": f"""SELECT "order_items.created_at[month_num]", "order_items.count"
        FROM {OI} ORDER BY 1""",
    "grain_day_of_month": f"""SELECT "order_items.created_at[day_of_month]", {CNT} FROM {OI}
        GROUP BY "order_items.created_at[day_of_month]"
        ORDER BY "order_items.created_at[day_of_month]" ASC""",
    "grain_number_filter_on_month_num_between_upper_exclusive": f"""SELECT
        "order_items.created_at[year]", {CNT} FROM {OI}
        WHERE "order_items.created_at[month_num]" BETWEEN 11 AND 12 GROUP BY 1""",
    "measures_every_type_by_status": f"""SELECT "order_items.status", {CNT},
        MEASURE("order_items.unique_users"), MEASURE("order_items.order_count"),
        MEASURE("order_items.total_sale_price"), MEASURE("order_items.average_sale_price"),
        MEASURE("order_items.min_sale_price"), MEASURE("order_items.max_sale_price")
        FROM {OI} GROUP BY 1 ORDER BY 1""",
    "measures_only_no_dimensions": f"""SELECT {CNT}, MEASURE("order_items.unique_users"),
        MEASURE("order_items.total_sale_price"), MEASURE("order_items.average_sale_price"),
        MEASURE("order_items.returned_count") FROM {OI}""",
    "measures_of_measures_by_year": f"""SELECT "order_items.created_at[year]",
        MEASURE("order_items.total_gross_margin"), MEASURE("order_items.gross_margin_percent"),
        MEASURE("order_items.return_rate") FROM {OI} GROUP BY 1""",
    "count_of_joined_views_is_distinct_primary_key": f"""SELECT "order_items.status",
        MEASURE("users.count"), MEASURE("orders.count"), MEASURE("users.count_female")
        FROM {OI} GROUP BY 1 ORDER BY "order_items.status" ASC""",
    "join_distribution_centers_three_deep": f"""SELECT "distribution_centers.name", {CNT},
        MEASURE("order_items.total_sale_price"), MEASURE("order_items.total_gross_margin")
        FROM {OI} GROUP BY 1 ORDER BY 1""",
    "derived_dimensions_across_joins": f"""SELECT "users.age_tier", "products.margin", {CNT}
        FROM {OI} WHERE "products.category" = 'Suits' GROUP BY 1, 2 ORDER BY 1, 2 DESC""",
    "string_equals_value_with_quote": f"""SELECT "products.brand", {CNT} FROM {OI}
        WHERE "products.brand" = 'Levi''s' GROUP BY 1""",
    "string_equals_several_values_is_in": f"""SELECT "users.country", MEASURE("users.count")
        FROM {US} WHERE "users.country" IN ('France', 'Germany', 'Atlantis')
        GROUP BY 1 ORDER BY 1""",
    "string_equals_several_values_negated": f"""SELECT "order_items.status", {CNT} FROM {OI}
        WHERE "order_items.status" NOT IN ('Complete', 'Shipped') GROUP BY 1 ORDER BY 1""",
    "string_equals_negated_keeps_null_rows": f"""SELECT "users.country" AS country,
        MEASURE("events.count") AS events FROM {EV} WHERE "users.country" <> 'United States'
        GROUP BY 1 ORDER BY country NULLS FIRST""",
    "string_sql_like": f"""SELECT "products.category", {CNT} FROM {OI}
        WHERE "products.name" LIKE '%Slim%Jean' GROUP BY 1 ORDER BY 1""",
    "string_sql_like_case_insensitive": f"""SELECT "products.category", {CNT} FROM {OI}
        WHERE "products.name" ILIKE '%SLIM%jean' GROUP BY 1 ORDER BY 1""",
    "string_sql_like_negated_underscore_wildcard": f"""SELECT "products.department", {CNT}
        FROM {OI} WHERE "products.name" NOT LIKE '_% Men''s %' GROUP BY 1 ORDER BY 1""",
    "number_equals_one_value": f"""SELECT "users.gender", MEASURE("users.count") FROM {US}
        WHERE "users.age" = 30 GROUP BY 1 ORDER BY 1""",
    "limit_and_offset": f"""SELECT "products.brand", {CNT} FROM {OI} GROUP BY 1
        ORDER BY 2 DESC, 1 LIMIT 10 OFFSET 5""",
    "sort_string_desc_nulls_first_then_measure": f"""SELECT "users.gender", "events.browser",
        MEASURE("events.count") FROM {EV} GROUP BY 1, 2
        ORDER BY 1 DESC NULLS FIRST, 3 DESC NULLS LAST""",
    "table_without_topic_products": """SELECT "products.department", MEASURE("products.count"),
        MEASURE("products.average_retail_price"), MEASURE("products.brand_count")
        FROM ecommerce.views.products GROUP BY 1 ORDER BY 1""",
    "composite_and_number_range": f"""SELECT "products.department", {CNT},
        MEASURE("order_items.average_sale_price") FROM {OI}
        WHERE "order_items.sale_price" > 50 AND "order_items.sale_price" <= 100
        GROUP BY 1 ORDER BY 1""",
    "having_filter_on_measure": f"""SELECT "products.brand", {CNT},
        MEASURE("order_items.total_sale_price") FROM {OI}
        WHERE "order_items.created_at" < DATE '2026-01-01' GROUP BY 1
        HAVING MEASURE("order_items.count") > {oracle.BRAND_MIN} ORDER BY 2 DESC, 1""",
    "date_before": f"""SELECT "order_items.created_at[month]", {CNT} FROM {OI}
        WHERE "order_items.created_at" < DATE '2019-06-15' GROUP BY 1""",
    "date_on_or_after": f"""SELECT "order_items.created_at[month]", {CNT} FROM {OI}
        WHERE "order_items.created_at" >= DATE '2025-10-01' GROUP BY 1""",
    "date_negated_keeps_null_rows": f"""SELECT "order_items.returned_at[year]", {CNT} FROM {OI}
        WHERE NOT "order_items.returned_at" < DATE '2024-01-01' GROUP BY 1
        ORDER BY 1 ASC NULLS FIRST""",
}


def _cases() -> dict[str, oracle.Case]:
    found: dict[str, oracle.Case] = {}
    for name in dir(oracle):
        value = getattr(oracle, name)
        if name.isupper() and isinstance(value, list):
            found.update({c.id: c for c in value if isinstance(c, oracle.Case)})
    return found


ORACLE = _cases()


@pytest.fixture(scope="module")
def cursor(flight_server: FlightServer) -> Iterator[Any]:
    conn = flightsql.connect(
        flight_server.uri,
        db_kwargs={"adbc.flight.sql.authorization_header": f"Bearer {flight_server.keys.org}"},
        autocommit=True,
    )
    cur = conn.cursor()
    yield cur
    cur.close()
    conn.close()


def test_there_are_twenty_or_more_cases() -> None:
    assert len(SEMANTIC_SQL) >= 20
    assert set(SEMANTIC_SQL) <= set(ORACLE)


@pytest.mark.slow
@pytest.mark.parametrize("case_id", sorted(SEMANTIC_SQL))
def test_semantic_sql_equals_hand_written_sql(case_id: str, cursor: Any, runner: Runner) -> None:
    case = ORACLE[case_id]
    cursor.execute(SEMANTIC_SQL[case_id])
    got = cursor.fetch_arrow_table()
    want = runner.sql(case.sql)
    got_rows, want_rows = oracle._rows(got), oracle._rows(want)
    if not case.empty:
        assert len(want_rows) >= case.min_rows
    problem = oracle.compare(got_rows, want_rows, case.order)
    assert problem is None, problem
