"""Golden SQL: the compiler's output per case and dialect, reviewed as a diff.

Regenerate with ``pytest tests/compiler/test_golden.py --update-golden`` (or ``make golden``) and read the
diff before committing. Every golden query is also executed on the demo warehouse, so a golden
file can never hold SQL that does not run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlglot

from sluice.errors import Unsupported
from tests.conftest import Runner

GOLDEN = Path(__file__).parent / "golden"
DIALECTS = ("duckdb", "postgres", "spark", "trino", "snowflake", "bigquery")
PARSED_BACK = ("spark", "trino")
MORE_GRAINS = ("minute", "month_num", "quarter_of_year", "week_of_year", "day_of_week_num",
               "day_of_month", "day_of_year", "day_of_quarter", "hour_of_day", "fiscal_year",
               "fiscal_quarter", "epoch", "time_of_day")  # fmt: skip
GRAINS = (
    "raw",
    "date",
    "week",
    "month",
    "quarter",
    "year",
    "hour",
    "day_of_week_name",
    "month_name",
)

CASES: dict[str, dict[str, Any]] = {
    "monthly_revenue": {
        "join_paths_from_topic_name": "order_items",
        "fields": ["order_items.created_at[month]", "order_items.total_sale_price"],
    },
    "three_joins_by_category": {
        "join_paths_from_topic_name": "order_items",
        "fields": [
            "distribution_centers.name",
            "products.category",
            "order_items.count",
            "order_items.total_sale_price",
        ],
        "filters": {"users.country": {"type": "string", "kind": "EQUALS", "values": ["Brasil"]}},
        "sorts": [{"column_name": "order_items.total_sale_price", "sort_descending": True}],
        "limit": 20,
    },
    "filtered_and_derived_measures": {
        "join_paths_from_topic_name": "order_items",
        "fields": [
            "order_items.status",
            "order_items.returned_count",
            "order_items.complete_count",
            "order_items.gross_margin_percent",
            "order_items.return_rate",
        ],
    },
    "every_grain": {
        "join_paths_from_topic_name": "order_items",
        "fields": [f"order_items.created_at[{g}]" for g in GRAINS] + ["order_items.count"],
        "limit": 5,
    },
    "date_filters": {
        "join_paths_from_topic_name": "order_items",
        "fields": ["order_items.created_at[week]", "order_items.order_count"],
        "filters": {
            "order_items.created_at": {
                "type": "date",
                "kind": "TIME_FOR_INTERVAL_DURATION",
                "left_side": "12 weeks ago",
                "right_side": "12 weeks",
            },
            "order_items.returned_at": {"type": "null", "is_negative": True},
        },
    },
    "negated_string_and_number": {
        "join_paths_from_topic_name": "order_items",
        "fields": ["users.traffic_source", "order_items.average_sale_price"],
        "filters": {
            "users.traffic_source": {
                "type": "string",
                "kind": "EQUALS",
                "values": ["Email", "Display"],
                "is_negative": True,
            },
            "order_items.sale_price": {
                "type": "number",
                "kind": "BETWEEN",
                "values": ["10", 250.5],
            },
        },
        "sorts": [{"column_name": "users.traffic_source", "null_sort": "FIRST"}],
    },
    "measure_filter_having": {
        "join_paths_from_topic_name": "order_items",
        "fields": ["products.brand", "order_items.total_sale_price"],
        "filters": {
            "order_items.total_sale_price": {
                "type": "number",
                "kind": "GREATER_THAN",
                "values": [1000],
                "is_inclusive": True,
            }
        },
        "limit": 50,
        "offset": 10,
    },
    "users_topic_counts": {
        "join_paths_from_topic_name": "users",
        "fields": ["users.gender", "users.count", "users.average_age", "users.count_female"],
    },
    "events_topic_with_users": {
        "join_paths_from_topic_name": "events",
        "fields": ["events.browser", "users.country", "events.count", "events.unique_visitors"],
        "limit": 10,
    },
    "more_grains": {
        "join_paths_from_topic_name": "order_items",
        "fields": [f"order_items.created_at[{g}]" for g in MORE_GRAINS] + ["order_items.count"],
        "limit": 5,
    },
    "fan_out_deduped": {
        "join_paths_from_topic_name": "users",
        "fields": ["order_items.status", "users.count", "users.average_age", "users.median_age"],
        "filters": {
            "users.average_age": {"type": "number", "kind": "GREATER_THAN", "values": ["30"]}
        },
    },
    "distinct_on_percentile_list": {
        "join_paths_from_topic_name": "order_items",
        "fields": [
            "users.country",
            "order_items.items_in_orders",
            "order_items.p90_sale_price",
            "order_items.statuses",
        ],
    },
    "groups_and_bins": {
        "join_paths_from_topic_name": "users",
        "fields": ["users.age_bin", "users.traffic_group", "users.count"],
        "filters": {
            "users.traffic_group": {"type": "string", "values": ["Paid"], "is_negative": True}
        },
    },
    "every_filter_kind": {
        "join_paths_from_topic_name": "order_items",
        "fields": ["products.category", "order_items.count"],
        "filters": {
            "order_items.created_at": {
                "type": "date",
                "kind": "IS_ON_DAY_OF_WEEK",
                "values": ["Saturday", "sunday"],
            },
            "order_items.status": "Complete,Shipped",
            "order_items.sale_price": "[10, 100)",
            "order_items.shipped_at": "last 2 quarters",
            "products.name": {
                "type": "composite",
                "conjunction": "OR",
                "filters": [
                    {
                        "type": "string",
                        "kind": "CONTAINS",
                        "values": ["Jean"],
                        "case_insensitive": True,
                    },
                    {"type": "string", "kind": "STARTS_WITH", "values": ["Slim"]},
                ],
            },
            "products.brand": {"type": "string", "kind": "IS_EMPTY", "is_negative": True},
            "users.state": {"type": "user_attribute", "user_attribute_name": "region"},
            "order_items.returned_at": {"type": "null"},
            "order_items.is_returned": {
                "type": "boolean",
                "is_negative": True,
                "treat_nulls_as_false": True,
            },
        },
    },
    "time_zone_conversion": {
        "join_paths_from_topic_name": "order_items",
        "fields": ["order_items.created_at[date]", "order_items.count"],
        "filters": {
            "order_items.created_at": {
                "type": "date",
                "kind": "TIME_FOR_UNIT_DURATION",
                "left_side": "yesterday",
            }
        },
    },
    "semantic_sql_mode": {
        "join_paths_from_topic_name": "order_items",
        "fields": [],
        "userEditedSQL": "SELECT ${users.state}, ${order_items.total_sale_price} AS revenue "
        "FROM ${order_items} WHERE ${products.department} = 'Men' GROUP BY 1 ORDER BY 2 DESC",
    },
    "table_without_topic": {
        "table": "products",
        "fields": ["products.department", "products.count", "products.average_retail_price"],
        "limit": None,
    },
}


def golden_path(case: str, dialect: str) -> Path:
    return GOLDEN / case / f"{dialect}.sql"


# Per-case compile arguments (the running user's attributes, the request's time zone).
OPTIONS: dict[str, dict[str, Any]] = {
    "every_filter_kind": {"user_attributes": {"region": ["California", "Texas"]}},
    "time_zone_conversion": {"timezone": "America/New_York"},
}


def compile_case(case: str, runner: Runner, dialect: str = "duckdb") -> Any:
    return runner.compile(CASES[case], dialect=dialect, **OPTIONS.get(case, {}))


def render(case: str, dialect: str, runner: Runner) -> str:
    """The case's SQL for ``dialect``, or the UNSUPPORTED error naming what it cannot do."""
    try:
        return compile_case(case, runner, dialect).sql + "\n"
    except Unsupported as exc:
        return f"-- UNSUPPORTED: {exc.message}\n"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_sql(
    case: str, dialect: str, runner: Runner, request: pytest.FixtureRequest
) -> None:
    path = golden_path(case, dialect)
    text = render(case, dialect, runner)
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run pytest --update-golden"
    assert text == path.read_text(), f"{path} differs; review and run pytest --update-golden"


@pytest.mark.parametrize("dialect", PARSED_BACK)
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_sql_parses_back(case: str, dialect: str, runner: Runner) -> None:
    text = render(case, dialect, runner)
    if text.startswith("-- UNSUPPORTED"):
        return
    statements = sqlglot.parse(text, read=dialect)
    assert len(statements) == 1 and statements[0] is not None


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_sql_runs(case: str, runner: Runner) -> None:
    compiled = compile_case(case, runner)
    table = compiled.name_columns(runner.engine.execute(compiled.sql))
    if compiled.sql_mode:
        assert table.num_columns >= len(compiled.fields)
        return
    assert table.column_names == [
        f for f in CASES[case]["fields"] if f not in compiled.missing_fields
    ]


def test_no_stale_golden_files() -> None:
    expected = {golden_path(c, d) for c in CASES for d in DIALECTS}
    found = set(GOLDEN.glob("*/*.sql"))
    assert found <= expected, f"golden files without a case: {sorted(found - expected)}"
