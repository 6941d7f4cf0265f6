"""Server commands of the ``sluice`` CLI: ``serve``, ``demo`` and ``keys create|list|revoke``.

``sluice.cli`` calls :func:`register`. ``python -m sluice.server_cli`` runs these commands alone.
The ``keys`` commands work on the project's token store: Redis when the project has a Redis URL
(``SLUICE_REDIS_URL`` or ``server.redis_url``), so every replica sees the key, else SQLite.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Column, Table

from sluice.api.statedir import StateDirProbe
from sluice.auth.tokens import ORGANIZATION, PERSONAL, Token
from sluice.config import LOG_FORMATS, Config, load_config
from sluice.errors import SluiceError
from sluice.project import Project
from sluice.replicas.state import open_token_store

out = Console()
err = Console(stderr=True)

ConfigOption = Annotated[Path, typer.Option("--config", "-c", help="the project's sluice.yaml")]


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
    app.command("demo")(demo)
    keys = typer.Typer(
        help="API keys: organization keys and personal access tokens (stored as hashes).",
        no_args_is_help=True,
    )
    keys.command("create")(keys_create)
    keys.command("list")(keys_list)
    keys.command("revoke")(keys_revoke)
    app.add_typer(keys, name="keys")


# -- serve ---------------------------------------------------------------------------------------


def serve(
    config_path: ConfigOption = Path("sluice.yaml"),
    host: Annotated[str | None, typer.Option(help="bind address (default: server.host)")] = None,
    port: Annotated[int | None, typer.Option(help="port (default: server.port)")] = None,
    log_level: Annotated[str, typer.Option(help="log level (info logs every request)")] = "info",
    log_format: Annotated[
        str | None, typer.Option(help="json or text (default: server.log_format, json)")
    ] = None,
) -> None:
    """Serve Omni's query API for the project in sluice.yaml."""
    config = _load(config_path)
    chosen = log_format or config.server.log_format
    if chosen not in LOG_FORMATS:
        err.print(f"[red]--log-format must be one of {', '.join(LOG_FORMATS)}[/red]")
        raise typer.Exit(2)
    host, port = host or config.server.host, port or config.server.port
    _run_server(config, host, port, log_level, log_format=chosen)


def _run_server(
    config: Config,
    host: str,
    port: int,
    log_level: str,
    announce: str | None = None,
    log_format: str = "json",
) -> None:
    import uvicorn

    from sluice.api import create_app
    from sluice.observability.logs import configure

    configure(log_format, log_level)
    project = _preflight(config, host, port)
    server_config = uvicorn.Config(
        create_app(config, project=project),
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # every record goes through sluice's handler (JSON or text)
        access_log=False,  # sluice logs each request itself, with its request id and timing
        # A long-poll can hold a connection for the whole wait window; don't wait for it.
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(server_config)

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while announce and not server.started and not task.done():
            await asyncio.sleep(0.05)
        if announce and server.started:
            out.print(announce, markup=False, highlight=False, soft_wrap=True)
        await task

    # uvloop (and httptools) when installed, as ``uvicorn.run`` would pick them.
    with asyncio.Runner(loop_factory=server_config.get_loop_factory()) as runner:
        runner.run(run())
    if not server.started:
        raise typer.Exit(1)


# -- demo ----------------------------------------------------------------------------------------


def demo(
    directory: Annotated[Path, typer.Option("--dir", help="the demo project folder")] = Path(
        "sluice-demo"
    ),
    scale: Annotated[float, typer.Option(help="data size: 1 is ~1M order items")] = 1.0,
    port: Annotated[int, typer.Option(help="port to serve on")] = 8000,
    host: Annotated[str, typer.Option(help="bind address")] = "127.0.0.1",
    run_server: Annotated[
        bool, typer.Option("--serve/--no-serve", help="start the server (default) or only prepare")
    ] = True,
) -> None:
    """Generate the demo data if missing, write the demo project, create a key and serve it."""
    from sluice.demo.project import MODEL_NAME, ensure_demo_data, write_demo_project

    if scale <= 0:
        err.print("[red]--scale must be positive[/red]")
        raise typer.Exit(2)
    directory = directory.resolve()
    with Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), console=err
    ) as progress:
        task = progress.add_task(f"demo data (scale {scale:g})", total=None)

        def step(name: str, index: int, total: int) -> None:
            progress.update(task, description=f"generating {name}", completed=index, total=total)

        data, generated = ensure_demo_data(directory, scale, progress=step)
        progress.update(task, description="demo data ready", completed=1, total=1)
    err.print(f"{'generated' if generated else 'using'} {data}")
    config = _load(write_demo_project(directory, scale))
    secret = _demo_key(config)
    url = f"http://{host}:{port}"
    announce = demo_instructions(url, secret, config.models[MODEL_NAME].id, directory)
    if not run_server:
        out.print(announce, markup=False, highlight=False, soft_wrap=True)
        return
    _run_server(config, host, port, "warning", announce=announce, log_format="text")


def _demo_key(config: Config) -> str:
    """A fresh organization key named "demo"; earlier demo keys are revoked."""
    with open_token_store(config.server) as store:
        for token in store.list():
            if token.name == "demo":
                store.revoke(token.id)
        secret, _ = store.create(ORGANIZATION, config.server.organization_id, name="demo")
    return secret


def demo_instructions(url: str, secret: str, model_id: str, directory: Path) -> str:
    """What to print once the demo serves: URL, key and a working curl command (plain text)."""
    query = {
        "query": {
            "modelId": model_id,
            "join_paths_from_topic_name": "order_items",
            "fields": [
                "order_items.created_at[month]",
                "order_items.total_sale_price",
                "order_items.count",
            ],
            "sorts": [{"column_name": "order_items.created_at[month]", "sort_descending": True}],
            "limit": 12,
        }
    }
    body = json.dumps(query)
    return f"""
sluice demo: the ecommerce model from {directory}

  URL      {url}
  API key  {secret}
  model    ecommerce ({model_id}); topics: order_items, users, events

Try it (the result is base64 Arrow inside NDJSON):

URL={url}
KEY={secret}
curl -s -X POST $URL/api/v1/query/run -H "Authorization: Bearer $KEY" \\
  -H 'Content-Type: application/json' -d '{body}'

From Python (omni-python-sdk):
  from omni_python_sdk import OmniAPI
  table, fields = OmniAPI(api_key=KEY, base_url=URL).run_query_blocking(body)

The key is shown once; `sluice demo` makes a new one on each run. Ctrl+C stops the server.
"""


# -- keys ----------------------------------------------------------------------------------------


def keys_create(
    config_path: ConfigOption = Path("sluice.yaml"),
    personal: Annotated[
        bool, typer.Option("--personal", help="a personal access token (needs --user)")
    ] = False,
    user: Annotated[
        str | None, typer.Option("--user", help="the user id (sluice.yaml users)")
    ] = None,
    name: Annotated[str, typer.Option(help="a label to recognise the key by")] = "",
    organization: Annotated[
        str | None, typer.Option(help="organization id (default: server.organization_id)")
    ] = None,
    expires_in_days: Annotated[
        float | None, typer.Option(help="expire after this many days (default: never)")
    ] = None,
) -> None:
    """Create a key. Prints the secret once, alone on stdout; only its hash is stored."""
    config = _load(config_path)
    if personal != (user is not None):
        err.print("[red]a personal token needs --user ID, and --user needs --personal[/red]")
        raise typer.Exit(2)
    if user is not None and user not in {u.id for u in config.users}:
        known = ", ".join(u.id for u in config.users) or "none"
        err.print(f"[red]no user {user!r} in {config_path} (users: {known})[/red]")
        raise typer.Exit(2)
    if expires_in_days is not None and not 0 < expires_in_days <= 36500:
        err.print(
            f"[red]--expires-in-days must be more than 0 and at most 36500; got "
            f"{expires_in_days:g} (leave it out for a key that never expires)[/red]"
        )
        raise typer.Exit(2)
    expires = time.time() + expires_in_days * 86400 if expires_in_days is not None else None
    try:
        with open_token_store(config.server) as store:
            secret, token = store.create(
                PERSONAL if personal else ORGANIZATION,
                organization or config.server.organization_id,
                user_id=user,
                name=name,
                expires_at=expires,
            )
    except SluiceError as exc:  # Redis unreachable
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    kind = f"personal access token for {user}" if personal else "organization API key"
    err.print(f"created {kind} [bold]{token.id}[/bold]; store the secret now, it is not kept:")
    print(secret)


def keys_list(
    config_path: ConfigOption = Path("sluice.yaml"),
    include_revoked: Annotated[bool, typer.Option("--all", help="include revoked keys")] = False,
) -> None:
    """List keys (never their secrets)."""
    config = _load(config_path)
    try:
        with open_token_store(config.server) as store:
            tokens = store.list(include_revoked=include_revoked)
    except SluiceError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    table = Table(
        Column("id", no_wrap=True, min_width=8),
        "kind",
        "organization",
        "user",
        "name",
        Column("prefix", no_wrap=True),
        "created",
        "state",
    )
    for token in tokens:
        table.add_row(
            token.id,
            token.kind,
            token.organization_id,
            token.user_id or "",
            token.name,
            token.prefix + "…",
            _day(token.created_at),
            _state(token),
        )
    out.print(table)


def keys_revoke(
    token_id: Annotated[str, typer.Argument(help="the key's id (from `sluice keys list`)")],
    config_path: ConfigOption = Path("sluice.yaml"),
) -> None:
    """Revoke a key; a running server refuses it within a second."""
    config = _load(config_path)
    try:
        with open_token_store(config.server) as store:
            token = store.revoke(token_id)
    except SluiceError as exc:
        err.print(f"[red]{exc.message}[/red]")
        raise typer.Exit(1) from None
    err.print(f"revoked {token.kind} key {token.id} ({token.name or token.prefix + '…'})")


def _state(token: Token) -> str:
    if token.revoked_at is not None:
        return f"revoked {_day(token.revoked_at)}"
    if token.expires_at is not None:
        return ("expired " if token.expires_at < time.time() else "expires ") + _day(
            token.expires_at
        )
    return "active"


def _day(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M")


def _preflight(config: Config, host: str, port: int) -> Project:
    """What would stop the server, found before it starts: each is one line naming the path or
    port and the cause, and exit code 2 (never a traceback)."""
    state_dir = config.server.state_dir
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        _fail(f"state_dir {state_dir} cannot be created: {exc.strerror or exc}")
    problem = StateDirProbe(state_dir).problem()
    if problem is not None:
        _fail(f"state_dir {state_dir} cannot be written: {problem}")
    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    try:
        return Project.open(config, degraded=True)
    except SluiceError as exc:
        _fail(exc.message)
    except OSError as exc:
        _fail(f"{exc.filename or 'the project'}: {exc.strerror or exc}")


def _fail(message: str) -> NoReturn:
    line = " ".join(message.split())  # one line, even for a model error listing its issues
    err.print(f"error: {line}", markup=False, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except SluiceError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None


def _main() -> Any:
    app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False)
    register(app)
    return app()


if __name__ == "__main__":
    _main()
