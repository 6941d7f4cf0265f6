"""``bench/flight.py --smoke`` runs end to end (tiny scale, one run) and prints its ratios."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "flight.py"


@pytest.mark.slow
def test_flight_benchmark_smoke() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--smoke"], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "ratio Flight/HTTP throughput" in done.stdout
    assert "ratio Flight/HTTP latency" in done.stdout
