"""``sluice demo`` prints a working ADBC snippet for its Flight SQL endpoint."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sluice.cli import app
from sluice.cli.demo import FLIGHT_SNIPPET_START
from tests.flight.conftest import FlightServer


@pytest.mark.slow
def test_the_demo_snippet_runs_against_a_flight_server(
    tmp_path: Path, flight_server: FlightServer
) -> None:
    result = CliRunner().invoke(
        app, ["demo", "--dir", str(tmp_path / "demo"), "--scale", "0.005", "--no-serve"]
    )
    assert result.exit_code == 0, result.output
    key = re.search(r"^export KEY=(\S+)$", result.stdout, re.M)
    assert key is not None
    start = result.stdout.index(FLIGHT_SNIPPET_START)
    snippet = result.stdout[start : result.stdout.index("# --\n", start + 1)]
    assert "grpc://127.0.0.1:8815" in snippet and key.group(1) in snippet
    # The same snippet, pointed at this test's server (same demo model) with its key.
    snippet = snippet.replace("grpc://127.0.0.1:8815", flight_server.uri)
    snippet = snippet.replace(key.group(1), flight_server.keys.org)
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(snippet, "demo-snippet", "exec"), {})
    assert "products.category" in printed.getvalue() and "sales" in printed.getvalue()
