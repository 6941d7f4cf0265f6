"""Documents, the cache and cancel through a real ``sluice serve`` and real HTTP."""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Callable

import httpx
import pyarrow.csv as pacsv
import pytest

from sluice.config import model_uuid
from sluice.results.arrow import decode_table
from tests.api.support import Keys
from tests.e2e.conftest import Server

pytestmark = pytest.mark.slow

StartServer = Callable[..., tuple[Server, Keys]]

ITEMS = {
    "modelId": model_uuid("ecommerce"),
    "table": "order_items",
    "fields": ["order_items.id", "order_items.status", "order_items.sale_price"],
    "sorts": [{"column_name": "order_items.id"}],
    "limit": 50_000,
}


def auth(keys: Keys) -> dict[str, str]:
    return {"Authorization": f"Bearer {keys.org}"}


def test_a_streamed_csv_matches_the_arrow_result_and_comes_from_the_cache(
    server: Server, keys: Keys
) -> None:
    with httpx.Client(base_url=server.url, headers=auth(keys), timeout=60) as client:
        with client.stream(
            "POST", "/api/v1/query/run", json={"query": ITEMS, "resultType": "csv"}
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"] == "text/csv"
            assert "content-length" not in response.headers  # streamed, not buffered
            chunks = list(response.iter_raw())
        table = pacsv.read_csv(io.BytesIO(b"".join(chunks)))
        lines = client.post("/api/v1/query/run", json={"query": ITEMS}).text.splitlines()
        job = json.loads(lines[1])
        assert job["summary"]["cache_type"] == "EXACT"  # the CSV request cached the result
        expected = decode_table(job["result"])
        assert table.num_rows == expected.num_rows > 0
        assert table.column("Order Item ID").to_pylist() == expected.column(0).to_pylist()


def test_a_cancel_from_another_request_wakes_a_parked_wait(start_server: StartServer) -> None:
    running, keys = start_server(SLUICE_SERVER_RUN_WINDOW_S="0")
    cross = {"modelId": model_uuid("lab"), "table": "cross", "fields": ["cross.checksum"]}
    with httpx.Client(base_url=running.url, headers=auth(keys), timeout=60) as client:
        footer = json.loads(
            client.post("/api/v1/query/run", json={"query": cross}).text.splitlines()[-1]
        )
        (job_id,) = footer["remaining_job_ids"]
        waited: list[str] = []

        def park() -> None:
            with httpx.Client(base_url=running.url, headers=auth(keys), timeout=60) as other:
                waited.append(other.get("/api/v1/query/wait", params={"jobIds": job_id}).text)

        parked = threading.Thread(target=park)
        parked.start()
        time.sleep(0.5)
        began = time.monotonic()
        killed = client.delete(f"/api/v1/query/jobs/{job_id}")
        parked.join(timeout=30)
        assert time.monotonic() - began < 5
    assert killed.status_code == 200 and killed.json()["error_type"] == "KILL"
    line = json.loads(waited[0].splitlines()[0])
    assert line["status"] == "ERROR" and line["error_type"] == "KILL"
