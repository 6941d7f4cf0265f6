"""Real servers: ``sluice serve`` in a subprocess on a free local port, one project per test.

Each server reads a project built from tests/conftest.py's small demo warehouse plus the lab
model (tests/api/lab_model); nothing stands in for the compiler, the engine or the HTTP stack.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.api.support import Keys, create_keys, write_project


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """One ``python -m sluice.cli serve`` process."""

    def __init__(
        self,
        config: Path,
        log: Path,
        env: dict[str, str] | None = None,
        *,
        log_level: str = "warning",
        wait: bool = True,
    ) -> None:
        self.config = config
        self.log = log
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sluice.cli", "serve", "--config", str(config),
             "--port", str(self.port), "--log-level", log_level],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )  # fmt: skip
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        log = self.log
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._log.close()
                raise RuntimeError(f"server exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"server did not start:\n{log.read_text()}")

    def stop(self) -> None:
        """Graceful: SIGTERM, as a supervisor would; running jobs get the grace period."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(timeout=30)
        self._log.close()

    def kill(self) -> None:
        """The process dies mid-flight: SIGKILL, no shutdown code runs."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()


ServerFactory = Callable[..., Server]


@pytest.fixture(scope="session")
def e2e_project(tmp_path_factory: pytest.TempPathFactory, demo_db: Path) -> tuple[Path, Keys]:
    folder = tmp_path_factory.mktemp("e2e")
    config = write_project(folder, demo_db)
    return config, create_keys(folder / "state")


@pytest.fixture(scope="session")
def server(
    e2e_project: tuple[Path, Keys], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """The shared server, with the default windows."""
    config, _ = e2e_project
    running = Server(config, tmp_path_factory.mktemp("logs") / "server.log")
    yield running
    running.stop()


@pytest.fixture(scope="session")
def keys(e2e_project: tuple[Path, Keys]) -> Keys:
    return e2e_project[1]


@pytest.fixture()
def start_server(tmp_path: Path, demo_db: Path) -> Iterator[Callable[..., tuple[Server, Keys]]]:
    """Servers on a fresh project (own state dir and keys); ``env`` sets SLUICE_SERVER_* keys."""
    started: list[Server] = []
    config = write_project(tmp_path / "project", demo_db)
    keys = create_keys(tmp_path / "project" / "state")

    def start(**env: str) -> tuple[Server, Keys]:
        running = Server(config, tmp_path / f"server{len(started)}.log", env=env)
        started.append(running)
        return running, keys

    yield start
    for running in started:
        running.kill()
