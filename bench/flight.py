"""Flight SQL benchmark: a real ``sluice serve`` with its Flight SQL endpoint on.

Each figure is printed with a ratio against a baseline measured in the same run, on the same
server and the same cached result (the warehouse is out of both measurements: the first run of
each query fills the result cache, then every timed run is a cache hit on both paths):

(a) a large result (1M rows x 3 columns by default) fetched over Flight SQL
    (``GetFlightInfo`` + ``DoGet``, ``pyarrow.flight``) against the same query over HTTP
    ``POST /query/run`` as NDJSON with its base64 Arrow payload, decoded to a table; rows/s of
    each and the ratio (target: at least 15M rows/s over Flight);
(b) a small cached query's round trip over Flight SQL against the same query over HTTP (median
    of ``--runs``; target: Flight no slower, a ratio <= 1).

Nothing is asserted: numbers are printed. ``--smoke`` (tiny scale, one run) is what the test
suite runs to keep this script working.

    .venv/bin/python bench/flight.py [--rows 1000000] [--runs 20] [--smoke]
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pyarrow as pa
import pyarrow.flight as flight

from sluice.auth.tokens import ORGANIZATION
from sluice.flight.protocol import message, pack
from sluice.stores.embedded.tokens import SqliteTokenStore

MODEL = """\
sql: SELECT range AS id, range * 0.5 AS x, 'item ' || (range % 1000) AS s FROM range({rows})
dimensions:
  id: {{primary_key: true, type: number}}
  x: {{type: number}}
  s: {{type: string}}
measures:
  count: {{aggregate_type: count}}
  total: {{sql: "${{x}}", aggregate_type: sum}}
"""
CONFIG = """\
connections:
  mem: {{engine: duckdb}}
models:
  bench: {{connection: mem, path: {model}}}
server:
  state_dir: {state}
  high_limit: true
  log_format: text
"""
BIG_SQL = 'SELECT "big.id", "big.x", "big.s" FROM bench.views.big'
SMALL_SQL = (
    'SELECT "big.s", MEASURE("big.total") FROM bench.views.big GROUP BY 1 ORDER BY 1 LIMIT 10'
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serve(folder: Path, rows: int) -> Iterator[tuple[str, str, str]]:
    """(HTTP URL, Flight URI, key) of a server on a fresh project."""
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "model.yaml").write_text("week_start_day: Monday\n")
    (folder / "model" / "big.view.yaml").write_text(MODEL.format(rows=rows))
    config = folder / "sluice.yaml"
    config.write_text(CONFIG.format(model=folder / "model", state=folder / "state"))
    store = SqliteTokenStore(folder / "state")
    try:
        key, _ = store.create(ORGANIZATION, "sluice", name="bench")
    finally:
        store.close()
    port, flight_port = free_port(), free_port()
    log = open(folder / "server.log", "wb")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "sluice.cli", "serve", "--config", str(config),
         "--port", str(port), "--flight-port", str(flight_port), "--log-level", "warning"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError((folder / "server.log").read_text())
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.05)
        yield url, f"grpc://127.0.0.1:{flight_port}", key
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


class FlightPath:
    def __init__(self, uri: str, key: str) -> None:
        self.client = flight.connect(uri)
        self.options = flight.FlightCallOptions(
            headers=[(b"authorization", f"Bearer {key}".encode())]
        )

    def fetch(self, sql: str) -> pa.Table:
        descriptor = flight.FlightDescriptor.for_command(
            pack(message("CommandStatementQuery", query=sql))
        )
        info = self.client.get_flight_info(descriptor, self.options)
        table: pa.Table = self.client.do_get(info.endpoints[0].ticket, self.options).read_all()
        return table


class HttpPath:
    def __init__(self, url: str, key: str) -> None:
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120
        )
        models = self.client.get("/api/v1/models", params={"name": "bench"}).json()
        self.model_id = models["records"][0]["id"]

    def fetch(self, query: dict[str, Any]) -> pa.Table:
        body = {"query": {"modelId": self.model_id, **query}}
        response = self.client.post("/api/v1/query/run", json=body)
        for line in response.content.splitlines():
            job = json.loads(line)
            if job.get("status") == "COMPLETE":
                raw = base64.b64decode(job["result"])
                return pa.ipc.open_stream(raw).read_all()
        raise RuntimeError(f"no result: {response.text[:500]}")


def timed(fn: Callable[[], Any], runs: int) -> tuple[float, Any]:
    """The median wall time of ``runs`` calls, and the last call's value."""
    times: list[float] = []
    value = None
    for _ in range(runs):
        began = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - began)
    return statistics.median(times), value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--smoke", action="store_true", help="20,000 rows, one run")
    args = parser.parse_args()
    rows, runs = (20_000, 1) if args.smoke else (args.rows, args.runs)
    big_runs = 1 if args.smoke else max(3, runs // 4)
    print("path: cache hits on both sides (the first run of each query fills the result cache)")
    with tempfile.TemporaryDirectory() as tmp, serve(Path(tmp), rows) as (url, uri, key):
        over_flight, over_http = FlightPath(uri, key), HttpPath(url, key)
        big_query = {"table": "big", "fields": ["big.id", "big.x", "big.s"], "limit": None}
        small_query = {
            "table": "big",
            "fields": ["big.s", "big.total"],
            "sorts": [{"column_name": "big.s", "sort_descending": False}],
            "limit": 10,
        }
        # Fill the cache (and check both paths answer the same rows).
        assert over_flight.fetch(BIG_SQL).num_rows == rows
        assert over_http.fetch(big_query).num_rows == rows
        assert over_flight.fetch(SMALL_SQL).equals(over_http.fetch(small_query))

        flight_s, _ = timed(lambda: over_flight.fetch(BIG_SQL), big_runs)
        http_s, _ = timed(lambda: over_http.fetch(big_query), big_runs)
        print(f"(a) {rows:,} rows x 3 columns, cached, fetched to a pyarrow Table")
        print(
            f"    Flight SQL:            {rows / flight_s / 1e6:8.1f} M rows/s ({flight_s:.3f} s)"
        )
        print(f"    HTTP NDJSON + base64:  {rows / http_s / 1e6:8.1f} M rows/s ({http_s:.3f} s)")
        print(f"    ratio Flight/HTTP throughput: {http_s / flight_s:.2f}x (target: 15M rows/s)")

        flight_times: list[float] = []
        http_times: list[float] = []
        for _ in range(runs):  # interleaved, so a burst of other load hits both sides alike
            flight_times.append(timed(lambda: over_flight.fetch(SMALL_SQL), 1)[0])
            http_times.append(timed(lambda: over_http.fetch(small_query), 1)[0])
        flight_small, http_small = statistics.median(flight_times), statistics.median(http_times)
        print(f"(b) small cached query round trip (median of {runs}, interleaved)")
        print(f"    Flight SQL: {flight_small * 1e3:.2f} ms; HTTP: {http_small * 1e3:.2f} ms")
        print(f"    ratio Flight/HTTP latency: {flight_small / http_small:.2f} (target: <= 1)")


if __name__ == "__main__":
    main()
