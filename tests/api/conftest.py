"""Fixtures for the in-process API tests (the real app, core and DuckDB; no HTTP server)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest

from sluice.engines.duckdb import connect_sandboxed
from tests.api.support import ApiClient, Keys, open_api

ApiFactory = Callable[..., ApiClient]


@pytest.fixture(scope="session")
def api(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> Iterator[ApiClient]:
    """The app on a project with the demo model (tests/conftest.py warehouse) and the lab model."""
    client = open_api(tmp_path_factory.mktemp("project"), demo_db)
    yield client
    client.close()


@pytest.fixture(scope="session")
def keys(api: ApiClient) -> Keys:
    return api.keys


@pytest.fixture()
def api_factory(tmp_path: Path, demo_db: Path) -> Iterator[ApiFactory]:
    """Start more apps, each with its own state dir and keys: ``api_factory(run_window_s=0)``."""
    opened: list[ApiClient] = []

    def make(**server: object) -> ApiClient:
        client = open_api(tmp_path / f"project{len(opened)}", demo_db, **server)
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.close()


@pytest.fixture(scope="session")
def oracle(demo_db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Hand-written SQL runs here, on the same demo file the server reads."""
    conn = connect_sandboxed(str(demo_db))
    yield conn
    conn.close()
