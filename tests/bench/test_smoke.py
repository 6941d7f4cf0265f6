"""Every benchmark script runs in its smoke mode, so none can silently rot.

A smoke run is tiny and once: its figures mean nothing and nothing about time is asserted. What
is checked is that each script runs to the end and says which path it times (``path: ...``):
a benchmark that times cache hits while claiming to time the warehouse, or that crashes, fails
here. The scripts run side by side to keep the suite fast.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
SCRIPTS = sorted(p for p in BENCH.glob("*.py") if not p.name.startswith("_"))


def test_every_benchmark_has_a_smoke_mode() -> None:
    assert SCRIPTS, "no benchmark scripts found"
    for script in SCRIPTS:
        assert "--smoke" in script.read_text(), f"{script.name} has no --smoke mode"


@pytest.mark.slow
def test_benchmarks_run_in_smoke_mode(postgres_url: str, redis_url: str) -> None:
    env = {
        **os.environ,
        "SLUICE_BENCH_POSTGRES_URL": postgres_url,
        "SLUICE_BENCH_REDIS_URL": redis_url,
    }
    procs = {
        script.name: subprocess.Popen(
            [sys.executable, str(script), "--smoke"],
            cwd=BENCH,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for script in SCRIPTS
    }
    failures = []
    for name, proc in procs.items():
        try:
            out, _ = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            failures.append(f"{name} did not finish in 300 s:\n{out[-3000:]}")
            continue
        if proc.returncode != 0:
            failures.append(f"{name} exited {proc.returncode}:\n{out[-3000:]}")
        elif not any(line.startswith("path: ") for line in out.splitlines()):
            failures.append(f"{name} does not say which path it times (a 'path: ' line)")
    assert not failures, "\n\n".join(failures)


@pytest.mark.slow
def test_the_scaling_curves_draw_both_charts(tmp_path: Path) -> None:
    """bench/curves.py's smoke run draws its two PNG charts (the README shows the full ones)."""
    proc = subprocess.run(
        [sys.executable, str(BENCH / "curves.py"), "--smoke", "--charts", str(tmp_path)],
        cwd=BENCH, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for name in ("clients.png", "sizes.png"):
        data = (tmp_path / name).read_bytes()
        assert data.startswith(b"\x89PNG\r\n\x1a\n") and len(data) > 5000, name
    assert "(i) requests/s" in proc.stdout and "(ii) one POST" in proc.stdout
