"""``sluice validate``: every problem of a model with its file and line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from sluice.cli.output import error_exit, fail, out
from sluice.config import load_config
from sluice.engines.base import Engine
from sluice.errors import SluiceError


def validate(
    path: Annotated[Path, typer.Argument(help="model folder, or a sluice.yaml")],
    database: Annotated[
        Path | None, typer.Option(help="DuckDB file to check tables and columns against")
    ] = None,
) -> None:
    """Validate a model: every problem with its file and line. Exits 1 on errors."""
    from sluice.engines.duckdb import DuckDBEngine
    from sluice.engines.introspect import introspect
    from sluice.engines.snapshots import SnapshotStore, schema_source
    from sluice.model import check_model
    from sluice.model.schema import SCHEMA_FILE_PREFIX, SchemaSource
    from sluice.project import open_engine, schema_lookup

    if not path.exists():
        fail(f"{path}: no such file or folder (give a model folder or a sluice.yaml)", 2)
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
                out.print(
                    Text.assemble((where, color), f": {issue.severity}: {issue.message}"),
                    highlight=False,
                    soft_wrap=True,
                )
            errors += sum(1 for i in issues if i.severity == "error")
            if not issues:
                out.print(f"[green]{folder}: ok[/green]")
    except SluiceError as exc:
        error_exit(exc.message, 2)
    finally:
        for e in engines:
            e.close()
    if errors:
        out.print(f"[red]{errors} error(s)[/red]")
        raise typer.Exit(1)
