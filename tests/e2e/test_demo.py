"""`sluice demo` as a user runs it: the key of the first run works against the restarted server,
and a run whose server cannot start touches no key."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from sluice.config import load_config
from sluice.stores.embedded.tokens import SqliteTokenStore
from tests.e2e.conftest import free_port

pytestmark = pytest.mark.slow

SLUICE = str(Path(sys.executable).parent / "sluice")


class Demo:
    def __init__(
        self,
        cwd: Path,
        port: int,
        *,
        scale: str = "0.002",
        as_of: str | None = "2025-12-31",
        directory: str = "d",
        flight_port: int = 0,
    ) -> None:
        self.out = cwd / f"demo-{time.monotonic_ns()}.log"
        self._out = open(self.out, "w")  # noqa: SIM115 - closed in stop()
        dated = ["--as-of", as_of] if as_of else []
        self.flight_port = flight_port  # 0: Flight SQL off (the demo's default port may be taken)
        self.proc = subprocess.Popen(
            [SLUICE, "demo", "--dir", directory, "--scale", scale, *dated, "--port", str(port),
             "--flight-port", str(flight_port)],
            cwd=cwd, stdout=self._out, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def banner(self) -> str:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            text = self.out.read_text()
            if "starts it again" in text:
                return text
            assert self.proc.poll() is None, text
            time.sleep(0.1)
        raise AssertionError(self.out.read_text())

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)  # Ctrl+C
        self.proc.wait(timeout=30)
        self._out.close()


def count(url: str, key: str, model_id: str) -> httpx.Response:
    query = {"modelId": model_id, "join_paths_from_topic_name": "order_items",
             "fields": ["order_items.count"]}  # fmt: skip
    return httpx.post(
        f"{url}/api/v1/query/run",
        headers={"Authorization": f"Bearer {key}"},
        json={"query": query, "resultType": "csv"},
        timeout=60,
    )


def test_the_first_runs_key_works_against_the_restarted_demo(tmp_path: Path) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = Demo(tmp_path, port)
    try:
        banner = first.banner()
        key = re.search(r"^export KEY=(\S+)$", banner, re.M)
        model = re.search(r'"modelId": "([^"]+)"', banner)
        assert key is not None and model is not None
        restart = re.search(r"`([^`]*demo --dir d[^`]*)` starts it again", banner)
        assert restart is not None and "--as-of 2025-12-31" in restart.group(1)
        assert count(url, key.group(1), model.group(1)).status_code == 200
    finally:
        first.stop()
    second = Demo(tmp_path, port)
    try:
        banner = second.banner()
        assert f"export KEY={key.group(1)}" in banner
        answer = count(url, key.group(1), model.group(1))
        assert answer.status_code == 200, answer.text
        assert int(answer.text.splitlines()[1]) > 0
    finally:
        second.stop()
    state = load_config(tmp_path / "d" / "sluice.yaml").server.state_dir
    store = SqliteTokenStore(state)
    try:
        assert [t.revoked_at for t in store.list(include_revoked=True)] == [None]
    finally:
        store.close()


def test_a_demo_that_cannot_start_touches_no_key(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = subprocess.run(
            [SLUICE, "demo", "--dir", "d", "--scale", "0.002", "--as-of", "2025-12-31",
             "--port", str(port)],
            cwd=tmp_path, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    assert result.returncode != 0
    assert "KEY=" not in result.stdout
    assert not (tmp_path / "d" / "demo-key").exists()
    state = load_config(tmp_path / "d" / "sluice.yaml").server.state_dir
    store = SqliteTokenStore(state)
    try:
        assert store.list(include_revoked=True) == []
    finally:
        store.close()
