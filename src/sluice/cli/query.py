"""``sluice query``: run one query in process and print the result and its SQL."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import pyarrow as pa
import typer
from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Column, Table
from rich.text import Text

from sluice.cli.output import err, fail
from sluice.cli.output import out as console
from sluice.config import load_config
from sluice.errors import ModelError, SluiceError


class Output(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


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
        fail(f"--json is not valid JSON: {exc}", 2)
    if isinstance(body, dict) and "query" in body and isinstance(body["query"], dict):
        body = body["query"]  # accept a whole run request too
    if not isinstance(body, dict):
        fail('--json must be a query object: {"fields": [...], ...}', 2)
    try:
        config = load_config(config_path)
    except SluiceError as exc:
        fail(exc.message, 2)
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
        fail(exc.message, 1)
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
