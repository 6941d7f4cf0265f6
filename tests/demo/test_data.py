"""Tests for the demo warehouse generator (sluice.demo.data)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from sluice.demo.data import STEPS, generate_demo_data, history_span
from tests.conftest import DEMO_AS_OF

SCALE = 0.01
SEED = 42

EXPECTED_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "distribution_centers": [
        ("id", "INTEGER"),
        ("name", "VARCHAR"),
        ("latitude", "DOUBLE"),
        ("longitude", "DOUBLE"),
    ],
    "products": [
        ("id", "INTEGER"),
        ("cost", "DOUBLE"),
        ("category", "VARCHAR"),
        ("name", "VARCHAR"),
        ("brand", "VARCHAR"),
        ("retail_price", "DOUBLE"),
        ("department", "VARCHAR"),
        ("sku", "VARCHAR"),
        ("distribution_center_id", "INTEGER"),
    ],
    "users": [
        ("id", "INTEGER"),
        ("first_name", "VARCHAR"),
        ("last_name", "VARCHAR"),
        ("email", "VARCHAR"),
        ("age", "INTEGER"),
        ("gender", "VARCHAR"),
        ("state", "VARCHAR"),
        ("city", "VARCHAR"),
        ("country", "VARCHAR"),
        ("zip", "VARCHAR"),
        ("latitude", "DOUBLE"),
        ("longitude", "DOUBLE"),
        ("traffic_source", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
    ],
    "orders": [
        ("order_id", "INTEGER"),
        ("user_id", "INTEGER"),
        ("status", "VARCHAR"),
        ("gender", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("returned_at", "TIMESTAMP"),
        ("shipped_at", "TIMESTAMP"),
        ("delivered_at", "TIMESTAMP"),
        ("num_of_item", "INTEGER"),
    ],
    "inventory_items": [
        ("id", "INTEGER"),
        ("product_id", "INTEGER"),
        ("created_at", "TIMESTAMP"),
        ("sold_at", "TIMESTAMP"),
        ("cost", "DOUBLE"),
        ("product_category", "VARCHAR"),
        ("product_name", "VARCHAR"),
        ("product_brand", "VARCHAR"),
        ("product_retail_price", "DOUBLE"),
        ("product_department", "VARCHAR"),
        ("product_sku", "VARCHAR"),
        ("product_distribution_center_id", "INTEGER"),
    ],
    "order_items": [
        ("id", "INTEGER"),
        ("order_id", "INTEGER"),
        ("user_id", "INTEGER"),
        ("product_id", "INTEGER"),
        ("inventory_item_id", "INTEGER"),
        ("status", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("shipped_at", "TIMESTAMP"),
        ("delivered_at", "TIMESTAMP"),
        ("returned_at", "TIMESTAMP"),
        ("sale_price", "DOUBLE"),
    ],
    "events": [
        ("id", "INTEGER"),
        ("user_id", "INTEGER"),
        ("sequence_number", "INTEGER"),
        ("session_id", "VARCHAR"),
        ("created_at", "TIMESTAMP"),
        ("ip_address", "VARCHAR"),
        ("city", "VARCHAR"),
        ("state", "VARCHAR"),
        ("postal_code", "VARCHAR"),
        ("browser", "VARCHAR"),
        ("traffic_source", "VARCHAR"),
        ("uri", "VARCHAR"),
        ("event_type", "VARCHAR"),
    ],
}

PRIMARY_KEYS = {t: "order_id" if t == "orders" else "id" for t in EXPECTED_COLUMNS}


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    path = tmp_path_factory.mktemp("demo") / "demo.duckdb"
    counts = generate_demo_data(path, SCALE, seed=SEED, as_of=DEMO_AS_OF)
    return path, counts


@pytest.fixture(scope="module")
def con(demo: tuple[Path, dict[str, int]]) -> Iterator[duckdb.DuckDBPyConnection]:
    c = duckdb.connect(str(demo[0]), read_only=True)
    yield c
    c.close()


def scalar(con: duckdb.DuckDBPyConnection, sql: str) -> Any:
    row = con.execute(sql).fetchone()
    assert row is not None
    return row[0]


def table_contents(path: Path) -> dict[str, Any]:
    """Every table as Arrow, in storage order (no ORDER BY: the physical order is compared too)."""
    c = duckdb.connect(str(path), read_only=True)
    try:
        return {t: c.sql(f"SELECT * FROM {t}").to_arrow_table() for t in STEPS}
    finally:
        c.close()


# --------------------------------------------------------------------------------------
# Shape
# --------------------------------------------------------------------------------------


def test_schema(con: duckdb.DuckDBPyConnection) -> None:
    tables = {r[0] for r in con.execute("SHOW TABLES").fetchall()}
    assert tables == set(EXPECTED_COLUMNS)
    for table, columns in EXPECTED_COLUMNS.items():
        got = con.execute(
            "SELECT column_name, data_type FROM information_schema.columns "
            f"WHERE table_name = '{table}' ORDER BY ordinal_position"
        ).fetchall()
        assert got == columns, table


def test_row_counts(demo: tuple[Path, dict[str, int]], con: duckdb.DuckDBPyConnection) -> None:
    _, counts = demo
    assert list(counts) == list(STEPS)
    for table, n in counts.items():
        assert scalar(con, f"SELECT count(*) FROM {table}") == n, table
    assert counts["distribution_centers"] == 10
    assert counts["products"] == 300
    assert counts["users"] == 1_000
    assert counts["orders"] == 5_000
    assert 9_000 <= counts["order_items"] <= 11_000
    assert counts["inventory_items"] == counts["order_items"] + 4_000
    assert 17_000 <= counts["events"] <= 23_000


def test_primary_keys_unique_and_dense(con: duckdb.DuckDBPyConnection) -> None:
    for table, pk in PRIMARY_KEYS.items():
        n, distinct, lo, hi, nulls = (
            con.execute(
                f"SELECT count(*), count(DISTINCT {pk}), min({pk}), max({pk}), "
                f"count(*) FILTER (WHERE {pk} IS NULL) FROM {table}"
            ).fetchone()
            or ()
        )
        assert (distinct, lo, hi, nulls) == (n, 1, n, 0), table


def test_tiny_scale_still_consistent(tmp_path: Path) -> None:
    counts = generate_demo_data(tmp_path / "tiny.duckdb", 0.00001, as_of=DEMO_AS_OF)
    assert counts["distribution_centers"] == 10
    assert counts["products"] >= 2
    assert all(n >= 1 for n in counts.values())
    c = duckdb.connect(str(tmp_path / "tiny.duckdb"), read_only=True)
    try:
        for child, fk, parent, pk in FOREIGN_KEYS:
            assert orphans(c, child, fk, parent, pk) == 0, (child, fk)
        assert scalar(c, "SELECT sum(num_of_item) FROM orders") == counts["order_items"]
    finally:
        c.close()


# --------------------------------------------------------------------------------------
# Determinism and file handling
# --------------------------------------------------------------------------------------


def test_deterministic_across_runs_and_thread_counts(
    demo: tuple[Path, dict[str, int]], tmp_path: Path
) -> None:
    path, counts = demo
    again = generate_demo_data(
        tmp_path / "again.duckdb", SCALE, seed=SEED, threads=1, as_of=DEMO_AS_OF
    )
    assert again == counts
    a, b = table_contents(path), table_contents(tmp_path / "again.duckdb")
    for table in STEPS:
        assert a[table].equals(b[table]), table


def test_other_seed_gives_other_data(demo: tuple[Path, dict[str, int]], tmp_path: Path) -> None:
    generate_demo_data(tmp_path / "other.duckdb", SCALE, seed=SEED + 1, as_of=DEMO_AS_OF)
    a, b = table_contents(demo[0]), table_contents(tmp_path / "other.duckdb")
    assert a["distribution_centers"].equals(b["distribution_centers"])
    for table in ("products", "users", "orders", "order_items", "events"):
        assert not a[table].equals(b[table]), table


def test_progress_and_atomic_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "demo.duckdb"
    calls: list[tuple[str, int, int]] = []
    generate_demo_data(out, 0.001, progress=lambda *a: calls.append(a), as_of=DEMO_AS_OF)
    total = len(STEPS)
    assert calls == [(s, i, total) for i, s in enumerate(STEPS)] + [("done", total, total)]
    assert (
        generate_demo_data(out, 0.002, as_of=DEMO_AS_OF)["users"] == 200
    )  # overwrite the existing file
    assert sorted(p.name for p in out.parent.iterdir()) == ["demo.duckdb"]
    c = duckdb.connect(str(out), read_only=True)
    try:
        assert scalar(c, "SELECT count(*) FROM users") == 200
    finally:
        c.close()


def test_rejects_non_positive_scale(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate_demo_data(tmp_path / "x.duckdb", 0, as_of=DEMO_AS_OF)


# --------------------------------------------------------------------------------------
# Integrity
# --------------------------------------------------------------------------------------

FOREIGN_KEYS = [
    ("products", "distribution_center_id", "distribution_centers", "id"),
    ("orders", "user_id", "users", "id"),
    ("inventory_items", "product_id", "products", "id"),
    ("inventory_items", "product_distribution_center_id", "distribution_centers", "id"),
    ("order_items", "order_id", "orders", "order_id"),
    ("order_items", "user_id", "users", "id"),
    ("order_items", "product_id", "products", "id"),
    ("order_items", "inventory_item_id", "inventory_items", "id"),
    ("events", "user_id", "users", "id"),
]


def orphans(con: duckdb.DuckDBPyConnection, child: str, fk: str, parent: str, pk: str) -> int:
    return int(
        scalar(
            con,
            f"SELECT count(*) FROM {child} c ANTI JOIN {parent} p ON c.{fk} = p.{pk} "
            f"WHERE c.{fk} IS NOT NULL",
        )
    )


@pytest.mark.parametrize(("child", "fk", "parent", "pk"), FOREIGN_KEYS)
def test_foreign_keys(
    con: duckdb.DuckDBPyConnection, child: str, fk: str, parent: str, pk: str
) -> None:
    assert orphans(con, child, fk, parent, pk) == 0
    if not (child == "events" and fk == "user_id"):
        assert scalar(con, f"SELECT count(*) FROM {child} WHERE {fk} IS NULL") == 0


def test_num_of_item_matches_order_items(con: duckdb.DuckDBPyConnection) -> None:
    assert scalar(con, "SELECT sum(num_of_item) FROM orders") == scalar(
        con, "SELECT count(*) FROM order_items"
    )
    mismatched = scalar(
        con,
        "SELECT count(*) FROM orders o LEFT JOIN "
        "(SELECT order_id, count(*) AS n FROM order_items GROUP BY 1) i USING (order_id) "
        "WHERE o.num_of_item IS DISTINCT FROM i.n",
    )
    assert mismatched == 0
    assert scalar(con, "SELECT min(num_of_item) FROM orders") == 1
    assert scalar(con, "SELECT max(num_of_item) FROM orders") == 4


def test_order_items_sell_their_own_inventory_item(con: duckdb.DuckDBPyConnection) -> None:
    assert scalar(con, "SELECT count(DISTINCT inventory_item_id) FROM order_items") == scalar(
        con, "SELECT count(*) FROM order_items"
    )
    bad = scalar(
        con,
        "SELECT count(*) FROM order_items oi JOIN inventory_items ii "
        "ON ii.id = oi.inventory_item_id "
        "WHERE ii.product_id <> oi.product_id OR ii.sold_at IS DISTINCT FROM oi.created_at "
        "OR ii.created_at > ii.sold_at",
    )
    assert bad == 0
    # inventory not referenced by an order item is unsold
    unsold = scalar(
        con,
        "SELECT count(*) FROM inventory_items ii ANTI JOIN order_items oi "
        "ON ii.id = oi.inventory_item_id WHERE ii.sold_at IS NOT NULL",
    )
    assert unsold == 0
    # ids differ (a join on the wrong key must not succeed by accident)
    assert scalar(con, "SELECT count(*) FROM order_items WHERE id <> inventory_item_id") > 0


def test_inventory_copies_product_attributes(con: duckdb.DuckDBPyConnection) -> None:
    bad = scalar(
        con,
        "SELECT count(*) FROM inventory_items ii JOIN products p ON p.id = ii.product_id "
        "WHERE (ii.cost, ii.product_category, ii.product_name, ii.product_brand, "
        "ii.product_retail_price, ii.product_department, ii.product_sku, "
        "ii.product_distribution_center_id) IS DISTINCT FROM (p.cost, p.category, p.name, "
        "p.brand, p.retail_price, p.department, p.sku, p.distribution_center_id)",
    )
    assert bad == 0


def test_order_items_consistent_with_orders(con: duckdb.DuckDBPyConnection) -> None:
    bad = scalar(
        con,
        "SELECT count(*) FROM order_items oi JOIN orders o USING (order_id) "
        "WHERE (oi.user_id, oi.status, oi.created_at, oi.shipped_at, oi.delivered_at, "
        "oi.returned_at) IS DISTINCT FROM (o.user_id, o.status, o.created_at, o.shipped_at, "
        "o.delivered_at, o.returned_at)",
    )
    assert bad == 0
    bad_gender = scalar(
        con,
        "SELECT count(*) FROM orders o JOIN users u ON u.id = o.user_id WHERE o.gender <> u.gender",
    )
    assert bad_gender == 0


@pytest.mark.parametrize("table", ["orders", "order_items"])
def test_status_null_rules(con: duckdb.DuckDBPyConnection, table: str) -> None:
    statuses = {r[0] for r in con.execute(f"SELECT DISTINCT status FROM {table}").fetchall()}
    assert statuses == {"Complete", "Shipped", "Processing", "Cancelled", "Returned"}
    rules = {
        "returned_at NULL iff not Returned": "(returned_at IS NULL) <> (status <> 'Returned')",
        "delivered_at NULL iff not Complete/Returned": (
            "(delivered_at IS NULL) <> (status NOT IN ('Complete', 'Returned'))"
        ),
        "shipped_at NULL iff Processing/Cancelled": (
            "(shipped_at IS NULL) <> (status IN ('Processing', 'Cancelled'))"
        ),
        "timestamps ordered": (
            "shipped_at < created_at OR delivered_at < shipped_at OR returned_at < delivered_at"
        ),
    }
    for name, violation in rules.items():
        assert scalar(con, f"SELECT count(*) FROM {table} WHERE {violation}") == 0, name


def test_sale_price_close_to_retail_price(con: duckdb.DuckDBPyConnection) -> None:
    bad = scalar(
        con,
        "SELECT count(*) FROM order_items oi JOIN products p ON p.id = oi.product_id "
        "WHERE oi.sale_price > p.retail_price OR oi.sale_price < 0.7 * p.retail_price - 0.01 "
        "OR oi.sale_price <> round(oi.sale_price, 2)",
    )
    assert bad == 0
    discounted = scalar(
        con,
        "SELECT avg((oi.sale_price < p.retail_price)::INTEGER) FROM order_items oi "
        "JOIN products p ON p.id = oi.product_id",
    )
    assert 0.05 < discounted < 0.3


def test_products(con: duckdb.DuckDBPyConnection) -> None:
    lo, hi, median, bad_cost = (
        con.execute(
            "SELECT min(retail_price), max(retail_price), median(retail_price), "
            "count(*) FILTER (WHERE cost < 0.4 * retail_price - 0.01 "
            "OR cost > 0.6 * retail_price + 0.01 OR cost <> round(cost, 2)) FROM products"
        ).fetchone()
        or ()
    )
    assert lo >= 1 and hi < 1000 and 15 < median < 100 and bad_cost == 0
    assert {r[0] for r in con.execute("SELECT DISTINCT department FROM products").fetchall()} == {
        "Men",
        "Women",
    }
    assert scalar(con, "SELECT count(DISTINCT category) FROM products") >= 20
    # brands are skewed: the top brand has many more products than the median brand
    top, med = (
        con.execute(
            "SELECT max(n), median(n) FROM (SELECT brand, count(*) AS n FROM products GROUP BY 1)"
        ).fetchone()
        or ()
    )
    assert top > 5 * med


def test_users(con: duckdb.DuckDBPyConnection) -> None:
    assert scalar(con, "SELECT count(DISTINCT email) = count(*) FROM users")
    lo, hi = con.execute("SELECT min(age), max(age) FROM users").fetchone() or ()
    assert lo >= 12 and hi <= 70
    assert {r[0] for r in con.execute("SELECT DISTINCT gender FROM users").fetchall()} == {
        "F",
        "M",
    }
    us_share = scalar(con, "SELECT avg((country = 'United States')::INTEGER) FROM users")
    assert 0.38 < us_share < 0.52
    # ids increase with the signup day
    assert (
        scalar(
            con,
            "SELECT count(*) FROM (SELECT created_at::DATE AS d, "
            "lag(created_at::DATE) OVER (ORDER BY id) AS prev FROM users) WHERE d < prev",
        )
        == 0
    )
    assert (
        scalar(
            con,
            "SELECT count(*) FROM users WHERE zip IS NULL OR city IS NULL OR state IS NULL "
            "OR latitude IS NULL OR first_name IS NULL OR traffic_source IS NULL",
        )
        == 0
    )


# --------------------------------------------------------------------------------------
# Time
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("users", "created_at"),
        ("orders", "created_at"),
        ("order_items", "created_at"),
        ("inventory_items", "created_at"),
        ("inventory_items", "sold_at"),
        ("events", "created_at"),
    ],
)
def test_timestamps_within_range(con: duckdb.DuckDBPyConnection, table: str, column: str) -> None:
    lo, hi = con.execute(f"SELECT min({column}), max({column}) FROM {table}").fetchone() or ()
    assert str(lo) >= "2019-01-01" and str(hi) < "2026-01-01"
    assert lo.year == 2019 and hi.year == 2025
    midnight = scalar(
        con, f"SELECT avg((hour({column}) = 0 AND minute({column}) = 0)::INTEGER) FROM {table}"
    )
    assert midnight < 0.05


def test_activity_after_signup(con: duckdb.DuckDBPyConnection) -> None:
    for table in ("orders", "events"):
        early = scalar(
            con,
            f"SELECT count(*) FROM {table} t JOIN users u ON u.id = t.user_id "
            "WHERE t.created_at <= u.created_at",
        )
        assert early == 0, table


def test_seasonality_and_growth(con: duckdb.DuckDBPyConnection) -> None:
    share = scalar(con, "SELECT avg((month(created_at) >= 11)::INTEGER) FROM orders")
    assert share > 0.2  # a flat calendar would give 2/12 = 0.167
    per_year = [
        r[1]
        for r in con.execute(
            "SELECT year(created_at), count(*) FROM orders GROUP BY 1 ORDER BY 1"
        ).fetchall()
    ]
    assert len(per_year) == 7
    assert per_year[-1] > 3 * per_year[0]
    assert all(b > a for a, b in itertools.pairwise(per_year))
    weekend, weekday = (
        con.execute(
            "SELECT avg(n) FILTER (WHERE dow IN (0, 6)), avg(n) FILTER (WHERE dow NOT IN (0, 6)) "
            "FROM (SELECT dayofweek(created_at) AS dow, count(*) AS n FROM orders GROUP BY 1)"
        ).fetchone()
        or ()
    )
    assert weekend > weekday


# --------------------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------------------


def test_event_sessions(con: duckdb.DuckDBPyConnection) -> None:
    # sequence numbers are 1..n within a session, events move forward in time, one user each
    bad = scalar(
        con,
        "SELECT count(*) FROM (SELECT session_id, count(*) AS n, min(sequence_number) AS lo, "
        "max(sequence_number) AS hi, count(DISTINCT sequence_number) AS d, "
        "count(DISTINCT coalesce(user_id, -1)) AS users, "
        "bool_and(first_type = 'home') AS starts_home "
        "FROM (SELECT *, first(event_type ORDER BY sequence_number) "
        "OVER (PARTITION BY session_id) AS first_type FROM events) GROUP BY 1) "
        "WHERE lo <> 1 OR hi <> n OR d <> n OR users <> 1 OR NOT starts_home",
    )
    assert bad == 0
    backwards = scalar(
        con,
        "SELECT count(*) FROM (SELECT created_at, lag(created_at) OVER "
        "(PARTITION BY session_id ORDER BY sequence_number) AS prev FROM events) "
        "WHERE created_at <= prev",
    )
    assert backwards == 0
    # purchases and cancels end a session, right after the cart
    bad_end = scalar(
        con,
        "SELECT count(*) FROM (SELECT event_type, lead(event_type) OVER w AS next, "
        "lag(event_type) OVER w AS prev FROM events "
        "WINDOW w AS (PARTITION BY session_id ORDER BY sequence_number)) "
        "WHERE event_type IN ('purchase', 'cancel') AND (next IS NOT NULL OR prev <> 'cart')",
    )
    assert bad_end == 0
    assert (
        scalar(con, "SELECT count(*) FROM events WHERE event_type = 'purchase' AND user_id IS NULL")
        == 0
    )
    types = {r[0] for r in con.execute("SELECT DISTINCT event_type FROM events").fetchall()}
    assert types == {"home", "department", "product", "cart", "purchase", "cancel"}
    anon = scalar(
        con,
        "SELECT avg((user_id IS NULL)::INTEGER) FROM "
        "(SELECT DISTINCT session_id, user_id FROM events)",
    )
    assert 0.25 < anon < 0.35
    # every product page points at an existing product
    assert (
        scalar(
            con,
            "SELECT count(*) FROM events e ANTI JOIN products p "
            "ON e.uri = '/product/' || p.id::VARCHAR WHERE e.event_type = 'product'",
        )
        == 0
    )


def test_the_history_is_seven_years_ending_on_the_as_of_date() -> None:
    from datetime import date

    assert history_span(date(2025, 12, 31)) == (date(2019, 1, 1), date(2026, 1, 1))
    assert history_span(date(2026, 3, 15)) == (date(2019, 3, 16), date(2026, 3, 16))
    assert history_span(date(2028, 2, 28)) == (date(2021, 2, 28), date(2028, 2, 29))


def test_the_data_ends_on_its_as_of_date(tmp_path: Path) -> None:
    from datetime import date

    path = tmp_path / "dated.duckdb"
    generate_demo_data(path, 0.002, as_of=date(2026, 3, 15))
    con = duckdb.connect(str(path), read_only=True)
    try:
        ((lo, hi, last_month),) = con.sql(
            "SELECT min(created_at)::DATE, max(created_at)::DATE, "
            "count(*) FILTER (WHERE created_at >= DATE '2026-02-15') FROM order_items"
        ).fetchall()
        ((signup_lo, signup_hi),) = con.sql(
            "SELECT min(created_at)::DATE, max(created_at)::DATE FROM users"
        ).fetchall()
    finally:
        con.close()
    assert date(2019, 3, 16) <= lo and hi <= date(2026, 3, 15)
    assert signup_lo >= date(2019, 3, 16) and signup_hi <= date(2026, 3, 15)
    assert last_month > 0  # the busiest, most recent month is there, not cut short
