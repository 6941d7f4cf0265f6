"""Query API benchmark: a real ``sluice serve`` against the scale-1 demo warehouse.

Each figure is printed with a ratio against a baseline measured in the same run:

Every request sends ``"cache": "SkipCache"``: each figure times the **cache-bypassed** path
(compile, run on the warehouse, encode, store), never a cache hit (bench/results.py times hits).

(a) end-to-end ``POST /query/run`` time of five typical aggregate queries, against running the
    same SQL directly in DuckDB in this process (target: within 1.15x);
(b) requests/s of a small query over HTTP, against the same query compiled and run in process
    with no HTTP, with one client and with four (target: at least 0.8x); the CPU time per
    request of each side is printed too, as it is far less sensitive to other load;
(c) delay between a job finishing (its ``computed_at``) and a parked ``/query/wait`` answering
    (target: median under 2 ms; baseline: the same client's round trip to ``/health``);
(d) server memory added by 1,000 concurrent waiting ``/query/wait`` requests (target: under
    100 MB; baseline: the server's resident memory before they connect).

The demo data (scale 1 by default) is generated once into the cache dir (``--dir``, default
``$SLUICE_BENCH_DIR`` or ``~/.cache/sluice-bench``). Nothing is asserted: numbers are printed.
``--smoke`` runs every part once on a tiny warehouse in a temporary folder (``make test`` does,
so the script cannot silently rot); its figures mean nothing.

    .venv/bin/python bench/api.py [--scale 1] [--runs 15] [--seconds 3] [--waiters 1000] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import resource
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from sluice.auth.tokens import ORGANIZATION
from sluice.config import Config, load_config
from sluice.demo.data import generate_demo_data
from sluice.engines.duckdb import connect_sandboxed
from sluice.project import Project
from sluice.stores.embedded.tokens import SqliteTokenStore

DEMO_MODEL = Path(__file__).resolve().parents[1] / "src" / "sluice" / "demo" / "model"

# A second model whose one view is slow on purpose (hashing a range), for the wait benchmarks:
# the job must still be running when the waiters arrive. No sleep anywhere in the server.
SPIN_VIEW = """\
sql: SELECT range AS n FROM range({rows})
dimensions:
  n: {{primary_key: true, type: number}}
measures:
  checksum: {{sql: "hash(${{n}}) % 1000", aggregate_type: sum}}
"""

CONFIG = """\
connections:
  warehouse: {{engine: duckdb, database: {database}}}
  spin: {{engine: duckdb}}
models:
  ecommerce: {{connection: warehouse, path: {demo_model}}}
  spin: {{connection: spin, path: {spin_model}}}
server:
  state_dir: {state_dir}
  result_retention_s: 600
"""

QUERIES: dict[str, dict[str, Any]] = {
    "revenue by month": {
        "join_paths_from_topic_name": "order_items",
        "fields": [
            "order_items.created_at[month]", "order_items.total_sale_price", "order_items.count",
        ],
        "limit": 1000,
    },
    "revenue by category": {
        "join_paths_from_topic_name": "order_items",
        "fields": [
            "products.department", "products.category", "order_items.total_sale_price",
            "order_items.average_sale_price",
        ],
        "limit": 1000,
    },
    "customers by state": {
        "join_paths_from_topic_name": "order_items",
        "fields": ["users.country", "users.state", "order_items.unique_users", "order_items.count"],
        "limit": 1000,
    },
    "users by age tier": {
        "join_paths_from_topic_name": "users",
        "fields": ["users.age_tier", "users.gender", "users.count"],
        "limit": 1000,
    },
    "events by source": {
        "join_paths_from_topic_name": "events",
        "fields": ["events.traffic_source", "events.event_type", "events.count",
                   "events.unique_sessions"],
        "limit": 1000,
    },
}  # fmt: skip
SMALL = {"table": "users", "fields": ["users.count"], "limit": 10}
SKIP_CACHE = "SkipCache"  # every request of this benchmark: the cache-bypassed path
# Rows hashed by the spin views: a short job (~0.1 s) and a long one (seconds), and in smoke mode.
SPIN_ROWS = {"short": 20_000_000, "long": 1_500_000_000}
SMOKE_SPIN_ROWS = {"short": 2_000_000, "long": 20_000_000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--dir", type=Path, default=_default_dir())
    parser.add_argument("--runs", type=int, default=15, help="timed runs per query in (a)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each side of (b)")
    parser.add_argument("--wake-trials", type=int, default=25, help="trials in (c)")
    parser.add_argument("--waiters", type=int, default=1000, help="parked requests in (d)")
    parser.add_argument("--only", default="abcd", help="which figures to measure, e.g. ab")
    parser.add_argument("--smoke", action="store_true", help="tiny and once: checks it runs")
    args = parser.parse_args()
    with smoke_dir(args) as spin_rows:
        run(args, spin_rows)


def run(args: argparse.Namespace, spin_rows: dict[str, int]) -> None:
    _raise_fd_limit(args.waiters * 2 + 256)
    config_path, key = prepare(args.dir, args.scale, spin_rows)
    config = load_config(config_path)
    print(f"sluice query API benchmark: demo scale {args.scale:g}, {os.cpu_count()} CPUs")
    print("path: cache bypassed (every request sends SkipCache; answers are checked to be MISS)")
    print(f"project: {config_path}\n")
    if "a" in args.only or "b" in args.only:
        log = args.dir / "server.log"
        with server(config_path, log, pid=True) as (url, pid), Project.open(config) as project:
            if "a" in args.only:
                bench_run_latency(url, key, config, project, args.runs)
            if "b" in args.only:
                bench_throughput(url, pid, key, config, project, args.seconds)
    if "c" in args.only or "d" in args.only:
        env = {"SLUICE_SERVER_RUN_WINDOW_S": "0", "SLUICE_SERVER_WAIT_WINDOW_S": "120"}
        with server(config_path, args.dir / "server.log", env=env, pid=True) as (url, pid):
            if "c" in args.only:
                bench_wake_delay(url, key, config, args.wake_trials)
            if "d" in args.only:
                bench_waiter_memory(url, pid, key, config, args.waiters)


# -- setup ---------------------------------------------------------------------------------------


def _default_dir() -> Path:
    return Path(os.environ.get("SLUICE_BENCH_DIR", Path.home() / ".cache" / "sluice-bench"))


@contextmanager
def smoke_dir(args: argparse.Namespace) -> Iterator[dict[str, int]]:
    """In smoke mode, shrink every size and count to a minimum and work in a temporary folder
    removed afterwards; otherwise leave the arguments as they are. Yields the spin sizes."""
    if not args.smoke:
        yield SPIN_ROWS
        return
    print("smoke mode: tiny warehouse, one iteration; the figures mean nothing")
    for name, value in SMOKE_ARGS.items():
        if hasattr(args, name):
            setattr(args, name, value)
    with tempfile.TemporaryDirectory(prefix="sluice-bench-smoke-") as tmp:
        args.dir = Path(tmp)
        yield SMOKE_SPIN_ROWS


SMOKE_ARGS: dict[str, Any] = {
    "scale": 0.01, "runs": 1, "seconds": 0.2, "wake_trials": 2, "waiters": 20, "hits": 3,
    "replicas": "2", "clients": 2,
}  # fmt: skip


def prepare(
    directory: Path, scale: float, spin_rows: dict[str, int] = SPIN_ROWS
) -> tuple[Path, str]:
    directory.mkdir(parents=True, exist_ok=True)
    database = directory / f"ecommerce_s{scale:g}.duckdb"
    if not database.exists():
        print(f"generating the demo warehouse at scale {scale:g} into {database} ...", flush=True)
        started = time.perf_counter()
        generate_demo_data(database, scale)
        print(f"  done in {time.perf_counter() - started:.1f} s", flush=True)
    spin = directory / "spin_model"
    spin.mkdir(exist_ok=True)
    (spin / "model.yaml").write_text("week_start_day: Monday\n")
    (spin / "short_spin.view.yaml").write_text(SPIN_VIEW.format(rows=spin_rows["short"]))
    (spin / "long_spin.view.yaml").write_text(SPIN_VIEW.format(rows=spin_rows["long"]))
    config = directory / "sluice.yaml"
    state_dir = directory / f"state_s{scale:g}"
    # A fresh state directory each run: jobs, history and cached results left by earlier runs
    # (hundreds of MB after a day of benchmarks) would make later runs slower than earlier ones.
    shutil.rmtree(state_dir, ignore_errors=True)
    config.write_text(
        CONFIG.format(
            database=database, demo_model=DEMO_MODEL, spin_model=spin, state_dir=state_dir
        )
    )
    store = SqliteTokenStore(load_config(config).server.state_dir)
    try:
        key, _ = store.create(ORGANIZATION, "sluice", name="bench")
    finally:
        store.close()
    return config, key


def _raise_fd_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard), hard))


@contextmanager
def server(
    config: Path, log: Path, *, env: dict[str, str] | None = None, pid: bool = False
) -> Iterator[Any]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sluice.cli", "serve", "--config", str(config),
             "--port", str(port), "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"the server did not start; see {log}") from None
                    time.sleep(0.05)
            yield (url, proc.pid) if pid else url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def body(
    config: Config, query: dict[str, Any], model: str = "ecommerce", cache: str | None = None
) -> dict[str, Any]:
    """A ``/query/run`` body; ``cache`` is the top-level cache policy (absent: Standard)."""
    payload: dict[str, Any] = {"query": {"modelId": config.models[model].id, **query}}
    if cache is not None:
        payload["cache"] = cache
    return payload


def run_request(client: httpx.Client, payload: dict[str, Any]) -> list[dict[str, Any]]:
    response = client.post("/api/v1/query/run", json=payload)
    response.raise_for_status()
    return [json.loads(line) for line in response.text.splitlines()]


def timed(fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# -- (a) end-to-end run latency --------------------------------------------------------------------


def bench_run_latency(url: str, key: str, config: Config, project: Project, runs: int) -> None:
    print("(a) POST /query/run end to end (cache bypassed: SkipCache) vs the same SQL in DuckDB "
          "in process (median)")  # fmt: skip
    model_id = config.models["ecommerce"].id
    duck = connect_sandboxed(str(config.connections["warehouse"].database))
    totals = [0.0, 0.0]
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        for name, query in QUERIES.items():
            payload = body(config, query, cache=SKIP_CACHE)
            sql = project.compile(model_id, payload["query"], now=datetime.now(UTC)).sql
            lines = run_request(client, payload)
            assert lines[1]["status"] == "COMPLETE", lines[1]
            assert lines[1]["summary"]["cache_type"] == "MISS", "(a) must time a miss"
            direct_runs: list[float] = []
            api_runs: list[float] = []
            for _ in range(2):  # warm both sides
                duck.sql(sql).to_arrow_table()
                run_request(client, payload)
            for _ in range(runs):
                direct_runs.append(timed(lambda sql=sql: duck.sql(sql).to_arrow_table()))
                api_runs.append(timed(lambda payload=payload: run_request(client, payload)))
            direct, api = statistics.median(direct_runs), statistics.median(api_runs)
            totals[0] += direct
            totals[1] += api
            print(f"    {name:22s} duckdb {ms(direct)}   api {ms(api)}   {api / direct:5.2f}x")
    duck.close()
    ratio = totals[1] / totals[0]
    print(f"    all five: {ratio:.2f}x DuckDB direct (target <= 1.15x: {verdict(ratio <= 1.15)})\n")


# -- (b) small-query throughput --------------------------------------------------------------------


def bench_throughput(
    url: str, pid: int, key: str, config: Config, project: Project, seconds: float
) -> None:
    print("(b) requests/s of a small query (users.count), cache bypassed (SkipCache); keep-alive "
          "HTTP/1.1 clients")  # fmt: skip
    payload = body(config, SMALL, cache=SKIP_CACHE)
    query, model_id = payload["query"], payload["query"]["modelId"]
    raw = json.dumps(payload)
    host, port = url.removeprefix("http://").split(":")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}

    def in_process() -> Callable[[], object]:
        def once() -> None:
            compiled = project.compile(model_id, query, now=datetime.now(UTC))
            project.execute(model_id, compiled)

        return once

    def over_http() -> Callable[[], object]:
        conn = http.client.HTTPConnection(host, int(port))

        def once() -> None:
            conn.request("POST", "/api/v1/query/run", body=raw, headers=headers)
            response = conn.getresponse()
            answer = response.read()
            if response.status != 200 or b'"COMPLETE"' not in answer:
                raise RuntimeError("the small query did not complete")
            if b'"MISS"' not in answer:
                raise RuntimeError("(b) must time misses, but the answer was not a MISS")

        return once

    for clients in (1, 4):
        local, local_cpu = _rate(in_process, clients, seconds, os.getpid())
        remote, remote_cpu = _rate(over_http, clients, seconds, pid)
        ratio = remote / local
        print(f"    {clients} client(s): in process (compile + execute) {local:6.0f} req/s, "
              f"{local_cpu * 1000:.2f} ms CPU/req; over HTTP {remote:6.0f} req/s, server "
              f"{remote_cpu * 1000:.2f} ms CPU/req; ratio {ratio:.2f}x "
              f"(target >= 0.8x: {verdict(ratio >= 0.8)}; server CPU within 0.5 ms of in "
              f"process: {verdict(remote_cpu - local_cpu <= 0.0005)})")  # fmt: skip
    print()


def _rate(
    make: Callable[[], Callable[[], object]], clients: int, seconds: float, pid: int
) -> tuple[float, float]:
    """Requests/s of ``clients`` threads each calling its own ``make()`` in a loop, and the CPU
    seconds process ``pid`` spent per request meanwhile."""
    counts = [0] * clients
    calls = [make() for _ in range(clients)]
    for call in calls:
        for _ in range(20):
            call()
    stop = time.perf_counter() + seconds

    def loop(index: int) -> None:
        while time.perf_counter() < stop:
            calls[index]()
            counts[index] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    cpu, started = _cpu(pid), time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed, used = time.perf_counter() - started, _cpu(pid) - cpu
    done = max(1, sum(counts))
    return done / elapsed, used / done


def _cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- (c) wake-up delay -----------------------------------------------------------------------------


def bench_wake_delay(url: str, key: str, config: Config, trials: int) -> None:
    print("(c) job finished -> parked /query/wait answered (run window 0, ~0.1 s job, cache "
          "bypassed: SkipCache)")  # fmt: skip
    query = {"table": "short_spin", "fields": ["short_spin.checksum"]}
    payload = body(config, query, "spin", cache=SKIP_CACHE)
    headers = {"Authorization": f"Bearer {key}"}
    delays: list[float] = []
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        rtt = statistics.median(timed(lambda: client.get("/health")) for _ in range(50))
        for _ in range(trials):
            footer = run_request(client, payload)[-1]
            (job_id,) = footer["remaining_job_ids"]
            sent = time.time()
            response = client.get("/api/v1/query/wait", params={"jobIds": job_id})
            received = time.time()
            line = json.loads(response.text.splitlines()[0])
            computed = datetime.fromisoformat(line["cache_metadata"]["computed_at"]).timestamp()
            if sent < computed:  # the waiter was parked before the job finished
                delays.append(received - computed)
    if not delays:
        print("    no wait was parked before its job finished (the job is too short here)\n")
        return
    median = statistics.median(delays)
    p90 = statistics.quantiles(delays, n=10)[-1] if len(delays) >= 2 else median
    print(f"    {len(delays)} parked waits: median {ms(median)}, p90 {ms(p90)}")
    print(f"    baseline: GET /health round trip {ms(rtt)} ({median / rtt:.1f}x)")
    print(f"    target median < 2 ms: {verdict(median < 0.002)}\n")


# -- (d) memory of parked waiters ------------------------------------------------------------------


def bench_waiter_memory(url: str, pid: int, key: str, config: Config, waiters: int) -> None:
    print(f"(d) server memory with {waiters} concurrent /query/wait requests parked on a job "
          "(cache bypassed: SkipCache)")  # fmt: skip
    long_spin = {"table": "long_spin", "fields": ["long_spin.checksum"]}
    payload = body(config, long_spin, "spin", cache=SKIP_CACHE)
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
        for _ in range(3):  # warm: the code paths a parked wait uses, allocated once
            short_spin = {"table": "short_spin", "fields": ["short_spin.checksum"]}
            short = body(config, short_spin, "spin", cache=SKIP_CACHE)
            (job_id,) = run_request(client, short)[-1]["remaining_job_ids"]
            client.get("/api/v1/query/wait", params={"jobIds": job_id})
        (job_id,) = run_request(client, payload)[-1]["remaining_job_ids"]
    before = _rss(pid)
    host, port = url.removeprefix("http://").split(":")
    parked, answered = asyncio.run(_park(host, int(port), key, job_id, waiters, pid))
    added = (parked - before) / (1 << 20)
    print(f"    resident before {before / (1 << 20):7.1f} MB, with waiters parked "
          f"{parked / (1 << 20):7.1f} MB")  # fmt: skip
    print(f"    added {added:.1f} MB = {added * 1024 / waiters:.1f} KB per waiting request; "
          f"{answered}/{waiters} answered COMPLETE when the job finished")  # fmt: skip
    print(f"    target < 100 MB: {verdict(added < 100)}\n")


async def _park(
    host: str, port: int, key: str, job_id: str, count: int, pid: int
) -> tuple[int, int]:
    request = (
        f"GET /api/v1/query/wait?jobIds={job_id} HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    ).encode()
    streams = []
    for _ in range(count):
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        streams.append((reader, writer))
    await asyncio.gather(*(w.drain() for _, w in streams))
    await asyncio.sleep(2.0)  # let the server read and park every request
    parked = _rss(pid)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        data = await reader.read()
        writer.close()
        return b'"status":"COMPLETE"' in data

    answered = await asyncio.gather(*(answer(r, w) for r, w in streams))
    return parked, sum(answered)


def _rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


if __name__ == "__main__":
    main()
