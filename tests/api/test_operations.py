"""Operations endpoints (``/healthz``, ``/readyz``, ``/metrics``), request ids and JSON logs."""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sluice.api.middleware import access_log
from sluice.config import load_config
from sluice.observability.logs import JsonFormatter, TextFormatter, accepted_request_id
from tests.api.support import ApiClient, ApiFactory, create_keys, job_lines, write_project


def test_healthz_and_health_need_no_token(api: ApiClient) -> None:
    for path in ("/healthz", "/health"):
        response = api.get(path)
        assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_checks_the_store_and_every_connection(api: ApiClient) -> None:
    response = api.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready" and body["store"] == "embedded"
    assert set(body["checks"]) == {
        "job_store",
        "state_dir",
        "connection:warehouse",
        "connection:lab",
    }
    assert all(check["status"] == "ok" for check in body["checks"].values())
    # when each model's schema layer was read from its warehouse, and how long ago
    assert set(body["schema"]) >= {"ecommerce"}
    assert body["schema"]["ecommerce"]["refreshed_at"].endswith("Z")
    assert body["schema"]["ecommerce"]["age_s"] >= 0


def test_metrics_after_some_queries(api_factory: ApiFactory) -> None:
    app = api_factory()
    query = {"modelId": app.model_id("lab"), "table": "numbers", "fields": ["numbers.count"]}
    for i in range(3):  # a miss, then hits
        assert job_lines(app.run(query, key=app.keys.org))[0]["status"] == "COMPLETE"
        if i == 0:  # the result reaches the cache just after the job's line
            deadline = time.monotonic() + 10
            while not app.services.jobs._result_cache.store.entries():
                assert time.monotonic() < deadline
                time.sleep(0.01)
    app.get("/api/v1/query/jobs/7f1d6c2e-3c1a-4d55-9a0e-1b2c3d4e5f60", key=app.keys.org)
    response = app.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    text = response.text
    assert sample(text, "sluice_http_requests_total", route="/api/v1/query/run", method="POST",
                  status="200") == 3  # fmt: skip
    assert sample(text, "sluice_http_requests_total", route="/api/v1/query/jobs/{jobId}",
                  method="GET", status="404") == 1  # fmt: skip
    assert (
        sample(text, "sluice_http_request_duration_seconds_count", route="/api/v1/query/run") == 3
    )
    assert sample(text, "sluice_jobs_total", status="COMPLETE") == 3
    assert sample(text, "sluice_cache_lookups_total", result="miss") == 1
    assert sample(text, "sluice_cache_lookups_total", result="hit") == 2
    assert sample(text, "sluice_engine_execution_seconds_count", connection="lab") == 1
    assert sample(text, "sluice_queue_depth", connection="lab") == 0
    assert sample(text, "sluice_connection_max_concurrency", connection="warehouse") == 4
    assert sample(text, "sluice_jobs_in_progress", state="running") == 0
    assert "sluice_single_flight_joins_total 0.0" in text
    assert "sluice_jobs_orphaned_total 0.0" in text


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text format."""
    for line in text.splitlines():
        found = re.fullmatch(r"([a-z_]+)(?:\{(.*)\})? (\S+)", line)
        if found is None or found[1] != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', found[2] or ""))
        if have == labels:
            return float(found[3])
    raise AssertionError(f"no sample {name} {labels}")


def test_every_response_carries_a_request_id(api: ApiClient) -> None:
    given = api.get("/healthz", headers={"X-Request-Id": "lb-7f3a"})
    assert given.headers["x-request-id"] == "lb-7f3a"
    fresh = api.get("/healthz")
    assert re.fullmatch(r"[0-9a-f]{16}", fresh.headers["x-request-id"])
    assert api.get("/healthz", headers={"X-Request-Id": "has space"}).headers["x-request-id"] != (
        "has space"
    )
    assert accepted_request_id("x" * 200) != "x" * 200


def test_access_lines_are_json_with_request_id_route_status_and_job(
    api: ApiClient, caplog: pytest.LogCaptureFixture
) -> None:
    query = {"modelId": api.model_id("lab"), "table": "numbers", "fields": ["numbers.count"]}
    with caplog.at_level(logging.INFO, logger=access_log.name):
        response = api.post(
            "/api/v1/query/run", key=api.keys.org, json={"query": query},
            headers={"X-Request-Id": "req-42"},
        )  # fmt: skip
    (job_id,) = json.loads(response.text.splitlines()[0])["jobs_submitted"]
    (record,) = [r for r in caplog.records if r.name == access_log.name]
    line = json.loads(JsonFormatter().format(record))
    assert line["request_id"] == "req-42" and line["level"] == "info"
    assert (line["method"], line["route"], line["status"]) == ("POST", "/api/v1/query/run", 200)
    assert line["job_id"] == job_id and line["duration_ms"] > 0
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert line["message"] == "POST /api/v1/query/run 200"
    assert "request_id=req-42" in TextFormatter().format(record)


def test_an_internal_error_names_the_request_id(caplog: pytest.LogCaptureFixture) -> None:
    record = logging.LogRecord("sluice.api", logging.ERROR, __file__, 1, "boom %s", ("x",), None)
    record.request_id = "abc"
    try:
        raise ValueError("inner")
    except ValueError:
        import sys

        record.exc_info = sys.exc_info()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "boom x" and line["request_id"] == "abc"
    assert "ValueError: inner" in line["exception"]
    outside = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started", (), None)
    outside.request_id = None  # what the context filter sets outside any request
    outside.color_message = "\x1b[36mStarted\x1b[0m"
    assert set(json.loads(JsonFormatter().format(outside))) == {
        "time",
        "level",
        "logger",
        "message",
    }


# -- a broken connection makes the server not ready --------------------------------------------


class Proxy:
    """A TCP proxy on a free loopback port to ``target``; ``close`` makes the port refuse."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.sockets: list[socket.socket] = [self.listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        for s in self.sockets:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


@pytest.fixture()
def postgres_proxy(postgres_url: str) -> Iterator[tuple[Proxy, str]]:
    from urllib.parse import urlsplit

    parts = urlsplit(postgres_url)
    proxy = Proxy((parts.hostname or "127.0.0.1", parts.port or 5432))
    yield (
        proxy,
        parts._replace(netloc=f"{parts.netloc.rpartition('@')[0]}@127.0.0.1:{proxy.port}").geturl(),
    )
    proxy.close()


def test_readyz_is_503_naming_a_connection_that_stopped_answering(
    tmp_path: Path, demo_db: Path, postgres_proxy: tuple[Proxy, str]
) -> None:
    proxy, url = postgres_proxy
    path = write_project(tmp_path, demo_db)
    path.write_text(
        path.read_text().replace(
            "models:", f"  pg: {{engine: postgres, url: '{url}', pool_size: 1}}\nmodels:", 1
        )
    )
    create_keys(tmp_path / "state")
    app = ApiClient(load_config(path, env={}))
    try:
        assert app.get("/readyz").json()["checks"]["connection:pg"]["status"] == "ok"
        proxy.close()  # the warehouse's port now refuses connections
        response = app.get("/readyz")
        assert response.status_code == 503
        body: dict[str, Any] = response.json()
        assert body["status"] == "not ready" and body["failing"] == ["connection:pg"]
        assert body["checks"]["connection:pg"]["status"] == "error"
        assert "postgres" in body["checks"]["connection:pg"]["error"]
        assert body["checks"]["job_store"]["status"] == "ok"
    finally:
        app.close()
