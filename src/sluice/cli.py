"""The ``sluice`` command: demo-data, validate, query (server commands come from server_cli)."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, NoReturn

import pyarrow as pa
import typer
from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Column, Table
from rich.text import Text

from sluice.config import load_config
from sluice.engines.base import Engine
from sluice.errors import ModelError, SluiceError
from sluice.progress import step_bar

app = typer.Typer(
    name="sluice",
    help="A self-hosted semantic query server that speaks Omni's query API.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
console = Console()
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        from sluice.extras import DISTRIBUTION

        try:
            print(f"sluice {version(DISTRIBUTION)}")
        except PackageNotFoundError:  # running from a source tree that is not installed
            print("sluice (not installed)")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", "-V", help="print the version and exit", callback=_version, is_eager=True
        ),
    ] = False,
) -> None:
    """A self-hosted semantic query server that speaks Omni's query API."""


class Output(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@app.command("demo-data")
def demo_data(
    out: Annotated[Path, typer.Option(help="DuckDB file to write")] = Path("ecommerce.duckdb"),
    scale: Annotated[float, typer.Option(help="1 is ~1M order items")] = 1.0,
    seed: Annotated[int, typer.Option(help="same seed, same data")] = 42,
) -> None:
    """Generate the deterministic e-commerce demo dataset into a DuckDB file."""
    from sluice.demo.data import generate_demo_data

    if scale <= 0:
        err.print("[red]--scale must be positive[/red]")
        raise typer.Exit(2)
    with step_bar(err, "generating", "generating", done="done") as step:
        counts = generate_demo_data(out, scale, seed=seed, progress=step)
    table = Table("table", "rows")
    for name, rows in counts.items():
        table.add_row(name, f"{rows:,}")
    console.print(table)
    console.print(f"wrote {out}")


@app.command()
def validate(
    path: Annotated[Path, typer.Argument(help="model folder, or a sluice.yaml")],
    database: Annotated[
        Path | None, typer.Option(help="DuckDB file to check tables and columns against")
    ] = None,
) -> None:
    """Validate a model: every problem with its file and line. Exits 1 on errors."""
    from sluice.engines.duckdb import DuckDBEngine
    from sluice.engines.introspect import introspect
    from sluice.model import check_model
    from sluice.model.schema import SCHEMA_FILE_PREFIX, SchemaSource
    from sluice.models.snapshots import SnapshotStore, schema_source
    from sluice.project import open_engine, schema_lookup

    if not path.exists():
        _fail(f"{path}: no such file or folder (give a model folder or a sluice.yaml)", 2)
    targets: list[tuple[Path, Engine | None, str, SchemaSource | None]] = []
    engines: list[Engine] = []
    try:
        if path.is_file():
            config = load_config(path)
            snapshots = SnapshotStore(config.server.state_dir)
            for model in config.models.values():
                conn = config.connections[model.connection]
                engine = open_engine(conn)
                engines.append(engine)
                targets.append(
                    (
                        model.path,
                        engine,
                        engine.dialect,
                        schema_source(conn, snapshots.read(conn, engine)),
                    )
                )
        else:
            duck = DuckDBEngine(database) if database else None
            if duck is not None:
                engines.append(duck)
            layer = SchemaSource(introspect(duck)) if duck is not None else None
            targets.append((path, duck, "duckdb", layer))
        errors = 0
        for folder, target_engine, dialect, schema in targets:
            lookup = schema_lookup(target_engine) if target_engine is not None else None
            _, issues = check_model(folder, dialect=dialect, column_types=lookup, schema=schema)
            for issue in sorted(issues, key=lambda i: (i.file, i.line)):
                color = "red" if issue.severity == "error" else "yellow"
                where = f"{folder / issue.file}:{issue.line}" if issue.line else str(folder)
                if issue.file.startswith(SCHEMA_FILE_PREFIX):  # a generated view: no file
                    where = issue.file
                console.print(
                    Text.assemble((where, color), f": {issue.severity}: {issue.message}"),
                    highlight=False,
                    soft_wrap=True,
                )
            errors += sum(1 for i in issues if i.severity == "error")
            if not issues:
                console.print(f"[green]{folder}: ok[/green]")
    except SluiceError as exc:
        err.print(f"[red]error:[/red] {escape(exc.message)}", soft_wrap=True)
        raise typer.Exit(2) from None
    finally:
        for e in engines:
            e.close()
    if errors:
        console.print(f"[red]{errors} error(s)[/red]")
        raise typer.Exit(1)


@app.command()
def query(
    json_body: Annotated[str, typer.Option("--json", help="the query object (contract §4)")],
    config_path: Annotated[Path, typer.Option("--config", "-c", help="sluice.yaml")] = Path(
        "sluice.yaml"
    ),
    model: Annotated[str | None, typer.Option(help="model name, if modelId is absent")] = None,
    sql_only: Annotated[bool, typer.Option("--sql", help="print the SQL, do not run it")] = False,
    output: Annotated[
        Output, typer.Option(help="table, json or csv (a workbook comes from the server's xlsx)")
    ] = Output.table,
) -> None:
    """Run one query in process and print the result and its SQL.

    Exit codes: 2 for bad arguments or an unusable sluice.yaml, 1 when the query fails.
    """
    from sluice.project import Project

    try:
        body = json.loads(json_body)
    except json.JSONDecodeError as exc:
        _fail(f"--json is not valid JSON: {exc}", 2)
    if isinstance(body, dict) and "query" in body and isinstance(body["query"], dict):
        body = body["query"]  # accept a whole run request too
    if not isinstance(body, dict):
        _fail('--json must be a query object: {"fields": [...], ...}', 2)
    try:
        config = load_config(config_path)
    except SluiceError as exc:
        _fail(exc.message, 2)
    try:
        if "modelId" not in body:
            name = model or next(iter(config.models), "")
            if name not in config.models:
                raise SluiceError(f"unknown model {name!r}; models: {', '.join(config.models)}")
            body = {**body, "modelId": config.models[name].id}
        with Project.open(config) as project:
            compiled = project.compile(body["modelId"], body, now=datetime.now(UTC))
            if sql_only:
                print(compiled.sql)
                return
            result = project.execute(body["modelId"], compiled)
    except ModelError as exc:
        err.print(exc.message, style="red", markup=False, highlight=False)
        raise typer.Exit(1) from None
    except SluiceError as exc:
        _fail(exc.message, 1)
    for warning in compiled.warnings or [f'left out "{f}"' for f in compiled.missing_fields]:
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False, soft_wrap=True)
    if output is Output.json:
        print(json.dumps(result.to_pylist(), default=str))
        return
    if output is Output.csv:
        import pyarrow.csv as pacsv

        pacsv.write_csv(result, sys.stdout.buffer)
        return
    table = _display(result, {f.field_name: f.format for f in compiled.fields})
    # Piped or redirected, the table keeps its full width instead of wrapping at 80 columns.
    wide = console if console.is_terminal else Console(width=10_000)
    wide.print(table)
    console.print(f"{result.num_rows} row(s)")
    err.print(Syntax(compiled.sql, "sql", theme="ansi_dark"))


def _fail(message: str, code: int) -> NoReturn:
    """One line on stderr (the message printed as it is, never as markup), then exit."""
    err.print(Text.assemble(("error: ", "red"), message), soft_wrap=True)
    raise typer.Exit(code)


def _display(result: pa.Table, formats: dict[str, str | None]) -> Table:
    """The result as a rich table: each field in its model format, floats without noise."""
    from sluice.results.formats import applies_to, format_array, parse_format

    table = Table(*[Column(Text(name)) for name in result.column_names])
    columns = []
    for name, column in zip(result.column_names, result.columns, strict=True):
        fmt = parse_format(formats.get(name))
        if fmt is not None and applies_to(fmt, column.type):
            columns.append(format_array(column, fmt).to_pylist())
        elif pa.types.is_floating(column.type):
            columns.append([None if v is None else f"{v:,.6g}" for v in column.to_pylist()])
        else:
            columns.append(column.to_pylist())
    for row in zip(*columns, strict=True):
        table.add_row(*[Text("∅" if v is None else str(v)) for v in row])
    return table


def _register_server_commands() -> None:
    import importlib

    try:
        server_cli = importlib.import_module("sluice.server_cli")
    except ImportError:  # pragma: no cover - only while the server package is absent
        return
    server_cli.register(app)


def _register_schema_commands() -> None:
    from sluice.schema_cli import register

    register(app)


def _register_load_demo() -> None:
    from sluice.demo.load import register_load_demo

    register_load_demo(app)


_register_server_commands()
_register_schema_commands()
_register_load_demo()


def main() -> None:
    app()
