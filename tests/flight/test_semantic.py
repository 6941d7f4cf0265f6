"""Semantic SQL -> the Omni query object (pure: no server). What each clause becomes, and the
message for what is refused."""

from __future__ import annotations

from typing import Any

import pytest

from sluice.errors import NotFound, SemanticSqlError
from sluice.flight.semantic import translate
from sluice.model.types import SemanticModel

OI = "ecommerce.topics.order_items"


@pytest.fixture(scope="module")
def models(demo_model: SemanticModel) -> dict[str, SemanticModel]:
    return {"ecommerce": demo_model}


def query(models: dict[str, SemanticModel], sql: str, **kwargs: Any) -> dict[str, Any]:
    return translate(sql, models, max_rows=50_000, **kwargs).query


def test_the_issue_example(models: dict[str, SemanticModel]) -> None:
    got = translate(
        f"""SELECT "users.country", MEASURE("order_items.total_sale_price") AS sales
            FROM {OI}
            WHERE "users.country" IN ('France', 'Japan')
              AND "order_items.created_at" >= DATE '2025-01-01'
            GROUP BY 1 HAVING MEASURE("order_items.total_sale_price") > 100
            ORDER BY 2 DESC LIMIT 10 OFFSET 5""",
        models,
        max_rows=50_000,
    )
    assert got.model == "ecommerce"
    assert got.columns == (
        ("users.country", "users.country"),
        ("order_items.total_sale_price", "sales"),
    )
    assert got.query == {
        "join_paths_from_topic_name": "order_items",
        "fields": ["users.country", "order_items.total_sale_price"],
        "filters": {
            "users.country": {"type": "string", "kind": "EQUALS", "values": ["France", "Japan"],
                              "is_negative": False, "case_insensitive": False},
            "order_items.created_at": {"type": "date", "kind": "ON_OR_AFTER",
                                       "left_side": "2025-01-01", "is_negative": False},
            "order_items.total_sale_price": {"type": "number", "kind": "GREATER_THAN",
                                             "values": [100], "is_negative": False,
                                             "is_inclusive": False},
        },
        "sorts": [{"column_name": "order_items.total_sale_price", "sort_descending": True}],
        "limit": 10,
        "offset": 5,
    }  # fmt: skip


def test_grains_limits_views_and_the_default_catalog(models: dict[str, SemanticModel]) -> None:
    by_trunc = query(models, f"SELECT DATE_TRUNC('month', \"order_items.created_at\") FROM {OI}")
    by_name = query(models, f'SELECT "order_items.created_at[month]" FROM {OI}')
    assert by_trunc == by_name
    assert by_name["fields"] == ["order_items.created_at[month]"] and by_name["limit"] == 50_000
    assert query(models, f'SELECT "users.age" FROM {OI}', high_limit=True)["limit"] is None
    view = query(models, 'SELECT MEASURE("products.count") FROM views.products')
    assert view == {"table": "products", "fields": ["products.count"], "limit": 50_000}
    nulls = query(models, f'SELECT "users.city" FROM {OI} ORDER BY 1 NULLS FIRST')
    assert nulls["sorts"] == [
        {"column_name": "users.city", "sort_descending": False, "null_sort": "FIRST"}
    ]


def test_values_stay_literal_values(models: dict[str, SemanticModel]) -> None:
    tricky = "x'); DROP TABLE users; --"
    sql = f"""SELECT "users.state" FROM {OI} WHERE "users.state" = '{tricky.replace("'", "''")}'
              AND 18 <= "users.age" AND "users.city" NOT LIKE '%_%'"""
    filters = query(models, sql)["filters"]
    assert filters["users.state"]["values"] == [tricky]
    assert filters["users.age"] == {"type": "number", "kind": "GREATER_THAN", "values": [18],
                                    "is_negative": False, "is_inclusive": True}  # fmt: skip
    assert filters["users.city"]["kind"] == "SQL_LIKE" and filters["users.city"]["is_negative"]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        (f"SELECT * FROM {OI}", "SELECT * is not supported"),
        (f'SELECT "order_items.count" FROM {OI} GROUP BY 1', "is a measure: write MEASURE"),
        (f'SELECT "users.state" FROM {OI} WHERE "order_items.count" > 1', "WHERE filters dim"),
        (f'SELECT "users.state" FROM {OI} GROUP BY 1 HAVING "users.age" > 1', "HAVING filters"),
        (f'SELECT "users.state", "users.city" FROM {OI} GROUP BY 1', "GROUP BY must list"),
        (f'SELECT "users.state" FROM {OI} WHERE "users.age" = \'x\'', "is a number"),
        (f'SELECT "users.state" FROM {OI} WHERE "order_items.created_at" = 5', "is a timestamp"),
        (f'SELECT "users.state" FROM {OI} UNION SELECT "users.city" FROM {OI}', "raw SQL (UNION)"),
        (f'SELECT "users.state" FROM {OI} WHERE "users.state" IN (SELECT 1)', "subquery"),
        (f'SELECT upper("users.state") FROM {OI}', "Cannot select"),
        (f"SELECT \"users.state\" FROM {OI} LIMIT '5'", "LIMIT takes a whole number"),
        ("WITH x AS (SELECT 1) SELECT * FROM x", "WITH is not supported"),
        ("SELECT 1; SELECT 2", "exactly one SELECT"),
        ("", "The query is empty"),
        ('SELECT "users.state" FROM ecommerce.tables.users', "The schema must be topics or views"),
    ],
)
def test_refused_with_a_message(models: dict[str, SemanticModel], sql: str, message: str) -> None:
    with pytest.raises(SemanticSqlError, match=None) as caught:
        query(models, sql)
    assert message in caught.value.message


def test_unknown_names_are_not_found(models: dict[str, SemanticModel]) -> None:
    with pytest.raises(NotFound, match="Topic nope not found in model ecommerce"):
        query(models, 'SELECT "users.state" FROM ecommerce.topics.nope')
    with pytest.raises(NotFound, match="Model shop not found; models: ecommerce"):
        query(models, 'SELECT "users.state" FROM shop.topics.users')
