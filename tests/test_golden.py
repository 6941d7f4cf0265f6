"""Golden SQL: the compiler's output per case and dialect, reviewed as a diff.

Regenerate with ``pytest tests/test_golden.py --update-golden`` (or ``make golden``) and read the
diff before committing. Every golden query is also executed on the demo warehouse, so a golden
file can never hold SQL that does not run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Runner

GOLDEN = Path(__file__).parent / "golden"
DIALECTS = ("duckdb",)
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
    "table_without_topic": {
        "table": "products",
        "fields": ["products.department", "products.count", "products.average_retail_price"],
        "limit": None,
    },
}


def golden_path(case: str, dialect: str) -> Path:
    return GOLDEN / case / f"{dialect}.sql"


@pytest.mark.parametrize("dialect", DIALECTS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_sql(
    case: str, dialect: str, runner: Runner, request: pytest.FixtureRequest
) -> None:
    compiled = runner.compile(CASES[case], dialect=dialect)
    path = golden_path(case, dialect)
    text = compiled.sql + "\n"
    if request.config.getoption("--update-golden"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert path.exists(), f"no golden file {path}; run pytest --update-golden"
    assert text == path.read_text(), f"{path} differs; review and run pytest --update-golden"


@pytest.mark.parametrize("case", sorted(CASES))
def test_golden_sql_runs(case: str, runner: Runner) -> None:
    table = runner.run(CASES[case])
    assert table.column_names == [
        f for f in CASES[case]["fields"] if f not in runner.compile(CASES[case]).missing_fields
    ]


def test_no_stale_golden_files() -> None:
    expected = {golden_path(c, d) for c in CASES for d in DIALECTS}
    found = set(GOLDEN.glob("*/*.sql"))
    assert found <= expected, f"golden files without a case: {sorted(found - expected)}"
