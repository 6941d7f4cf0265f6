"""The one-process server never imports ``redis``: with the package unimportable, it starts,
answers a query from the warehouse and the cache, and names the missing extra only when a
Redis URL is configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx

from sluice.config import model_uuid
from tests.api.support import Keys
from tests.e2e.conftest import Server

QUERY = {"modelId": model_uuid("ecommerce"), "table": "users", "fields": ["users.count"]}


def no_redis(tmp_path: Path) -> str:
    """A PYTHONPATH on which ``import redis`` fails, as when the extra is not installed."""
    shadow = tmp_path / "shadow" / "redis"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'redis'\", name='redis')\n"
    )
    return os.pathsep.join(p for p in (str(shadow.parent), os.environ.get("PYTHONPATH")) if p)


def run(url: str, key: str) -> list[dict[str, object]]:
    response = httpx.post(
        f"{url}/api/v1/query/run",
        headers={"Authorization": f"Bearer {key}"},
        json={"query": QUERY, "cache": "Standard"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    lines = [json.loads(line) for line in response.text.splitlines()]
    return [line for line in lines if "job_id" in line]


def test_the_embedded_server_runs_without_redis(
    tmp_path: Path, start_server: Callable[..., tuple[Server, Keys]]
) -> None:
    running, keys = start_server(PYTHONPATH=no_redis(tmp_path))
    first, second = run(running.url, keys.org)[0], run(running.url, keys.org)[0]
    assert first["status"] == second["status"] == "COMPLETE"
    assert second["summary"]["cache_type"] == "EXACT"  # type: ignore[index]
    running.stop()
    assert "redis" not in running.log.read_text().lower()


def test_a_redis_url_without_the_extra_names_it(tmp_path: Path) -> None:
    env = {**os.environ, "PYTHONPATH": no_redis(tmp_path),
           "SLUICE_SERVER_REDIS_URL": "redis://127.0.0.1:1/0"}  # fmt: skip
    code = (
        "from sluice.config import ServerConfig\nfrom sluice.stores.select import open_stores\n"
        f"open_stores(ServerConfig(state_dir={str(tmp_path)!r}, redis_url='redis://127.0.0.1:1/0'))"
    )
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "MissingExtra" in done.stderr and "needs the redis extra" in done.stderr
