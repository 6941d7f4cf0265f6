"""A real ``sluice serve`` with its Flight SQL endpoint on, one per test session."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.api.support import Keys, create_keys, write_project
from tests.e2e.conftest import Server, free_port


@dataclass(frozen=True)
class FlightServer:
    http: Server
    port: int
    keys: Keys

    @property
    def uri(self) -> str:
        return f"grpc://127.0.0.1:{self.port}"


@pytest.fixture(scope="session")
def flight_server(
    tmp_path_factory: pytest.TempPathFactory, demo_db: Path
) -> Iterator[FlightServer]:
    folder = tmp_path_factory.mktemp("flight")
    config = write_project(folder, demo_db)
    keys = create_keys(folder / "state")
    port = free_port()
    running = Server(
        config,
        folder / "server.log",
        env={"SLUICE_SERVER_FLIGHT_PORT": str(port), "SLUICE_SERVER_RATE_LIMIT_PER_MINUTE": "0"},
    )
    yield FlightServer(running, port, keys)
    running.stop()
