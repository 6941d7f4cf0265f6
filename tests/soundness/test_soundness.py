"""Soundness: hand-computed answers on tiny tables, on DuckDB and on PostgreSQL.

Never weaken these: each case pins a number a semantic layer can silently get wrong. The rows
are in ``conftest.py``; the arithmetic for each expected value is in the comments.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from sluice.compiler import compile_query
from sluice.engines.base import Engine
from sluice.query import parse_query
from tests.soundness.conftest import MODEL, load

MODEL_ID = "5d1c7b3e-9a0f-4c1e-8d6a-2f4b8e0c9a11"
NOW = datetime(2025, 1, 10, 12, 0, tzinfo=UTC)
NULL = None


def run(
    engine: Engine, query: dict[str, Any], folder: Path = MODEL, **kwargs: Any
) -> list[tuple[Any, ...]]:
    model = load(folder, engine)
    compiled = compile_query(
        model,
        parse_query({"modelId": MODEL_ID, **query}),
        dialect=engine.dialect,
        now=NOW,
        **kwargs,
    )
    table = engine.execute(compiled.sql)
    return [tuple(_plain(v) for v in row.values()) for row in table.to_pylist()]


def _plain(value: Any) -> Any:
    """Decimals from PostgreSQL compare as floats; integers stay integers."""
    if hasattr(value, "as_integer_ratio") and not isinstance(value, int | float):
        return float(value)
    return value


def by(*fields: str, nulls: str = "LAST") -> list[dict[str, Any]]:
    return [{"column_name": f, "null_sort": nulls} for f in fields]


def test_fan_out_sums_averages_and_counts(warehouse: Engine) -> None:
    # orders joined to their lines repeats order 10 twice and order 15 twice.
    # EU  = orders 10 (100.0, lines qty 1+2) + 11 (50.0, qty 1): sum 150, avg 75, qty 4, 2 orders
    # US  = orders 12 (25.5, qty 1, returned) + 13 (NULL amount, no lines): sum 25.5, avg 25.5
    # NULL region = 14 (no customer: 10.0, qty 1), 15 (dangling 99: 7.0, qty 1 + NULL),
    #   16 and 17 (customer 3 has no region: 50.0 and 50.0, qty 1 and 2): sum 117, avg 29.25
    #   (the equal 50.0 amounts are two orders: SUM(DISTINCT value) would give 67)
    got = run(warehouse, {
        "join_paths_from_topic_name": "orders",
        "fields": ["customers.region", "orders.total_amount", "orders.avg_amount",
                   "order_lines.total_qty", "orders.count", "orders.count_complete"],
        "sorts": by("customers.region"),
    })  # fmt: skip
    assert got == [
        ("EU", 150.0, 75.0, 4, 2, 2),
        ("US", 25.5, 25.5, 1, 2, 1),
        (NULL, 117.0, 29.25, 5, 4, 4),
    ]


def test_chasm_trap_two_one_to_many_branches(warehouse: Engine) -> None:
    # customers -> orders and customers -> tickets: customer 1 has 2 orders x 3 tickets = 6 rows.
    # EU = customers 1 and 4: orders 150.0, tickets 3 (1 high), 2 customers
    # US = customer 2: orders 25.5, 1 ticket (high); NULL region = customer 3: orders 100.0,
    # no tickets. Ticket 204 (no customer) and orders 14, 15 (no customer) are not reachable.
    got = run(warehouse, {
        "join_paths_from_topic_name": "customers",
        "fields": ["customers.region", "orders.total_amount", "tickets.count", "tickets.high_count",
                   "customers.count"],
        "sorts": by("customers.region"),
    })  # fmt: skip
    assert got == [("EU", 150.0, 3, 1, 2), ("US", 25.5, 1, 1, 1), (NULL, 100.0, 0, 0, 1)]


def test_null_and_dangling_join_keys_keep_their_rows(warehouse: Engine) -> None:
    # Order 14 has no customer and order 15 points at a customer that does not exist: both
    # stay (LEFT JOIN) under a NULL name.
    got = run(warehouse, {"join_paths_from_topic_name": "orders", "fields": ["customers.name", "orders.count"],
                          "sorts": by("customers.name")})  # fmt: skip
    assert got == [("Ann", 2), ("Bob", 2), ("Cid", 2), (NULL, 2)]


def test_fanned_median_and_counts_of_the_many_side(warehouse: Engine) -> None:
    # Medians over orders, each once: EU (100, 50) -> 75; US (25.5, NULL) -> 25.5;
    # NULL region (10, 7, 50, 50) -> 30 (with order 15 repeated by its two lines it would be 10).
    # Lines: EU 100, 101, 102; US 103; NULL region 104-108.
    got = run(warehouse, {"join_paths_from_topic_name": "orders",
                          "fields": ["customers.region", "orders.median_amount", "order_lines.line_count",
                                     "order_lines.total_price"],
                          "sorts": by("customers.region")})  # fmt: skip
    # prices: EU 60 + 20 + 50; US 25.5; NULL region 10 + 7 + NULL + 50 + 25
    assert got == [("EU", 75.0, 3, 130.0), ("US", 25.5, 1, 25.5), (NULL, 30.0, 5, 92.0)]


def test_weeks_start_on_monday(warehouse: Engine) -> None:
    # 2024-03-31 and 2024-11-03 are Sundays (weeks of Mar 25 and Oct 28); 2024-12-29 23:30 is a
    # Sunday (week of Dec 23); 2024-12-30 00:00 and 00:30 are Mondays, 2025-01-05 a Sunday
    # (all in the week of Dec 30, which crosses the year).
    got = run(warehouse, {"join_paths_from_topic_name": "orders",
                          "fields": ["orders.created_at[week]", "orders.count"],
                          "sorts": by("orders.created_at[week]")})  # fmt: skip
    assert got == [(date(2024, 3, 25), 2), (date(2024, 10, 28), 2), (date(2024, 12, 23), 1),
                   (date(2024, 12, 30), 3)]  # fmt: skip


def test_weeks_start_on_the_models_week_start_day(
    warehouse: Engine, sunday_model_dir: Path
) -> None:
    # With Sunday weeks: Mar 31 and Nov 3 start their weeks; Dec 29 23:30 and the two
    # Monday orders share the week of Sunday Dec 29; Jan 5 starts a new one.
    got = run(warehouse, {"join_paths_from_topic_name": "orders",
                          "fields": ["orders.created_at[week]", "orders.count"],
                          "sorts": by("orders.created_at[week]")}, sunday_model_dir)  # fmt: skip
    assert got == [(date(2024, 3, 31), 2), (date(2024, 11, 3), 2), (date(2024, 12, 29), 3),
                   (date(2025, 1, 5), 1)]  # fmt: skip
    days = run(warehouse, {"join_paths_from_topic_name": "orders",
                           "fields": ["orders.created_at[day_of_week_num]", "orders.count"],
                           "sorts": by("orders.created_at[day_of_week_num]")}, sunday_model_dir)  # fmt: skip
    assert days == [(0, 6), (1, 2)]  # six Sunday orders, two Monday ones


def test_iso_week_of_year_and_day_of_week_num(warehouse: Engine) -> None:
    # ISO weeks: Mar 31 -> 13, Nov 3 -> 44, Dec 29 -> 52, Dec 30 and Jan 5 -> week 1 of 2025.
    got = run(warehouse, {"join_paths_from_topic_name": "orders",
                          "fields": ["orders.created_at[week_of_year]", "orders.count"],
                          "sorts": by("orders.created_at[week_of_year]")})  # fmt: skip
    assert got == [(1, 3), (13, 2), (44, 2), (52, 1)]
    days = run(warehouse, {"join_paths_from_topic_name": "orders",
                           "fields": ["orders.created_at[day_of_week_num]", "orders.count"],
                           "sorts": by("orders.created_at[day_of_week_num]")})  # fmt: skip
    assert days == [(0, 2), (6, 6)]  # Monday = 0 .. Sunday = 6


def test_time_zone_moves_dates(warehouse: Engine) -> None:
    # New York (UTC-4 in summer and until 2024-11-03 06:00 UTC, then UTC-5):
    # Mar 31 00:30 and 02:30 UTC -> Mar 30 evening; Nov 3 05:30 -> 01:30 EDT, 07:00 -> 02:00 EST;
    # Dec 29 23:30, Dec 30 00:00 and 00:30 UTC -> Dec 29; Jan 5 12:00 -> Jan 5.
    got = run(warehouse, {"join_paths_from_topic_name": "orders",
                          "fields": ["orders.created_at[date]", "orders.count"],
                          "sorts": by("orders.created_at[date]")}, timezone="America/New_York")  # fmt: skip
    assert got == [(date(2024, 3, 30), 2), (date(2024, 11, 3), 2), (date(2024, 12, 29), 3),
                   (date(2025, 1, 5), 1)]  # fmt: skip


def test_dst_end_day_in_new_york(warehouse: Engine) -> None:
    # On 2024-11-03 New York repeats 01:00-02:00: 05:30 UTC is 01:30 EDT, 07:00 UTC is 02:00 EST.
    got = run(warehouse, {"join_paths_from_topic_name": "orders",
                          "fields": ["orders.created_at[hour]", "orders.count"],
                          "filters": {"orders.created_at": {"type": "date", "kind": "TIME_FOR_UNIT_DURATION",
                                                            "left_side": "2024-11-03"}},
                          "sorts": by("orders.created_at[hour]")}, timezone="America/New_York")  # fmt: skip
    assert got == [(datetime(2024, 11, 3, 1), 1), (datetime(2024, 11, 3, 2), 1)]


def test_dst_start_day_in_berlin(warehouse: Engine) -> None:
    # On 2024-03-31 Berlin jumps from 02:00 CET to 03:00 CEST (01:00 UTC):
    # 00:30 UTC is 01:30 CET, 02:30 UTC is 04:30 CEST.
    got = run(warehouse, {"join_paths_from_topic_name": "orders",
                          "fields": ["orders.created_at[hour]", "orders.count"],
                          "filters": {"orders.created_at": {"type": "date", "kind": "TIME_FOR_UNIT_DURATION",
                                                            "left_side": "2024-03-31"}},
                          "sorts": by("orders.created_at[hour]")}, timezone="Europe/Berlin")  # fmt: skip
    assert got == [(datetime(2024, 3, 31, 1), 1), (datetime(2024, 3, 31, 4), 1)]


def test_date_filters_use_the_requests_time_zone(warehouse: Engine) -> None:
    query = {"join_paths_from_topic_name": "orders", "fields": ["orders.count"],
             "filters": {"orders.created_at": {"type": "date", "kind": "TIME_FOR_UNIT_DURATION",
                                               "left_side": "2024-12-29"}}}  # fmt: skip
    assert run(warehouse, query) == [(1,)]  # UTC: order 16 only
    assert run(warehouse, query, timezone="America/New_York") == [(3,)]  # 14, 16 and 17


def test_negated_filters_and_nulls(warehouse: Engine) -> None:
    # "region is not EU" keeps US and the NULL-region customer 3; "is not null" drops NULLs.
    got = run(warehouse, {"join_paths_from_topic_name": "customers", "fields": ["customers.name"],
                          "filters": {"customers.region": {"type": "string", "values": ["EU"], "is_negative": True}},
                          "sorts": by("customers.name")})  # fmt: skip
    assert got == [("Bob",), ("Cid",)]
    got = run(warehouse, {"join_paths_from_topic_name": "orders", "fields": ["orders.count", "orders.total_amount"],
                          "filters": {"orders.amount": {"type": "number", "kind": "BETWEEN", "values": ["10", "50"],
                                                        "is_negative": True}}})  # fmt: skip
    # BETWEEN [10, 50) is order 14 (10.0) and 12 (25.5); its negation keeps 100, 50, 50, 50, 7
    # and the NULL amount (order 13): 6 orders summing 257.
    assert got == [(6, 257.0)]
