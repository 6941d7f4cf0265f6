"""The warehouses the engine tests talk to: PostgreSQL on this machine, a local Spark Connect.

The Spark Connect server is the one shipped inside the pyspark package (``pyspark/jars`` has
``spark-connect_*.jar``; ``bin/spark-submit`` launches it), started on a free loopback port in
its own process group, and stopped (SIGTERM, then SIGKILL) when the session ends. Startup is
bounded: a server that does not listen within the timeout is killed and reported with the tail
of its log.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import NoReturn

import pytest

CONNECT_SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
LOOPBACK = "127.0.0.1"
# Where this run puts its copies of the demo tables (its own, so concurrent runs never collide).
PG_SCHEMA = f"sluice_test_{os.getpid()}"
SPARK_DB = f"sluice_test_{os.getpid()}"


def unavailable(reason: str) -> NoReturn:
    """Skip locally; fail in CI (CI=true), where every warehouse must be up."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: warehouse tests must run)", pytrace=False)
    pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def listening(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def spark_home() -> Path | None:
    spec = importlib.util.find_spec("pyspark")  # without importing pyspark
    if spec is None or spec.origin is None:
        return None
    home = Path(spec.origin).parent
    return home if (home / "bin" / "spark-submit").exists() else None


class SparkConnectServer:
    """A local Spark Connect server: ``local[2]``, small driver, loopback only."""

    def __init__(self, workdir: Path, *, timeout_s: float = 120.0) -> None:
        self.workdir = workdir
        self.timeout_s = timeout_s
        self.port = free_port()
        self.url = f"sc://{LOOPBACK}:{self.port}"
        self.log = workdir / "spark-connect.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def command(self, home: Path) -> list[str]:
        conf = {
            "spark.connect.grpc.binding.address": LOOPBACK,
            "spark.connect.grpc.binding.port": str(self.port),
            "spark.driver.host": LOOPBACK,
            "spark.driver.bindAddress": LOOPBACK,
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.sql.catalogImplementation": "in-memory",
            "spark.sql.warehouse.dir": str(self.workdir / "warehouse"),
            "spark.sql.session.timeZone": "UTC",
            "spark.driver.extraJavaOptions": "-XX:+UseSerialGC -Djava.net.preferIPv4Stack=true",
        }
        args = [str(home / "bin" / "spark-submit"), "--class", CONNECT_SERVER_CLASS]
        args += ["--master", "local[2]", "--driver-memory", "1g", "--name", "sluice-tests"]
        for key, value in conf.items():
            args += ["--conf", f"{key}={value}"]
        return [*args, "spark-internal"]

    def start(self) -> None:
        home = spark_home()
        if home is None:
            unavailable("pyspark (with its bundled Spark) is not installed")
        if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
            unavailable("Spark needs Java 17+, and no `java` is on PATH (nor JAVA_HOME set)")
        env = {
            **os.environ,
            "SPARK_HOME": str(home),
            "SPARK_LOCAL_IP": LOOPBACK,
            "SPARK_LOCAL_HOSTNAME": "localhost",
            "SPARK_NO_DAEMONIZE": "1",
        }
        env.pop("SPARK_CONF_DIR", None)
        with self.log.open("wb") as log:
            self._proc = subprocess.Popen(
                self.command(home),
                cwd=self.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stop() ends all of it
            )
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                self.stop()
                unavailable(f"the Spark Connect server exited at startup:\n{self.log_tail()}")
            if listening(LOOPBACK, self.port):
                return
            time.sleep(0.25)
        self.stop()
        unavailable(
            f"the Spark Connect server did not listen on {LOOPBACK}:{self.port} within "
            f"{self.timeout_s:g}s:\n{self.log_tail()}"
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"
