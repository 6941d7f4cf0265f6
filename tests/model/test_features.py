"""Modeling features beyond the demo model, each checked against hand-written SQL:
median/percentile/list, sum/average_distinct_on, dimension groups and bins, derived tables,
aliased joins (join_to_view_as) and the fan-out-safe versions of the new aggregates."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from sluice.engines.duckdb import DuckDBEngine
from sluice.errors import ModelError
from sluice.model import SemanticModel, load_model
from sluice.project import derived_lookup, schema_lookup
from tests.conftest import DEMO_MODEL, Runner

# The demo model defines median_sale_price, p90_sale_price, statuses, items_in_orders and
# users.median_age; the tests add what it lacks.
EXTRA_ORDER_ITEMS = """
  average_items_per_order:
    sql: ${orders.num_of_item}
    aggregate_type: average_distinct_on
    custom_primary_key_sql: ${order_id}
"""
EXTRA_USER_DIMENSIONS = """
  adult_bin:
    sql: ${age}
    bin_boundaries: [21, 65]
  source_group:
    sql: ${traffic_source}
    groups:
      - filter: {is: [Search, Organic]}
        name: Unpaid
      - filter: {is: Facebook}
        name: Social
    else: Other
  source_group_no_else:
    sql: ${traffic_source}
    groups:
      - filter: {is: Email}
        name: Owned
"""
EXTRA_USER_MEASURES = """
  max_age:
    sql: ${age}
    aggregate_type: max
"""
FILES = {
    "spenders.view.yaml": """
sql: SELECT user_id, sum(sale_price) AS spend, count(*) AS items FROM order_items GROUP BY user_id
dimensions:
  user_id:
    primary_key: true
  spend: {}
  items: {}
measures:
  total_spend:
    sql: ${spend}
    aggregate_type: sum
""",
    "shoppers.topic.yaml": """
base_view: users
joins:
  spenders: {}
  order_items: {}
""",
    "buyer_items.topic.yaml": """
base_view: order_items
joins:
  buyer: {}
""",
}
EXTRA_RELATIONSHIPS = """
- join_from_view: users
  join_to_view: spenders
  on_sql: ${users.id} = ${spenders.user_id}
  relationship_type: one_to_one
- join_from_view: order_items
  join_to_view: users
  join_to_view_as: buyer
  on_sql: ${order_items.user_id} = ${buyer.id}
  relationship_type: many_to_one
- join_from_view: users
  join_to_view: order_items
  on_sql: ${users.id} = ${order_items.user_id}
  relationship_type: one_to_many
"""


def extend(folder: Path) -> None:
    items = folder / "order_items.view.yaml"
    items.write_text(items.read_text().rstrip() + "\n" + EXTRA_ORDER_ITEMS)
    users = folder / "users.view.yaml"
    text = users.read_text().replace(
        "measures:\n", "measures:\n" + EXTRA_USER_MEASURES.lstrip("\n"), 1
    )
    users.write_text(
        text.replace("dimensions:\n", "dimensions:\n" + EXTRA_USER_DIMENSIONS.lstrip("\n"), 1)
    )
    rels = folder / "relationships.yaml"
    rels.write_text(rels.read_text().rstrip() + "\n" + EXTRA_RELATIONSHIPS)
    for name, body in FILES.items():
        (folder / name).write_text(body)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, duck: DuckDBEngine) -> SemanticModel:
    folder: Path = tmp_path_factory.mktemp("features") / "m"
    shutil.copytree(DEMO_MODEL, folder)
    extend(folder)
    return load_model(folder, column_types=schema_lookup(duck), derived_types=derived_lookup(duck))


@pytest.fixture(scope="module")
def run(model: SemanticModel, duck: DuckDBEngine) -> Runner:
    return Runner(model, duck)


def rows(table: Any) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in table.to_pylist()]


def same(got: Any, want: Any) -> None:
    a, b = rows(got), rows(want)
    assert a and len(a) == len(b), (a[:5], b[:5])
    for x, y in zip(a, b, strict=True):
        assert [pytest.approx(v, rel=1e-9) if isinstance(v, float) else v for v in y] == list(x)


def test_median_percentile_and_list(run: Runner) -> None:
    got = run.run({"join_paths_from_topic_name": "order_items",
                   "fields": ["order_items.status", "order_items.median_sale_price", "order_items.p90_sale_price"],
                   "sorts": [{"column_name": "order_items.status"}]})  # fmt: skip
    want = run.sql("""SELECT status, quantile_cont(sale_price, 0.5), quantile_cont(sale_price, 0.9)
                      FROM order_items GROUP BY 1 ORDER BY 1""")
    same(got, want)
    listed = run.run({"join_paths_from_topic_name": "order_items", "fields": ["users.gender", "order_items.statuses"],
                      "sorts": [{"column_name": "users.gender"}]})  # fmt: skip
    want = run.sql("""SELECT u.gender, string_agg(DISTINCT oi.status, ', ' ORDER BY oi.status)
                      FROM order_items oi LEFT JOIN users u ON oi.user_id = u.id GROUP BY 1 ORDER BY 1""")
    same(listed, want)
    assert listed.column(1)[0].as_py() == "Cancelled, Complete, Processing, Returned, Shipped"


def test_sum_and_average_distinct_on_count_each_key_once(run: Runner) -> None:
    got = run.run({"join_paths_from_topic_name": "order_items",
                   "fields": ["users.country", "order_items.items_in_orders", "order_items.average_items_per_order", "order_items.count"],
                   "sorts": [{"column_name": "users.country"}]})  # fmt: skip
    want = run.sql("""
        SELECT u.country, sum(o.num_of_item), avg(o.num_of_item),
               (SELECT count(*) FROM order_items x LEFT JOIN users y ON x.user_id = y.id
                WHERE y.country IS NOT DISTINCT FROM u.country)
        FROM orders o LEFT JOIN users u ON o.user_id = u.id
        WHERE o.order_id IN (SELECT order_id FROM order_items)
        GROUP BY 1 ORDER BY 1 NULLS LAST""")
    same(got, want)
    # Without dedupe the sum would count an order once per item: the two must differ here.
    naive = run.sql(
        "SELECT sum(o.num_of_item) FROM order_items oi JOIN orders o ON oi.order_id = o.order_id"
    )
    assert naive.column(0)[0].as_py() > sum(r[1] for r in rows(got))


def test_bins_and_groups(run: Runner) -> None:
    got = run.run({"join_paths_from_topic_name": "users",
                   "fields": ["users.adult_bin", "users.source_group", "users.source_group_no_else", "users.count"],
                   "sorts": [{"column_name": "users.adult_bin"}, {"column_name": "users.source_group"},
                             {"column_name": "users.source_group_no_else"}], "limit": None})  # fmt: skip
    want = run.sql("""
        SELECT CASE WHEN age IS NULL THEN NULL WHEN age < 21 THEN '< 21'
                    WHEN age < 65 THEN '>= 21 and < 65' ELSE '65 and above' END AS a,
               CASE WHEN traffic_source IN ('Search', 'Organic') THEN 'Unpaid'
                    WHEN traffic_source = 'Facebook' THEN 'Social' ELSE 'Other' END AS g,
               CASE WHEN traffic_source = 'Email' THEN 'Owned' ELSE traffic_source END AS h,
               count(*)
        FROM users GROUP BY 1, 2, 3 ORDER BY 1 NULLS LAST, 2 NULLS LAST, 3 NULLS LAST""")
    same(got, want)
    assert {r[0] for r in rows(got)} == {"< 21", ">= 21 and < 65", "65 and above"}


def test_group_filters_and_bins_are_filterable(run: Runner) -> None:
    got = run.run({"join_paths_from_topic_name": "users", "fields": ["users.gender", "users.count"],
                   "filters": {"users.source_group": {"type": "string", "values": ["Social"]}},
                   "sorts": [{"column_name": "users.gender"}]})  # fmt: skip
    want = run.sql(
        "SELECT gender, count(*) FROM users WHERE traffic_source = 'Facebook' GROUP BY 1 ORDER BY 1"
    )
    same(got, want)


def test_derived_table_view_is_typed_and_joined(run: Runner, model: SemanticModel) -> None:
    assert model.views["spenders"].dimensions["spend"].type == "number"
    got = run.run({"join_paths_from_topic_name": "shoppers", "fields": ["users.gender", "spenders.total_spend", "users.count"],
                   "sorts": [{"column_name": "users.gender"}]})  # fmt: skip
    want = run.sql("""
        SELECT u.gender, sum(s.spend), count(*) FROM users u
        LEFT JOIN (SELECT user_id, sum(sale_price) AS spend FROM order_items GROUP BY user_id) s
          ON u.id = s.user_id
        GROUP BY 1 ORDER BY 1""")
    same(got, want)


def test_fanned_median_takes_each_user_once(run: Runner) -> None:
    got = run.run({"join_paths_from_topic_name": "shoppers", "fields": ["order_items.status", "users.median_age"],
                   "sorts": [{"column_name": "order_items.status"}]})  # fmt: skip
    want = run.sql("""
        SELECT status, quantile_cont(age, 0.5) FROM (
            SELECT DISTINCT oi.status, u.id, u.age FROM users u LEFT JOIN order_items oi ON oi.user_id = u.id)
        GROUP BY 1 ORDER BY 1 NULLS LAST""")
    same(got, want)


def test_aliased_join(run: Runner) -> None:
    got = run.run({"join_paths_from_topic_name": "buyer_items", "fields": ["buyer.state", "order_items.count"],
                   "sorts": [{"column_name": "order_items.count", "sort_descending": True}, {"column_name": "buyer.state"}],
                   "limit": 5})  # fmt: skip
    sql = run.compile(
        {
            "join_paths_from_topic_name": "buyer_items",
            "fields": ["buyer.state", "order_items.count"],
        }
    ).sql
    assert "LEFT JOIN users AS buyer" in sql
    want = run.sql("""SELECT u.state, count(*) FROM order_items oi LEFT JOIN users u ON oi.user_id = u.id
                      GROUP BY 1 ORDER BY 2 DESC, 1 NULLS LAST LIMIT 5""")
    same(got, want)


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        (
            "  p:\n    sql: ${age}\n    aggregate_type: percentile\n",
            "needs `percentile:` from 0 to 100",
        ),
        (
            "  p:\n    sql: ${age}\n    aggregate_type: percentile\n    percentile: 140\n",
            "needs `percentile:` from 0 to 100",
        ),
        (
            "  p:\n    sql: ${age}\n    aggregate_type: sum_distinct_on\n",
            "needs `custom_primary_key_sql`",
        ),
        ("  p:\n    aggregate_type: median\n", "aggregate_type median needs `sql`"),
    ],
)
def test_aggregate_parameters_are_validated(tmp_path: Path, snippet: str, message: str) -> None:
    folder = tmp_path / "m"
    shutil.copytree(DEMO_MODEL, folder)
    users = folder / "users.view.yaml"
    users.write_text(users.read_text().replace("measures:\n", "measures:\n" + snippet, 1))
    with pytest.raises(ModelError, match=message):
        load_model(folder)


def test_bad_bins_and_groups_are_located(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    shutil.copytree(DEMO_MODEL, folder)
    users = folder / "users.view.yaml"
    users.write_text(users.read_text().replace(
        "dimensions:\n",
        "dimensions:\n  b:\n    sql: ${age}\n    bin_boundaries: [65, 21]\n"
        "  g:\n    sql: ${state}\n    groups:\n      - name: x\n",
        1,
    ))  # fmt: skip
    with pytest.raises(ModelError) as info:
        load_model(folder)
    text = str(info.value)
    line = next(n for n, t in enumerate(users.read_text().splitlines(), 1) if "[65, 21]" in t)
    assert (
        f"users.view.yaml:{line}: error: `users.b`: bin_boundaries must be ascending numbers"
        in text
    )
    assert "`users.g`: each group needs `name` and `filter`" in text
