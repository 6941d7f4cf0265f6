"""Every command the README shows, run against a real demo server.

The README's fenced ``sh`` and ``python`` blocks are extracted and run as they are written, in a
folder holding the demo project (``sluice-demo``) and ``.venv`` (this environment), with the
``export`` lines the demo prints in the environment. The two install blocks (``make demo`` and
the install by hand) are run by the slow ``tests/test_install.py`` in a fresh clone.
"""

from __future__ import annotations

import csv
import io
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import free_port
from tests.e2e.test_demo import Demo

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)


@dataclass(frozen=True)
class Block:
    lang: str
    code: str
    line: int


def blocks(lang: str | None = None) -> list[Block]:
    text = README.read_text()
    found = [
        Block(m.group(1), m.group(2), text.count("\n", 0, m.start()) + 1)
        for m in FENCE.finditer(text)
    ]
    return [b for b in found if lang is None or b.lang == lang]


def install_blocks() -> list[Block]:
    return [b for b in blocks("sh") if "make demo" in b.code or "python3 -m venv" in b.code]


def usage_blocks() -> list[Block]:
    install = install_blocks()
    return [b for b in blocks() if b.lang in ("sh", "python") and b not in install]


def one(pattern: str) -> Block:
    (found,) = [b for b in usage_blocks() if re.search(pattern, b.code)]
    return found


@dataclass
class Site:
    folder: Path
    env: dict[str, str]

    def sh(self, block: Block, timeout: float = 300) -> str:
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", block.code],
            cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        assert result.returncode == 0, f"README line {block.line}:\n{result.stderr}"
        return result.stdout

    def python(self, block: Block) -> str:
        result = subprocess.run(
            [sys.executable, "-c", block.code],
            cwd=self.folder, env=self.env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert result.returncode == 0, f"README line {block.line}:\n{result.stderr}"
        return result.stdout


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    folder = tmp_path_factory.mktemp("readme")
    (folder / ".venv").symlink_to(sys.prefix)
    flight_port = free_port()
    demo = Demo(
        folder,
        free_port(),
        scale="0.01",
        as_of=None,
        directory="sluice-demo",
        flight_port=flight_port,
    )
    try:
        banner = demo.banner()
        env = dict(os.environ)
        for name, value in re.findall(r"^export (\w+)=(\S+)$", banner, re.M):
            env[name] = value
        assert {"URL", "KEY", "MODEL_ID"} <= env.keys()
        env["FLIGHT_URI"] = f"grpc://127.0.0.1:{flight_port}"  # the README's default is 8815
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
        yield Site(folder, env)
    finally:
        demo.stop()


def test_the_readme_blocks_are_all_known() -> None:
    """A new block must get a check below (or be an install block)."""
    assert len(install_blocks()) == 2
    assert len(usage_blocks()) == 10, [b.line for b in usage_blocks()]


def test_first_curl_returns_twelve_full_months_as_csv(site: Site) -> None:
    out = site.sh(one(r"resultType.*csv"))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows, out
    months = sorted({r[next(iter(r))][:7] for r in rows})
    assert len(months) == 12, months
    today = datetime.now(UTC).date()
    assert months[-1] <= f"{today:%Y-%m}"
    # twelve consecutive months: the data's history ends today, so every one is there
    first = datetime.strptime(months[0], "%Y-%m")
    expected = [
        f"{first.year + (first.month - 1 + i) // 12}-{(first.month - 1 + i) % 12 + 1:02d}"
        for i in range(12)
    ]
    assert months == expected


def test_running_sluice_yourself(site: Site) -> None:
    out = site.sh(one(r"sluice --version"))
    assert out.startswith("sluice ") and "Usage" in out


def test_other_commands(site: Site) -> None:
    out = site.sh(one(r"sluice demo-data"))
    assert (site.folder / "shop.duckdb").is_file()
    assert "ok" in out and "row(s)" in out
    assert "SELECT" in out.upper()


def test_init_on_your_own_file(site: Site) -> None:
    if not (site.folder / "shop.duckdb").exists():
        site.sh(one(r"sluice demo-data"))  # the README makes shop.duckdb just above
    out = site.sh(one(r"sluice init"))
    assert "wrote" in out and "topics: events, order_items" in out
    assert "ok" in out and "row(s)" in out


def test_api_keys(site: Site) -> None:
    out = site.sh(one(r"sluice keys create"))
    assert "ci" in out and "revoked" in out


def test_python_clients(site: Site) -> None:
    out = site.python(one(r"omni_python_sdk"))
    assert re.fullmatch(r"[1-9]\d* rows\n", out), out
    out = site.python(one(r"omniframes"))
    assert "products.category" in out or "Category" in out, out


def test_arrow_result_type(site: Site) -> None:
    out = site.python(one(r"read_ipc_stream"))
    match = re.fullmatch(r"([1-9]\d*) rows; (\d+) rows; (\[.*\])\n", out)
    assert match, out
    assert match.group(1) == match.group(2)
    assert "products.category" in match.group(3) and "order_items.total_sale_price" in out


def test_flight_sql(site: Site) -> None:
    out = site.python(one(r"adbc_driver_flightsql"))
    assert re.fullmatch(r"[1-9]\d* rows\n", out), out


def test_replicas(site: Site) -> None:
    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/0").ping()
    except Exception as exc:
        from tests.engines.services import unavailable

        unavailable(f"Redis is not reachable on 127.0.0.1:6379: {exc}")
    block = one(r"SLUICE_REDIS_URL")
    env = {**site.env, "SLUICE_SERVER_REDIS_PREFIX": f"sluice-readme-{os.getpid()}"}
    log = open(site.folder / "replicas.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        ["bash", "-c", block.code + "\nwait"],
        cwd=site.folder, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=log,
    )  # fmt: skip
    try:
        for port in re.findall(r"--port (\d+)", block.code):
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None, (site.folder / "replicas.log").read_text()
                try:
                    answer = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
                    assert answer.status_code == 200, answer.text
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, f"port {port} never answered"
                    time.sleep(0.2)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
        log.close()
