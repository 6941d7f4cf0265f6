"""Schema refresh over HTTP: a column added to the warehouse while the server runs becomes a
field after ``POST /models/{id}/refresh``, without a restart (PostgreSQL: a DuckDB file cannot
be written while a server reads it)."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sluice.config import load_config
from tests.api.support import ALICE, ApiClient, create_keys


@pytest.fixture()
def pg_app(postgres_url: str, tmp_path: Path) -> Iterator[tuple[ApiClient, Any, str]]:
    from sluice.engines.postgres import PostgresEngine, quote_ident
    from tests.engines.services import PG_SCHEMA

    schema = f"{PG_SCHEMA}_refresh"
    q = quote_ident(schema)
    admin = PostgresEngine(postgres_url, pool_size=1, read_only=False)
    admin.execute(f"DROP SCHEMA IF EXISTS {q} CASCADE")
    admin.execute(f"CREATE SCHEMA {q}")
    admin.execute(f"CREATE TABLE {q}.plans (id integer PRIMARY KEY, seats integer)")
    admin.execute(f"INSERT INTO {q}.plans VALUES (1, 5), (2, 7), (3, 5)")
    model = tmp_path / "model"
    model.mkdir()
    (model / "plans.view.yaml").write_text(
        "measures:\n  seat_total: {sql: '${seats}', aggregate_type: sum}\n"
    )
    (tmp_path / "sluice.yaml").write_text(
        f"connections:\n  pg: {{engine: postgres, url: '{postgres_url}', schema: {schema}}}\n"
        f"models:\n  shop: {{connection: pg, path: {model}}}\n"
        f"server: {{state_dir: {tmp_path / 'state'}}}\n"
        f"users:\n  - {{id: {ALICE}, email: alice@example.com}}\n"
    )
    keys = create_keys(tmp_path / "state")
    client = ApiClient(load_config(tmp_path / "sluice.yaml", env={}))
    client.keys = keys
    try:
        yield client, admin, q
    finally:
        client.close()
        admin.execute(f"DROP SCHEMA IF EXISTS {q} CASCADE")
        admin.close()


def query(client: ApiClient, fields: list[str]) -> dict[str, Any]:
    model_id = client.model_id("shop")
    body = {
        "modelId": model_id,
        "table": "plans",
        "fields": fields,
        "sorts": [{"column_name": fields[0]}],
    }
    lines = client.run(body, key=client.keys.org, cache="SkipCache")
    return lines[1]


def test_refresh_makes_a_new_column_a_field_without_a_restart(pg_app: Any) -> None:
    client, admin, q = pg_app
    model_id = client.model_id("shop")
    before = query(client, ["plans.seats", "plans.seat_total"])
    assert before["summary"]["missing_fields"] == []
    admin.execute(f"ALTER TABLE {q}.plans ADD COLUMN tier text")
    admin.execute(f"UPDATE {q}.plans SET tier = CASE WHEN id = 2 THEN 'pro' ELSE 'basic' END")
    stale = query(client, ["plans.seats", "plans.tier", "plans.count"])
    assert stale["summary"]["missing_fields"] == ["plans.tier"]  # the snapshot predates it

    denied = client.post(f"/api/v1/models/{model_id}/refresh", key=client.keys.alice)
    assert denied.status_code == 403  # a personal token of a non-admin user
    started = client.post(f"/api/v1/models/{model_id}/refresh", key=client.keys.org)
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["modelId"] == model_id and body["status"] == "running"
    deadline = time.monotonic() + 60
    while True:
        status = client.get(f"/api/v1/jobs/{body['jobId']}/status", key=client.keys.org).json()
        assert status["job_type"] == "refresh_schema" and status["job_id"] == body["jobId"]
        if status["status"] != "RUNNING":
            break
        assert time.monotonic() < deadline, status
        time.sleep(0.05)
    assert status["status"] == "COMPLETED", status

    fresh = query(client, ["plans.tier", "plans.count", "plans.seat_total"])
    assert fresh["summary"]["missing_fields"] == []
    rows = admin.execute(
        f"SELECT tier, count(*), sum(seats) FROM {q}.plans GROUP BY 1 ORDER BY 1"
    ).to_pylist()
    table = pa.ipc.open_stream(base64.b64decode(fresh["result"])).read_all()
    assert [tuple(r.values()) for r in table.to_pylist()] == [tuple(r.values()) for r in rows]
    other = client.get(f"/api/v1/jobs/{body['jobId']}/status", key=client.keys.other_org)
    assert other.status_code == 404  # another organization cannot see the job
    missing = client.post(
        "/api/v1/models/00000000-0000-4000-8000-000000000000/refresh", key=client.keys.org
    )
    assert missing.status_code == 404
