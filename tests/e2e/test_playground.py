"""The playground and the API docs in a real browser (Debian's Chromium, headless, driven by
Playwright) against a real ``sluice serve`` on the demo data.

The numbers in the page's table are checked against hand-written SQL on the same DuckDB file.
``SLUICE_PLAYGROUND_SCREENSHOT=<path>`` makes the first test save a screenshot there (the one
in the README is made that way: ``docs/playground.png``).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.api.support import Keys
from tests.e2e.conftest import Server
from tests.engines.services import unavailable

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("SLUICE_TEST_CHROMIUM", "/usr/bin/chromium")
SCREENSHOT = os.environ.get("SLUICE_PLAYGROUND_SCREENSHOT")
LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
CATEGORIES = ("Jeans", "Accessories", "Outerwear & Coats")

Page = Any  # playwright.sync_api.Page (imported lazily: the module needs the browser)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        unavailable(f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.fixture()
def page(browser: Any) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1440, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(20_000)
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert errors == [], errors  # no script error in the page, ever


def sign_in(page: Page, server: Server, key: str, path: str = "/") -> None:
    page.goto(server.url + path)
    page.get_by_test_id("api-key").fill(key)
    page.get_by_test_id("connect").click()
    page.wait_for_function("() => !document.querySelector('[data-testid=run]').disabled")


def pick_topic(page: Page, model: str, topic: str) -> None:
    page.get_by_test_id("model-select").select_option(label=model)
    page.get_by_test_id("topic-select").select_option(topic)
    page.locator(f"#fields[data-topic='{topic}']").wait_for(state="attached")


def table_rows(page: Page) -> list[list[str]]:
    rows: list[list[str]] = page.eval_on_selector_all(
        "[data-testid=results] tbody tr",
        "trs => trs.map(tr => [...tr.cells].map(td => td.textContent))",
    )
    return rows


def money(text: str) -> Decimal:
    return Decimal(text.replace("$", "").replace(",", ""))


def expected_sales(demo_db: Path) -> dict[tuple[str, str], Decimal]:
    """Sales per year and category, written by hand against the demo tables (on a copy: the
    session's engine may hold the file open in this process with another configuration)."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / demo_db.name
        shutil.copyfile(demo_db, copy)
        return _sales(copy)


def _sales(demo_db: Path) -> dict[tuple[str, str], Decimal]:
    with duckdb.connect(str(demo_db), read_only=True) as conn:
        rows = conn.execute(
            """
            SELECT CAST(date_trunc('year', oi.created_at) AS DATE), p.category,
                   SUM(oi.sale_price)
            FROM order_items oi
            JOIN inventory_items ii ON ii.id = oi.inventory_item_id
            JOIN products p ON p.id = ii.product_id
            WHERE p.category IN (?, ?, ?)
            GROUP BY 1, 2
            """,
            list(CATEGORIES),
        ).fetchall()
    return {
        (str(year.year), category): Decimal(str(round(total, 2)))  # a year shows as "2024"
        for year, category, total in rows
        if isinstance(year, date)
    }


def build_query(page: Page) -> None:
    """Created At by year, Category and Total Sale Price, Category one of three."""
    pick_topic(page, "ecommerce", "order_items")
    page.get_by_test_id("field-search").fill("created")
    page.get_by_test_id("grain:order_items.created_at").select_option("year")  # adds the field
    page.get_by_test_id("field-search").fill("")
    page.get_by_test_id("field:products.category").click()
    page.get_by_test_id("field:order_items.total_sale_price").click()
    page.get_by_test_id("filter-field").select_option("products.category")
    page.get_by_test_id("add-filter").click()
    page.get_by_test_id("filter-op:products.category").select_option("EQUALS")
    page.get_by_test_id("filter-value:products.category").fill(", ".join(CATEGORIES))


def test_a_query_built_in_the_browser_shows_the_right_numbers_sql_chart_and_history(
    page: Page, server: Server, keys: Keys, demo_db: Path
) -> None:
    sign_in(page, server, keys.org)
    build_query(page)
    page.get_by_test_id("run").click()
    page.locator("[data-testid=results] tbody tr").first.wait_for()

    expected = expected_sales(demo_db)
    shown = {(year, category): money(total) for year, category, total in table_rows(page)}
    assert shown == expected
    headers = page.eval_on_selector_all(
        "[data-testid=results] th", "ths => ths.map(t => t.textContent)"
    )
    assert headers == ["Created At Year", "Category", "Total Sale Price"]

    sql = page.get_by_test_id("sql").text_content()
    assert "SUM(order_items.sale_price)" in sql and "products.category IN" in sql
    chart = page.get_by_test_id("chart")
    assert chart.get_attribute("data-kind") == "line"  # a time dimension: a line per category
    assert chart.locator("polyline").count() == len(CATEGORIES)
    assert page.get_by_test_id("stat:cache").text_content().endswith(("MISS", "EXACT"))
    if SCREENSHOT:
        Path(SCREENSHOT).parent.mkdir(parents=True, exist_ok=True)
        page.set_viewport_size({"width": 1440, "height": 1280})
        page.evaluate("document.querySelector('.sidebar').scrollTop = 0")
        page.screenshot(path=SCREENSHOT)
    page.get_by_test_id("chart-kind:bar").click()
    assert chart.get_attribute("data-kind") == "bar"
    assert chart.locator("rect.bar").count() == len(expected)

    # The link reproduces the query: a fresh tab (no session) signs in and shows the same table.
    link = page.url
    assert "#q=" in link and keys.org not in link  # the key never goes in a URL
    other = page.context.new_page()
    sign_in(other, server, keys.org, path="/" + link.split("/", 3)[3])
    other.locator("[data-testid=results] tbody tr").first.wait_for()
    assert sorted(table_rows(other)) == sorted(table_rows(page))
    other.close()

    # The history tab lists the query and reopens it.
    page.get_by_test_id("history").click()
    row = page.get_by_test_id("history-row").first
    row.wait_for()
    assert "products.category" in row.text_content() and "COMPLETE" in row.text_content()
    page.get_by_test_id("field:products.category").click()  # change the query...
    row.get_by_test_id("history-open").click()  # ...and get it back from the history
    page.locator(".chip[data-field='products.category']").wait_for()
    chips = page.eval_on_selector_all(".chip", "cs => cs.map(c => c.dataset.field)")
    assert chips == ["order_items.created_at", "products.category", "order_items.total_sale_price"]


def test_the_result_downloads_as_csv_with_the_same_numbers(
    page: Page, server: Server, keys: Keys, demo_db: Path
) -> None:
    sign_in(page, server, keys.org)
    build_query(page)
    page.get_by_test_id("run").click()
    page.locator("[data-testid=results] tbody tr").first.wait_for()
    with page.expect_download() as download:
        page.get_by_test_id("download-csv").click()
    assert download.value.suggested_filename == "order_items.csv"
    rows = list(csv.reader(io.StringIO(Path(download.value.path()).read_text())))
    assert rows[0] == ["Created At Year", "Category", "Total Sale Price"]  # the labels
    got = {(r[0][:4], r[1]): Decimal(r[2]).quantize(Decimal("0.01")) for r in rows[1:]}
    assert got == expected_sales(demo_db)


def test_a_wrong_key_shows_the_apis_error(page: Page, server: Server) -> None:
    page.goto(server.url)
    page.get_by_test_id("api-key").fill("not-a-key")
    page.get_by_test_id("connect").click()
    error = page.get_by_test_id("error")
    error.wait_for()
    assert "Invalid bearer token" in error.text_content()
    assert page.get_by_test_id("run").is_disabled()
    assert page.evaluate("sessionStorage.length") == 0  # a refused key is not kept


def test_a_planning_error_is_shown_as_the_api_words_it(
    page: Page, server: Server, keys: Keys
) -> None:
    sign_in(page, server, keys.org)
    pick_topic(page, "ecommerce", "order_items")
    page.get_by_test_id("field:order_items.total_sale_price").click()
    page.get_by_test_id("limit").fill("60000")  # above server.max_rows
    page.get_by_test_id("run").click()
    error = page.get_by_test_id("error")
    error.wait_for()
    assert error.text_content() == (
        "PLAN error: the query asks for a limit of 60000, above this server's maximum of 50000 "
        "rows (server.max_rows); lower `limit`, or turn on server.high_limit"
    )


def test_a_slow_query_shows_progress_and_can_be_cancelled(
    page: Page, server: Server, keys: Keys
) -> None:
    sign_in(page, server, keys.org)
    pick_topic(page, "lab", "cross")
    page.get_by_test_id("field:cross.checksum").click()
    page.get_by_test_id("run").click()
    progress = page.get_by_test_id("progress")
    # DuckDB's own estimate arrives through GET /query/jobs/{id} and is drawn.
    page.wait_for_function(
        "() => document.querySelector('[data-testid=progress]').dataset.progress !== undefined"
    )
    fraction = float(progress.get_attribute("data-progress"))
    assert 0.0 <= fraction <= 1.0
    assert progress.locator(".label").text_content().endswith("%")
    page.get_by_test_id("cancel").click()
    error = page.get_by_test_id("error")
    error.wait_for()
    assert "KILL" in error.text_content() and "cancelled" in error.text_content()
    assert page.get_by_test_id("run").is_enabled() and page.get_by_test_id("cancel").is_hidden()


def test_the_api_docs_render_the_openapi_document_from_this_server(
    page: Page, server: Server
) -> None:
    requested: list[str] = []
    failed: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(server.url + "/")
    assert page.get_by_role("link", name="API docs").get_attribute("href") == "/docs"
    response = page.goto(server.url + "/docs")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data: blob:" in csp
    page.get_by_text("Query history (sluice extension)").first.wait_for()
    page.get_by_text("sluice: Omni-compatible semantic query API").first.wait_for()
    # Nothing from a CDN: Redoc's footer links its logo on cdn.redoc.ly; the page's policy
    # refuses it, so the request never leaves the browser.
    outside = [u for u in requested if not u.startswith((server.url, "data:", "blob:"))]
    assert set(outside) <= set(failed) and set(outside) <= {LOGO}
    assert page.goto(server.url + "/redoc").url == server.url + "/docs"
