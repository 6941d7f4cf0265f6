"""Results benchmark: large results, cache hits and CSV export memory, against a real server.

Each figure is printed with a ratio against a baseline measured in the same run:

(a) a 1,000,000-row ``POST /query/run`` with ``cache: SkipCache`` (execute, encode as Arrow IPC,
    base64, NDJSON, HTTP) against DuckDB executing the same SQL and encoding the same result
    (IPC + base64) in this process (target: within 1.1x);
(b) a cache hit's ``/query/run`` latency against a bare ASGI endpoint (same uvicorn, same loop)
    returning the same bytes (target: within 1.3x for the small one, 1.2x for the large one), for
    a small and a 50,000-row result; then
    cache-hit requests per second with 32 concurrent keep-alive clients, against the same
    bare endpoint;
(c) the server's peak resident memory while it streams a 1,000,000-row CSV export, above its
    resident memory just before, against the size of the CSV (target: under 0.3x); sampled
    from /proc every few milliseconds. Measured for an export served from the result cache
    and for one that runs the query (SkipCache).

Paths: (a) times the **cache-bypassed** path (SkipCache), (b) **cache hits** (checked: every timed
answer is ``EXACT``), (c) both, each labelled.

The demo warehouse (scale 1 by default) is generated once by bench/api.py's helper into
``$SLUICE_BENCH_DIR`` (default ``~/.cache/sluice-bench``). Nothing is asserted. ``--smoke`` runs
each part once on a tiny warehouse in a temporary folder (``make test`` does).

    .venv/bin/python bench/results.py [--scale 1] [--runs 5] [--seconds 3] [--only abc] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import importlib.util
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sluice.config import Config, load_config
from sluice.engines.duckdb import connect_sandboxed
from sluice.project import Project
from sluice.results.arrow import b64encode, ipc_stream


def _bench_api() -> Any:
    """bench/api.py (the demo set-up and the server runner), loaded by path."""
    spec = importlib.util.spec_from_file_location("bench_api", Path(__file__).with_name("api.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_api = _bench_api()
prepare, server, body, _rss = _api.prepare, _api.server, _api.body, _api._rss

MILLION = {
    "table": "order_items",
    "fields": [
        "order_items.id", "order_items.created_at[raw]", "order_items.status",
        "order_items.sale_price", "order_items.user_id",
    ],
    "sorts": [{"column_name": "order_items.id"}],
    "limit": 1_000_000,
}  # fmt: skip
SMALL = {
    "join_paths_from_topic_name": "order_items",
    "fields": [
        "order_items.created_at[month]",
        "order_items.total_sale_price",
        "order_items.count",
    ],
    "limit": 1000,
}
LARGE = {**MILLION, "limit": 50_000}
ENV = {
    "SLUICE_SERVER_HIGH_LIMIT": "true",
    "SLUICE_SERVER_RUN_WINDOW_S": "300",
    "SLUICE_SERVER_MAX_RESULT_MB": "2048",
    "SLUICE_SERVER_CACHE_MAX_MB": "4096",
}

BARE_APP = """
import sys, uvicorn
BODY = open(sys.argv[1], "rb").read()
HEADERS = [(b"content-type", b"text/ndjson"), (b"content-length", str(len(BODY)).encode())]
async def app(scope, receive, send):
    while (await receive()).get("more_body"):
        pass
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), log_level="warning", lifespan="off")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--dir", type=Path, default=_api._default_dir())
    parser.add_argument("--runs", type=int, default=5, help="timed runs in (a)")
    parser.add_argument("--hits", type=int, default=300, help="timed hits per size in (b)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of the rate in (b)")
    parser.add_argument("--only", default="abc")
    parser.add_argument("--smoke", action="store_true", help="tiny and once: checks it runs")
    args = parser.parse_args()
    with _api.smoke_dir(args) as spin_rows:
        run(args, spin_rows)


def run(args: argparse.Namespace, spin_rows: dict[str, int]) -> None:
    config_path, key = prepare(args.dir, args.scale, spin_rows)
    config = load_config(config_path, env={**os.environ, **ENV})
    print(f"sluice results benchmark: demo scale {args.scale:g}, {os.cpu_count()} CPUs")
    print("path: (a) cache bypassed (SkipCache), (b) cache hits (EXACT), (c) both, each checked")
    print(f"project: {config_path}\n")
    log = args.dir / "server.log"
    with server(config_path, log, env=ENV, pid=True) as (url, pid):
        client = Client(url, key)
        if "a" in args.only:
            with Project.open(config) as project:
                bench_million(client, config, project, args.runs)
        if "b" in args.only:
            bench_hits(client, config, args.dir, args.hits, args.seconds)
        if "c" in args.only:
            bench_csv_memory(client, config, pid)


class Client:
    """A keep-alive HTTP/1.1 client (http.client: little overhead of its own)."""

    def __init__(self, url: str, key: str) -> None:
        host, port = url.removeprefix("http://").split(":")
        self.host, self.port = host, int(port)
        self.headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        self.conn = http.client.HTTPConnection(host, int(port), timeout=600)

    def post(self, payload: dict[str, Any], path: str = "/api/v1/query/run") -> bytes:
        raw = json.dumps(payload)
        try:
            self.conn.request("POST", path, body=raw, headers=self.headers)
            response = self.conn.getresponse()
        except (ConnectionError, http.client.RemoteDisconnected):  # idle past keep-alive
            self.conn.close()
            self.conn.request("POST", path, body=raw, headers=self.headers)
            response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {data[:300]!r}")
        return data


def job(data: bytes) -> dict[str, Any]:
    line = json.loads(data.split(b"\n")[1])
    if line.get("status") != "COMPLETE":
        raise RuntimeError(str(line)[:300])
    return dict(line)


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# -- (a) a million rows, fresh --------------------------------------------------------------------


def bench_million(client: Client, config: Config, project: Project, runs: int) -> None:
    print("(a) 1,000,000-row POST /query/run (cache bypassed: SkipCache) vs DuckDB execute + "
          "encode in process")  # fmt: skip
    payload = {**body(config, MILLION), "cache": "SkipCache"}
    model_id = payload["query"]["modelId"]
    sql = project.compile(model_id, payload["query"], now=datetime.now(UTC)).sql
    duck = connect_sandboxed(str(config.connections["warehouse"].database))

    def direct() -> int:
        table = duck.sql(sql).to_arrow_table()
        return len(b64encode(ipc_stream(table)))

    size = len(client.post(payload))
    answer = job(client.post(payload))
    assert answer["summary"]["cache_type"] == "MISS", "(a) must time the cache-bypassed path"
    rows = answer["summary"]["total_rows"]
    direct()
    direct_runs, api_runs = [], []
    for _ in range(runs):
        direct_runs.append(timed(direct))
        api_runs.append(timed(lambda: client.post(payload)))
    duck.close()
    d, a = statistics.median(direct_runs), statistics.median(api_runs)
    print(f"    {rows:,} rows, response {size / 1e6:.1f} MB")
    print(f"    DuckDB + IPC + base64 in process {ms(d)}   /query/run over HTTP {ms(a)}")
    print(f"    ratio {a / d:.2f}x (target <= 1.1x: {verdict(a / d <= 1.1)})\n")


# -- (b) cache hits -------------------------------------------------------------------------------


@contextmanager
def bare_server(body_file: Path) -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    proc = subprocess.Popen([sys.executable, "-c", BARE_APP, str(body_file), str(port)])
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
                conn.request("POST", "/", body=b"{}")
                conn.getresponse().read()
                conn.close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bench_hits(client: Client, config: Config, directory: Path, hits: int, seconds: float) -> None:
    print("(b) cache hit: POST /query/run (a fresh entry: EXACT) vs a bare ASGI endpoint")
    rates_payload: dict[str, Any] | None = None
    run_hits = True  # check once, outside the timing, that the timed path is a hit
    for name, query, target in (
        ("small (revenue by month)", SMALL, 1.3),
        ("50,000 rows", LARGE, 1.2),
    ):
        payload = body(config, query)
        client.post({**payload, "cache": "SkipCache"})  # a fresh entry
        response = until_hit(client, payload)
        body_file = directory / "bare_body.ndjson"
        body_file.write_bytes(response)
        with bare_server(body_file) as port:
            bare = Client(f"http://127.0.0.1:{port}", "x")
            for _ in range(min(30, hits)):  # warm both
                client.post(payload)
                bare.post(payload, "/")
            hit_runs, bare_runs = [], []
            for _ in range(hits):
                hit_runs.append(timed(lambda payload=payload: client.post(payload)))
                if run_hits and b'"EXACT"' not in client.post(payload):
                    raise RuntimeError("(b) must time cache hits, but an answer was not EXACT")
                run_hits = False
                bare_runs.append(timed(lambda payload=payload, bare=bare: bare.post(payload, "/")))
            h, b = statistics.median(hit_runs), statistics.median(bare_runs)
            print(f"    {name:25s} {len(response) / 1e3:9.1f} KB: hit {ms(h)}   bare {ms(b)}   "
                  f"{h / b:.2f}x (target <= {target}x: {verdict(h / b <= target)})")  # fmt: skip
            if rates_payload is None:
                rates_payload = payload
                hit_rate = asyncio.run(rate(client, payload, "/api/v1/query/run", 32, seconds))
                bare_rate = asyncio.run(rate(bare, payload, "/", 32, seconds))
    print(f"    32 concurrent clients, small result: {hit_rate:7.0f} cache hits/s; bare endpoint "
          f"{bare_rate:7.0f} req/s ({hit_rate / bare_rate:.2f}x; target >= 10,000 hits/s: "
          f"{verdict(hit_rate >= 10_000)})\n")  # fmt: skip


def until_hit(client: Client, payload: dict[str, Any]) -> bytes:
    """The answer once it comes from the cache: the entry a run stores is written just after
    its answer leaves, so the next request may still miss on a loaded machine."""
    deadline = time.monotonic() + 30
    while True:
        response = client.post(payload)
        if job(response)["summary"]["cache_type"] == "EXACT":
            return response
        if time.monotonic() > deadline:
            raise RuntimeError("(b) the result never came from the cache")
        time.sleep(0.05)


async def rate(
    client: Client, payload: dict[str, Any], path: str, clients: int, seconds: float
) -> float:
    """Requests/s of ``clients`` keep-alive connections, driven by one asyncio loop."""
    raw = json.dumps(payload).encode()
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {client.host}\r\n"
        f"Authorization: {client.headers['Authorization']}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(raw)}\r\n\r\n"
    ).encode()
    done = [0]
    stop = time.perf_counter() + seconds

    async def one() -> None:
        reader, writer = await asyncio.open_connection(client.host, client.port)
        while time.perf_counter() < stop:
            writer.write(head + raw)
            status = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            await reader.readexactly(length)
            if b" 200 " not in status:
                raise RuntimeError(status.decode())
            done[0] += 1
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(clients)))
    return done[0] / (time.perf_counter() - started)


# -- (c) CSV export memory -----------------------------------------------------------------------


class RssSampler:
    def __init__(self, pid: int, interval: float = 0.002) -> None:
        self.pid, self.interval = pid, interval
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss(self.pid))
            time.sleep(self.interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_csv_memory(client: Client, config: Config, pid: int) -> None:
    print("(c) server peak resident memory while streaming a 1,000,000-row CSV export")
    base = {**body(config, MILLION), "resultType": "csv"}
    for name, payload in (
        ("from the result cache", base),
        ("running the query (SkipCache)", {**base, "cache": "SkipCache"}),
    ):
        client.post(payload)  # warm: the entry exists, the allocator has its pools
        client.post(payload)
        before = _rss(pid)
        with RssSampler(pid) as sampler:
            size = len(client.post(payload))
        added = max(0, sampler.peak - before)
        ratio = added / size
        print(f"    {name:30s} CSV {size / 1e6:6.1f} MB; resident before {before / 1e6:6.1f} MB, "
              f"peak {sampler.peak / 1e6:6.1f} MB, added {added / 1e6:6.1f} MB = {ratio:.2f}x "
              f"the CSV (target < 0.3x: {verdict(ratio < 0.3)})")  # fmt: skip
    print()


if __name__ == "__main__":
    main()
