"""Replica scaling benchmark: throughput of a mixed query load on 1, 2 and 3 replicas.

Real ``sluice serve`` processes on local ports share one Redis (``$SLUICE_BENCH_REDIS_URL``, default
``redis://127.0.0.1:6379/0``) and one warehouse. The load is the five typical demo queries of
``bench/api.py``, each with a numeric filter whose threshold varies: most requests repeat one of a
few hot variants (cache hits once computed, by any replica: the cache is shared), the rest ask
for a variant never seen before (a miss: compile, run on the warehouse, store). There is no load
balancer: the client threads spread requests round-robin over the replicas. Every configuration
starts with fresh replicas and an empty cache (a key prefix of its own), is warmed for a moment,
then measured for ``--seconds``.

The same load runs with DuckDB as the warehouse (one file, opened read-only by every replica)
and with PostgreSQL (the demo loaded into a schema of its own with ``load_demo_postgres``;
``--postgres-url``, default ``$SLUICE_BENCH_POSTGRES_URL`` or
``postgresql://postgres@127.0.0.1:5432/test``). One embedded server (SQLite and local disk, no
Redis) is measured too, as the single-process reference. Nothing is asserted: figures are
printed, with the ratio to one replica. Path: a mix of **cache hits and misses** (the share of
hits is printed for every setup). ``--smoke`` runs each setup briefly on a tiny warehouse in a
temporary folder and a PostgreSQL schema of its own, dropped afterwards (``make test`` does).

    .venv/bin/python bench/scale.py [--scale 0.1] [--seconds 8] [--clients 6] [--replicas 1,2,3]
        [--smoke]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import redis

from api import DEMO_MODEL, QUERIES, smoke_dir
from sluice.auth.tokens import ORGANIZATION
from sluice.config import model_uuid
from sluice.demo.data import generate_demo_data
from sluice.demo.load import load_demo_postgres
from sluice.stores.embedded.tokens import SqliteTokenStore
from sluice.stores.redis.keys import Keys
from sluice.stores.redis.tokens import RedisTokenStore

CONFIG = """\
connections:
  warehouse: {connection}
models:
  ecommerce: {{connection: warehouse, path: {demo_model}}}
server:
  state_dir: {state_dir}
  result_retention_s: 600
"""

# The numeric filter that varies per query, by topic, and the thresholds it takes.
FILTERS = {
    "order_items": "order_items.sale_price",
    "users": "users.age",
    "events": "events.sequence_number",
}
HOT_VARIANTS = 3  # per query: repeated, so hits once computed
NEW_SHARE = 0.25  # of requests: a threshold never asked before (a miss)
PG_SCHEMA = "sluice_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=0.1, help="demo data scale")
    parser.add_argument("--dir", type=Path, default=_default_dir())
    parser.add_argument("--seconds", type=float, default=8.0, help="measured time per setup")
    parser.add_argument("--clients", type=int, default=6, help="concurrent client threads")
    parser.add_argument("--replicas", default="1,2,3")
    parser.add_argument(
        "--redis-url", default=os.environ.get("SLUICE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "SLUICE_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
        ),
    )
    parser.add_argument("--only", default="duckdb,postgres", help="warehouses to measure")
    parser.add_argument("--pg-schema", default=PG_SCHEMA, help="PostgreSQL schema for the demo")
    parser.add_argument("--smoke", action="store_true", help="tiny and brief: checks it runs")
    args = parser.parse_args()
    with smoke_dir(args):
        if args.smoke:
            args.pg_schema = f"{PG_SCHEMA}_smoke_{os.getpid()}"
        try:
            run(args)
        finally:
            if args.smoke and "postgres" in args.only:
                drop_schema(args.postgres_url, args.pg_schema)


def run(args: argparse.Namespace) -> None:
    counts = [int(n) for n in args.replicas.split(",")]

    args.dir.mkdir(parents=True, exist_ok=True)
    database = args.dir / f"ecommerce_s{args.scale:g}.duckdb"
    if not database.exists():
        print(f"generating the demo warehouse at scale {args.scale:g} ...", flush=True)
        generate_demo_data(database, args.scale)
    print(describe_machine())
    print("path: a mix of cache hits and misses through the whole API (the hit share is printed)")
    print(f"load: the five bench/api.py queries x a varying numeric filter; {HOT_VARIANTS} hot "
          f"variants per query, {NEW_SHARE:.0%} of requests a new variant (a miss); "
          f"{args.clients} client threads, round-robin over the replicas, {args.seconds:g} s "
          f"measured per setup; demo scale {args.scale:g}\n")  # fmt: skip

    warehouses: dict[str, str] = {}
    if "duckdb" in args.only:
        warehouses["DuckDB"] = f"{{engine: duckdb, database: '{database}'}}"
    if "postgres" in args.only:
        print(f"loading the demo into PostgreSQL schema {args.pg_schema} ...", flush=True)
        load_demo_postgres(database, args.postgres_url, args.pg_schema)
        warehouses["PostgreSQL"] = (
            f"{{engine: postgres, url: '{args.postgres_url}', schema: {args.pg_schema}}}"
        )
    for name, connection in warehouses.items():
        print(f"warehouse: {name}")
        base = None
        embedded = measure(args, connection, replicas=1, redis_url=None)
        print(f"    1 replica, embedded (no Redis)  {embedded.line()}")
        for count in counts:
            result = measure(args, connection, replicas=count, redis_url=args.redis_url)
            base = base or result.rate
            print(f"    {count} replica{'s' if count > 1 else ' '} sharing Redis     "
                  f"{result.line()}   {result.rate / base:4.2f}x 1 replica")  # fmt: skip
        print()


def drop_schema(url: str, schema: str) -> None:
    from sluice.engines.postgres import PostgresEngine, quote_ident

    engine = PostgresEngine(url, read_only=False)  # served engines are read-only
    try:
        engine.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
    finally:
        engine.close()


def describe_machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    mem = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem = int(line.split()[1]) // (1 << 20)
    return (
        f"sluice replica scaling benchmark on {os.cpu_count()} cores ({model}), {mem} GiB; "
        "client, replicas, Redis and the warehouse all share these cores, so more replicas "
        "add parallelism only where one replica leaves a core idle"
    )


def _default_dir() -> Path:
    return Path(os.environ.get("SLUICE_BENCH_DIR", Path.home() / ".cache" / "sluice-bench"))


# -- one setup --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    rate: float
    requests: int
    hits: int
    errors: int
    p50_ms: float
    p95_ms: float

    def line(self) -> str:
        share = self.hits / max(1, self.requests)
        errors = f", {self.errors} errors" if self.errors else ""
        return (f"{self.rate:7.1f} req/s  ({self.requests} requests, {share:.0%} cache hits, "
                f"p50 {self.p50_ms:6.1f} ms, p95 {self.p95_ms:6.1f} ms{errors})")  # fmt: skip


def measure(
    args: argparse.Namespace, connection: str, *, replicas: int, redis_url: str | None
) -> Result:
    run = uuid.uuid4().hex[:8]
    folder = args.dir / f"scale-{run}"
    folder.mkdir(parents=True)
    config = folder / "sluice.yaml"
    config.write_text(
        CONFIG.format(connection=connection, demo_model=DEMO_MODEL, state_dir=folder / "state")
    )
    prefix = f"sluice-bench-{run}"
    env = {"SLUICE_SERVER_REDIS_PREFIX": prefix}
    if redis_url:
        env["SLUICE_REDIS_URL"] = redis_url
    key = create_key(folder / "replica0", redis_url, prefix)
    try:
        with ExitStack() as stack:
            urls = [
                stack.enter_context(server(config, folder / f"replica{i}", env))
                for i in range(replicas)
            ]
            return drive(urls, key, args.clients, args.seconds)
    finally:
        if redis_url:
            clean(redis_url, prefix)


def create_key(state_dir: Path, redis_url: str | None, prefix: str) -> str:
    if redis_url:
        client = redis.Redis.from_url(redis_url)
        try:
            secret, _ = RedisTokenStore(client, Keys(prefix)).create(ORGANIZATION, "sluice")
        finally:
            client.close()
        return secret
    store = SqliteTokenStore(state_dir)  # the one replica's own state dir
    try:
        secret, _ = store.create(ORGANIZATION, "sluice")
    finally:
        store.close()
    return secret


def clean(redis_url: str, prefix: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        keys = list(client.scan_iter(match=f"{prefix}:*", count=1000))
        for start in range(0, len(keys), 500):
            client.delete(*keys[start : start + 500])
    finally:
        client.close()


@contextmanager
def server(config: Path, state: Path, env: dict[str, str]) -> Iterator[str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    state.mkdir(parents=True, exist_ok=True)
    log = state / "server.log"
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sluice.cli", "serve", "--config", str(config),
             "--port", str(port), "--log-level", "warning"],
            stdout=out, stderr=subprocess.STDOUT,
            env={**os.environ, **env, "SLUICE_SERVER_STATE_DIR": str(state)},
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit(f"the server did not start; see {log}") from None
                    time.sleep(0.05)
            yield url
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


# -- the load ---------------------------------------------------------------------------------


def payloads(seed: int, fresh: Iterator[int]) -> Iterator[bytes]:
    """An endless, seeded mix: hot variants (hits) and never-seen ones (misses)."""
    rng = random.Random(seed)
    names = sorted(QUERIES)
    model_id = model_uuid("ecommerce")
    while True:
        query = dict(QUERIES[rng.choice(names)])
        variant = next(fresh) if rng.random() < NEW_SHARE else rng.randrange(HOT_VARIANTS)
        field = FILTERS[query["join_paths_from_topic_name"]]
        # Hot: 0, 1, 2. New: a tiny threshold of its own (a new cache key, as much work).
        threshold = variant if variant < HOT_VARIANTS else variant * 1e-6
        query["filters"] = {
            field: {"type": "number", "kind": "GREATER_THAN", "values": [threshold]}
        }
        yield json.dumps({"query": {"modelId": model_id, **query}}).encode()


class _Counter:
    def __init__(self, start: int) -> None:
        self._next = start
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[int]:
        return self

    def __next__(self) -> int:
        with self._lock:
            self._next += 1
            return self._next


def drive(urls: list[str], key: str, clients: int, seconds: float) -> Result:
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    fresh = _Counter(HOT_VARIANTS + 1000)
    latencies: list[list[float]] = [[] for _ in range(clients)]
    hits = [0] * clients
    errors = [0] * clients
    warm_until = time.perf_counter() + min(2.0, seconds / 4)
    stop = warm_until + seconds

    def client(index: int) -> None:
        conns = [
            http.client.HTTPConnection(*u.removeprefix("http://").split(":"), timeout=120)
            for u in urls
        ]
        stream = payloads(index, fresh)
        turn = index
        while (now := time.perf_counter()) < stop:
            conn = conns[turn % len(conns)]
            turn += 1
            body = next(stream)
            try:
                conn.request("POST", "/api/v1/query/run", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            except (OSError, http.client.HTTPException):
                errors[index] += 1
                continue
            done = time.perf_counter()
            if now < warm_until:
                continue
            if response.status != 200 or b'"status":"COMPLETE"' not in data:
                errors[index] += 1
                continue
            latencies[index].append(done - now)
            if b'"cache_type":"EXACT' in data:
                hits[index] += 1
        for conn in conns:
            conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = sorted(x for per in latencies for x in per)
    count = len(every)

    def pick(q: float) -> float:
        return every[min(count - 1, int(q * count))] * 1000 if count else 0.0

    return Result(count / seconds, count, sum(hits), sum(errors), pick(0.5), pick(0.95))


if __name__ == "__main__":
    main()
