"""A graceful stop does not wait for a Flight statement that runs for minutes."""

from __future__ import annotations

import concurrent.futures
import time
from pathlib import Path

import httpx
import pyarrow.flight as flight
import pytest

from sluice.flight.protocol import message, pack
from tests.api.support import create_keys, write_project
from tests.e2e.conftest import Server, free_port


@pytest.mark.slow
def test_stopping_the_server_ends_a_running_flight_statement(tmp_path: Path, demo_db: Path) -> None:
    config = write_project(tmp_path / "project", demo_db)
    keys = create_keys(tmp_path / "project" / "state")
    port = free_port()
    server = Server(config, tmp_path / "server.log", env={"SLUICE_SERVER_FLIGHT_PORT": str(port)})
    client = flight.connect(f"grpc://127.0.0.1:{port}")
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {keys.org}".encode())])
    slow = 'SELECT MEASURE("cross.checksum") FROM lab.views."cross"'
    descriptor = flight.FlightDescriptor.for_command(
        pack(message("CommandStatementQuery", query=slow))
    )
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        call = pool.submit(client.get_flight_info, descriptor, options)
        began = time.monotonic()
        while (
            'sluice_connection_running{connection="lab"} 1.0'
            not in httpx.get(f"{server.url}/metrics").text
        ):
            assert time.monotonic() - began < 10, "the statement never started"
            time.sleep(0.05)
        began = time.monotonic()
        server.stop()  # SIGTERM, and wait for the process
        assert time.monotonic() - began < 20  # not the minutes the cross join needs
        with pytest.raises(flight.FlightError):
            call.result(timeout=10)
