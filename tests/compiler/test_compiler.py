"""Compiler behaviour beyond the oracle cases: topics' filters, missing fields, fan-out, errors."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sluice.compiler import CompileOptions, clock_bucket, compile_query, field_meta
from sluice.engines.duckdb import DuckDBEngine
from sluice.errors import BadRequest, PlanError, Unsupported
from sluice.model import SemanticModel, load_model
from sluice.project import schema_lookup
from sluice.query import parse_query
from tests.conftest import DEMO_MODEL, MODEL_ID, NOW, Runner

EXTRA_TOPICS = {
    # A topic with a default filter (replaced by a request filter on the same field), an
    # always-where filter and always-where SQL.
    "us_sales.topic.yaml": """
base_view: order_items
joins:
  users: {}
  inventory_items:
    products: {}
default_filters:
  users.country: {is: United States}
always_where_filters:
  order_items.status: {not: [Cancelled, Processing]}
always_where_sql: ${order_items.sale_price} > 5
default_row_limit: 7
""",
    # A topic whose base is the "one" side: order_items fan users out.
    "user_orders.topic.yaml": """
base_view: users
joins:
  order_items: {}
""",
}


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory, duck: DuckDBEngine) -> SemanticModel:
    folder: Path = tmp_path_factory.mktemp("model") / "ecommerce"
    shutil.copytree(DEMO_MODEL, folder)
    for name, text in EXTRA_TOPICS.items():
        (folder / name).write_text(text)
    return load_model(folder, column_types=schema_lookup(duck))


@pytest.fixture(scope="module")
def run(model: SemanticModel, duck: DuckDBEngine) -> Runner:
    return Runner(model, duck)


def rows(table: Any) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in table.to_pylist()]


def assert_rows_close(got: Any, want: Any) -> None:
    a, b = rows(got), rows(want)
    assert len(a) == len(b) and a, (a, b)
    for x, y in zip(a, b, strict=True):
        assert len(x) == len(y)
        for u, v in zip(x, y, strict=True):
            assert u == (pytest.approx(v, rel=1e-9) if isinstance(v, float) else v)


def test_topic_default_and_always_where_filters(run: Runner) -> None:
    got = run.run({"join_paths_from_topic_name": "us_sales", "fields": ["products.category", "order_items.count"],
                   "sorts": [{"column_name": "products.category"}]})  # fmt: skip
    want = run.sql("""
        SELECT p.category, count(*) FROM order_items oi
        LEFT JOIN users u ON oi.user_id = u.id
        LEFT JOIN inventory_items ii ON oi.inventory_item_id = ii.id
        LEFT JOIN products p ON ii.product_id = p.id
        WHERE u.country = 'United States'
          AND (oi.status NOT IN ('Cancelled', 'Processing') OR oi.status IS NULL)
          AND oi.sale_price > 5
        GROUP BY 1 ORDER BY 1 NULLS LAST LIMIT 7""")
    assert rows(got) == rows(want) and len(rows(got)) == 7


def test_request_filter_replaces_default_filter_but_not_always_where(run: Runner) -> None:
    query = {
        "join_paths_from_topic_name": "us_sales",
        "fields": ["users.country", "order_items.count"],
        "filters": {"users.country": {"type": "string", "values": ["Brasil", "Japan"]}},
        "sorts": [{"column_name": "users.country"}],
    }
    want = run.sql("""
        SELECT u.country, count(*) FROM order_items oi LEFT JOIN users u ON oi.user_id = u.id
        WHERE u.country IN ('Brasil', 'Japan')
          AND (oi.status NOT IN ('Cancelled', 'Processing') OR oi.status IS NULL)
          AND oi.sale_price > 5
        GROUP BY 1 ORDER BY 1""")
    assert rows(run.run(query)) == rows(want) and len(rows(want)) == 2


def test_count_of_fanned_view_counts_distinct_primary_keys(run: Runner) -> None:
    got = run.run({"join_paths_from_topic_name": "user_orders",
                   "fields": ["order_items.status", "users.count", "order_items.count"],
                   "sorts": [{"column_name": "order_items.status"}]})  # fmt: skip
    want = run.sql("""
        SELECT oi.status, count(DISTINCT u.id), count(DISTINCT oi.id)
        FROM users u LEFT JOIN order_items oi ON oi.user_id = u.id
        GROUP BY 1 ORDER BY 1 NULLS LAST""")
    assert rows(got) == rows(want)


def test_fanned_average_counts_each_user_once_per_group(run: Runner) -> None:
    got = run.run({"join_paths_from_topic_name": "user_orders",
                   "fields": ["order_items.status", "users.average_age", "users.count"],
                   "sorts": [{"column_name": "order_items.status"}]})  # fmt: skip
    want = run.sql("""
        SELECT status, avg(age), count(*) FROM (
            SELECT DISTINCT oi.status, u.id, u.age
            FROM users u LEFT JOIN order_items oi ON oi.user_id = u.id)
        GROUP BY 1 ORDER BY 1 NULLS LAST""")
    inflated = run.sql("""SELECT oi.status, avg(u.age) FROM users u LEFT JOIN order_items oi
                          ON oi.user_id = u.id GROUP BY 1 ORDER BY 1 NULLS LAST""")
    assert_rows_close(got, want)
    assert [r[1] for r in rows(got)] != pytest.approx([r[1] for r in rows(inflated)], rel=1e-9)


def test_fanned_measure_without_primary_key_is_refused(tmp_path: Path, duck: DuckDBEngine) -> None:
    folder = tmp_path / "m"
    shutil.copytree(DEMO_MODEL, folder)
    view = folder / "users.view.yaml"
    view.write_text(view.read_text().replace("primary_key: true", "primary_key: false"))
    (folder / "user_orders.topic.yaml").write_text(EXTRA_TOPICS["user_orders.topic.yaml"])
    m = load_model(folder, column_types=schema_lookup(duck))
    with pytest.raises(
        PlanError, match=r"`users\.average_age` \(average\) would be inflated.*no primary_key"
    ):
        Runner(m, duck).compile(
            {
                "join_paths_from_topic_name": "user_orders",
                "fields": ["order_items.status", "users.average_age"],
            }
        )


def test_fanned_filtered_count_and_many_side_sum_are_exact(run: Runner) -> None:
    got = run.run({"join_paths_from_topic_name": "user_orders",
                   "fields": ["order_items.status", "users.count_female", "order_items.total_sale_price"],
                   "sorts": [{"column_name": "order_items.status"}]})  # fmt: skip
    want = run.sql("""
        SELECT oi.status, count(DISTINCT CASE WHEN u.gender = 'F' THEN u.id END), sum(oi.sale_price)
        FROM users u LEFT JOIN order_items oi ON oi.user_id = u.id
        GROUP BY 1 ORDER BY 1 NULLS LAST""")
    assert_rows_close(got, want)


def test_base_view_measures_without_fanning_joins_are_allowed(run: Runner) -> None:
    got = run.run({"join_paths_from_topic_name": "user_orders", "fields": ["users.gender", "users.average_age"],
                   "sorts": [{"column_name": "users.gender"}]})  # fmt: skip
    want = run.sql("SELECT gender, avg(age) FROM users GROUP BY 1 ORDER BY 1")
    assert_rows_close(got, want)


def test_unknown_fields_and_grains_go_to_missing_fields(runner: Runner) -> None:
    compiled = runner.compile({
        "join_paths_from_topic_name": "order_items",
        "fields": ["order_items.count", "order_items.nope", "order_items.created_at[fortnight]",
                   "order_items.status[month]", "events.count", "bad name"],
    })  # fmt: skip
    assert [f.field_name for f in compiled.fields] == ["order_items.count"]
    assert compiled.missing_fields == (
        "order_items.nope", "order_items.created_at[fortnight]", "order_items.status[month]",
        "events.count", "bad name",
    )  # fmt: skip


def test_grain_names_are_case_insensitive(runner: Runner) -> None:
    compiled = runner.compile(
        {"join_paths_from_topic_name": "order_items", "fields": ["order_items.created_at[MONTH]"]}
    )
    assert compiled.fields[0].field_name == "order_items.created_at[MONTH]"
    assert compiled.fields[0].data_type == "DATE"


def test_filter_on_unknown_field_names_it_and_suggests(runner: Runner) -> None:
    with pytest.raises(
        PlanError,
        match=r'No such field "order_items\.totl_sale_price"; did you mean `order_items\.total_sale_price`',
    ):
        runner.compile({"join_paths_from_topic_name": "order_items", "fields": ["order_items.count"],
                        "filters": {"order_items.totl_sale_price": {"type": "number", "values": [1]}}})  # fmt: skip


def test_no_valid_fields_is_an_error(runner: Runner) -> None:
    with pytest.raises(PlanError, match="no valid fields"):
        runner.compile(
            {"join_paths_from_topic_name": "order_items", "fields": ["order_items.nope"]}
        )


def test_unknown_topic_suggests(runner: Runner) -> None:
    with pytest.raises(PlanError, match="Topic order_item not found; did you mean `order_items`"):
        runner.compile(
            {"join_paths_from_topic_name": "order_item", "fields": ["order_items.count"]}
        )


def test_sort_on_a_field_not_selected_is_an_error(runner: Runner) -> None:
    with pytest.raises(PlanError, match=r'cannot sort by "users\.state"'):
        runner.compile({"join_paths_from_topic_name": "order_items", "fields": ["order_items.count"],
                        "sorts": [{"column_name": "users.state"}]})  # fmt: skip


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"order_items.status": {"type": "strng", "values": ["x"]}}, "unknown filter type 'strng'"),
        (
            {"order_items.status": {"type": "string", "kind": "LIKE", "values": ["x"]}},
            "unknown string filter kind 'LIKE'",
        ),
        (
            {"order_items.sale_price": {"type": "number", "values": ["ten"]}},
            "'ten' is not a number",
        ),
        (
            {"order_items.sale_price": {"type": "number", "kind": "BETWEEN", "values": [1]}},
            "exactly two values",
        ),
        (
            {
                "order_items.created_at": {
                    "type": "date",
                    "kind": "BETWEEN",
                    "left_side": "2024-01-01",
                }
            },
            "needs `right_side`",
        ),
        (
            {
                "order_items.created_at": {
                    "type": "date",
                    "kind": "BEFORE",
                    "left_side": "the day after",
                }
            },
            "cannot read the date 'the day after'",
        ),
        (
            {
                "order_items.created_at": {
                    "type": "date",
                    "kind": "BEFORE",
                    "left_side": "2024-02-30",
                }
            },
            "not a valid date",
        ),
        ({"order_items.sale_price": ">ten"}, "'ten' is not a number"),
        ({"order_items.is_returned": "maybe"}, "is not yes/no or true/false"),
        ({"order_items.created_at": "last fortnight"}, "cannot read the date 'last fortnight'"),
        (
            {
                "order_items.created_at": {
                    "type": "date",
                    "kind": "IS_ON_DAY_OF_WEEK",
                    "values": ["Funday"],
                }
            },
            "'Funday' is not a day of the week",
        ),
        (
            {
                "order_items.created_at": {
                    "type": "date",
                    "kind": "IS_AT_HOUR_OF_DAY",
                    "values": ["24"],
                }
            },
            r"not a valid value for IS_AT_HOUR_OF_DAY \(0 to 23\)",
        ),
        (
            {"users.state": {"type": "user_attribute", "user_attribute_name": "region"}},
            'the user attribute "region" is not set',
        ),
    ],
)
def test_bad_filters_name_the_problem(
    runner: Runner, filters: dict[str, Any], message: str
) -> None:
    with pytest.raises(PlanError, match=message):
        runner.compile(
            {
                "join_paths_from_topic_name": "order_items",
                "fields": ["order_items.count"],
                "filters": filters,
            }
        )


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"fields": ["order_items.count"]}, "modelId must be a UUID"),
        ({"modelId": "nope", "fields": []}, "modelId must be a UUID"),
        (
            {"modelId": MODEL_ID, "fields": "order_items.count"},
            "fields must be an array of strings",
        ),
        (
            {"modelId": MODEL_ID, "fields": [], "limit": 0},
            "limit must be a positive integer or null",
        ),
        (
            {"modelId": MODEL_ID, "fields": [], "limit": "10"},
            "limit must be a positive integer or null",
        ),
        ({"modelId": MODEL_ID, "fields": [], "sorts": [{"sort_descending": True}]}, "column_name"),
    ],
)
def test_bad_query_objects_are_bad_requests(body: dict[str, Any], message: str) -> None:
    with pytest.raises(BadRequest, match=message):
        parse_query(body)


def test_limit_above_server_maximum_is_refused(runner: Runner) -> None:
    query = {
        "join_paths_from_topic_name": "order_items",
        "fields": ["order_items.id"],
        "limit": 60000,
    }
    with pytest.raises(PlanError, match="above this server's maximum of 50000 rows"):
        runner.compile(query, options=CompileOptions(max_rows=50000))
    assert runner.compile(query).limit == 60000


def test_limit_null_is_unlimited(runner: Runner) -> None:
    compiled = runner.compile(
        {"join_paths_from_topic_name": "order_items", "fields": ["order_items.id"], "limit": None}
    )
    assert "LIMIT" not in compiled.sql
    assert runner.run({"join_paths_from_topic_name": "order_items", "fields": ["order_items.id"], "limit": None}).num_rows == \
        runner.sql("SELECT count(*) FROM order_items").column(0)[0].as_py()  # fmt: skip


def test_timezone_moves_relative_dates(runner: Runner) -> None:
    query = {"join_paths_from_topic_name": "order_items", "fields": ["order_items.count"],
             "filters": {"order_items.created_at": {"type": "date", "kind": "TIME_FOR_UNIT_DURATION", "left_side": "today"}}}  # fmt: skip
    late = datetime(2025, 6, 15, 23, 30, tzinfo=UTC)
    utc = runner.compile(query, now=late).sql
    tokyo = runner.compile(query, now=late, timezone="Asia/Tokyo").sql
    assert "2025-06-15 00:00:00" in utc and "2025-06-16 00:00:00" in tokyo
    with pytest.raises(PlanError, match="unknown time zone"):
        runner.compile(query, timezone="Mars/Olympus")


@pytest.mark.parametrize(
    ("date_filter", "grain"),
    [
        ({"kind": "TIME_FOR_UNIT_DURATION", "left_side": "today"}, "day"),
        ({"kind": "TIME_FOR_INTERVAL_DURATION", "left_side": "3 months ago", "right_side": "3 months"}, "day"),
        ({"kind": "ON_OR_AFTER", "left_side": "last week"}, "day"),
        ({"kind": "ON_OR_AFTER", "left_side": "2 hours ago"}, "hour"),
        ({"kind": "BEFORE", "left_side": "now"}, "second"),
        ({"kind": "BETWEEN", "left_side": "2024-01-01", "right_side": "2024-06-01"}, None),
        ({"kind": "TIME_FOR_UNIT_DURATION", "left_side": "2024 Q2"}, None),
        (None, None),
    ],
)  # fmt: skip
def test_compiled_query_says_whether_it_reads_the_clock(
    runner: Runner, date_filter: dict[str, str] | None, grain: str | None
) -> None:
    """The compiler marks a query whose SQL depends on when it is compiled, with the finest
    grain it truncated the clock to; the mark agrees with compiling it a year later, and with
    compiling it again in the same bucket of that grain (and in the next one)."""
    query: dict[str, Any] = {"join_paths_from_topic_name": "order_items",
                             "fields": ["order_items.created_at[month]", "order_items.count"],
                             "column_totals": True, "pivots": [], "fill_fields": []}  # fmt: skip
    if date_filter is not None:
        query["filters"] = {"order_items.created_at": {"type": "date", **date_filter}}
    now = datetime(2025, 6, 15, 12, tzinfo=UTC)
    compiled = runner.compile(query, now=now)
    later = runner.compile(query, now=now.replace(year=2026))
    reads_clock = grain is not None
    assert compiled.clock_grain == grain and compiled.reads_clock is reads_clock
    assert (compiled.sql != later.sql or repr(compiled.post) != repr(later.post)) is reads_clock
    if grain is not None:
        step = {"second": timedelta(seconds=1), "minute": timedelta(minutes=1),
                "hour": timedelta(hours=1), "day": timedelta(days=1)}[grain]  # fmt: skip
        start = clock_bucket(grain, now, None).replace(tzinfo=UTC)
        same = runner.compile(query, now=start + step - timedelta(microseconds=1))
        nxt = runner.compile(query, now=start + step)
        assert clock_bucket(grain, start + step - timedelta(microseconds=1), None) == start.replace(
            tzinfo=None
        )
        assert (same.sql, repr(same.post)) == (compiled.sql, repr(compiled.post))
        if date_filter and date_filter["left_side"] in ("today", "2 hours ago", "now"):
            assert (nxt.sql, repr(nxt.post)) != (compiled.sql, repr(compiled.post))


def test_unsupported_dialect_is_named(runner: Runner) -> None:
    with pytest.raises(
        Unsupported, match="dialect `oracle` is not supported; supported: bigquery, duckdb"
    ):
        runner.compile(
            {"join_paths_from_topic_name": "order_items", "fields": ["order_items.count"]},
            dialect="oracle",
        )


def test_field_metadata(demo_model: SemanticModel) -> None:
    meta = field_meta(demo_model, "order_items.created_at[month]")
    assert meta.summary() == {
        "field_name": "created_at[month]",  # the short name (contract §6), grain included
        "fully_qualified_name": "order_items.created_at[month]",
        "view_name": "order_items",
        "label": "Created At Month",
        "data_type": "DATE",
        "is_dimension": True,
        "aggregate_type": None,
        "format": None,
        "hidden": False,
        "description": None,
    }
    total = field_meta(demo_model, "order_items.total_sale_price").summary()
    assert (total["data_type"], total["aggregate_type"], total["format"]) == (
        "NUMBER",
        "sum",
        {"value": "usdcurrency_2"},
    )
    assert field_meta(demo_model, "order_items.is_returned").data_type == "BOOLEAN"
    assert field_meta(demo_model, "users.age_tier").data_type == "STRING"  # inferred from CASE


def test_compile_is_deterministic_and_pure(demo_model: SemanticModel) -> None:
    body = {"modelId": MODEL_ID, "join_paths_from_topic_name": "order_items",
            "fields": ["users.state", "order_items.total_sale_price"],
            "filters": {"order_items.created_at": {"type": "date", "kind": "TIME_FOR_UNIT_DURATION", "left_side": "last quarter"}}}  # fmt: skip
    first = compile_query(demo_model, parse_query(body), now=NOW)
    assert first == compile_query(demo_model, parse_query(body), now=NOW)
    assert "2025-01-01 00:00:00" in first.sql and "2025-04-01 00:00:00" in first.sql
