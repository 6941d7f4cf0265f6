"""Degraded, not dead: one unreachable warehouse or an unwritable state_dir takes out only what
depends on it, says so on /readyz, and start-up problems are one line with exit code 2."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.config import load_config
from tests.api.support import DEMO_MODEL, ApiClient, create_keys, write_project

DOWN = """\
connections:
  warehouse: {{engine: duckdb, database: {database}}}
  down: {{engine: postgres, url: "postgresql://nobody@127.0.0.1:{port}/nothing"}}
models:
  ecommerce: {{connection: warehouse, path: {model}}}
  elsewhere: {{connection: down, path: {model}}}
server: {{state_dir: {state}, reconnect_s: 0.2}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture()
def degraded(tmp_path: Path, demo_db: Path) -> Iterator[ApiClient]:
    path = tmp_path / "sluice.yaml"
    text = DOWN.format(
        database=demo_db, port=free_port(), model=DEMO_MODEL, state=tmp_path / "state"
    )
    path.write_text(text)
    keys = create_keys(tmp_path / "state")
    client = ApiClient(load_config(path, env={}))
    client.keys = keys
    yield client
    client.close()


def run(client: ApiClient, model: str) -> httpx.Response:
    body = {
        "query": {
            "modelId": client.model_id(model),
            "join_paths_from_topic_name": "order_items",
            "fields": ["users.state"],
            "limit": 3,
        }
    }
    return client.post("/api/v1/query/run", key=client.keys.org, json=body)


def test_an_unreachable_connection_leaves_the_others_serving(degraded: ApiClient) -> None:
    ok = run(degraded, "ecommerce")
    assert ok.status_code == 200 and '"status":"COMPLETE"' in ok.text
    down = run(degraded, "elsewhere")
    assert down.status_code == 503
    detail = down.json()["detail"]
    assert "elsewhere" in detail and "connection down" in detail, detail
    assert down.headers["retry-after"]
    ready = degraded.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["failing"] == ["connection:down"]
    assert "retrying" in ready.json()["checks"]["connection:down"]["error"]
    assert degraded.services.project.reconnect() == []  # still down: still reported


def test_an_unwritable_state_dir_refuses_new_jobs(tmp_path: Path, demo_db: Path) -> None:
    from tests.api.support import open_api

    client = open_api(tmp_path / "p", demo_db)
    try:
        probe = client.services.state_dir
        assert probe is not None and client.get("/readyz").status_code == 200
        probe.state_dir = tmp_path / "a-file" / "state"  # as if the folder went away
        (tmp_path / "a-file").write_text("not a folder")
        probe.forget()
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "state_dir" in ready.json()["failing"]
        refused = run(client, "ecommerce")
        assert refused.status_code == 503
        assert "state_dir" in refused.json()["detail"]
        assert refused.headers["retry-after"] == "10"
        again = run(client, "ecommerce")  # answered from the probe's memory, on the loop
        assert again.status_code == 503 and "state_dir" in again.json()["detail"]
    finally:
        client.close()


@pytest.mark.parametrize("days", ["0", "-1", "nan", "1e9"])
def test_keys_create_refuses_a_meaningless_expiry(tmp_path: Path, demo_db: Path, days: str) -> None:
    config = write_project(tmp_path, demo_db)
    result = CliRunner().invoke(
        app, ["keys", "create", "-c", str(config), "--expires-in-days", days]
    )
    assert result.exit_code == 2, result.output
    assert "--expires-in-days must be more than 0" in result.output


def serve(config: Path, port: int) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["serve", "-c", str(config), "--port", str(port)])
    return result.exit_code, result.output


def test_a_state_dir_that_cannot_be_written_stops_start_up_in_one_line(
    tmp_path: Path, demo_db: Path
) -> None:
    config = write_project(tmp_path, demo_db)
    (tmp_path / "blocker").write_text("a file where the state folder should be")
    text = config.read_text().replace(str(tmp_path / "state"), str(tmp_path / "blocker" / "s"))
    config.write_text(text)
    code, output = serve(config, free_port())
    assert code == 2, output
    assert output.count("\n") == 1 and "state_dir" in output and "blocker" in output, output
    assert "Traceback" not in output


def test_a_busy_port_stops_start_up_in_one_line(tmp_path: Path, demo_db: Path) -> None:
    config = write_project(tmp_path, demo_db)
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        code, output = serve(config, port)
    assert code == 2, output
    assert output.count("\n") == 1 and f"127.0.0.1:{port}" in output, output


def test_a_broken_model_is_unavailable_and_the_others_still_serve(
    tmp_path: Path, demo_db: Path
) -> None:
    """A model that has never loaded does not stop the server (issue 12): its queries answer a
    503 naming the file and line, the log says so, the other models serve."""
    from sluice.config import model_uuid
    from tests.e2e.conftest import Server

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model.yaml").write_text("{}\n")
    (broken / "things.view.yaml").write_text(
        "table_name: nope\ndimensions:\n  a:\n    sql: ${missing}\n"
    )
    config = write_project(tmp_path, demo_db)
    text = config.read_text().replace(
        "models:\n", f"models:\n  broken: {{connection: warehouse, path: {broken}}}\n"
    )
    config.write_text(text)
    keys = create_keys(tmp_path / "state")
    server = Server(config, tmp_path / "server.log")
    try:
        headers = {"Authorization": f"Bearer {keys.org}"}
        body = {
            "query": {"modelId": model_uuid("broken"), "table": "things", "fields": ["things.a"]}
        }
        response = httpx.post(f"{server.url}/api/v1/query/run", json=body, headers=headers)
        assert response.status_code == 503, response.text
        assert "never loaded" in response.json()["detail"]
        assert "things.view.yaml" in response.json()["detail"]
        ok = {
            "query": {"modelId": model_uuid("lab"), "table": "numbers", "fields": ["numbers.total"]}
        }
        assert (
            httpx.post(
                f"{server.url}/api/v1/query/run", json=ok, headers=headers, timeout=60
            ).status_code
            == 200
        )
        log = [
            line
            for line in (tmp_path / "server.log").read_text().splitlines()
            if "never loaded" in line
        ]
        assert len(log) == 1 and "things.view.yaml" in log[0] and "Traceback" not in log[0]
    finally:
        server.kill()
