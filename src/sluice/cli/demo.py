"""``sluice demo``, ``sluice demo-data`` and ``sluice load-demo``: the demo dataset and project.

The data (``demo.data``), the project folder and its key (``demo.project``) and the copy into
PostgreSQL (``demo.load``) are library code; this module parses, calls and prints.
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import shutil
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sluice.cli import serve
from sluice.cli.output import err, load, out
from sluice.cli.progress import step_bar
from sluice.demo.project import (
    MODEL_NAME,
    demo_key,
    demo_key_file,
    ensure_demo_data,
    write_demo_project,
)
from sluice.errors import SluiceError


def demo_data(
    out_file: Annotated[Path, typer.Option("--out", help="DuckDB file to write")] = Path(
        "ecommerce.duckdb"
    ),
    scale: Annotated[float, typer.Option(help="1 is ~1M order items")] = 1.0,
    seed: Annotated[int, typer.Option(help="same seed, same data")] = 42,
) -> None:
    """Generate the deterministic e-commerce demo dataset into a DuckDB file."""
    from sluice.demo.data import generate_demo_data

    if scale <= 0:
        err.print("[red]--scale must be positive[/red]")
        raise typer.Exit(2)
    with step_bar(err, "generating", "generating", done="done") as step:
        counts = generate_demo_data(out_file, scale, seed=seed, progress=step)
    table = Table("table", "rows")
    for name, rows in counts.items():
        table.add_row(name, f"{rows:,}")
    out.print(table)
    out.print(f"wrote {out_file}")


def load_demo(
    duckdb_file: Annotated[
        Path, typer.Option("--duckdb", help="the demo DuckDB file (from `sluice demo-data`)")
    ],
    url: Annotated[
        str,
        typer.Option(help="postgresql://user@host:5432/db (the password comes from PGPASSWORD)"),
    ],
    schema: Annotated[str, typer.Option(help="schema to (re)create the tables in")] = "public",
) -> None:
    """Copy the demo tables into PostgreSQL (replacing tables of the same names)."""
    from sluice.demo.data import STEPS
    from sluice.demo.load import load_demo_postgres

    started = time.perf_counter()
    try:
        with step_bar(err, "loading", "loading", total=len(STEPS)) as step:
            counts = load_demo_postgres(duckdb_file, url, schema, progress=step)
    except SluiceError as exc:  # the load failed, or the postgres extra is missing
        err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
        raise typer.Exit(1) from None
    table = Table("table", "rows")
    for name, rows in counts.items():
        table.add_row(f"{schema}.{name}", f"{rows:,}")
    out.print(table)
    out.print(f"loaded in {time.perf_counter() - started:.1f}s")


FLIGHT_PORT = 8815  # the demo's Arrow Flight SQL port


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="the demo project folder")] = Path(
        "sluice-demo"
    ),
    scale: Annotated[float, typer.Option(help="data size: 1 is ~1M order items")] = 1.0,
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    as_of: Annotated[
        str | None,
        typer.Option(help="last day of the generated history, YYYY-MM-DD (default: today)"),
    ] = None,
    run_server: Annotated[
        bool, typer.Option("--serve/--no-serve", help="start the server (default) or only prepare")
    ] = True,
    flight_port: Annotated[int, typer.Option(help="Arrow Flight SQL port (0: off)")] = FLIGHT_PORT,
) -> None:
    """Generate the demo data if missing, write the demo project and serve it with its key.

    The key is created on the first run and kept in the demo folder (DIR/demo-key, readable by
    you only); later runs reuse it. Only `sluice keys revoke` revokes it.
    """
    if scale <= 0:
        err.print("[red]--scale must be positive[/red]")
        raise typer.Exit(2)
    day = _as_of(as_of)
    directory = directory.resolve()
    first = f"demo data (scale {scale:g}, as of {day})"
    with step_bar(err, first, "generating", done="demo data ready") as step:
        data, generated = ensure_demo_data(directory, scale, day, progress=step)
    err.print(f"{'generated' if generated else 'using'} {data} (history up to {day})")
    config_path = write_demo_project(directory, data)
    config = load(config_path)
    model_id = config.models[MODEL_NAME].id
    restart = _restart_command(directory, scale, port, host, as_of, flight_port)
    url = f"http://{host}:{port}"
    flight_uri = f"grpc://{host}:{flight_port}" if flight_port else None
    if flight_port:
        server = dataclasses.replace(config.server, host=host, flight_port=flight_port)
        config = dataclasses.replace(config, server=server)

    def ready() -> str:
        secret, created = demo_key(config, directory)
        announce = demo_instructions(
            url, secret, model_id, directory, created=created, restart=restart, serving=run_server
        )
        if flight_uri is not None:
            announce = announce.rstrip("\n") + "\n" + flight_instructions(flight_uri, secret)
        return announce

    if not run_server:
        out.print(ready(), markup=False, highlight=False, soft_wrap=True)
        return
    serve.run_server(config, host, port, "warning", announce=ready, log_format="text")


def _as_of(value: str | None) -> date:
    if value is None:
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(value)
    except ValueError:
        err.print(f"--as-of must be a date YYYY-MM-DD, got {value!r}", markup=False)
        raise typer.Exit(2) from None


def _program() -> str:
    """How this shell reaches ``sluice``: the bare name when it is on PATH, else its path."""
    argv0 = Path(sys.argv[0])
    on_path = shutil.which("sluice")
    if argv0.name != "sluice" or (on_path and Path(on_path).resolve() == argv0.resolve()):
        return "sluice"
    try:
        return str(argv0.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(argv0)


def _restart_command(
    directory: Path, scale: float, port: int, host: str, as_of: str | None, flight_port: int
) -> str:
    parts = [_program(), "demo", "--dir", _shown(directory)]
    if flight_port != FLIGHT_PORT:
        parts += ["--flight-port", str(flight_port)]
    if scale != 1:
        parts += ["--scale", f"{scale:g}"]
    if port != 8000:
        parts += ["--port", str(port)]
    if host != "127.0.0.1":
        parts += ["--host", host]
    if as_of is not None:
        parts += ["--as-of", as_of]
    return shlex.join(parts)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd())) or "."
    except ValueError:
        return str(path)


def demo_instructions(
    url: str,
    secret: str,
    model_id: str,
    directory: Path,
    *,
    created: bool = True,
    restart: str = "sluice demo",
    serving: bool = True,
) -> str:
    """What to print once the demo is ready: URL, key and working curl commands (plain text)."""
    fields = [
        "order_items.created_at[month]",
        "order_items.total_sale_price",
        "order_items.count",
    ]
    query = {
        "modelId": model_id,
        "join_paths_from_topic_name": "order_items",
        "fields": fields,
        "sorts": [{"column_name": "order_items.created_at[month]", "sort_descending": True}],
        "limit": 12,
    }
    csv_body = json.dumps({"query": query, "resultType": "csv"})
    arrow_body = json.dumps({"query": query})
    key_file = demo_key_file(directory)
    key_note = (
        f"The key is new; it is kept in {_shown(key_file)} (readable by you only)"
        if created
        else f"The key is the one kept in {_shown(key_file)} (readable by you only)"
    )
    if serving:
        state = f"Ctrl+C stops the server; `{restart}` starts it again with the same key."
    else:
        config = _shown(directory / "sluice.yaml")
        state = (
            f"The server is not running (--no-serve). Start it with `{restart}`, or "
            f"`{_program()} serve -c {config}`."
        )
    return f"""
sluice demo: the ecommerce model from {_shown(directory)}

  URL         {url}
  Playground  {url}/  (paste the API key; API docs at {url}/docs)
  API key     {secret}
  model       ecommerce ({model_id}); topics: order_items, users, events

Try it (in this shell, the three exports first): the last 12 months as CSV

export URL={url}
export KEY={secret}
export MODEL_ID={model_id}
curl -s -X POST $URL/api/v1/query/run -H "Authorization: Bearer $KEY" \\
  -H 'Content-Type: application/json' -d '{csv_body}'

Without "resultType" the answer is Omni's NDJSON, the result as base64 Arrow:
curl -s -X POST $URL/api/v1/query/run -H "Authorization: Bearer $KEY" \\
  -H 'Content-Type: application/json' -d '{arrow_body}'

From Python (pip install omni-python-sdk):
  from omni_python_sdk import OmniAPI
  api = OmniAPI(api_key="{secret}", base_url="{url}")
  table, fields = api.run_query_blocking({{"query": {query!r}}})

{key_note} and works on every
run until `{_program()} keys revoke <id> -c {_shown(directory / "sluice.yaml")}` revokes it.
{state}
"""


FLIGHT_SNIPPET_START = "# -- semantic SQL over Flight SQL --"


def flight_instructions(uri: str, secret: str) -> str:
    """The ADBC snippet ``sluice demo`` prints when its Flight SQL endpoint is on."""
    return f"""
Semantic SQL over Arrow Flight SQL (pip install adbc-driver-flightsql), from Python:

{FLIGHT_SNIPPET_START}
import adbc_driver_flightsql.dbapi as flightsql
auth = {{"adbc.flight.sql.authorization_header": "Bearer {secret}"}}
with flightsql.connect("{uri}", db_kwargs=auth, autocommit=True) as conn:
    with conn.cursor() as cur:
        cur.execute('''SELECT "products.category", MEASURE("order_items.total_sale_price")
                       AS sales FROM ecommerce.topics.order_items
                       GROUP BY 1 ORDER BY 2 DESC LIMIT 10''')
        print(cur.fetch_arrow_table())
# --
"""
