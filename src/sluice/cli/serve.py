"""``sluice serve``: Omni's query API for the project in sluice.yaml, wired by ``sluice.server``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, NoReturn

import typer

from sluice.cli.output import err, load, out
from sluice.config import LOG_FORMATS, Config

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="the project's sluice.yaml")]


def serve(
    config_path: ConfigOption = Path("sluice.yaml"),
    host: Annotated[str | None, typer.Option(help="bind address (default: server.host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: server.port)")] = None,
    log_level: Annotated[str, typer.Option(help="log level (info logs every request)")] = "info",
    log_format: Annotated[
        str | None, typer.Option(help="json or text (default: server.log_format, json)")
    ] = None,
    flight_port: Annotated[
        int | None,
        typer.Option(help="Arrow Flight SQL port (default: server.flight_port; 0: off)"),
    ] = None,
) -> None:
    """Serve Omni's query API for the project in sluice.yaml."""
    config = load(config_path)
    if flight_port is not None or host is not None:
        server = dataclasses.replace(
            config.server,
            host=host or config.server.host,
            flight_port=config.server.flight_port if flight_port is None else flight_port,
        )
        config = dataclasses.replace(config, server=server)
    chosen = log_format or config.server.log_format
    if chosen not in LOG_FORMATS:
        err.print(f"[red]--log-format must be one of {', '.join(LOG_FORMATS)}[/red]")
        raise typer.Exit(2)
    host, port = host or config.server.host, port or config.server.port
    run_server(config, host, port, log_level, log_format=chosen)


def run_server(
    config: Config,
    host: str,
    port: int,
    log_level: str,
    announce: Callable[[], str] | None = None,
    log_format: str = "json",
) -> None:
    """Serve until stopped. ``announce`` runs once the server listens; what it returns is printed.

    Anything that must not happen unless the server really starts (the demo's key) goes in
    ``announce``; if it raises, the server stops and the error is one line on stderr (exit 1).
    What would stop the server before it starts is one line too (exit 2).
    """
    from sluice import server
    from sluice.observability.logs import configure

    configure(log_format, log_level)
    try:
        project = server.preflight(config, host, port)
    except server.StartError as exc:
        _fail(str(exc))

    def ready() -> None:
        if announce is not None:
            out.print(announce(), markup=False, highlight=False, soft_wrap=True)

    try:
        server.run(
            config,
            project,
            host,
            port,
            log_level=log_level,
            on_ready=ready if announce is not None else None,
        )
    except server.ServeError as exc:
        if str(exc):
            err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1) from None


def _fail(message: str) -> NoReturn:
    line = " ".join(message.split())  # one line, even for a model error listing its issues
    err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)
