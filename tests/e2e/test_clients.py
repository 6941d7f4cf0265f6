"""The official clients, unchanged, against a real ``sluice serve``: the SDK, omniframes, curl."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import httpx
import omni_python_sdk.api as sdk_api
import pytest
from omni_python_sdk import OmniAPI
from omniframes import OmniSession
from omniframes import functions as F

from sluice.config import model_uuid
from sluice.engines.duckdb import connect_sandboxed
from sluice.results.arrow import decode_table
from tests.api.support import ALICE, BOB, Keys
from tests.e2e.conftest import Server

pytestmark = pytest.mark.slow

ECOMMERCE = model_uuid("ecommerce")
LAB = model_uuid("lab")
BY_CATEGORY = {
    "query": {
        "modelId": ECOMMERCE,
        "join_paths_from_topic_name": "order_items",
        "fields": ["products.category", "order_items.total_sale_price", "order_items.count"],
        "sorts": [{"column_name": "products.category", "sort_descending": False}],
        "limit": 100,
    }
}
ORACLE_BY_CATEGORY = """
    SELECT p.category, SUM(oi.sale_price), COUNT(*)
    FROM order_items oi
    LEFT JOIN inventory_items ii ON oi.inventory_item_id = ii.id
    LEFT JOIN products p ON ii.product_id = p.id
    GROUP BY 1 ORDER BY 1
"""
HEAVY = {"query": {"modelId": LAB, "table": "heavy", "fields": ["heavy.checksum"]}}
HEAVY_ORACLE = "SELECT SUM(hash(range) % 1000) FROM range(40000000)"


@pytest.fixture(scope="module")
def oracle(demo_db: Path) -> Any:
    conn = connect_sandboxed(str(demo_db))
    yield conn
    conn.close()


def rows(table: Any) -> list[tuple[Any, ...]]:
    return list(zip(*(table.column(i).to_pylist() for i in range(table.num_columns)), strict=True))


def assert_rows_equal(got: list[tuple[Any, ...]], expected: list[tuple[Any, ...]]) -> None:
    assert len(got) == len(expected)
    for g, e in zip(got, expected, strict=True):
        assert g[0] == e[0] and g[2] == e[2]
        assert g[1] == pytest.approx(float(e[1]))


def test_sdk_run_query_blocking(server: Server, keys: Keys, oracle: Any) -> None:
    result = OmniAPI(api_key=keys.org, base_url=f"{server.url}/api/v1").run_query_blocking(
        BY_CATEGORY
    )
    assert result is not None, "the SDK swallowed an error (see captured stdout)"
    table, fields = result
    assert table.column_names == BY_CATEGORY["query"]["fields"]
    assert list(fields) == BY_CATEGORY["query"]["fields"]
    assert fields["order_items.total_sale_price"]["aggregate_type"] == "sum"
    assert fields["products.category"]["data_type"] == "STRING"
    assert_rows_equal(rows(table), oracle.sql(ORACLE_BY_CATEGORY).fetchall())


def test_sdk_goes_through_query_wait_when_the_run_window_closes(
    start_server: Callable[..., tuple[Server, Keys]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    running, keys = start_server(SLUICE_SERVER_RUN_WINDOW_S="0.02")
    calls: list[str] = []
    real_get = sdk_api.requests.get

    def counting_get(url: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(url)
        return real_get(url, *args, **kwargs)

    monkeypatch.setattr(sdk_api.requests, "get", counting_get)
    result = OmniAPI(api_key=keys.org, base_url=running.url).run_query_blocking(HEAVY)
    assert result is not None
    table, fields = result
    assert any("/api/v1/query/wait?job_ids=" in url for url in calls)
    expected = duckdb.sql(HEAVY_ORACLE).fetchall()[0][0]
    assert int(table.column("heavy.checksum")[0].as_py()) == int(expected)
    assert list(fields) == ["heavy.checksum"]


def test_omniframes_catalog_and_frames(server: Server, keys: Keys, oracle: Any) -> None:
    with OmniSession.builder.host(server.url).api_key(keys.org).get_or_create() as session:
        assert session.verify()["keyScope"] == "organization"
        names = {t.name for t in session.catalog.topics("ecommerce")}
        assert names == {"order_items", "users", "events"}
        topic = session.catalog.topic("ecommerce", "order_items")
        # the catalog's aggregate_type is upper case, as Omni's (omni-model-api.md §6)
        assert topic.field("order_items.total_sale_price").aggregate_type == "SUM"
        frame = (
            session.read.topic("ecommerce", "order_items")
            .group_by("products.category")
            .agg(F.measure("order_items.total_sale_price"), F.measure("order_items.count"))
            .sort(F.col("products.category"))
            .limit(100)
        )
        table = frame.collect()
        assert [f.name for f in frame.schema] == [
            "products.category", "order_items.total_sale_price", "order_items.count",
        ]  # fmt: skip
    assert_rows_equal(rows(table), oracle.sql(ORACLE_BY_CATEGORY).fetchall())


def test_curl_style_wait_with_job_ids_and_jobIds(
    start_server: Callable[..., tuple[Server, Keys]],
) -> None:
    running, keys = start_server(SLUICE_SERVER_RUN_WINDOW_S="0")
    auth = {"Authorization": f"Bearer {keys.org}"}
    with httpx.Client(base_url=running.url, headers=auth, timeout=60) as client:
        ran = client.post("/api/v1/query/run", json=BY_CATEGORY)
        assert ran.headers["content-type"] == "text/ndjson"
        header, footer = (json.loads(line) for line in ran.text.splitlines())
        (job_id,) = header["jobs_submitted"]
        assert footer == {"remaining_job_ids": [job_id], "timed_out": "true"}
        for params in ({"jobIds": job_id}, {"job_ids": job_id}, {"job_ids": json.dumps([job_id])}):
            waited = client.get("/api/v1/query/wait", params=params)
            job, end = (json.loads(line) for line in waited.text.splitlines())
            assert job["status"] == "COMPLETE" and job["job_id"] == job_id
            assert end == {"remaining_job_ids": [], "timed_out": "false"}
            assert decode_table(job["result"]).num_rows > 0


def test_a_personal_token_cannot_impersonate_another_user(server: Server, keys: Keys) -> None:
    auth = {"Authorization": f"Bearer {keys.alice}"}
    with httpx.Client(base_url=server.url, headers=auth) as client:
        theirs = client.post("/api/v1/query/run", params={"userId": BOB}, json=BY_CATEGORY)
        assert theirs.status_code == 403
        assert "own user" in theirs.json()["detail"]
        own = client.post("/api/v1/query/run", params={"userId": ALICE}, json=BY_CATEGORY)
        assert own.status_code == 200 and '"COMPLETE"' in own.text


def test_a_job_of_another_organization_is_unknown(server: Server, keys: Keys) -> None:
    with httpx.Client(base_url=server.url) as client:
        ran = client.post(
            "/api/v1/query/run", json=BY_CATEGORY, headers={"Authorization": f"Bearer {keys.org}"}
        )
        (job_id,) = json.loads(ran.text.splitlines()[0])["jobs_submitted"]
        other = client.get(
            "/api/v1/query/wait",
            params={"jobIds": job_id},
            headers={"Authorization": f"Bearer {keys.other_org}"},
        )
    assert json.loads(other.text.splitlines()[0]) == {
        "job_id": job_id, "status": "FAILED", "error_message": "Unable to find job",
    }  # fmt: skip


def test_bad_tokens_on_the_wire(server: Server) -> None:
    with httpx.Client(base_url=server.url) as client:
        missing = client.get("/api/v1/whoami")
        wrong = client.get("/api/v1/whoami", headers={"Authorization": "Bearer nope"})
    assert missing.status_code == 400 and missing.json()["status"] == 400
    assert wrong.status_code == 403
    assert wrong.json() == {"error": {"code": 403, "message": "Invalid bearer token"}}
