"""The default install is DuckDB and the server: the CLI, the demo and serving work with the
extras' modules unimportable, and a feature that needs a missing extra says which to install.

Each check runs ``sluice`` in a fresh interpreter whose import system refuses the modules of
the postgres, spark, trino and redis extras (a meta-path finder), as a default install would.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pytest

from sluice.extras import EXTRAS
from tests.e2e.conftest import free_port

BLOCKED = sorted(set().union(*EXTRAS.values()) - {"google", "pandas"} | {"fastapi"})

PRELUDE = f"""
import importlib.abc, sys

class NoExtras(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in {BLOCKED!r}:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, NoExtras())
for name in list(sys.modules):
    if name.partition(".")[0] in {BLOCKED!r}:
        del sys.modules[name]
from sluice.cli import main
sys.argv = ["sluice", *sys.argv[1:]]
main()
"""


def sluice(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", PRELUDE, *args],
        cwd=cwd, capture_output=True, text=True, timeout=300,
        env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip


def test_the_blocker_blocks(tmp_path: Path) -> None:
    probe = PRELUDE.replace("from sluice.cli import main", "import redis")
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode != 0 and "No module named 'redis'" in result.stderr


def test_help_demo_and_query_without_extras(tmp_path: Path) -> None:
    assert sluice("--help", cwd=tmp_path).returncode == 0
    demo = sluice("demo", "--dir", "d", "--scale", "0.002", "--as-of", "2025-12-31",
                  "--no-serve", cwd=tmp_path)  # fmt: skip
    assert demo.returncode == 0, demo.stderr
    body = {"join_paths_from_topic_name": "order_items",
            "fields": ["order_items.created_at[year]", "order_items.count"],
            "sorts": [{"column_name": "order_items.created_at[year]"}]}  # fmt: skip
    query = sluice("query", "-c", "d/sluice.yaml", "--json", json.dumps(body), "--output",
                   "json", cwd=tmp_path)  # fmt: skip
    assert query.returncode == 0, query.stderr
    rows = json.loads(query.stdout)
    assert [r["order_items.created_at[year]"][:4] for r in rows] == [
        str(y) for y in range(2019, 2026)
    ]


@pytest.mark.slow
def test_serving_the_demo_without_extras(tmp_path: Path) -> None:
    prepared = sluice("demo", "--dir", "d", "--scale", "0.002", "--no-serve", cwd=tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    key = re.search(r"^export KEY=(\S+)$", prepared.stdout, re.M)
    model = re.search(r'"modelId": "([^"]+)"', prepared.stdout)
    assert key is not None and model is not None
    port = free_port()
    log = open(tmp_path / "serve.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-c", PRELUDE, "serve", "-c", "d/sluice.yaml", "--port", str(port)],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        query = {"modelId": model.group(1), "join_paths_from_topic_name": "order_items",
                 "fields": ["order_items.count"]}  # fmt: skip
        answer = httpx.post(
            f"{url}/api/v1/query/run",
            headers={"Authorization": f"Bearer {key.group(1)}"},
            json={"query": query, "resultType": "csv"},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        (database,) = (tmp_path / "d" / "data").glob("*.duckdb")
        with duckdb.connect(str(database), read_only=True) as con:
            (row,) = con.sql("SELECT count(*) FROM order_items").fetchall()
        assert answer.text.splitlines()[1:] == [str(row[0])]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.mark.parametrize(
    ("engine", "url"),
    [("postgres", "postgresql://127.0.0.1:9/x"), ("spark", "sc://127.0.0.1:9"),
     ("trino", "http://127.0.0.1:9")],
)  # fmt: skip
def test_a_missing_extra_is_one_line_naming_it(tmp_path: Path, engine: str, url: str) -> None:
    model = tmp_path / "m"
    model.mkdir()
    (model / "model.yaml").write_text("week_start_day: Monday\n")
    (model / "t.view.yaml").write_text("sql: SELECT 1 AS x\ndimensions:\n  x: {}\n")
    (tmp_path / "sluice.yaml").write_text(
        f"connections:\n  w: {{engine: {engine}, url: '{url}'}}\n"
        "models:\n  m: {connection: w, path: m}\n"
    )
    result = sluice("query", "--json", '{"table": "t", "fields": ["t.x"]}', cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"pip install 'sluice-semantic[{engine}]'" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_redis_url_without_the_extra_names_it(tmp_path: Path) -> None:
    prepared = sluice("demo", "--dir", "d", "--scale", "0.002", "--no-serve", cwd=tmp_path)
    assert prepared.returncode == 0, prepared.stderr
    env_cwd = tmp_path
    result = subprocess.run(
        [sys.executable, "-c", PRELUDE, "keys", "list", "-c", "d/sluice.yaml"],
        cwd=env_cwd, capture_output=True, text=True, timeout=120,
        env={**os.environ, "SLUICE_REDIS_URL": "redis://127.0.0.1:6379/0"},
    )  # fmt: skip
    assert result.returncode != 0
    assert "pip install 'sluice-semantic[redis]'" in result.stderr
    assert "Traceback" not in result.stderr
