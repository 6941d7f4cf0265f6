"""``sluice init`` (a project from a warehouse) and ``sluice refresh`` (read it again)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

import typer

from sluice.cli.output import error_exit, out
from sluice.config import ConnectionConfig, load_config
from sluice.engines.base import Engine
from sluice.errors import SluiceError
from sluice.model.schema import Snapshot

PASSWORD_ENV = "SLUICE_CONNECTION_WAREHOUSE_PASSWORD"


def init(
    directory: Annotated[Path, typer.Option("--dir", help="the new project's folder")] = Path("."),
    duckdb_file: Annotated[
        Path | None, typer.Option("--duckdb", help="a DuckDB database file")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help=f"postgresql://user@host:5432/db (the password from ${PASSWORD_ENV})",
        ),
    ] = None,
    schemas: Annotated[
        list[str] | None, typer.Option("--schema", help="read only this schema (repeatable)")
    ] = None,
    model: Annotated[str, typer.Option(help="the model's name")] = "warehouse",
) -> None:
    """Write a ready project for a warehouse: sluice.yaml, a model whose views come from the
    warehouse (the schema layer), relationships from declared keys or `<name>_id` columns, and a
    topic per fact table."""
    from sluice.models.scaffold import scaffold, write_project

    if (duckdb_file is None) == (url is None):
        _fail("give exactly one of --duckdb FILE or --url postgresql://...")
    directory = directory.resolve()
    connection, engine = _connect(duckdb_file, url, directory)
    try:
        snapshot = _introspect(engine)
    finally:
        engine.close()
    project = scaffold(snapshot, connection=connection, model_name=model, schemas=schemas or ())
    if not project.views:
        where = ", ".join(schemas) if schemas else "any schema"
        _fail(f"no tables in {where}: nothing to model (see --schema)")
    try:
        write_project(directory, project)
    except SluiceError as exc:
        _fail(exc.message)
    config = directory / "sluice.yaml"
    inferred = sum(1 for j in project.joins if j.inferred)
    out.print(
        f"wrote {config}: model `{model}` with {len(project.views)} views from the warehouse, "
        f"{len(project.joins)} relationships ({inferred} inferred from column names), "
        f"topics: {', '.join(project.topics) or 'none'}",
        markup=False,
        soft_wrap=True,
    )
    out.print(
        "next:\n"
        f"  sluice validate {config}\n"
        f"  sluice keys create -c {config}\n"
        f"  sluice serve -c {config}",
        markup=False,
    )


def refresh(
    config_path: Annotated[
        Path, typer.Option("--config", "-c", help="the project's sluice.yaml")
    ] = Path("sluice.yaml"),
    model: Annotated[
        str | None, typer.Option(help="only this model's connection (default: every one)")
    ] = None,
) -> None:
    """Read the warehouse again and store the new schema snapshot (state_dir/schema). A running
    server on the same state directory takes it up within a poll (or POST .../refresh)."""
    from sluice.engines.snapshots import SnapshotStore
    from sluice.project import open_engine

    try:
        config = load_config(config_path)
    except SluiceError as exc:
        _fail(exc.message)
    if model is not None and model not in config.models:
        known = ", ".join(config.models) or "none"
        _fail(f"no model {model!r} in {config_path} (models: {known})")
    wanted = [config.models[model]] if model else list(config.models.values())
    store = SnapshotStore(config.server.state_dir)
    for name in dict.fromkeys(m.connection for m in wanted):
        conn = config.connections[name]
        before = store.load(name)
        try:
            engine = open_engine(conn)
            try:
                after = store.read(conn, engine, fresh=True)
            finally:
                engine.close()
        except SluiceError as exc:
            _fail(f"connection {name}: {exc.message}")
        out.print(f"connection {name}: {describe_change(before, after)}", markup=False)


def describe_change(before: Snapshot | None, after: Snapshot) -> str:
    """What a refresh changed, in one line."""
    tables = {(t.schema, t.name): {c.name for c in t.columns} for t in after.tables}
    if before is None:
        return f"read {len(tables)} tables (no snapshot before)"
    old = {(t.schema, t.name): {c.name for c in t.columns} for t in before.tables}
    added = sorted(f"{s}.{n}" for s, n in tables.keys() - old.keys())
    dropped = sorted(f"{s}.{n}" for s, n in old.keys() - tables.keys())
    both = tables.keys() & old.keys()
    columns = sorted(f"{s}.{n}.{c}" for s, n in both for c in tables[(s, n)] - old[(s, n)])
    gone = sorted(f"{s}.{n}.{c}" for s, n in both for c in old[(s, n)] - tables[(s, n)])
    parts = [
        f"{label}: {', '.join(items)}"
        for label, items in (
            ("new tables", added),
            ("dropped tables", dropped),
            ("new columns", columns),
            ("dropped columns", gone),
        )
        if items
    ]
    return "; ".join(parts) if parts else f"{len(tables)} tables, unchanged"


def _connect(
    duckdb_file: Path | None, url: str | None, directory: Path
) -> tuple[dict[str, Any], Engine]:
    from sluice.project import open_engine

    if duckdb_file is not None:
        path = duckdb_file.resolve()
        if not path.is_file():
            _fail(f"no DuckDB file at {path}")
        entry: dict[str, Any] = {"engine": "duckdb", "database": _relative(path, directory)}
        conn = ConnectionConfig(name="warehouse", engine="duckdb", database=path)
    else:
        assert url is not None
        parts = urlsplit(url)
        if parts.scheme not in ("postgresql", "postgres"):
            _fail(f"--url must be postgresql://...; got {parts.scheme or url!r}")
        if parts.password:
            _fail(
                f"the URL holds a password: sluice never writes one to a file. Put it in "
                f"${PASSWORD_ENV} and leave it out of --url"
            )
        entry = {"engine": "postgres", "url": urlunsplit(parts)}
        conn = ConnectionConfig(name="warehouse", engine="postgres", url=url)
    try:
        return entry, open_engine(conn)
    except SluiceError as exc:
        _fail(f"cannot open the warehouse: {exc.message}")


def _introspect(engine: Engine) -> Snapshot:
    from sluice.engines.introspect import introspect

    try:
        return introspect(engine)
    except SluiceError as exc:
        _fail(f"cannot read the warehouse's catalog: {exc.message}")


def _relative(path: Path, directory: Path) -> str:
    try:
        return str(path.relative_to(directory))
    except ValueError:
        return str(path)


def _fail(message: str) -> NoReturn:
    error_exit(message, 2)
