"""A fresh clone, installed the way the README says: the default install stays small and
`sluice --help`, `sluice demo --no-serve`, a query and `make demo` work without the extras.

Slow: pip installs into a new virtual environment (from the package indexes this machine is
configured with, and its cache).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import free_port
from tests.test_readme import install_blocks

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
LIMIT_MB = 450


ENV = {
    **{k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "MAKEFLAGS")},
    "PATH": f"{Path(sys.base_prefix) / 'bin'}{os.pathsep}{os.environ['PATH']}",
}


def run(cmd: list[str] | str, cwd: Path, timeout: float = 900) -> str:
    result = subprocess.run(
        cmd if isinstance(cmd, list) else ["bash", "-euo", "pipefail", "-c", cmd],
        cwd=cwd, capture_output=True, text=True, timeout=timeout, env=ENV,
    )  # fmt: skip
    assert result.returncode == 0, f"{cmd}\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result.stdout


def size_mb(folder: Path) -> float:
    total = sum(p.lstat().st_size for p in folder.rglob("*") if not p.is_symlink())
    return total / (1 << 20)


def test_a_fresh_clone_installs_small_and_runs_without_extras(tmp_path: Path) -> None:
    if shutil.which("git") is None or shutil.which("make") is None:
        pytest.fail("git and make are needed")
    clone = tmp_path / "sluice"
    run(["git", "clone", "--quiet", str(ROOT), str(clone)], tmp_path)
    by_hand = next(b for b in install_blocks() if "python3 -m venv" in b.code)
    # The README's block as written; python3 is the interpreter the suite runs on (not its venv).
    run(by_hand.code, clone)

    venv = clone / ".venv"
    mb = size_mb(venv)
    assert mb < LIMIT_MB, f"the default install is {mb:.0f} MB"
    for module in ("adbc_driver_postgresql", "pyspark", "trino", "redis", "fastapi"):
        probe = subprocess.run([str(venv / "bin" / "python"), "-c", f"import {module}"],
                               capture_output=True)  # fmt: skip
        assert probe.returncode != 0, f"{module} is installed by default"

    sluice = str(venv / "bin" / "sluice")
    assert "Usage" in run([sluice, "--help"], clone)
    assert (clone / "sluice-demo" / "demo-key").is_file()
    out = run(
        [sluice, "query", "-c", "sluice-demo/sluice.yaml", "--output", "csv", "--json",
         '{"join_paths_from_topic_name": "order_items", "fields": ["order_items.count"]}'],
        clone,
    )  # fmt: skip
    assert int(out.splitlines()[1]) > 100_000  # scale 1: about a million order items

    # make demo: the same venv, the demo stamp, a port of our own; stopped with Ctrl+C.
    log = open(tmp_path / "make-demo.log", "w")  # noqa: SIM115 - closed below
    port = free_port()
    proc = subprocess.Popen(
        ["make", "demo", "SCALE=0.01", f"PORT={port}"], cwd=clone, stdout=log,
        stderr=subprocess.STDOUT, start_new_session=True, env=ENV,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 600
        while "starts it again" not in (text := (tmp_path / "make-demo.log").read_text()):
            assert proc.poll() is None and time.monotonic() < deadline, text
            time.sleep(0.2)
        assert re.search(r"^export KEY=sluice_org_\S+$", text, re.M)
        assert "make demo: installing sluice" in text
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
        log.close()
