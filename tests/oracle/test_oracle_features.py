"""Oracle tests for features ``test_oracle.py`` does not cover.

The same method as ``test_oracle``: each case pairs an Omni query object with DuckDB SQL written
from the meaning of the data, and ``compare()`` checks the results. A case may also carry compile
keyword arguments (``timezone``, ``user_attributes``) and, for SQL mode, the expected column
names. Covered here:

* the remaining time grains (ISO ``week_of_year``, ``day_of_week_num`` with Monday = 0,
  ``day_of_quarter``, ``fiscal_year``/``fiscal_quarter`` with the demo model's offset 0,
  ``epoch``, ``time_of_day``, ``minute``, ``millisecond``) and number filters on numeric grains
* the measures ``median``, ``percentile``, ``list`` and ``sum_distinct_on``; the ``bin_boundaries``
  and ``groups`` dimensions
* fan-out in the ``users`` topic (users -> order_items -> inventory_items -> products): a
  measure of ``users`` counts each user once per group, ``order_items`` measures are plain
* date-part filter kinds (``IS_ON_DAY_OF_WEEK`` ...), plain-string (legacy) filters,
  ``user_attribute`` filters, ``ignore_if_unjoinable``, ``cancel_query_filter``, a boolean
  filter without ``is_negative``, negated composites, ``N complete <units> ago``
* time zones (``order_items.created_at`` converted from UTC before grains and date filters)
* SQL mode with semantic references

The clock is ``NOW = 2025-06-15 10:30 UTC`` (a Sunday); in New York that is 06:30 and in Tokyo
19:30 on the same day, so relative dates name the same days in all three zones.
Negated filters keep rows where the field is NULL (``NOT COALESCE(cond, FALSE)``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
from tests.oracle.test_oracle import (
    CA,
    CNT,
    EU,
    II,
    ORD,
    SCALE,
    SP,
    Case,
    U,
    _rows,
    compare,
    d,
    ev,
    in_range,
    n,
    oi,
    s,
    sort,
    ts,
    us,
)

# -- per-case compile options ---------------------------------------------------------------------


@dataclass(frozen=True)
class FCase:
    case: Case
    # keyword arguments of runner.compile / runner.run (timezone, user_attributes)
    kwargs: dict[str, Any] = field(default_factory=dict)
    # the result's column names when they are not the query's fields (SQL mode)
    columns: tuple[str, ...] | None = None


def fc(
    id: str,
    query: dict[str, Any],
    sql: str,
    *,
    kwargs: dict[str, Any] | None = None,
    columns: tuple[str, ...] | None = None,
    **case_args: Any,
) -> FCase:
    return FCase(Case(id, query, sql, **case_args), kwargs or {}, columns)


# -- hand-written SQL building blocks -------------------------------------------------------------

NY = "America/New_York"
TOKYO = "Asia/Tokyo"

# The users topic: users -> order_items -> inventory_items -> products (LEFT joins).
UOI = "LEFT JOIN order_items oi ON oi.user_id = u.id"
UII = "LEFT JOIN inventory_items ii ON oi.inventory_item_id = ii.id"
UP = "LEFT JOIN products p ON ii.product_id = p.id"
P2 = "LEFT JOIN products p ON ii.product_id = p.id"


def local(col: str, zone: str) -> str:
    """A UTC timestamp column as wall-clock time in ``zone``."""
    return f"({col} AT TIME ZONE 'UTC' AT TIME ZONE '{zone}')"


def part(kind: str, *values: str, neg: bool = False) -> dict[str, Any]:
    """A date-part filter (IS_ON_DAY_OF_WEEK and friends)."""
    return {"type": "date", "kind": kind, "values": list(values), "is_negative": neg}


def age_bin(col: str) -> str:
    return f"""CASE WHEN {col} IS NULL THEN NULL WHEN {col} < 21 THEN '< 21'
                    WHEN {col} < 35 THEN '>= 21 and < 35' WHEN {col} < 50 THEN '>= 35 and < 50'
                    WHEN {col} < 65 THEN '>= 50 and < 65' ELSE '65 and above' END"""


def traffic_group(col: str) -> str:
    return f"""CASE WHEN {col} IN ('Search', 'Organic') THEN 'Unpaid'
                    WHEN {col} IN ('Facebook', 'Display') THEN 'Paid' ELSE 'Owned' END"""


def hhmm(col: str) -> str:
    return f"lpad(hour({col})::VARCHAR, 2, '0') || ':' || lpad(minute({col})::VARCHAR, 2, '0')"


WOY = f"{CA}[week_of_year]"
DOWN = f"{CA}[day_of_week_num]"
DOQ = f"{CA}[day_of_quarter]"
FY = f"{CA}[fiscal_year]"
FQ = f"{CA}[fiscal_quarter]"
EPOCH = f"{CA}[epoch]"
TOD = f"{CA}[time_of_day]"
QOY = f"{CA}[quarter_of_year]"
DOM = f"{CA}[day_of_month]"
DOY = f"{CA}[day_of_year]"
HOD = f"{CA}[hour_of_day]"
YEAR = f"{CA}[year]"
TSP = "order_items.total_sale_price"

# Threshold of the HAVING case on items_in_orders (grows linearly with the data's scale).
ITEMS_MIN = max(1, round(50_000 * SCALE))  # 1,000 items at the default scale

# -- the cases ------------------------------------------------------------------------------------

GRAINS = [
    fc(
        "grain_week_of_year_iso_across_new_year",
        oi([WOY, CNT], filters={CA: d("BETWEEN", "2020-12-21", "2021-01-18")}, sorts=[sort(WOY)]),
        # Monday 2020-12-21 starts ISO week 52, 2020-12-28 week 53 (2020 has 53 ISO weeks),
        # Monday 2021-01-04 week 1
        f"""SELECT CASE WHEN created_at < {ts("2020-12-28")} THEN 52
                        WHEN created_at < {ts("2021-01-04")} THEN 53
                        WHEN created_at < {ts("2021-01-11")} THEN 1 ELSE 2 END, count(*)
            FROM order_items WHERE {in_range("created_at", "2020-12-21", "2021-01-18")}
            GROUP BY 1 ORDER BY 1""",
        min_rows=4,
    ),
    fc(
        "grain_week_of_year_number_filter",
        oi([YEAR, CNT], filters={WOY: n("EQUALS", 1, 53)}, sorts=[sort(YEAR)]),
        # ISO week 1 may start in the previous December; week 53 may end in January
        """SELECT make_date(year(created_at), 1, 1), count(*) FROM order_items
           WHERE strftime(created_at, '%V') IN ('01', '53') GROUP BY 1 ORDER BY 1""",
        min_rows=7,
    ),
    fc(
        "grain_day_of_week_num_monday_is_zero",
        oi([DOWN, f"{CA}[day_of_week_name]", CNT], sorts=[sort(DOWN)]),
        """SELECT CASE dayname(created_at) WHEN 'Monday' THEN 0 WHEN 'Tuesday' THEN 1
                  WHEN 'Wednesday' THEN 2 WHEN 'Thursday' THEN 3 WHEN 'Friday' THEN 4
                  WHEN 'Saturday' THEN 5 ELSE 6 END, dayname(created_at), count(*)
           FROM order_items GROUP BY ALL ORDER BY 1""",
        min_rows=7,
    ),
    fc(
        "grain_day_of_week_num_filter_weekend",
        oi(
            [f"{CA}[month_name]", CNT],
            filters={DOWN: n("GREATER_THAN", 5, incl=True)},
            sorts=[sort(f"{CA}[month_name]")],
        ),
        """SELECT monthname(created_at), count(*) FROM order_items
           WHERE dayname(created_at) IN ('Saturday', 'Sunday') GROUP BY 1 ORDER BY 1""",
        min_rows=12,
    ),
    fc(
        "grain_day_of_quarter_leap_year",
        oi(
            [DOQ, CNT],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "2024")},
            sorts=[sort(DOQ)],
            limit=None,
        ),
        f"""SELECT created_at::DATE - make_date(2024, 3 * quarter(created_at) - 2, 1) + 1,
                   count(*)
            FROM order_items WHERE {in_range("created_at", "2024-01-01", "2025-01-01")}
            GROUP BY 1 ORDER BY 1""",
        min_rows=90,
    ),
    fc(
        "grain_day_of_quarter_number_filter_last_days",
        oi([f"{CA}[quarter]", CNT], filters={DOQ: n("GREATER_THAN", 90)}),
        # day 91+ of a quarter: Mar 31 in leap years, Jun 30, Sep 29-30, Dec 30-31
        """SELECT make_date(year(created_at), 3 * quarter(created_at) - 2, 1), count(*)
           FROM order_items
           WHERE strftime(created_at, '%m-%d') IN ('06-30', '09-29', '09-30', '12-30', '12-31')
              OR (strftime(created_at, '%m-%d') = '03-31' AND year(created_at) % 4 = 0)
           GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=10,
    ),
    fc(
        "grain_fiscal_year_and_quarter_offset_zero",
        oi([FY, FQ, CNT], sorts=[sort(FQ)]),
        """SELECT year(created_at), year(created_at)::VARCHAR || '-Q' || quarter(created_at)::VARCHAR,
                  count(*)
           FROM order_items GROUP BY 1, 2 ORDER BY 2""",
        min_rows=28,
    ),
    fc(
        "grain_fiscal_year_number_filter",
        oi([FQ, TSP], filters={FY: n("BETWEEN", 2022, 2024)}, sorts=[sort(FQ, desc=True)]),
        """SELECT year(created_at) || '-Q' || quarter(created_at), sum(sale_price)
           FROM order_items WHERE year(created_at) IN (2022, 2023) GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=8,
    ),
    fc(
        "grain_epoch_seconds",
        oi(
            ["order_items.id", EPOCH],
            filters={"order_items.id": n("LESS_THAN", 200)},
            sorts=[sort("order_items.id")],
        ),
        f"""SELECT id, date_diff('second', {ts("1970-01-01")}, created_at) FROM order_items
            WHERE id < 200 ORDER BY id""",
        min_rows=199,
    ),
    fc(
        "grain_epoch_number_filter",
        oi([YEAR, CNT], filters={EPOCH: n("GREATER_THAN", 1704067200, incl=True)}),
        # 1704067200 is 2024-01-01 00:00:00 UTC
        f"""SELECT make_date(year(created_at), 1, 1), count(*) FROM order_items
            WHERE created_at >= {ts("2024-01-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=2,
    ),
    fc(
        "grain_time_of_day",
        oi(
            [TOD, CNT],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "2024-03")},
            sorts=[sort(TOD)],
            limit=None,
        ),
        f"""SELECT {hhmm("created_at")}, count(*) FROM order_items
            WHERE {in_range("created_at", "2024-03-01", "2024-04-01")} GROUP BY 1 ORDER BY 1""",
        min_rows=40,
    ),
    fc(
        "grain_time_of_day_string_filter",
        oi([TOD, CNT], filters={TOD: s("STARTS_WITH", "09:3")}, sorts=[sort(TOD)]),
        f"""SELECT {hhmm("created_at")}, count(*) FROM order_items
            WHERE hour(created_at) = 9 AND minute(created_at) BETWEEN 30 AND 39
            GROUP BY 1 ORDER BY 1""",
        min_rows=10,
    ),
    fc(
        "grain_minute",
        oi([f"{CA}[minute]", CNT], filters={CA: d("TIME_FOR_UNIT_DURATION", "last week")}),
        f"""SELECT make_timestamp(year(created_at), month(created_at), day(created_at),
                                  hour(created_at), minute(created_at), 0), count(*)
            FROM order_items WHERE {in_range("created_at", "2025-06-02", "2025-06-09")}
            GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=20,
    ),
    fc(
        "grain_millisecond",
        oi(
            ["order_items.id", f"{CA}[millisecond]"],
            filters={"order_items.id": n("LESS_THAN", 100)},
            sorts=[sort("order_items.id")],
        ),
        "SELECT id, epoch_ms(epoch_ms(created_at)) FROM order_items WHERE id < 100 ORDER BY id",
        min_rows=99,
    ),
    fc(
        "grain_quarter_of_year_number_filter",
        oi([YEAR, QOY, CNT], filters={QOY: n("EQUALS", 1, 4)}, sorts=[sort(YEAR), sort(QOY)]),
        """SELECT make_date(year(created_at), 1, 1), CASE WHEN month(created_at) <= 3 THEN 1 ELSE 4 END,
                  count(*)
           FROM order_items WHERE month(created_at) IN (1, 2, 3, 10, 11, 12)
           GROUP BY 1, 2 ORDER BY 1, 2""",
        min_rows=14,
    ),
    fc(
        "grain_day_of_month_number_filter",
        oi(
            [f"{CA}[month_num]", DOM, CNT],
            filters={DOM: n("GREATER_THAN", 28)},
            sorts=[sort(f"{CA}[month_num]"), sort(DOM)],
        ),
        """SELECT month(created_at), day(created_at), count(*) FROM order_items
           WHERE day(created_at) IN (29, 30, 31) GROUP BY 1, 2 ORDER BY 1, 2""",
        min_rows=30,
    ),
    fc(
        "grain_day_of_year_number_filter_leap_day_366",
        oi([YEAR, DOY, CNT], filters={DOY: n("GREATER_THAN", 365)}, sorts=[sort(YEAR)]),
        # only December 31 of a leap year is day 366
        """SELECT make_date(year(created_at), 1, 1), 366, count(*) FROM order_items
           WHERE month(created_at) = 12 AND day(created_at) = 31 AND year(created_at) % 4 = 0
           GROUP BY 1 ORDER BY 1""",
        min_rows=1,
    ),
    fc(
        "grain_hour_of_day_number_filter_between",
        oi(
            [HOD, "order_items.average_sale_price"],
            filters={HOD: n("BETWEEN", 9, 17)},
            sorts=[sort(HOD)],
        ),
        """SELECT hour(created_at), avg(sale_price) FROM order_items
           WHERE hour(created_at) >= 9 AND hour(created_at) <= 16 GROUP BY 1 ORDER BY 1""",
        min_rows=8,
    ),
]

MEASURES = [
    fc(
        "measure_median_and_p90_by_department",
        oi(
            [
                "products.department",
                "order_items.median_sale_price",
                "order_items.p90_sale_price",
                CNT,
            ],
            sorts=[sort("products.department")],
        ),
        f"""SELECT p.department, quantile_cont(oi.sale_price, 0.5),
                   quantile_cont(oi.sale_price, 0.9), count(*)
            FROM order_items oi {II} {P2} GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "measure_median_p90_only_measures_filtered",
        oi(
            ["order_items.median_sale_price", "order_items.p90_sale_price"],
            filters={"order_items.status": s("EQUALS", "Returned")},
        ),
        """SELECT quantile_cont(sale_price, 0.5), quantile_cont(sale_price, 0.9)
           FROM order_items WHERE status = 'Returned'""",
    ),
    fc(
        "measure_statuses_list_by_year",
        oi(
            [YEAR, "order_items.statuses"],
            filters={"order_items.status": s("EQUALS", "Shipped", "Complete", "Returned")},
        ),
        """SELECT make_date(year(created_at), 1, 1),
                  array_to_string(list_sort(list_distinct(list(status))), ', ')
           FROM order_items WHERE status IN ('Shipped', 'Complete', 'Returned')
           GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
    fc(
        "measure_statuses_list_by_country_with_count",
        oi(["users.country", "order_items.statuses", CNT], sorts=[sort("users.country")]),
        f"""SELECT u.country, array_to_string(list_sort(list_distinct(list(oi.status))), ', '),
                   count(*)
            FROM order_items oi {U} GROUP BY 1 ORDER BY 1""",
        min_rows=13,
    ),
    fc(
        "measure_items_in_orders_by_category_each_order_once",
        oi(
            ["products.category", "order_items.items_in_orders", CNT, "order_items.order_count"],
            sorts=[sort("products.category")],
        ),
        # an order with several items in one category adds its num_of_item once to it
        f"""WITH per_order AS (
                SELECT DISTINCT p.category, o.order_id, o.num_of_item
                FROM order_items oi {ORD} {II} {P2}),
            items AS (SELECT category, sum(num_of_item) AS items, count(*) AS orders
                      FROM per_order GROUP BY 1),
            lines AS (SELECT p.category, count(*) AS n FROM order_items oi {II} {P2} GROUP BY 1)
            SELECT i.category, i.items, l.n, i.orders FROM items i JOIN lines l USING (category)
            ORDER BY 1""",
        min_rows=20,
    ),
    fc(
        "measure_items_in_orders_total_equals_item_count",
        oi(["order_items.items_in_orders", CNT]),
        """SELECT (SELECT sum(num_of_item) FROM orders
                   WHERE order_id IN (SELECT order_id FROM order_items)),
                  (SELECT count(*) FROM order_items)""",
    ),
    fc(
        "measure_items_in_orders_by_year_filtered",
        oi(
            [YEAR, "order_items.items_in_orders", "orders.average_items"],
            filters={"order_items.status": s("EQUALS", "Complete")},
        ),
        """SELECT make_date(year(created_at), 1, 1), sum(num_of_item), avg(num_of_item)
           FROM orders WHERE status = 'Complete' GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
    fc(
        "measure_users_median_age_by_country",
        us(
            ["users.country", "users.median_age", "users.average_age", "users.count"],
            sorts=[sort("users.country")],
        ),
        """SELECT country, quantile_cont(age, 0.5), avg(age), count(*) FROM users
           GROUP BY 1 ORDER BY 1""",
        min_rows=13,
    ),
]

DIMENSIONS = [
    fc(
        "dimension_age_bin",
        us(["users.age_bin", "users.count", "users.average_age"]),
        f"SELECT {age_bin('age')}, count(*), avg(age) FROM users GROUP BY 1",
        order="set",
        min_rows=5,
    ),
    fc(
        "dimension_age_bin_filter_two_bins",
        us(
            ["users.gender", "users.count", "users.median_age"],
            filters={"users.age_bin": s("EQUALS", "< 21", "65 and above")},
            sorts=[sort("users.gender")],
        ),
        """SELECT gender, count(*), quantile_cont(age, 0.5) FROM users
           WHERE age < 21 OR age >= 65 GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "dimension_traffic_group",
        us(
            ["users.traffic_group", "users.traffic_source", "users.count"],
            sorts=[sort("users.traffic_group"), sort("users.traffic_source")],
        ),
        f"""SELECT {traffic_group("traffic_source")}, traffic_source, count(*) FROM users
            GROUP BY 1, 2 ORDER BY 1, 2""",
        min_rows=5,
    ),
    fc(
        "dimension_traffic_group_filter_negated_in_order_items_topic",
        oi(
            ["users.traffic_source", CNT],
            filters={"users.traffic_group": s("EQUALS", "Unpaid", neg=True)},
            sorts=[sort("users.traffic_source")],
        ),
        f"""SELECT u.traffic_source, count(*) FROM order_items oi {U}
            WHERE u.traffic_source NOT IN ('Search', 'Organic') GROUP BY 1 ORDER BY 1""",
        min_rows=3,
    ),
    fc(
        "dimension_age_bin_and_traffic_group_with_revenue",
        oi(["users.age_bin", "users.traffic_group", TSP, CNT]),
        f"""SELECT {age_bin("u.age")}, {traffic_group("u.traffic_source")}, sum(oi.sale_price),
                   count(*)
            FROM order_items oi {U} GROUP BY 1, 2""",
        order="set",
        min_rows=12,
    ),
]

# Users topic: each user once per group for users measures, order_items measures plain.
FAN_OUT = [
    fc(
        "fanout_users_measures_by_product_category_with_null_group",
        us(
            [
                "products.category",
                "users.count",
                "users.average_age",
                "users.median_age",
                "users.count_female",
                TSP,
            ],
            sorts=[sort("products.category")],
        ),
        # users without orders form the NULL category group (sorted last)
        f"""WITH j AS (SELECT u.id AS uid, u.age, u.gender, p.category, oi.sale_price
                       FROM users u {UOI} {UII} {UP}),
            per_user AS (SELECT DISTINCT category, uid, age, gender FROM j),
            a AS (SELECT category, count(*) AS c, avg(age) AS aa, quantile_cont(age, 0.5) AS ma,
                         count(*) FILTER (WHERE gender = 'F') AS cf
                  FROM per_user GROUP BY 1),
            b AS (SELECT category, sum(sale_price) AS rev FROM j GROUP BY 1)
            SELECT a.category, a.c, a.aa, a.ma, a.cf, b.rev
            FROM a JOIN b ON a.category IS NOT DISTINCT FROM b.category
            ORDER BY 1 NULLS LAST""",
        min_rows=21,
    ),
    fc(
        "fanout_users_by_gender_and_status_filtered",
        us(
            ["users.gender", "order_items.status", "users.count", "users.median_age", CNT],
            filters={"order_items.status": s("EQUALS", "Complete", "Returned")},
            sorts=[sort("users.gender"), sort("order_items.status")],
        ),
        f"""WITH j AS (SELECT u.id AS uid, u.age, u.gender, oi.status FROM users u {UOI}
                       WHERE oi.status IN ('Complete', 'Returned')),
            a AS (SELECT gender, status, count(*) AS c, quantile_cont(age, 0.5) AS ma
                  FROM (SELECT DISTINCT gender, status, uid, age FROM j) GROUP BY 1, 2),
            b AS (SELECT gender, status, count(*) AS n FROM j GROUP BY 1, 2)
            SELECT a.gender, a.status, a.c, a.ma, b.n FROM a JOIN b USING (gender, status)
            ORDER BY 1, 2""",
        min_rows=4,
    ),
    fc(
        "fanout_users_measures_filtered_on_many_side_only",
        us(
            ["users.country", "users.count", "users.average_age", "users.count_female"],
            filters={"products.department": s("EQUALS", "Women")},
            sorts=[sort("users.country")],
        ),
        # the users with at least one item from the Women department, each counted once
        f"""SELECT country, count(*), avg(age), count(*) FILTER (WHERE gender = 'F') FROM users
            WHERE id IN (SELECT oi.user_id FROM order_items oi {II} {P2}
                         WHERE p.department = 'Women')
            GROUP BY 1 ORDER BY 1""",
        min_rows=10,
    ),
    fc(
        "fanout_users_by_order_year_mixed_measures",
        us(
            [YEAR, "users.count", "users.count_female", CNT, "order_items.order_count"],
            filters={CA: {"type": "null", "is_negative": True}},
            sorts=[sort(YEAR)],
        ),
        """SELECT make_date(year(oi.created_at), 1, 1), count(DISTINCT u.id),
                   count(DISTINCT u.id) FILTER (WHERE u.gender = 'F'), count(*),
                   count(DISTINCT oi.order_id)
            FROM users u JOIN order_items oi ON oi.user_id = u.id GROUP BY 1 ORDER BY 1""",
        min_rows=7,
    ),
    fc(
        "fanout_users_age_bin_by_department",
        us(
            ["users.age_bin", "products.department", "users.count", "users.average_age", TSP],
            filters={"products.department": s("EQUALS", "Men", "Women")},
        ),
        f"""WITH j AS (SELECT u.id AS uid, u.age, p.department, oi.sale_price
                       FROM users u {UOI} {UII} {UP} WHERE p.department IN ('Men', 'Women')),
            a AS (SELECT {age_bin("age")} AS bin, department, count(*) AS c, avg(age) AS aa
                  FROM (SELECT DISTINCT uid, age, department FROM j) GROUP BY 1, 2),
            b AS (SELECT {age_bin("age")} AS bin, department, sum(sale_price) AS rev
                  FROM j GROUP BY 1, 2)
            SELECT a.bin, a.department, a.c, a.aa, b.rev FROM a JOIN b USING (bin, department)""",
        order="set",
        min_rows=10,
    ),
]

DATE_PARTS = [
    fc(
        "date_part_day_of_week_weekend",
        oi(
            [f"{CA}[day_of_week_name]", CNT],
            filters={CA: part("IS_ON_DAY_OF_WEEK", "Saturday", "Sunday")},
            sorts=[sort(f"{CA}[day_of_week_name]")],
        ),
        """SELECT dayname(created_at), count(*) FROM order_items
           WHERE dayofweek(created_at) IN (0, 6) GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "date_part_month_of_year_number_and_name",
        oi([YEAR, CNT], filters={CA: part("IS_IN_MONTH_OF_YEAR", "11", "December")}),
        """SELECT make_date(year(created_at), 1, 1), count(*) FROM order_items
           WHERE monthname(created_at) IN ('November', 'December') GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
    fc(
        "date_part_quarter_of_year_q4",
        oi(
            [f"{CA}[month_num]", CNT],
            filters={CA: part("IS_IN_QUARTER_OF_YEAR", "Q4")},
            sorts=[sort(f"{CA}[month_num]")],
        ),
        """SELECT month(created_at), count(*) FROM order_items WHERE month(created_at) >= 10
           GROUP BY 1 ORDER BY 1""",
        min_rows=3,
    ),
    fc(
        "date_part_quarter_of_year_digit_negated_keeps_null",
        oi(
            ["order_items.status", CNT],
            filters={"order_items.returned_at": part("IS_IN_QUARTER_OF_YEAR", "4", neg=True)},
            sorts=[sort("order_items.status")],
        ),
        # items never returned have no returned_at and are kept
        """SELECT status, count(*) FROM order_items
           WHERE returned_at IS NULL OR month(returned_at) <= 9 GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    fc(
        "date_part_hour_of_day",
        oi([HOD, CNT], filters={CA: part("IS_AT_HOUR_OF_DAY", "9", "17")}, sorts=[sort(HOD)]),
        """SELECT hour(created_at), count(*) FROM order_items
           WHERE strftime(created_at, '%H') IN ('09', '17') GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "date_part_day_of_month",
        oi(
            [f"{CA}[month_name]", DOM, CNT],
            filters={CA: part("IS_ON_DAY_OF_MONTH", "1", "15")},
            sorts=[sort(f"{CA}[month_name]"), sort(DOM)],
        ),
        """SELECT monthname(created_at), day(created_at), count(*) FROM order_items
           WHERE strftime(created_at, '%d') IN ('01', '15') GROUP BY 1, 2 ORDER BY 1, 2""",
        min_rows=24,
    ),
    fc(
        "date_part_week_of_year_iso",
        oi([f"{CA}[date]", CNT], filters={CA: part("IS_IN_WEEK_OF_YEAR", "53")}),
        # ISO week 53 exists in 2020 only (Dec 28 2020 .. Jan 3 2021) within the data's years
        f"""SELECT created_at::DATE, count(*) FROM order_items
            WHERE {in_range("created_at", "2020-12-28", "2021-01-04")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=3,
    ),
    fc(
        "date_part_day_of_week_negated_keeps_null",
        oi(
            ["order_items.status", CNT],
            filters={
                "order_items.delivered_at": part("IS_ON_DAY_OF_WEEK", "Sat", "sunday", neg=True)
            },
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, count(*) FROM order_items
           WHERE delivered_at IS NULL OR isodow(delivered_at) <= 5 GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
]

LEGACY = [
    fc(
        "legacy_string_any_of",
        oi(
            ["order_items.status", CNT],
            filters={"order_items.status": "Complete,Shipped"},
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, count(*) FROM order_items WHERE status IN ('Complete', 'Shipped')
           GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "legacy_string_not",
        oi(
            ["order_items.status", CNT],
            filters={"order_items.status": "-Cancelled"},
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, count(*) FROM order_items WHERE status <> 'Cancelled'
           GROUP BY 1 ORDER BY 1""",
        min_rows=4,
    ),
    fc(
        "legacy_string_contains",
        oi(
            ["products.category", CNT],
            filters={"products.name": "%Jean%"},
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P2}
            WHERE contains(p.name, 'Jean') GROUP BY 1 ORDER BY 1""",
    ),
    fc(
        "legacy_string_starts_with",
        oi(
            ["products.brand", CNT],
            filters={"products.name": "Allegra%"},
            sorts=[sort("products.brand")],
        ),
        # product names begin with the brand; no name begins with "Slim", so "Allegra" it is
        f"""SELECT p.brand, count(*) FROM order_items oi {II} {P2}
            WHERE starts_with(p.name, 'Allegra') GROUP BY 1 ORDER BY 1""",
    ),
    fc(
        "legacy_string_empty",
        ev(
            ["events.event_type", "events.count"],
            filters={"users.city": "EMPTY"},
            sorts=[sort("events.event_type")],
        ),
        f"""SELECT e.event_type, count(*) FROM events e {EU}
            WHERE coalesce(u.city, '') = '' GROUP BY 1 ORDER BY 1""",
        min_rows=4,
    ),
    fc(
        "legacy_string_not_null",
        ev(
            ["events.event_type", "events.count"],
            filters={"users.city": "-NULL"},
            sorts=[sort("events.event_type")],
        ),
        f"""SELECT e.event_type, count(*) FROM events e {EU} WHERE u.city IS NOT NULL
            GROUP BY 1 ORDER BY 1""",
        min_rows=6,
    ),
    fc(
        "legacy_number_greater_than",
        oi(["products.department", CNT], filters={SP: ">100"}, sorts=[sort("products.department")]),
        f"""SELECT p.department, count(*) FROM order_items oi {II} {P2} WHERE oi.sale_price > 100
            GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "legacy_number_at_least_and_at_most",
        oi(
            ["order_items.status", "order_items.min_sale_price", "order_items.max_sale_price"],
            filters={SP: ">=100", "users.age": "<=20"},
            sorts=[sort("order_items.status")],
        ),
        f"""SELECT oi.status, min(oi.sale_price), max(oi.sale_price) FROM order_items oi {U}
            WHERE oi.sale_price >= 100 AND u.age <= 20 GROUP BY 1 ORDER BY 1""",
        min_rows=3,
    ),
    fc(
        "legacy_number_at_most_ten",
        oi(["products.category", CNT], filters={SP: "<=10"}, sorts=[sort("products.category")]),
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P2} WHERE oi.sale_price <= 10
            GROUP BY 1 ORDER BY 1""",
        min_rows=3,
    ),
    fc(
        "legacy_number_not_equal",
        us(
            ["users.age_tier", "users.count"],
            filters={"users.age": "!=50"},
            sorts=[sort("users.age_tier")],
        ),
        """SELECT CASE WHEN age < 30 THEN 'Under 30' WHEN age < 50 THEN '30 to 49' ELSE '50+' END,
                  count(*) FROM users WHERE age <> 50 GROUP BY 1 ORDER BY 1""",
        min_rows=3,
    ),
    fc(
        "legacy_number_half_open_range",
        oi(
            ["products.department", CNT],
            filters={SP: "[10,100)"},
            sorts=[sort("products.department")],
        ),
        f"""SELECT p.department, count(*) FROM order_items oi {II} {P2}
            WHERE oi.sale_price >= 10 AND oi.sale_price < 100 GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "legacy_number_to_range_inclusive",
        us(
            ["users.age", "users.count"],
            filters={"users.age": "10 to 20"},
            sorts=[sort("users.age")],
        ),
        "SELECT age, count(*) FROM users WHERE age >= 10 AND age <= 20 GROUP BY 1 ORDER BY 1",
        min_rows=9,
    ),
    fc(
        "legacy_number_list",
        oi(
            ["orders.num_of_item", "orders.count", CNT],
            filters={"orders.num_of_item": "1,2,3"},
            sorts=[sort("orders.num_of_item")],
        ),
        f"""SELECT o.num_of_item, count(DISTINCT o.order_id), count(*) FROM order_items oi {ORD}
            WHERE o.num_of_item IN (1, 2, 3) GROUP BY 1 ORDER BY 1""",
        min_rows=3,
    ),
    fc(
        "legacy_date_last_90_days",
        oi([f"{CA}[month]", CNT], filters={CA: "last 90 days"}),
        f"""SELECT make_date(year(created_at), month(created_at), 1), count(*) FROM order_items
            WHERE {in_range("created_at", "2025-03-18", "2025-06-16")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=4,
    ),
    fc(
        "legacy_date_last_3_complete_months",
        oi([f"{CA}[month]", CNT], filters={CA: "last 3 complete months"}),
        f"""SELECT make_date(year(created_at), month(created_at), 1), count(*) FROM order_items
            WHERE {in_range("created_at", "2025-03-01", "2025-06-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=3,
    ),
    fc(
        "legacy_date_month_literal",
        oi([f"{CA}[date]", CNT], filters={CA: "2024-03"}),
        f"""SELECT created_at::DATE, count(*) FROM order_items
            WHERE {in_range("created_at", "2024-03-01", "2024-04-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=25,
    ),
    fc(
        "legacy_date_before",
        oi([f"{CA}[quarter]", CNT], filters={CA: "before 2020-01-01"}),
        f"""SELECT make_date(2019, 3 * quarter(created_at) - 2, 1), count(*) FROM order_items
            WHERE created_at < {ts("2020-01-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=4,
    ),
    fc(
        "legacy_date_after_is_on_or_after",
        oi([f"{CA}[month]", CNT], filters={CA: "after 2025-06-01"}),
        f"""SELECT make_date(2025, month(created_at), 1), count(*) FROM order_items
            WHERE created_at >= {ts("2025-06-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
    fc(
        "legacy_date_to_range_end_excluded",
        oi(
            [f"{CA}[date]", CNT],
            filters={CA: "2024-01-01 to 2024-02-01"},
            sorts=[sort(f"{CA}[date]")],
        ),
        f"""SELECT created_at::DATE, count(*) FROM order_items
            WHERE created_at >= {ts("2024-01-01")} AND created_at < {ts("2024-02-01")}
            GROUP BY 1 ORDER BY 1""",
        min_rows=25,
    ),
    fc(
        "legacy_date_this_year",
        oi([f"{CA}[quarter]", TSP], filters={CA: "this year"}),
        """SELECT make_date(2025, 3 * quarter(created_at) - 2, 1), sum(sale_price)
            FROM order_items WHERE year(created_at) = 2025 GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=4,
    ),
    fc(
        "legacy_date_null_and_not_null",
        oi(
            ["order_items.status", CNT],
            filters={"order_items.returned_at": "null", "order_items.shipped_at": "not null"},
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, count(*) FROM order_items
           WHERE returned_at IS NULL AND shipped_at IS NOT NULL GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "legacy_boolean_yes",
        oi(
            ["order_items.status", CNT],
            filters={"order_items.is_returned": "yes"},
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, count(*) FROM order_items WHERE returned_at IS NOT NULL
           GROUP BY 1 ORDER BY 1""",
    ),
    fc(
        "legacy_boolean_no",
        oi(
            ["order_items.status", CNT],
            filters={"order_items.is_returned": "no"},
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, count(*) FROM order_items WHERE returned_at IS NULL
           GROUP BY 1 ORDER BY 1""",
        min_rows=4,
    ),
]

REGION = {"type": "user_attribute", "user_attribute_name": "region"}

OTHER_FILTERS = [
    fc(
        "user_attribute_list_is_in",
        oi(["users.state", CNT, TSP], filters={"users.state": REGION}, sorts=[sort("users.state")]),
        f"""SELECT u.state, count(*), sum(oi.sale_price) FROM order_items oi {U}
            WHERE u.state IN ('California', 'Texas') GROUP BY 1 ORDER BY 1""",
        kwargs={"user_attributes": {"region": ["California", "Texas"]}},
        min_rows=2,
    ),
    fc(
        "user_attribute_single_value",
        us(
            ["users.city", "users.count"],
            filters={"users.state": REGION},
            sorts=[sort("users.city")],
        ),
        "SELECT city, count(*) FROM users WHERE state = 'New York' GROUP BY 1 ORDER BY 1",
        kwargs={"user_attributes": {"region": "New York"}},
        min_rows=1,
    ),
    fc(
        "ignore_if_unjoinable_drops_filter_outside_topic",
        oi(
            ["order_items.status", CNT],
            filters={
                "events.event_type": {**s("EQUALS", "purchase"), "ignore_if_unjoinable": True}
            },
            sorts=[sort("order_items.status")],
        ),
        "SELECT status, count(*) FROM order_items GROUP BY 1 ORDER BY 1",
        min_rows=5,
    ),
    fc(
        "cancel_query_filter_drops_filter",
        oi(
            ["order_items.status", CNT],
            filters={
                "order_items.status": {**s("EQUALS", "Complete"), "cancel_query_filter": True},
                "users.gender": s("EQUALS", "F"),
            },
            sorts=[sort("order_items.status")],
        ),
        f"""SELECT oi.status, count(*) FROM order_items oi {U} WHERE u.gender = 'F'
            GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    fc(
        "boolean_filter_without_is_negative_is_a_no_op",
        oi(
            ["order_items.is_returned", CNT],
            filters={"order_items.is_returned": {"type": "boolean"}},
            sorts=[sort("order_items.is_returned")],
        ),
        """SELECT returned_at IS NOT NULL, count(*) FROM order_items GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "composite_or_negated_keeps_null_rows",
        ev(
            ["users.country", "events.count"],
            filters={
                "users.country": {
                    "type": "composite",
                    "conjunction": "OR",
                    "is_negative": True,
                    "filters": [s("EQUALS", "United States"), s("STARTS_WITH", "Ch")],
                }
            },
            sorts=[sort("users.country", nulls="FIRST")],
        ),
        # anonymous events (no user, no country) are kept by the negation
        f"""SELECT u.country, count(*) FROM events e {EU}
            WHERE u.country IS NULL
               OR (u.country <> 'United States' AND NOT starts_with(u.country, 'Ch'))
            GROUP BY 1 ORDER BY 1 NULLS FIRST""",
        min_rows=10,
    ),
    fc(
        "composite_and_negated_number_keeps_null_rows",
        oi(
            ["order_items.days_to_deliver", CNT],
            filters={
                "order_items.days_to_deliver": {
                    "type": "composite",
                    "conjunction": "AND",
                    "is_negative": True,
                    "filters": [n("GREATER_THAN", 1, incl=True), n("LESS_THAN", 4, incl=True)],
                }
            },
            sorts=[sort("order_items.days_to_deliver", nulls="FIRST")],
        ),
        """SELECT delivered_at::DATE - created_at::DATE, count(*) FROM order_items
           WHERE delivered_at IS NULL OR delivered_at::DATE - created_at::DATE NOT IN (1, 2, 3, 4)
           GROUP BY 1 ORDER BY 1 NULLS FIRST""",
        min_rows=3,
    ),
    fc(
        "date_n_complete_months_ago",
        oi(
            [f"{CA}[month]", CNT],
            filters={CA: d("TIME_FOR_INTERVAL_DURATION", "3 complete months ago", "3 months")},
        ),
        # three whole months before the current one: [2025-03-01, 2025-06-01)
        f"""SELECT make_date(2025, month(created_at), 1), count(*) FROM order_items
            WHERE {in_range("created_at", "2025-03-01", "2025-06-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=3,
    ),
    fc(
        "date_n_months_ago_counts_current_month",
        oi(
            [f"{CA}[month]", CNT],
            filters={CA: d("TIME_FOR_INTERVAL_DURATION", "3 months ago", "3 months")},
        ),
        # the current month is one of the three: [2025-04-01, 2025-07-01)
        f"""SELECT make_date(2025, month(created_at), 1), count(*) FROM order_items
            WHERE {in_range("created_at", "2025-04-01", "2025-07-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=3,
    ),
]

TIME_ZONES = [
    fc(
        "timezone_new_york_date_grain_and_month_filter",
        oi([f"{CA}[date]", CNT], filters={CA: d("TIME_FOR_UNIT_DURATION", "2024-03")}),
        f"""SELECT {local("created_at", NY)}::DATE, count(*) FROM order_items
            WHERE {in_range(local("created_at", NY), "2024-03-01", "2024-04-01")}
            GROUP BY 1 ORDER BY 1 DESC""",
        kwargs={"timezone": NY},
        min_rows=25,
    ),
    fc(
        "timezone_tokyo_hour_of_day",
        oi([HOD, CNT], sorts=[sort(HOD)]),
        f"""SELECT hour({local("created_at", TOKYO)}), count(*) FROM order_items
            GROUP BY 1 ORDER BY 1""",
        kwargs={"timezone": TOKYO},
        min_rows=20,
    ),
    fc(
        "timezone_new_york_yesterday_hours",
        oi([f"{CA}[hour]", CNT], filters={CA: d("TIME_FOR_UNIT_DURATION", "yesterday")}),
        # 06:30 on 2025-06-15 in New York: yesterday is the local 2025-06-14
        f"""SELECT date_trunc('hour', {local("created_at", NY)}), count(*) FROM order_items
            WHERE {in_range(local("created_at", NY), "2025-06-14", "2025-06-15")}
            GROUP BY 1 ORDER BY 1 DESC""",
        kwargs={"timezone": NY},
        min_rows=3,
    ),
    fc(
        "timezone_tokyo_day_of_week_filter",
        oi(
            [f"{CA}[day_of_week_name]", DOWN, CNT],
            filters={CA: part("IS_ON_DAY_OF_WEEK", "Monday")},
        ),
        f"""SELECT dayname({local("created_at", TOKYO)}), 0, count(*) FROM order_items
            WHERE isodow({local("created_at", TOKYO)}) = 1 GROUP BY 1""",
        kwargs={"timezone": TOKYO},
    ),
    fc(
        "timezone_new_york_this_year_by_month",
        oi([f"{CA}[month]", CNT], filters={CA: "this year"}),
        # the local year starts at 2025-01-01 05:00 UTC
        f"""SELECT make_date(2025, month({local("created_at", NY)}), 1), count(*) FROM order_items
            WHERE created_at >= {ts("2025-01-01 05:00:00")} AND created_at < {ts("2026-01-01 05:00:00")}
            GROUP BY 1 ORDER BY 1 DESC""",
        kwargs={"timezone": NY},
        min_rows=12,
    ),
    fc(
        "timezone_new_york_raw_is_local_wall_clock",
        oi(
            ["order_items.id", f"{CA}[raw]"],
            filters={"order_items.id": n("LESS_THAN", 50)},
            sorts=[sort("order_items.id")],
        ),
        f"""SELECT id, {local("created_at", NY)} FROM order_items WHERE id < 50 ORDER BY id""",
        kwargs={"timezone": NY},
        min_rows=49,
    ),
]

SQL_MODE = [
    fc(
        "sql_mode_state_revenue",
        {
            "join_paths_from_topic_name": "order_items",
            "fields": [],
            "userEditedSQL": "SELECT ${users.state}, ${order_items.total_sale_price} AS revenue "
            "FROM ${order_items} GROUP BY 1 ORDER BY 2 DESC LIMIT 10",
        },
        f"""SELECT u.state, sum(oi.sale_price) FROM order_items oi {U}
            GROUP BY 1 ORDER BY 2 DESC LIMIT 10""",
        columns=("users.state", "revenue"),
        min_rows=10,
    ),
    fc(
        "sql_mode_grain_filtered_measure_and_where",
        {
            "join_paths_from_topic_name": "order_items",
            "fields": [],
            "userEditedSQL": "SELECT ${order_items.created_at[year]} AS yr, "
            "${order_items.returned_count} AS returned, ${order_items.count} AS n "
            "FROM ${order_items} WHERE ${products.department} = 'Men' GROUP BY 1 ORDER BY 1",
        },
        f"""SELECT make_date(year(oi.created_at), 1, 1),
                   count(*) FILTER (WHERE oi.status = 'Returned'), count(*)
            FROM order_items oi {II} {P2} WHERE p.department = 'Men' GROUP BY 1 ORDER BY 1""",
        columns=("yr", "returned", "n"),
        min_rows=7,
    ),
]

MORE = [
    fc(
        "grain_fiscal_quarter_string_filter",
        oi([FY, CNT], filters={FQ: s("ENDS_WITH", "-Q1")}, sorts=[sort(FY)]),
        """SELECT year(created_at), count(*) FROM order_items WHERE month(created_at) <= 3
           GROUP BY 1 ORDER BY 1""",
        min_rows=7,
    ),
    fc(
        "grain_day_of_week_num_filter_negated_keeps_null",
        oi(
            ["order_items.status", CNT],
            filters={"order_items.returned_at[day_of_week_num]": n("EQUALS", 0, neg=True)},
            sorts=[sort("order_items.status")],
        ),
        # not returned on a Monday, including the items never returned
        """SELECT status, count(*) FROM order_items
           WHERE returned_at IS NULL OR dayname(returned_at) <> 'Monday' GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    fc(
        "dimension_age_bin_null_for_anonymous_events",
        ev(["users.age_bin", "events.count"]),
        # anonymous events have no user and so no age: their bin is NULL
        f"SELECT {age_bin('u.age')}, count(*) FROM events e {EU} GROUP BY 1",
        order="set",
        min_rows=6,
    ),
    fc(
        "dimension_age_bin_negated_filter_keeps_null",
        ev(
            ["users.age_bin", "events.count"],
            filters={"users.age_bin": s("EQUALS", "< 21", ">= 21 and < 35", neg=True)},
        ),
        f"""SELECT {age_bin("u.age")}, count(*) FROM events e {EU}
            WHERE u.age IS NULL OR u.age >= 35 GROUP BY 1""",
        order="set",
        min_rows=4,
    ),
    fc(
        "fanout_having_on_users_average_age",
        us(
            ["products.category", "users.average_age", "users.count"],
            filters={"users.average_age": n("GREATER_THAN", 41)},
            sorts=[sort("products.category")],
        ),
        f"""SELECT category, avg(age), count(*)
            FROM (SELECT DISTINCT p.category, u.id, u.age FROM users u {UOI} {UII} {UP})
            GROUP BY 1 HAVING avg(age) > 41 ORDER BY 1 NULLS LAST""",
        min_rows=3,
    ),
    fc(
        "fanout_top_brands_by_users_count",
        us(
            ["products.brand", "users.count", CNT],
            filters={"products.brand": {"type": "null", "is_negative": True}},
            sorts=[sort("users.count", desc=True), sort("products.brand")],
            limit=10,
        ),
        f"""SELECT p.brand, count(DISTINCT u.id), count(*) FROM users u {UOI} {UII} {UP}
            WHERE p.brand IS NOT NULL GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 10""",
        min_rows=10,
    ),
    fc(
        "fanout_users_median_age_and_many_side_median_price",
        us(
            ["users.gender", "users.median_age", "order_items.median_sale_price", "users.count"],
            sorts=[sort("users.gender")],
        ),
        f"""WITH a AS (SELECT gender, quantile_cont(age, 0.5) AS ma, count(*) AS c FROM users
                       GROUP BY 1),
            b AS (SELECT u.gender, quantile_cont(oi.sale_price, 0.5) AS mp
                  FROM users u {UOI} GROUP BY 1)
            SELECT a.gender, a.ma, b.mp, a.c FROM a JOIN b USING (gender) ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "date_part_composite_or_sunday_or_december",
        oi(
            [YEAR, CNT],
            filters={
                CA: {
                    "type": "composite",
                    "conjunction": "OR",
                    "filters": [
                        part("IS_ON_DAY_OF_WEEK", "Sunday"),
                        part("IS_IN_MONTH_OF_YEAR", "Dec"),
                    ],
                }
            },
        ),
        """SELECT make_date(year(created_at), 1, 1), count(*) FROM order_items
           WHERE isodow(created_at) = 7 OR month(created_at) = 12 GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=7,
    ),
    fc(
        "legacy_string_contains_and_not_contains",
        oi(
            ["products.category", CNT],
            filters={"products.name": "%Jean%,-%Straight%"},
            sorts=[sort("products.category")],
        ),
        f"""SELECT p.category, count(*) FROM order_items oi {II} {P2}
            WHERE contains(p.name, 'Jean') AND NOT contains(p.name, 'Straight')
            GROUP BY 1 ORDER BY 1""",
    ),
    fc(
        "legacy_number_closed_range",
        us(
            ["users.age", "users.count"],
            filters={"users.age": "[60,65]"},
            sorts=[sort("users.age")],
        ),
        "SELECT age, count(*) FROM users WHERE age BETWEEN 60 AND 65 GROUP BY 1 ORDER BY 1",
        min_rows=6,
    ),
    fc(
        "legacy_date_for_n_days",
        oi([f"{CA}[date]", CNT], filters={CA: "2024-03-01 for 10 days"}),
        f"""SELECT created_at::DATE, count(*) FROM order_items
            WHERE {in_range("created_at", "2024-03-01", "2024-03-11")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=8,
    ),
    fc(
        "legacy_date_this_quarter",
        oi([f"{CA}[month]", CNT], filters={CA: "this quarter"}),
        f"""SELECT make_date(2025, month(created_at), 1), count(*) FROM order_items
            WHERE {in_range("created_at", "2025-04-01", "2025-07-01")} GROUP BY 1 ORDER BY 1 DESC""",
        min_rows=3,
    ),
    fc(
        "user_attribute_negated_keeps_null_rows",
        ev(
            ["users.state", "events.count"],
            filters={"users.state": {**REGION, "is_negative": True}},
            sorts=[sort("users.state", nulls="FIRST")],
            limit=None,
        ),
        f"""SELECT u.state, count(*) FROM events e {EU}
            WHERE u.state IS NULL OR u.state NOT IN ('California', 'Texas')
            GROUP BY 1 ORDER BY 1 NULLS FIRST""",
        kwargs={"user_attributes": {"region": ["California", "Texas"]}},
        min_rows=20,
    ),
    fc(
        "user_attribute_on_number_field",
        us(
            ["users.age", "users.count"],
            filters={"users.age": {"type": "user_attribute", "user_attribute_name": "ages"}},
            sorts=[sort("users.age")],
        ),
        "SELECT age, count(*) FROM users WHERE age IN (30, 40) GROUP BY 1 ORDER BY 1",
        kwargs={"user_attributes": {"ages": ["30", "40"]}},
        min_rows=2,
    ),
    fc(
        "ignore_if_unjoinable_keeps_joinable_filter",
        oi(
            ["order_items.status", CNT],
            filters={"users.gender": {**s("EQUALS", "M"), "ignore_if_unjoinable": True}},
            sorts=[sort("order_items.status")],
        ),
        f"""SELECT oi.status, count(*) FROM order_items oi {U} WHERE u.gender = 'M'
            GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    fc(
        "timezone_tokyo_time_of_day_filtered_on_local_date",
        oi(
            [TOD, CNT],
            filters={CA: d("TIME_FOR_UNIT_DURATION", "2025-01-01")},
            sorts=[sort(TOD)],
            limit=None,
        ),
        # the local (Tokyo) New Year's Day is 2024-12-31 15:00 .. 2025-01-01 15:00 UTC
        f"""SELECT {hhmm(local("created_at", TOKYO))}, count(*) FROM order_items
            WHERE {in_range("created_at", "2024-12-31 15:00:00", "2025-01-01 15:00:00")}
            GROUP BY 1 ORDER BY 1""",
        kwargs={"timezone": TOKYO},
        min_rows=5,
    ),
]

EVEN_MORE = [
    fc(
        "having_on_median_and_items_in_orders",
        oi(
            ["products.category", "order_items.median_sale_price", "order_items.items_in_orders"],
            filters={
                "order_items.median_sale_price": ">40",
                "order_items.items_in_orders": n("GREATER_THAN", ITEMS_MIN, incl=True),
            },
            sorts=[sort("order_items.items_in_orders", desc=True)],
        ),
        f"""WITH med AS (SELECT p.category, quantile_cont(oi.sale_price, 0.5) AS m
                         FROM order_items oi {II} {P2} GROUP BY 1),
            items AS (SELECT category, sum(num_of_item) AS s
                      FROM (SELECT DISTINCT p.category, o.order_id, o.num_of_item
                            FROM order_items oi {ORD} {II} {P2}) GROUP BY 1)
            SELECT category, m, s FROM med JOIN items USING (category)
            WHERE m > 40 AND s >= {ITEMS_MIN} ORDER BY s DESC""",
        min_rows=4,
    ),
    fc(
        "having_on_statuses_list_equals",
        oi(
            ["order_items.user_id", "order_items.statuses", "order_items.order_count"],
            filters={"order_items.statuses": s("EQUALS", "Complete, Returned")},
            sorts=[sort("order_items.user_id")],
            limit=20,
        ),
        # the users whose items are all Complete or Returned, with both statuses present
        """SELECT user_id, 'Complete, Returned', count(DISTINCT order_id) FROM order_items
           GROUP BY 1
           HAVING bool_and(status IN ('Complete', 'Returned')) AND count(DISTINCT status) = 2
           ORDER BY 1 LIMIT 20""",
        min_rows=5,
    ),
    fc(
        "fanout_order_items_count_excludes_users_without_orders",
        us(
            ["users.gender", "users.count", CNT, "order_items.order_count"],
            sorts=[sort("users.gender")],
        ),
        # a user without orders joins one all-NULL order item row: it is no order item
        f"""SELECT u.gender, count(DISTINCT u.id), count(oi.id), count(DISTINCT oi.order_id)
            FROM users u {UOI} GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "date_part_values_in_left_side_text",
        oi(
            [f"{CA}[day_of_week_name]", CNT],
            filters={
                CA: {
                    "type": "date",
                    "kind": "IS_ON_DAY_OF_WEEK",
                    "left_side": "Tuesday, Thursday",
                    "is_negative": False,
                }
            },
            sorts=[sort(f"{CA}[day_of_week_name]")],
        ),
        """SELECT dayname(created_at), count(*) FROM order_items
           WHERE isodow(created_at) IN (2, 4) GROUP BY 1 ORDER BY 1""",
        min_rows=2,
    ),
    fc(
        "composite_negated_date_kinds_keeps_null",
        oi(
            ["order_items.status", CNT],
            filters={
                "order_items.returned_at": {
                    "type": "composite",
                    "conjunction": "OR",
                    "is_negative": True,
                    "filters": [
                        d("TIME_FOR_UNIT_DURATION", "2024"),
                        part("IS_IN_QUARTER_OF_YEAR", "Q4"),
                    ],
                }
            },
            sorts=[sort("order_items.status")],
        ),
        """SELECT status, count(*) FROM order_items
           WHERE returned_at IS NULL OR (year(returned_at) <> 2024 AND month(returned_at) < 10)
           GROUP BY 1 ORDER BY 1""",
        min_rows=5,
    ),
    fc(
        "timezone_tokyo_legacy_filters_on_grain_fields",
        oi(
            [HOD, CNT],
            filters={HOD: ">=22", f"{CA}[day_of_week_name]": "Saturday,Sunday"},
            sorts=[sort(HOD)],
        ),
        f"""SELECT hour({local("created_at", TOKYO)}), count(*) FROM order_items
            WHERE hour({local("created_at", TOKYO)}) IN (22, 23)
              AND dayname({local("created_at", TOKYO)}) IN ('Saturday', 'Sunday')
            GROUP BY 1 ORDER BY 1""",
        kwargs={"timezone": TOKYO},
        min_rows=2,
    ),
    fc(
        "sql_mode_users_topic_age_bin",
        {
            "join_paths_from_topic_name": "users",
            "fields": [],
            "userEditedSQL": "SELECT ${users.age_bin} AS bin, ${users.count} AS n, "
            "${users.median_age} AS med FROM ${users} GROUP BY 1",
        },
        f"SELECT {age_bin('age')}, count(*), quantile_cont(age, 0.5) FROM users GROUP BY 1",
        columns=("bin", "n", "med"),
        order="set",
        min_rows=5,
    ),
    fc(
        "sql_mode_users_count_across_one_to_many_join",
        {
            "join_paths_from_topic_name": "users",
            "fields": [],
            "userEditedSQL": "SELECT ${products.department} AS dept, ${users.count} AS n "
            "FROM ${users} GROUP BY 1",
        },
        # each user once per department (users without orders: the NULL department)
        f"""SELECT p.department, count(DISTINCT u.id) FROM users u {UOI} {UII} {UP}
            GROUP BY 1""",
        columns=("dept", "n"),
        order="set",
        min_rows=3,
    ),
]

LAST = [
    fc(
        "timezone_new_york_week_grain_and_last_90_days",
        oi([f"{CA}[week]", CNT], filters={CA: "last 90 days"}),
        # local today is 2025-06-15: the 90 local days [2025-03-18, 2025-06-16), Monday weeks
        f"""SELECT {local("created_at", NY)}::DATE - (isodow({local("created_at", NY)}) - 1)::INTEGER,
                   count(*)
            FROM order_items
            WHERE {in_range(local("created_at", NY), "2025-03-18", "2025-06-16")}
            GROUP BY 1 ORDER BY 1 DESC""",
        kwargs={"timezone": NY},
        min_rows=13,
    ),
    fc(
        "timezone_tokyo_week_of_year_and_day_of_quarter_filter",
        oi(
            [f"{CA}[quarter]", WOY, DOQ, CNT],
            filters={DOQ: n("EQUALS", 1), CA: d("TIME_FOR_UNIT_DURATION", "2024")},
            sorts=[sort(f"{CA}[quarter]")],
        ),
        # the first local day of each 2024 quarter; Jan 1 2024 (Monday) is in ISO week 1,
        # Apr 1 in week 14, Jul 1 in week 27, Oct 1 in week 40
        f"""SELECT make_date(2024, month(t), 1), strftime(t, '%V')::INTEGER, 1, count(*)
            FROM (SELECT {local("created_at", TOKYO)} AS t FROM order_items)
            WHERE t::DATE IN (DATE '2024-01-01', DATE '2024-04-01', DATE '2024-07-01',
                              DATE '2024-10-01')
            GROUP BY 1, 2 ORDER BY 1""",
        kwargs={"timezone": TOKYO},
        min_rows=4,
    ),
    fc(
        "legacy_null_on_number_field",
        ev(
            ["events.event_type", "events.count"],
            filters={"events.user_id": "null"},
            sorts=[sort("events.event_type")],
        ),
        """SELECT event_type, count(*) FROM events WHERE user_id IS NULL GROUP BY 1 ORDER BY 1""",
        min_rows=4,
    ),
    fc(
        "date_filter_on_week_grain_field_last_week",
        oi(
            [f"{CA}[week]", f"{CA}[day_of_week_num]", CNT],
            filters={f"{CA}[week]": d("TIME_FOR_UNIT_DURATION", "last week")},
            sorts=[sort(f"{CA}[day_of_week_num]")],
        ),
        f"""SELECT DATE '2025-06-02', isodow(created_at) - 1, count(*) FROM order_items
            WHERE {in_range("created_at", "2025-06-02", "2025-06-09")} GROUP BY 1, 2 ORDER BY 2""",
        min_rows=7,
    ),
]

FCASES = (
    GRAINS
    + MEASURES
    + DIMENSIONS
    + FAN_OUT
    + DATE_PARTS
    + LEGACY
    + OTHER_FILTERS
    + TIME_ZONES
    + SQL_MODE
    + MORE
    + EVEN_MORE
    + LAST
)


def _param(fcase: FCase) -> Any:
    case = fcase.case
    marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
    return pytest.param(fcase, id=case.id, marks=marks)


def test_feature_case_ids_are_unique() -> None:
    ids = [f.case.id for f in FCASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 40


@pytest.mark.parametrize("fcase", [_param(f) for f in FCASES])
def test_oracle_features(runner: Any, fcase: FCase) -> None:
    case = fcase.case
    want = _rows(runner.sql(case.sql))
    if case.empty:
        assert want == [], f"hand SQL of {case.id} was meant to match nothing"
    else:
        assert len(want) >= case.min_rows, (
            f"hand SQL returned {len(want)} rows; the case expects at least {case.min_rows}"
        )
    compiled = runner.compile(case.query, **fcase.kwargs)
    table = runner.run(case.query, **fcase.kwargs)
    expected_columns = list(fcase.columns) if fcase.columns else list(case.query["fields"])
    assert table.column_names == expected_columns
    got = _rows(table)
    problem = compare(got, want, case.order)
    assert problem is None, f"{problem}\n-- compiled SQL:\n{compiled.sql}"
