"""Scaling curves: requests/s against concurrent clients, and time against result size.

Against a real ``sluice serve`` on the demo warehouse (bench/api.py's helpers start both):

(i)  requests/s of a small query (``users.count``) with 1, 2, 4, 8, 16 and 32 concurrent
     keep-alive clients, for **cache misses** (``"cache": "SkipCache"``; each request asks for a
     different ``limit``, so no two share an execution or a compiled plan; every answer is
     checked to be ``MISS``) and for **cache hits** (the same request; checked ``EXACT``). Misses
     are driven by one thread per client (bench/api.py's driver, which also reads the server's
     CPU time per request), hits by one asyncio loop (bench/results.py's, lighter per request);
(ii) time of one ``POST /query/run`` (sent to last byte received, median of ``--runs``) against
     the result size, 1 to 1,000,000 rows of ``order_items``, for the base64 NDJSON answer,
     ``resultType: "arrow"`` and ``resultType: "csv"``, each with ``SkipCache`` (checked
     ``MISS``, from the line or the ``x-sluice-cache-type`` header), next to DuckDB executing the
     same compiled SQL into an Arrow table in this process (the baseline column); and
     ``resultType: "arrow"`` answered from the cache (checked ``EXACT``): what sending the stored
     stream costs on its own.

Both are printed as tables and drawn as PNG charts (``--charts``, default ``bench/charts``:
``clients.png`` and ``sizes.png``). The machine may be shared: the figures are one run's,
nothing is asserted. ``--smoke`` runs clients 1 and 2, sizes 1 and 100, once, on a tiny
warehouse, drawing into a temporary folder unless ``--charts`` is given (``make test`` does).

    .venv/bin/python bench/curves.py [--scale 1] [--runs 3] [--seconds 3] [--only is] [--smoke]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import http.client
import importlib.util
import itertools
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from sluice.config import Config, load_config
from sluice.engines.duckdb import connect_sandboxed
from sluice.project import Project
from sluice.results.arrow import decode_table


def _load(name: str) -> Any:
    """A sibling bench script, loaded by path (bench/ is not a package)."""
    path = Path(__file__).with_name(f"{name}.py")
    spec = importlib.util.spec_from_file_location(f"bench_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


_results = _load("results")
_api = _results._api  # bench/api.py, as results.py loaded it
Client = _results.Client

CLIENTS = [1, 2, 4, 8, 16, 32]
SIZES = [1, 1_000, 10_000, 100_000, 1_000_000]
SMOKE = {"client_counts": [1, 2], "sizes": [1, 100]}
# bench/results.py's (a): order_items' id, created_at, status, sale_price and user_id, by id.
# Dimensions only, so the SQL groups by all five: the warehouse's cost is about the same for
# every limit (it groups and orders the million rows), the answer's grows with the rows.
ROWS = _results.MILLION


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--dir", type=Path, default=_api._default_dir())
    parser.add_argument("--runs", type=int, default=3, help="timed runs per size in (ii)")
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each rate in (i)")
    parser.add_argument("--client-counts", type=_ints, default=CLIENTS, help="e.g. 1,2,4")
    parser.add_argument("--sizes", type=_ints, default=SIZES, help="rows, e.g. 1,1000")
    parser.add_argument("--charts", type=Path, help="where the PNGs go (default bench/charts)")
    parser.add_argument("--only", default="is", help="i: clients, s: sizes")
    parser.add_argument("--smoke", action="store_true", help="tiny and once: checks it runs")
    args = parser.parse_args()
    with _api.smoke_dir(args) as spin_rows:
        if args.smoke:
            for name, value in SMOKE.items():
                setattr(args, name, value)
            args.charts = args.charts or args.dir / "charts"
        run(args, spin_rows)


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def run(args: argparse.Namespace, spin_rows: dict[str, int]) -> None:
    _api._raise_fd_limit(max(args.client_counts) * 4 + 256)
    config_path, key = _api.prepare(args.dir, args.scale, spin_rows)
    config = load_config(config_path, env={**os.environ, **_results.ENV})
    print(f"sluice scaling curves: demo scale {args.scale:g}, {os.cpu_count()} CPUs")
    print("path: (i) cache bypassed (SkipCache, each answer checked MISS) and cache hits "
          "(checked EXACT); (ii) cache bypassed (SkipCache, checked MISS), and arrow hits "
          "(checked EXACT) in the last column")  # fmt: skip
    print(f"project: {config_path}\n")
    args.charts = args.charts or Path(__file__).with_name("charts")
    args.charts.mkdir(parents=True, exist_ok=True)
    log = args.dir / "server.log"
    with _api.server(config_path, log, env=_results.ENV, pid=True) as (url, pid):
        client = Client(url, key)
        if "i" in args.only:
            curve = clients_curve(client, config, pid, args.client_counts, args.seconds)
            draw_clients(curve, args.charts / "clients.png")
        if "s" in args.only:
            with Project.open(config) as project:
                sizes = sizes_curve(client, config, project, args.sizes, args.runs)
            draw_sizes(sizes, args.charts / "sizes.png")
    print(f"charts: {args.charts}")


# -- (i) requests/s against concurrent clients ---------------------------------------------------


def clients_curve(
    client: Any, config: Config, pid: int, counts: list[int], seconds: float
) -> list[tuple[int, float, float, float]]:
    """(clients, misses/s, server CPU ms per miss, hits/s) for each client count."""
    print("(i) requests/s of a small query (users.count) against concurrent keep-alive clients")
    hit_payload = _api.body(config, _api.SMALL)
    client.post({**hit_payload, "cache": "SkipCache"})
    _results.until_hit(client, hit_payload)  # checked: the hit payload is answered EXACT
    limits = itertools.count()

    def miss_caller() -> Callable[[], object]:
        conn = http.client.HTTPConnection(client.host, client.port, timeout=600)

        def once() -> None:
            limit = 1 + next(limits) % 40_000  # a different query each time: nothing shared
            payload = _api.body(config, {**_api.SMALL, "limit": limit}, cache="SkipCache")
            conn.request("POST", "/api/v1/query/run", json.dumps(payload), client.headers)
            response = conn.getresponse()
            answer = response.read()
            if response.status != 200 or b'"COMPLETE"' not in answer:
                raise RuntimeError(f"(i) the miss did not complete: {answer[:300]!r}")
            if b'"cache_type":"MISS"' not in answer:
                raise RuntimeError("(i) must time misses, but an answer was not a MISS")

        return once

    curve = []
    print(f"    {'clients':>7}  {'misses/s':>9}  {'CPU ms/miss':>11}  {'hits/s':>9}")
    for count in counts:
        misses, cpu = _api._rate(miss_caller, count, seconds, pid)
        hits = asyncio.run(_results.rate(client, hit_payload, "/api/v1/query/run", count, seconds))
        curve.append((count, misses, cpu * 1000, hits))
        print(f"    {count:7d}  {misses:9.0f}  {cpu * 1000:11.2f}  {hits:9.0f}")
    if b'"cache_type":"EXACT"' not in client.post(hit_payload):
        raise RuntimeError("(i) must time hits, but the answer after the run was not EXACT")
    print()
    return curve


def draw_clients(curve: list[tuple[int, float, float, float]], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    counts = [c for c, *_ in curve]
    ax.plot(counts, [h for *_, h in curve], "o-", label="cache hit (EXACT)")
    ax.plot(counts, [m for _, m, _, _ in curve], "s-", label="cache miss (SkipCache, MISS)")
    ax.set_xscale("log", base=2)
    ax.set_xticks(counts, [str(c) for c in counts])
    ax.set_xlabel("concurrent keep-alive clients")
    ax.set_ylabel("requests / s")
    ax.set_ylim(bottom=0)
    ax.set_title("Small query (users.count): requests/s against clients")
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# -- (ii) time against result size ---------------------------------------------------------------


def sizes_curve(
    client: Any, config: Config, project: Project, sizes: list[int], runs: int
) -> list[dict[str, float]]:
    """For each size: rows and the median seconds of DuckDB and of each answer kind."""
    print("(ii) one POST /query/run against result size (cache bypassed: SkipCache), sent to "
          "last byte received; DuckDB: the same SQL into an Arrow table in process")  # fmt: skip
    duck = connect_sandboxed(str(config.connections["warehouse"].database))
    curve = []
    header = f"    {'rows':>9}  {'DuckDB':>9}  {'NDJSON b64':>10}  {'arrow':>9}  {'CSV':>9}"
    print(header + f"  {'arrow rows/s':>12}  {'arrow/DuckDB':>12}  {'arrow hit':>9}")
    try:
        for size in sizes:
            payload = _api.body(config, {**ROWS, "limit": size}, cache="SkipCache")
            query, model_id = payload["query"], payload["query"]["modelId"]
            sql = project.compile(model_id, query, now=datetime.now(UTC)).sql
            bodies = {
                "ndjson": payload,
                "arrow": {**payload, "resultType": "arrow"},
                "csv": {**payload, "resultType": "csv"},
            }
            rows = _check_sizes(client, bodies)
            duck.sql(sql).to_arrow_table()  # warm, as each kind was by its check
            times = {"duckdb": _median(runs, functools.partial(_in_process, duck, sql))}
            for kind, payload in bodies.items():
                times[kind] = _median(runs, functools.partial(client.post, payload))
            hit = {**bodies["arrow"], "cache": "SkipRequery"}
            _until_exact(client, hit)
            times["arrow_hit"] = _median(runs, functools.partial(client.post, hit))
            curve.append({"rows": rows, **times})
            arrow, base = times["arrow"], times["duckdb"]
            print(f"    {rows:9,d}  {_ms(base)}  {_ms(times['ndjson']):>10}  {_ms(arrow)}  "
                  f"{_ms(times['csv'])}  {rows / arrow:12,.0f}  {arrow / base:11.2f}x  "
                  f"{_ms(times['arrow_hit'])}")  # fmt: skip
    finally:
        duck.close()
    print()
    return curve


def _in_process(duck: Any, sql: str) -> pa.Table:
    return duck.sql(sql).to_arrow_table()


def _check_sizes(client: Any, bodies: dict[str, dict[str, Any]]) -> int:
    """Outside the timing: every kind answers a MISS with the same rows. Returns the rows."""
    line = _results.job(client.post(bodies["ndjson"]))
    if line["summary"]["cache_type"] != "MISS":
        raise RuntimeError("(ii) must time the cache-bypassed path, but the NDJSON was not a MISS")
    rows = int(line["summary"]["total_rows"])
    for kind in ("arrow", "csv"):
        data, headers = _post_with_headers(client, bodies[kind])
        if headers.get("x-sluice-cache-type") != "MISS":
            raise RuntimeError(f"(ii) must time the cache-bypassed path, but {kind} was not a MISS")
        got = (
            pa.ipc.open_stream(data).read_all().num_rows
            if kind == "arrow"
            else data.count(b"\n") - 1  # the header line; no value of ROWS holds a newline
        )
        if got != rows:
            raise RuntimeError(f"(ii) {kind} has {got} rows, the NDJSON {rows}")
    if decode_table(line["result"]).num_rows != rows:
        raise RuntimeError("(ii) the NDJSON result does not hold total_rows rows")
    return rows


def _until_exact(client: Any, payload: dict[str, Any]) -> None:
    """Wait until ``payload`` is answered from the cache (the entry a run stores is written
    just after its answer leaves): the arrow hit column must time hits."""
    deadline = time.monotonic() + 60
    while _post_with_headers(client, payload)[1].get("x-sluice-cache-type") != "EXACT":
        if time.monotonic() > deadline:
            raise RuntimeError("(ii) the arrow hit column must time hits; none was EXACT")
        time.sleep(0.05)


def _post_with_headers(client: Any, payload: dict[str, Any]) -> tuple[bytes, dict[str, str]]:
    conn = http.client.HTTPConnection(client.host, client.port, timeout=600)
    try:
        conn.request("POST", "/api/v1/query/run", json.dumps(payload), client.headers)
        response = conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {data[:300]!r}")
        return data, {k.lower(): v for k, v in response.getheaders()}
    finally:
        conn.close()


def draw_sizes(curve: list[dict[str, float]], path: Path) -> None:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    rows = [max(1, int(point["rows"])) for point in curve]
    labels = {
        "duckdb": "DuckDB in process (baseline)",
        "ndjson": "NDJSON, base64 Arrow",
        "arrow": 'resultType "arrow"',
        "csv": 'resultType "csv"',
        "arrow_hit": 'resultType "arrow", cache hit (EXACT)',
    }
    for (kind, label), marker in zip(labels.items(), "os^Dv", strict=True):
        ax.plot(rows, [point[kind] * 1000 for point in curve], marker + "-", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("result rows (order_items, 5 columns)")
    ax.set_ylabel("ms per request (median)")
    ax.set_title("Time against result size: cache bypassed (SkipCache), and an arrow hit")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


# -- helpers -------------------------------------------------------------------------------------


def _median(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(max(1, runs)):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:6.1f} ms"


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    return plt


if __name__ == "__main__":
    main()
